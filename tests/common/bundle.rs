//! A synthetic image bundle in `docker save` format (manifest.json, image config, one
//! layer holding `size` bytes of incompressible pseudo-random data), written with the tar
//! crate, so relay tests and benchmarks touch no image of the control host's engine.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::io::{Seek, Write};
use std::path::Path;

/// Write a bundle with one image `repo_tag` whose layer carries `size` bytes from `seed`.
pub fn write_bundle(path: &Path, repo_tag: &str, size: u64, seed: u64) {
    let dir = path.parent().expect("bundle path has a parent");
    // The layer, as a tar of one file.
    let mut layer = tempfile::tempfile_in(dir).expect("layer temp file");
    {
        let mut b = tar::Builder::new(&mut layer);
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(
            &mut h,
            "payload",
            Noise {
                left: size,
                state: seed | 1,
            },
        )
        .expect("write layer");
        b.finish().expect("finish layer");
    }
    layer.rewind().expect("rewind");
    let mut hasher = Sha256::new();
    let mut layer_len = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut layer, &mut buf).expect("hash layer");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        layer_len += n as u64;
    }
    let layer_sha = hex::encode(hasher.finalize());
    layer.rewind().expect("rewind");
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/payload"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{layer_sha}"]}}}}"#
    );
    let config_sha = hex::encode(Sha256::digest(config.as_bytes()));
    let manifest = format!(
        r#"[{{"Config":"{config_sha}.json","RepoTags":["{repo_tag}"],"Layers":["{layer_sha}/layer.tar"]}}]"#
    );
    let out = std::fs::File::create(path).expect("create bundle");
    let mut b = tar::Builder::new(std::io::BufWriter::new(out));
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, data).expect("append");
    };
    add(&format!("{config_sha}.json"), config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    let mut h = tar::Header::new_gnu();
    h.set_size(layer_len);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, format!("{layer_sha}/layer.tar"), &mut layer)
        .expect("append layer");
    b.into_inner()
        .expect("finish bundle")
        .flush()
        .expect("flush bundle");
}

/// xorshift64 bytes: incompressible, fast, reproducible.
struct Noise {
    left: u64,
    state: u64,
}

impl std::io::Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            let mut x = self.state;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.state = x;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}
