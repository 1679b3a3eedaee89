//! Masters as the etcd maintenance commands (`etcdfix`, `etcd snapshot restore`) need
//! them: rendered from the existing PKI (read only, never created here), connected, a
//! sealed etcd container spec for a given bootstrap, root commands with their exit code
//! checked, and a bounded wait for an etcd leader.

use super::fleet::{self, Node, StepError, blocking};
use super::options::Reach;
use crate::components::{self, etcd::EtcdBootstrap, spec::ContainerSpec};
use crate::etcd::EtcdCredentials;
use crate::etcd::members::{Leader, connect_leader};
use crate::model::{Cluster, Machine};
use crate::pki::Pki;
use crate::render::node::{self as render_node, NodeArtifacts};
use crate::ssh::KnownHosts;
use std::time::{Duration, Instant};

/// The existing PKI, read only: etcd maintenance never issues certificates.
pub fn load_pki(cluster: &Cluster) -> Result<Pki, StepError> {
    let pki_dir = cluster.state_dir().join("pki");
    if !pki_dir.join("ca.crt").is_file() {
        return Err(
            StepError::new("control host", "PKI", "no PKI yet in DIR/.k8s-manage/pki")
                .hint("run `k8s-manage deploy` first"),
        );
    }
    Pki::load_read_only(
        &pki_dir,
        &render_node::pki_request(cluster, time::OffsetDateTime::now_utc()),
    )
    .map_err(|e| StepError::new("control host", "PKI", e.to_string()))
}

/// Render `machines` (what they receive and run).
pub fn render(
    cluster: &Cluster,
    pki: &Pki,
    machines: &[&Machine],
) -> Result<Vec<(Machine, NodeArtifacts)>, StepError> {
    machines
        .iter()
        .map(|m| {
            render_node::render_node(cluster, pki, m)
                .map(|a| ((*m).clone(), a))
                .map_err(|e| StepError::new(&m.hostname, "render", e.to_string()))
        })
        .collect()
}

/// Connect to every rendered machine (SSH + Docker API); every unreachable one is named.
pub async fn connect(
    cluster: &Cluster,
    rendered: Vec<(Machine, NodeArtifacts)>,
    reach: &Reach,
    action: &str,
) -> Result<Vec<Node>, Vec<StepError>> {
    let run_dir = super::logs::run_dir(&cluster.state_dir(), action);
    let known = KnownHosts::in_config_dir(&cluster.config_dir);
    let reach = reach.clone();
    blocking(move || fleet::connect(&rendered, &known, &reach, &run_dir)).await
}

/// The etcd container of `m` for this bootstrap, sealed like `render_node` seals it (the
/// `--initial-*` flags are not in the hash, so a later deploy leaves it alone).
pub fn etcd_spec(
    cluster: &Cluster,
    m: &Machine,
    artifacts: &NodeArtifacts,
    boot: &EtcdBootstrap,
) -> Result<ContainerSpec, StepError> {
    let mut spec = components::node_containers(cluster, m, boot)
        .into_iter()
        .find(|c| c.name == "etcd")
        .ok_or_else(|| StepError::new(&m.hostname, "etcd container", "not a master"))?;
    let lookup = |p: &str| artifacts.file(p).map(|f| f.contents.clone().into_bytes());
    spec.seal(&lookup);
    Ok(spec)
}

/// Run `cmd` as root on the node; a non-zero exit is an error naming host and step.
pub async fn root(
    node: &Node,
    step: &str,
    cmd: String,
    timeout: Duration,
) -> Result<String, StepError> {
    let (s, host, step) = (
        node.session.clone(),
        node.host().to_string(),
        step.to_string(),
    );
    node.log.line(&format!("{step}: {cmd}"));
    blocking(move || {
        s.run_root(&step, &cmd, timeout)
            .map(|o| o.stdout_str().to_string())
            .map_err(|e| StepError::from_ssh(&host, &step, &e))
    })
    .await
}

/// Wait (bounded, once a second) until one of `endpoints` is the leader, and connect to it.
pub async fn wait_leader(
    endpoints: &[String],
    cred: &EtcdCredentials,
    timeout: Duration,
) -> Result<Leader, String> {
    let start = Instant::now();
    loop {
        match connect_leader(endpoints, cred, Duration::from_secs(3)).await {
            Ok(l) => return Ok(l),
            Err(e) if start.elapsed() >= timeout => {
                return Err(format!("no etcd leader within {timeout:?}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// The snapshots kept on the control host, newest first (for hints).
pub fn snapshot_names(cluster: &Cluster) -> Vec<String> {
    let dir = cluster.state_dir().join("snapshots");
    let mut v: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".db")?.to_string();
            (!stem.starts_with('.')).then_some(())?;
            Some((e.metadata().ok()?.modified().ok()?, stem))
        })
        .collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.0));
    v.into_iter().map(|(_, n)| n).collect()
}

/// The hint that points to a restore.
pub fn restore_hint(cluster: &Cluster) -> String {
    let names = snapshot_names(cluster);
    let which = if names.is_empty() {
        "; no snapshot is kept in DIR/.k8s-manage/snapshots".to_string()
    } else {
        format!(
            "; snapshots on the control host, newest first: {}",
            names.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        )
    };
    format!(
        "a member can only be rebuilt from a cluster with quorum: restore every member from a snapshot with `k8s-manage etcd snapshot restore -p {} --name NAME --yes`{which}",
        cluster.config_dir.display()
    )
}
