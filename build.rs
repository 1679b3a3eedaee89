//! Embeds the built-in services (`services/`) into the binary: writes
//! `$OUT_DIR/builtin_services.rs`, a table of every file's path (relative to `services/`)
//! and bytes, so the binary never reads the source tree at run time. Also sets
//! `K8S_MANAGE_COMMIT` (shown by `--version`): `$K8S_MANAGE_COMMIT` when set, else the
//! git commit of the source tree (with `-dirty` for uncommitted changes), else `unknown`.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `git ARGS` in the crate's folder, trimmed, when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn commit() -> String {
    println!("cargo:rerun-if-env-changed=K8S_MANAGE_COMMIT");
    if let Ok(c) = std::env::var("K8S_MANAGE_COMMIT") {
        return c;
    }
    // Rebuild when HEAD moves (a commit, a checkout) or the index changes.
    for path in ["HEAD", "index"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &r])
    {
        println!("cargo:rerun-if-changed={p}");
    }
    let Some(hash) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
    if dirty { format!("{hash}-dirty") } else { hash }
}

fn main() {
    println!("cargo:rustc-env=K8S_MANAGE_COMMIT={}", commit());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("services");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut code = String::from("pub static BUILTIN_FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f
            .strip_prefix(&root)
            .expect("walked below root")
            .to_string_lossy()
            .replace('\\', "/");
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("builtin_services.rs"), code).expect("write OUT_DIR file");
}
