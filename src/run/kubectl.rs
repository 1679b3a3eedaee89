//! `install-kubectl`: put a kubectl on the control host (from a path, a URL, or the
//! system's package) and merge an admin context into a kubeconfig without touching the
//! other entries; then check that `kubectl get --raw /readyz` answers through it.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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

/// Limits of the kubectl download: connecting, a stall between two reads, the whole.
pub const DOWNLOAD_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
pub const DOWNLOAD_READ_TIMEOUT: Duration = Duration::from_secs(60);
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(900);

fn install_to(bytes: &[u8], dest: &Path) -> Result<(), String> {
    crate::local_file::write_file(dest, bytes, 0o755)
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

/// GET `url`, bounded: connecting, each read (`read_timeout`) and the whole transfer.
async fn download(url: &str, read_timeout: Duration) -> Result<bytes::Bytes, String> {
    // reqwest verifies with the system's roots and needs a crypto provider
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(DOWNLOAD_CONNECT_TIMEOUT)
        .read_timeout(read_timeout)
        .timeout(DOWNLOAD_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot download {url}: {e}"))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot download {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("cannot download {url}: HTTP {}", resp.status()));
    }
    resp.bytes()
        .await
        .map_err(|e| format!("cannot download {url}: {e}"))
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
            let b = download(url, DOWNLOAD_READ_TIMEOUT).await?;
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

/// The names the merged entries get, derived from the cluster name (never kubeadm's
/// `kubernetes` / `kubernetes-admin@kubernetes`, which another cluster's entries use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryNames {
    pub cluster: String,
    pub user: String,
    pub context: String,
}

impl EntryNames {
    pub fn for_cluster(cluster_name: &str) -> EntryNames {
        EntryNames {
            cluster: format!("k8s-manage-{cluster_name}"),
            user: format!("k8s-manage-{cluster_name}-admin"),
            context: format!("k8s-manage-{cluster_name}"),
        }
    }
}

fn named<'a>(v: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    v.get(list)?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
}

fn str_at<'a>(v: Option<&'a Value>, pointer: &str) -> Option<&'a str> {
    v?.pointer(pointer)?.as_str()
}

/// The admin kubeconfig (one cluster, user and context) with its entries renamed to
/// `names`, its context pointing at them.
pub fn rename(admin: &str, names: &EntryNames) -> Result<Value, String> {
    let add: Value = serde_saphyr::from_str(admin).map_err(|e| format!("admin kubeconfig: {e}"))?;
    let first = |list: &str| {
        add.get(list)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .cloned()
            .ok_or_else(|| format!("admin kubeconfig: no {list}"))
    };
    let (mut cluster, mut user, mut context) =
        (first("clusters")?, first("users")?, first("contexts")?);
    cluster["name"] = json!(names.cluster);
    user["name"] = json!(names.user);
    context["name"] = json!(names.context);
    context["context"]["cluster"] = json!(names.cluster);
    context["context"]["user"] = json!(names.user);
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [user],
        "contexts": [context],
        "current-context": names.context,
    }))
}

/// Entries of `existing` that merging `add` would replace although they belong to
/// another cluster: a cluster entry of the same name with another server, a context of
/// the same name that names another cluster or user, a user of the same name that an
/// existing context uses with another cluster. One line each, for the refusal.
pub fn conflicts(existing: &Value, add: &Value, names: &EntryNames) -> Vec<String> {
    let mut found = Vec::new();
    let ours = str_at(named(add, "clusters", &names.cluster), "/cluster/server").unwrap_or("");
    if let Some(c) = named(existing, "clusters", &names.cluster) {
        let theirs = str_at(Some(c), "/cluster/server").unwrap_or("");
        if theirs != ours {
            found.push(format!(
                "cluster `{}` points at {theirs}, this cluster is at {ours}",
                names.cluster
            ));
        }
    }
    if let Some(c) = named(existing, "contexts", &names.context) {
        let (cl, us) = (
            str_at(Some(c), "/context/cluster").unwrap_or(""),
            str_at(Some(c), "/context/user").unwrap_or(""),
        );
        if cl != names.cluster || us != names.user {
            found.push(format!(
                "context `{}` uses cluster `{cl}` and user `{us}`",
                names.context
            ));
        }
    }
    if named(existing, "users", &names.user).is_some() {
        for c in existing
            .get("contexts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if str_at(Some(c), "/context/user") == Some(names.user.as_str())
                && str_at(Some(c), "/context/cluster") != Some(names.cluster.as_str())
            {
                found.push(format!(
                    "user `{}` is used by context `{}` of cluster `{}`",
                    names.user,
                    str_at(Some(c), "/name").unwrap_or(""),
                    str_at(Some(c), "/context/cluster").unwrap_or("")
                ));
            }
        }
    }
    found
}

