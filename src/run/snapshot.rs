//! `etcd snapshot save`: take a snapshot from a healthy member, keep it on the control host
//! with its checksum, copy it to every master and check the copies.

use super::fleet::{self, StepError, blocking};
use super::options::Reach;
use crate::components::etcd as etcd_component;
use crate::etcd::snapshot::{self, NODE_SNAPSHOT_DIR, Snapshot};
use crate::model::Cluster;
use crate::pki::Pki;
use crate::render::node::{self as render_node, NodeArtifacts};
use crate::ssh::KnownHosts;
use crate::ssh::snippets::{etcd as etcd_script, files};
use std::time::Duration;

/// What `save` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SaveReport {
    pub snapshot: Snapshot,
    /// Masters holding a verified copy.
    pub copied_to: Vec<String>,
}

/// etcd client credentials from the existing PKI (read-only; never creates one).
pub fn credentials(cluster: &Cluster) -> Result<crate::etcd::EtcdCredentials, StepError> {
    let pki_dir = cluster.state_dir().join("pki");
    if !pki_dir.join("ca.crt").is_file() {
        return Err(
            StepError::new("control host", "etcd credentials", "no PKI yet")
                .hint("run `k8s-manage deploy` first"),
        );
    }
    let pki = Pki::load_read_only(
        &pki_dir,
        &render_node::pki_request(cluster, time::OffsetDateTime::now_utc()),
    )
    .map_err(|e| StepError::new("control host", "PKI", e.to_string()))?;
    let master = cluster
        .masters()
        .next()
        .ok_or_else(|| StepError::new("control host", "etcd", "no master"))?;
    let a = render_node::render_node(cluster, &pki, master)
        .map_err(|e| StepError::new(&master.hostname, "render", e.to_string()))?;
    a.etcd_credentials().ok_or_else(|| {
        StepError::new(
            &master.hostname,
            "etcd credentials",
            "the healthcheck client certificate is missing",
        )
    })
}

/// Take a snapshot from a healthy member (the leader when it answers) into
/// `DIR/.k8s-manage/snapshots/<name>.db` on the control host, with its checksum. Nothing
/// is copied to the masters (see [`save`]).
pub async fn take(cluster: &Cluster, name: &str) -> Result<Snapshot, StepError> {
    let cred = credentials(cluster)?;
    let endpoints: Vec<String> = cluster.masters().map(etcd_component::client_url).collect();
    let health = crate::etcd::check(&endpoints, &cred, Duration::from_secs(5)).await;
    // the leader if it answers, else any healthy member
    let from = health
        .leader
        .clone()
        .or_else(|| {
            health
                .members
                .iter()
                .find(|m| m.healthy)
                .map(|m| m.endpoint.clone())
        })
        .ok_or_else(|| {
            StepError::new(
                "etcd",
                "snapshot",
                format!("no healthy member answers: {}", health.problems()),
            )
            .hint("with quorum lost, restore from an earlier snapshot")
        })?;
    let dir = cluster.state_dir().join("snapshots");
    snapshot::save(&from, &cred, &dir, name, Duration::from_secs(120))
        .await
        .map_err(|e| StepError::new("etcd", "snapshot", e))
}

/// Take a snapshot ([`take`]), copy it to every master (after pruning the masters' older
/// copies to `etcd-snapshot-copies-kept` and checking free space there) and check each
/// copy's checksum.
pub async fn save(
    cluster: &Cluster,
    name: &str,
    reach: &Reach,
) -> Result<SaveReport, Vec<StepError>> {
    let snap = take(cluster, name).await.map_err(|e| vec![e])?;

    // copy to every master and check the copy's checksum there
    let run_dir = super::logs::run_dir(&cluster.state_dir(), "snapshot");
    let machines: Vec<_> = cluster
        .masters()
        .map(|m| (m.clone(), NodeArtifacts::none(m)))
        .collect();
    let known = KnownHosts::in_config_dir(&cluster.config_dir);
    let (to, rd, parallel) = (reach.clone(), run_dir.clone(), reach.parallel);
    let nodes = blocking(move || fleet::connect(&machines, &known, &to, &rd)).await?;
    let data = std::sync::Arc::new(
        std::fs::read(&snap.path)
            .map_err(|e| vec![StepError::new("control host", "snapshot", e.to_string())])?,
    );
    let keep = cluster.kubernetes.etcd_snapshot_copies_kept;
    let mut copied = Vec::new();
    let mut errors = Vec::new();
    let all: Vec<&fleet::Node> = nodes.iter().collect();
    let results = fleet::fan_out(&all, parallel, |n| {
        let (s, data, name, want) = (
            n.session.clone(),
            data.clone(),
            snap.name.clone(),
            snap.sha256.clone(),
        );
        let host = n.host().to_string();
        async move {
            blocking(move || {
                let path = format!("{NODE_SNAPSHOT_DIR}/{name}.db");
                s.run_root(
                    "make room for the snapshot",
                    &etcd_script::make_room(NODE_SNAPSHOT_DIR, &name, data.len() as u64, keep),
                    Duration::from_secs(120),
                )
                .map_err(|e| StepError::from_ssh(&host, "make room for the snapshot", &e))?;
                s.put_file(&path, &data, 0o600)
                    .map_err(|e| StepError::from_ssh(&host, "copy snapshot", &e))?;
                let out = s
                    .run_root(
                        "check snapshot",
                        &files::sha256(&path),
                        Duration::from_secs(60),
                    )
                    .map_err(|e| StepError::from_ssh(&host, "check snapshot", &e))?;
                let got = out
                    .stdout_str()
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if got == want {
                    Ok(host)
                } else {
                    Err(StepError::new(
                        &host,
                        "check snapshot",
                        format!("copy has sha256 {got}, expected {want}"),
                    ))
                }
            })
            .await
        }
    })
    .await;
    for r in results {
        match r {
            Ok(h) => copied.push(h),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(SaveReport {
            snapshot: snap,
            copied_to: copied,
        })
    } else {
        Err(errors)
    }
}
