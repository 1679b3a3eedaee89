//! Sending a node its files: read what is there (hash and mode, one command), send only what
//! differs, atomically and with the right mode.

use super::fleet::{Node, StepError, blocking};
use crate::ssh::snippets;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// Parse [`snippets::files::observe`]'s output into `path -> (sha256, mode)`.
fn parse_observed(out: &str) -> BTreeMap<String, (String, u32)> {
    let mut modes = BTreeMap::new();
    let mut hashes = BTreeMap::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("M ") {
            if let Some((mode, path)) = rest.split_once(' ') {
                modes.insert(path.to_string(), u32::from_str_radix(mode, 8).unwrap_or(0));
            }
        } else if let Some((hash, path)) = line.split_once("  ") {
            hashes.insert(path.to_string(), hash.to_string());
        }
    }
    hashes
        .into_iter()
        .map(|(p, h)| {
            let mode = modes.get(&p).copied().unwrap_or(0);
            (p, (h, mode))
        })
        .collect()
}

/// `path -> (sha256, mode)` of what the node has now (one command).
pub async fn observe(node: &Node) -> Result<BTreeMap<String, (String, u32)>, StepError> {
    let paths: Vec<&str> = node
        .artifacts
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let cmd = snippets::files::observe(&paths);
    let session = node.session.clone();
    let host = node.host().to_string();
    let out = blocking(move || session.run_root("files: observe", &cmd, Duration::from_secs(60)))
        .await
        .map_err(|e| StepError::from_ssh(&host, "files", &e))?;
    Ok(parse_observed(&out.stdout_str()))
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
        session.put_files(&todo).map_err(|e| {
            StepError::from_ssh(&host, "files", &e)
                .hint("re-run: files already in place are kept, the rest are written again")
        })?;
        for (p, c, mode) in &todo {
            log.line(&format!("put {p} ({mode:o}, {} bytes)", c.len()));
        }
        Ok::<_, StepError>(())
    })
    .await?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_modes_and_hashes_pair_up_by_path() {
        let out = "M 600 /etc/kubernetes/pki/a.key\nM 644 /etc/kubernetes/b.yaml\n\
                   abc123  /etc/kubernetes/pki/a.key\ndef456  /etc/kubernetes/b.yaml\n";
        let m = parse_observed(out);
        assert_eq!(m.len(), 2);
        assert_eq!(m["/etc/kubernetes/pki/a.key"], ("abc123".into(), 0o600));
        assert_eq!(m["/etc/kubernetes/b.yaml"], ("def456".into(), 0o644));
        assert!(parse_observed("").is_empty());
    }

    #[test]
    fn the_observe_command_lists_only_existing_files_and_runs_two_processes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x").unwrap();
        let missing = dir.path().join("missing");
        let (a_path, missing_path) = (a.display().to_string(), missing.display().to_string());
        let cmd = snippets::files::observe(&[&a_path, &missing_path]);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = parse_observed(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(m.len(), 1, "{m:?}");
        let (hash, mode) = &m[&a.display().to_string()];
        assert_eq!(hash, &sha256_hex(b"x"));
        assert!(*mode > 0);
        // nothing exists: still exit 0, nothing listed
        let cmd = snippets::files::observe(&[&missing_path]);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
    }
}
