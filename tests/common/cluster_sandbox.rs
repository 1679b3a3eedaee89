//! Shared by the end-to-end tests that deploy onto sandbox nodes: a sandbox removed on
//! drop, the `k8s-manage` binary run with JSON output, and SSH to a node.
#![allow(dead_code)]

use k8s_manage::sandbox;
use k8s_manage::ssh::{ConnectOptions, HostKeyPolicy, KnownHosts, Session, Target};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A sandbox (nodes + config dir), taken down on drop.
pub struct Sandbox {
    pub name: String,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    /// Its share of the machine-wide node budget, held until the sandbox is down.
    _slot: sandbox::node_budget::Hold,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // a failed test: keep the config dir (logs, reports, PKI) for the post-mortem
            let keep = std::env::temp_dir().join(format!("k8s-manage-failed-{}", self.name));
            let _ = std::fs::remove_dir_all(&keep);
            let copied = Command::new("cp")
                .arg("-a")
                .arg(&self.dir)
                .arg(&keep)
                .status()
                .is_ok_and(|s| s.success());
            if copied {
                eprintln!(
                    "sandbox {}: config dir and logs kept in {}",
                    self.name,
                    keep.display()
                );
                post_mortem(&self.name, &keep);
            }
        }
        // a loaded machine may time the removal out: try again, and say so if it stays
        for attempt in 1..=3 {
            match self.rt.block_on(sandbox::down(&self.name)) {
                Ok(_) => break,
                Err(e) => eprintln!("sandbox {}: down (try {attempt} of 3): {e}", self.name),
            }
        }
    }
}

/// What each node's own Docker engine says of the cluster's containers, written to
/// `KEEP/nodes/<container>.txt`: `docker ps -a` and the last lines of the node agents and
/// the control plane. The tail of every kubelet's log is printed too, since CI keeps only
/// the test's output.
fn post_mortem(name: &str, keep: &Path) {
    let listed = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}", "--filter"])
        .arg(format!("name=^/{name}-"))
        .output();
    let Ok(listed) = listed else { return };
    let nodes_dir = keep.join("nodes");
    let _ = std::fs::create_dir_all(&nodes_dir);
    for node in String::from_utf8_lossy(&listed.stdout).lines() {
        let script = "docker ps -a --format '{{.Names}} {{.Status}}'; \
             for c in kubelet cri-dockerd kube-proxy kube-apiserver k8s-manage-local-lb etcd; do \
               echo \"==== docker logs --tail 80 $c\"; docker logs --tail 80 $c 2>&1; done; \
             echo '==== uptime'; uptime";
        let Ok(out) = Command::new("timeout")
            .args(["60", "docker", "exec", node, "sh", "-c", script])
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let _ = std::fs::write(nodes_dir.join(format!("{node}.txt")), &text);
        let kubelet: Vec<&str> = text
            .split("==== ")
            .find(|part| part.starts_with("docker logs --tail 80 kubelet"))
            .unwrap_or("")
            .lines()
            .collect();
        let tail = &kubelet[kubelet.len().saturating_sub(15)..];
        eprintln!("---- {node}: kubelet's last lines\n{}", tail.join("\n"));
    }
}

/// A sandbox running the real upstream components (the config asks for the default
/// Kubernetes version).
pub fn up(name: &str, masters: u32, workers: u32, proxy: bool) -> Sandbox {
    up_versions(name, masters, workers, proxy, &[])
}

/// Like [`up`], with the components of every Kubernetes version in `versions` loaded
/// (the config asks for the first); empty = the default version only.
pub fn up_versions(
    name: &str,
    masters: u32,
    workers: u32,
    proxy: bool,
    versions: &[&str],
) -> Sandbox {
    up_with(
        name,
        masters,
        workers,
        proxy,
        versions,
        sandbox::Components::Upstream,
    )
}

pub fn up_with(
    name: &str,
    masters: u32,
    workers: u32,
    proxy: bool,
    versions: &[&str],
    components: sandbox::Components,
) -> Sandbox {
    // A developer running tests beside others' sandboxes names theirs with a prefix of
    // their own (K8S_MANAGE_TEST_SANDBOX_PREFIX=h15-), so none is ever taken down by mistake.
    let name = &format!(
        "{}{name}",
        std::env::var("K8S_MANAGE_TEST_SANDBOX_PREFIX").unwrap_or_default()
    );
    let slot = sandbox::node_budget::take((masters + workers + u32::from(proxy)) as usize, &|want, budget| {
        eprintln!("sandbox {name}: waiting for {want} of the machine's {budget} sandbox nodes (other tests hold the rest)")
    })
    .expect("the sandbox node budget's lock files");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _ = rt.block_on(sandbox::down(name));
    let mut opts = sandbox::UpOptions::new(dir.clone());
    opts.name = name.into();
    opts.masters = masters;
    opts.workers = workers;
    opts.proxy = proxy;
    opts.versions = versions.iter().map(|v| v.to_string()).collect();
    opts.components = components;
    rt.block_on(sandbox::up(&opts, &|m: &str| {
        eprintln!("sandbox {name}: {m}")
    }))
    .unwrap_or_else(|e| panic!("sandbox up: {e}"));
    Sandbox {
        name: name.into(),
        dir,
        _tmp: tmp,
        rt,
        _slot: slot,
    }
}

/// Bound of each of the tool's waits in the tests (`--wait-seconds`). CI runs two test
/// files at once on 2 vCPUs, one of them perhaps IoTDB's four JVMs: a new kubelet has
/// been seen to take more than 120 s to register there (membership_e2e, load average 16).
const WAIT_SECONDS: &str = "240";

/// Run `k8s-manage ARGS -p DIR --output json`: (exit status, JSON report, stderr).
pub fn k8s_manage(args: &[&str], dir: &Path) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(args)
        .arg("-p")
        .arg(dir)
        .args(["--output", "json", "--wait-seconds", WAIT_SECONDS])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn cluster(dir: &Path) -> k8s_manage::model::Cluster {
    k8s_manage::model::build::load(dir).unwrap().cluster
}

/// An SSH session to a node of the config dir (host key from its known_hosts).
pub fn ssh(dir: &Path, host: &str) -> Session {
    let c = cluster(dir);
    let m = c.machines.iter().find(|m| m.hostname == host).unwrap();
    Session::connect(
        &Target::from_machine(m),
        &KnownHosts::in_config_dir(dir),
        HostKeyPolicy::AcceptNew,
        &ConnectOptions::default(),
    )
    .unwrap()
}

/// An API client with the admin credential of the config dir's PKI (after a deploy).
pub fn admin_client(dir: &Path) -> k8s_manage::kubeapi::KubeClient {
    use k8s_manage::pki::{KubeconfigUser, Pki};
    let c = cluster(dir);
    let pki = Pki::load_read_only(
        &c.state_dir().join("pki"),
        &k8s_manage::render::node::pki_request(&c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    let (cert, key) = pki.client_credential(&KubeconfigUser::Admin).unwrap();
    k8s_manage::kubeapi::KubeClient::new(
        &c.api_url(),
        pki.ca_cert_pem(),
        &cert,
        &key,
        std::time::Duration::from_secs(10),
    )
    .unwrap()
}

/// How many containers of ours (label `io.k8s-manage.managed`) a node has.
pub fn managed_containers(dir: &Path, host: &str) -> String {
    ssh(dir, host)
        .run_root(
            "ps",
            "docker ps -aq --filter label=io.k8s-manage.managed=true | wc -l",
            std::time::Duration::from_secs(20),
        )
        .unwrap()
        .stdout_str()
        .trim()
        .to_string()
}
