//! Sending a node its files: read what is there (hash and mode, one command), send only what
//! differs, atomically and with the right mode.

use super::fleet::{Node, StepError, blocking};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// `path -> (sha256, mode)` of what the node has now.
pub async fn observe(node: &Node) -> Result<BTreeMap<String, (String, u32)>, StepError> {
    let paths: Vec<String> = node
        .artifacts
        .files
        .iter()
        .map(|f| crate::ssh::quote(&f.path))
        .collect();
    let cmd = format!(
        "for f in {}; do if [ -f \"$f\" ]; then printf '%s ' \"$(stat -c %a \"$f\")\"; sha256sum \"$f\"; fi; done",
        paths.join(" ")
    );
    let session = node.session.clone();
    let host = node.host().to_string();
    let out = blocking(move || session.run_root("files: observe", &cmd, Duration::from_secs(60)))
        .await
        .map_err(|e| StepError::from_ssh(&host, "files", &e))?;
    let mut m = BTreeMap::new();
    for line in out.stdout_str().lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [mode, hash, path] = parts.as_slice() {
            m.insert(
                path.to_string(),
                (hash.to_string(), u32::from_str_radix(mode, 8).unwrap_or(0)),
            );
        }
    }
    Ok(m)
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Which files differ (missing, other content or other mode).
pub fn changed<'a>(
    node: &'a Node,
    have: &BTreeMap<String, (String, u32)>,
) -> Vec<&'a crate::render::node::NodeFile> {
    node.artifacts
        .files
        .iter()
        .filter(|f| match have.get(&f.path) {
            Some((h, mode)) => *h != sha256_hex(f.contents.as_bytes()) || *mode != f.mode,
            None => true,
        })
        .collect()
}

/// Send the differing files; returns their paths.
pub async fn sync(node: &Node, dry_run: bool) -> Result<Vec<String>, StepError> {
    let have = observe(node).await?;
    let todo: Vec<(String, Vec<u8>, u32)> = changed(node, &have)
        .into_iter()
        .map(|f| (f.path.clone(), f.contents.clone().into_bytes(), f.mode))
        .collect();
    let paths: Vec<String> = todo.iter().map(|(p, _, _)| p.clone()).collect();
    if dry_run || todo.is_empty() {
        return Ok(paths);
    }
    let session = node.session.clone();
    let host = node.host().to_string();
    let log = node.log.clone();
    blocking(move || {
        for (p, c, mode) in &todo {
            session
                .put_file(p, c, *mode)
                .map_err(|e| StepError::from_ssh(&host, &format!("files: put {p}"), &e))?;
            log.line(&format!("put {p} ({mode:o}, {} bytes)", c.len()));
        }
        Ok::<_, StepError>(())
    })
    .await?;
    Ok(paths)
}
