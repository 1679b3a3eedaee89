//! `install-kubectl`: put a kubectl on the control host (from a path, a URL, or the
//! system's package) and merge an admin context into a kubeconfig without touching the
//! other entries; then check that `kubectl get --raw /readyz` answers through it.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where kubectl comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Use the kubectl already on PATH (or install the system package when there is none).
    System,
    Path(PathBuf),
    Url {
        url: String,
        sha256: Option<String>,
    },
}

fn install_to(bytes: &[u8], dest: &Path) -> Result<(), String> {
    crate::render::write::write_file(dest, bytes, 0o755)
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

/// Install kubectl; returns the path of the binary to use.
pub async fn install(source: &Source, dest: &Path) -> Result<PathBuf, String> {
    match source {
        Source::Path(p) => {
            let b = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            install_to(&b, dest)?;
            Ok(dest.to_path_buf())
        }
        Source::Url { url, sha256 } => {
            let resp = reqwest::get(url)
                .await
                .map_err(|e| format!("cannot download {url}: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("cannot download {url}: HTTP {}", resp.status()));
            }
            let b = resp
                .bytes()
                .await
                .map_err(|e| format!("cannot download {url}: {e}"))?;
            let got = super::sync_files::sha256_hex(&b);
            match sha256 {
                Some(want) if want.to_lowercase() != got => {
                    return Err(format!(
                        "{url}: sha256 {got} does not match the expected {want}"
                    ));
                }
                None => {
                    return Err(format!(
                        "refusing to install a download without a checksum: pass --sha256 (the file's is {got})"
                    ));
                }
                _ => {}
            }
            install_to(&b, dest)?;
            Ok(dest.to_path_buf())
        }
        Source::System => {
            if let Ok(out) = Command::new("sh")
                .args(["-c", "command -v kubectl"])
                .output()
                && out.status.success()
            {
                return Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
            }
            let st = Command::new("apt-get")
                .args(["install", "-y", "-q", "kubernetes-client"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .map_err(|e| format!("cannot run apt-get: {e}"))?;
            if !st.success() {
                return Err("apt-get install kubernetes-client failed; pass --from PATH or --from URL --sha256 HASH".into());
            }
            Ok(PathBuf::from("/usr/bin/kubectl"))
        }
    }
}

fn upsert(list: &mut Vec<Value>, name: &str, entry: Value) {
    match list
        .iter_mut()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
    {
        Some(slot) => *slot = entry,
        None => list.push(entry),
    }
}

/// Merge the admin kubeconfig `admin` (YAML text) into `existing` (YAML text or empty):
/// its cluster, user and context replace entries of the same name; every other entry stays.
/// The context becomes current when the file had none.
pub fn merge(existing: &str, admin: &str) -> Result<String, String> {
    let mut base: Value = if existing.trim().is_empty() {
        json!({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []})
    } else {
        serde_saphyr::from_str(existing)
            .map_err(|e| format!("the existing kubeconfig is not valid YAML: {e}"))?
    };
    let add: Value = serde_saphyr::from_str(admin).map_err(|e| format!("admin kubeconfig: {e}"))?;
    for key in ["clusters", "users", "contexts"] {
        if !base.get(key).is_some_and(Value::is_array) {
            base[key] = json!([]);
        }
        let entries = add
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let list = base[key].as_array_mut().ok_or("kubeconfig lists")?;
        for e in entries {
            let name = e
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            upsert(list, &name, e);
        }
    }
    let has_current = base
        .get("current-context")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_current && let Some(c) = add.get("current-context") {
        base["current-context"] = c.clone();
    }
    serde_saphyr::to_string(&base).map_err(|e| e.to_string())
}

/// The context name inside an admin kubeconfig.
pub fn context_name(admin: &str) -> Option<String> {
    let v: Value = serde_saphyr::from_str(admin).ok()?;
    v.get("current-context")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `kubectl --kubeconfig K --context C get --raw /readyz`.
pub fn check_readyz(kubectl: &Path, kubeconfig: &Path, context: &str) -> Result<String, String> {
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "--context",
            context,
            "get",
            "--raw",
            "/readyz",
            "--request-timeout=10s",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", kubectl.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "kubectl get --raw /readyz failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_other_entries_and_current_context() {
        let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: https://o:6443}\nusers:\n- name: o\n  user: {token: t}\ncontexts:\n- name: o@other\n  context: {cluster: other, user: o}\ncurrent-context: o@other\n";
        let admin = "apiVersion: v1\nkind: Config\nclusters:\n- name: rack\n  cluster: {server: https://10.0.0.1:6443}\nusers:\n- name: kubernetes-admin\n  user: {client-certificate-data: x}\ncontexts:\n- name: kubernetes-admin@rack\n  context: {cluster: rack, user: kubernetes-admin}\ncurrent-context: kubernetes-admin@rack\n";
        let merged = merge(existing, admin).unwrap();
        let v: Value = serde_saphyr::from_str(&merged).unwrap();
        assert_eq!(v["clusters"].as_array().unwrap().len(), 2);
        assert_eq!(v["current-context"], "o@other");
        // merging again replaces, never duplicates
        let again: Value = serde_saphyr::from_str(&merge(&merged, admin).unwrap()).unwrap();
        assert_eq!(again["users"].as_array().unwrap().len(), 2);
        let fresh: Value = serde_saphyr::from_str(&merge("", admin).unwrap()).unwrap();
        assert_eq!(fresh["current-context"], "kubernetes-admin@rack");
    }
}