/// Merge the admin kubeconfig `admin` (YAML text) into `existing` (YAML text or empty)
/// under the names of `names`: its cluster, user and context replace entries of those
/// names, every other entry stays. An entry of the same name that belongs to another
/// cluster ([`conflicts`]) is an error unless `force`. The context becomes current when
/// the file had none.
pub fn merge(
    existing: &str,
    admin: &str,
    names: &EntryNames,
    force: bool,
) -> Result<String, String> {
    let mut base: Value = if existing.trim().is_empty() {
        json!({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []})
    } else {
        serde_saphyr::from_str(existing)
            .map_err(|e| format!("the existing kubeconfig is not valid YAML: {e}"))?
    };
    if !base.is_object() {
        return Err("the existing kubeconfig is not a mapping".into());
    }
    let add = rename(admin, names)?;
    let clash = conflicts(&base, &add, names);
    if !clash.is_empty() && !force {
        return Err(format!(
            "refusing to replace entries that belong to another cluster: {}; \
             pass --force to replace them (a backup of the file is kept), or set another \
             `cluster-name` or --kubeconfig",
            clash.join("; ")
        ));
    }
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
    if !has_current {
        base["current-context"] = json!(names.context);
    }
    serde_saphyr::to_string(&base).map_err(|e| e.to_string())
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

    /// A server that accepts the connection and never answers: the download gives up
    /// after its read limit instead of waiting for ever.
    #[test]
    fn a_download_that_stalls_is_bounded() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                held.push(s); // keep it open, say nothing
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let r = rt.block_on(download(
            &format!("http://127.0.0.1:{port}/kubectl"),
            Duration::from_secs(1),
        ));
        let e = r.unwrap_err();
        assert!(e.contains("cannot download"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    const ADMIN: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster: {server: https://10.0.0.1:6443, certificate-authority-data: Y2E=}\nusers:\n- name: kubernetes-admin\n  user: {client-certificate-data: x}\ncontexts:\n- name: kubernetes-admin@kubernetes\n  context: {cluster: kubernetes, user: kubernetes-admin}\ncurrent-context: kubernetes-admin@kubernetes\n";

    fn parse(s: &str) -> Value {
        serde_saphyr::from_str(s).unwrap()
    }

    #[test]
    fn merge_keeps_other_entries_and_current_context() {
        let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: https://o:6443}\nusers:\n- name: o\n  user: {token: t}\ncontexts:\n- name: o@other\n  context: {cluster: other, user: o}\ncurrent-context: o@other\n";
        let names = EntryNames::for_cluster("rack");
        let merged = merge(existing, ADMIN, &names, false).unwrap();
        let v = parse(&merged);
        assert_eq!(v["clusters"].as_array().unwrap().len(), 2);
        assert_eq!(v["current-context"], "o@other");
        let ctx = named(&v, "contexts", "k8s-manage-rack").unwrap();
        assert_eq!(ctx["context"]["cluster"], "k8s-manage-rack");
        assert_eq!(ctx["context"]["user"], "k8s-manage-rack-admin");
        assert_eq!(
            named(&v, "clusters", "k8s-manage-rack").unwrap()["cluster"]["server"],
            "https://10.0.0.1:6443"
        );
        // merging again replaces, never duplicates
        let again = parse(&merge(&merged, ADMIN, &names, false).unwrap());
        assert_eq!(again["users"].as_array().unwrap().len(), 2);
        let fresh = parse(&merge("", ADMIN, &names, false).unwrap());
        assert_eq!(fresh["current-context"], "k8s-manage-rack");
    }

    /// kubeadm's names in the file stay untouched: our entries never take them over.
    #[test]
    fn a_kubeadm_clusters_entries_are_left_alone() {
        let kubeadm = "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster: {server: https://192.168.9.9:6443}\nusers:\n- name: kubernetes-admin\n  user: {token: other}\ncontexts:\n- name: kubernetes-admin@kubernetes\n  context: {cluster: kubernetes, user: kubernetes-admin}\ncurrent-context: kubernetes-admin@kubernetes\n";
        let names = EntryNames::for_cluster("kubernetes");
        let v = parse(&merge(kubeadm, ADMIN, &names, false).unwrap());
        assert_eq!(
            named(&v, "clusters", "kubernetes").unwrap()["cluster"]["server"],
            "https://192.168.9.9:6443"
        );
        assert_eq!(
            named(&v, "users", "kubernetes-admin").unwrap()["user"]["token"],
            "other"
        );
        assert_eq!(v["current-context"], "kubernetes-admin@kubernetes");
        assert_eq!(v["contexts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn an_entry_of_our_name_that_points_elsewhere_is_refused_unless_forced() {
        let names = EntryNames::for_cluster("rack");
        let elsewhere = "clusters:\n- name: k8s-manage-rack\n  cluster: {server: https://172.16.0.1:6443}\ncontexts:\n- name: k8s-manage-rack\n  context: {cluster: k8s-manage-rack, user: k8s-manage-rack-admin}\n";
        let e = merge(elsewhere, ADMIN, &names, false).unwrap_err();
        assert!(
            e.contains("https://172.16.0.1:6443") && e.contains("--force"),
            "{e}"
        );
        let v = parse(&merge(elsewhere, ADMIN, &names, true).unwrap());
        assert_eq!(
            named(&v, "clusters", "k8s-manage-rack").unwrap()["cluster"]["server"],
            "https://10.0.0.1:6443"
        );
        let ctx = "contexts:\n- name: k8s-manage-rack\n  context: {cluster: prod, user: ops}\n";
        let e = merge(ctx, ADMIN, &names, false).unwrap_err();
        assert!(
            e.contains("context `k8s-manage-rack` uses cluster `prod`"),
            "{e}"
        );
        let user = "users:\n- name: k8s-manage-rack-admin\n  user: {token: t}\ncontexts:\n- name: mine\n  context: {cluster: prod, user: k8s-manage-rack-admin}\n";
        assert!(
            merge(user, ADMIN, &names, false)
                .unwrap_err()
                .contains("user `k8s-manage-rack-admin`")
        );
        assert!(merge("- a list\n", ADMIN, &names, false).is_err());
    }
}
