//! `etcdfix -f NODE`: rebuild one failed etcd member from the healthy rest of the cluster,
//! in the order of `maintainconf/etcdfix.yaml`: check that the other members still have
//! quorum (else stop and point to `etcd snapshot restore`), take a snapshot
//! (`auto-etcdfix-<time>`), stop and remove the member's container and move its data dir's
//! contents aside (`<dir>.broken-<time>`, kept), remove the member by its exact id and add
//! it back through the leader, start it with `--initial-cluster-state=existing` and the
//! live member list, and wait (bounded) until it is healthy and caught up.

use super::etcd_nodes;
use super::fleet::StepError;
use super::snapshot::SaveReport;
use crate::components::etcd::{self as etcd_component, BootstrapState, EtcdBootstrap};
use crate::etcd::members::{self, Member};
use crate::etcd::restore::{MOVED, aside_dir, move_aside_script, stamp};
use crate::etcd::{self, EtcdHealth};
use crate::executor::{docker_jobs, docker_ops};
use crate::model::{Cluster, Machine, Role};
use crate::ssh::{ConnectOptions, HostKeyPolicy};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The phases in the order this module runs them: `maintainconf/etcdfix.yaml` (what
/// `plan etcdfix` shows) must say the same (a test checks it).
pub const PHASES: [&str; 7] = [
    "quorum-check",
    "connect",
    "snapshot",
    "etcd-stop-wipe",
    "etcd-replace",
    "etcd-rejoin",
    "etcd-wait",
];

/// How to run.
#[derive(Clone)]
pub struct EtcdfixOptions {
    pub dry_run: bool,
    pub parallel: usize,
    pub host_keys: HostKeyPolicy,
    pub connect: ConnectOptions,
    /// Bound for each wait (leader, member running, caught up, all healthy).
    pub wait: Duration,
    /// One line per phase.
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
}

/// What `etcdfix` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct EtcdfixReport {
    pub action: String,
    pub ok: bool,
    pub dry_run: bool,
    pub node: String,
    pub member: String,
    pub peer_url: String,
    /// "N of the other M members healthy; quorum of T is Q".
    pub quorum: String,
    /// Whether the member answered healthy before it was rebuilt.
    pub member_was_healthy: bool,
    pub steps: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SaveReport>,
    /// Where the old data dir's contents were moved (kept; delete it when satisfied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_member_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_member_id: Option<String>,
    pub members: Vec<Member>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<EtcdHealth>,
    pub seconds: f64,
}

/// The quorum decision, before anything changes: the members other than `target` must be
/// a quorum of the cluster (`total` members); else the answer is a restore.
pub fn quorum_check(total: usize, healthy_others: usize) -> Result<String, String> {
    members::rebuild_is_safe(total, healthy_others).map(|()| {
        format!(
            "{healthy_others} of the other {} members are healthy; a cluster of {total} needs {}",
            total.saturating_sub(1),
            members::quorum(total)
        )
    })
}

/// The cluster size to judge quorum by: the member list when a member answered, else
/// the masters of the config.
pub fn cluster_size(member_list_len: usize, masters: usize) -> usize {
    if member_list_len > 0 {
        member_list_len
    } else {
        masters
    }
}

fn err(host: &str, step: &str, e: impl Into<String>) -> Vec<StepError> {
    vec![StepError::new(host, step, e)]
}

/// Rebuild the etcd member of `target` (a master of `cluster`).
pub async fn etcdfix(
    cluster: &Cluster,
    target: &Machine,
    opts: &EtcdfixOptions,
) -> Result<EtcdfixReport, Vec<StepError>> {
    let started = Instant::now();
    let progress = opts.progress.clone();
    let host = target.hostname.as_str();
    if target.role != Role::Master {
        return Err(err(
            host,
            "etcdfix",
            format!("{host} is a {}, not a master: it runs no etcd", target.role),
        ));
    }
    let name = target
        .etcdid
        .clone()
        .unwrap_or_else(|| target.hostname.clone());
    let peer_url = etcd_component::peer_url(target);
    let endpoint = etcd_component::client_url(target);
    let all_endpoints: Vec<String> = cluster.masters().map(etcd_component::client_url).collect();
    let others: Vec<String> = cluster
        .masters()
        .filter(|m| m.hostname != target.hostname)
        .map(etcd_component::client_url)
        .collect();
    let mut report = EtcdfixReport {
        action: "etcdfix".into(),
        ok: false,
        dry_run: opts.dry_run,
        node: host.to_string(),
        member: name.clone(),
        peer_url: peer_url.clone(),
        quorum: String::new(),
        member_was_healthy: false,
        steps: Vec::new(),
        snapshot: None,
        moved_aside: None,
        removed_member_id: None,
        added_member_id: None,
        members: Vec::new(),
        health: None,
        seconds: 0.0,
    };

    let pki = etcd_nodes::load_pki(cluster).map_err(|e| vec![e])?;
    let rendered = etcd_nodes::render(cluster, &pki, &[target]).map_err(|e| vec![e])?;
    let cred = rendered[0].1.etcd_credentials().ok_or_else(|| {
        err(
            host,
            "etcd credentials",
            "the healthcheck client certificate was not rendered",
        )
    })?;

    // 1. quorum of the others, before anything changes
    progress(&format!(
        "checking that the members other than {name} have quorum"
    ));
    let h_others = etcd::check(&others, &cred, Duration::from_secs(5)).await;
    let h_target = etcd::check(
        std::slice::from_ref(&endpoint),
        &cred,
        Duration::from_secs(3),
    )
    .await;
    report.member_was_healthy = h_target.healthy_count() == 1;
    let total = cluster_size(h_others.member_names.len(), all_endpoints.len());
    report.quorum = quorum_check(total, h_others.healthy_count()).map_err(|e| {
        let detail = if h_others.problems().is_empty() {
            String::new()
        } else {
            format!(" ({})", h_others.problems())
        };
        vec![
            StepError::new(
                "etcd",
                "quorum check",
                format!("{e}{detail}; refusing to rebuild {name}"),
            )
            .hint(etcd_nodes::restore_hint(cluster)),
        ]
    })?;
    report.steps.push(format!("quorum: {}", report.quorum));

    // 2. the node answers (SSH + Docker)
    progress(&format!("connecting to {host}"));
    let mut nodes = etcd_nodes::connect(
        cluster,
        rendered,
        opts.host_keys,
        &opts.connect,
        opts.parallel,
        "etcdfix",
    )
    .await?;
    let node = nodes.remove(0);
    let data_dir = cluster.kubernetes.etcd_data_path.clone();
    let aside = aside_dir(&data_dir, "broken", &stamp(time::OffsetDateTime::now_utc()));

    if opts.dry_run {
        report.steps.extend([
            "would take snapshot auto-etcdfix-<UTC time> (control host and every master)".to_string(),
            format!("would stop and remove container etcd on {host} and move the contents of {data_dir} to {aside}"),
            format!("would remove member {name} ({peer_url}) by its exact id and add it back through the leader"),
            format!("would start etcd on {host} with --initial-cluster-state=existing and the live member list"),
            format!("would wait up to {:?} until {name} is healthy and caught up", opts.wait),
        ]);
        report.ok = true;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    // 3. snapshot first (the automatic snapshot before a membership change)
    let snap_name = crate::etcd::snapshot::auto_name("etcdfix");
    progress(&format!("taking snapshot {snap_name}"));
    let snap = super::snapshot::save(
        cluster,
        &snap_name,
        opts.host_keys,
        &opts.connect,
        opts.parallel,
    )
    .await?;
    report.steps.push(format!(
        "snapshot {} ({} bytes)",
        snap_name, snap.snapshot.bytes
    ));
    report.snapshot = Some(snap);

    // 4. stop and remove the member's container, move its data aside
    progress(&format!("stopping etcd on {host}, moving {data_dir} aside"));
    let removed = docker_jobs::remove_named(
        node.docker(),
        "etcd",
        &cluster.kubernetes.cluster_name,
        docker_ops::DEFAULT_STOP_TIMEOUT,
    )
    .await
    .map_err(|e| err(host, "stop etcd", e))?;
    report.steps.push(if removed {
        format!("stopped and removed container etcd on {host}")
    } else {
        format!("no etcd container on {host}")
    });
    let out = etcd_nodes::root(
        &node,
        "move the etcd data dir aside",
        move_aside_script(&data_dir, &aside, cluster.kubernetes.etcd_moved_aside_kept),
        Duration::from_secs(300),
    )
    .await
    .map_err(|e| vec![e])?;
    if out.contains(MOVED) {
        report.moved_aside = Some(aside.clone());
        report.steps.push(format!(
            "moved the contents of {data_dir} to {aside} (kept)"
        ));
    } else {
        report.steps.push(format!("{data_dir} was already empty"));
    }

    // 5. remove the member by its exact id and add it back, through the leader
    progress("replacing the member through the leader");
    let mut leader = etcd_nodes::wait_leader(&others, &cred, opts.wait)
        .await
        .map_err(|e| err("etcd", "find the leader", e))?;
    let list = leader
        .members()
        .await
        .map_err(|e| err("etcd", "member list", e))?;
    match members::find_exact(&list, &name, &peer_url).map_err(|e| err("etcd", "member list", e))? {
        Some(m) => {
            leader
                .remove(m)
                .await
                .map_err(|e| err("etcd", "member remove", e))?;
            report.removed_member_id = Some(m.id.clone());
            report.steps.push(format!(
                "removed member {} ({name}) through {}",
                m.id, leader.endpoint
            ));
        }
        None => report.steps.push(format!(
            "{name} was not in the member list (removed before)"
        )),
    }
    let (added, after) = leader
        .add(&peer_url)
        .await
        .map_err(|e| err("etcd", "member add", e))?;
    report.added_member_id = Some(added.id.clone());
    report.steps.push(format!(
        "added member {} at {peer_url} through {}",
        added.id, leader.endpoint
    ));

    // 6. start it with the live member list
    progress(&format!("starting etcd on {host} to join the cluster"));
    let boot = EtcdBootstrap {
        state: BootstrapState::Existing,
        members: members::initial_cluster(&after, Some((&name, &peer_url))),
    };
    let spec =
        etcd_nodes::etcd_spec(cluster, target, &node.artifacts, &boot).map_err(|e| vec![e])?;
    // the certificates etcd reads, re-sent when missing or different
    let mut etcd_files = node.artifacts.clone();
    etcd_files.files.retain(|f| spec.reads.contains(&f.path));
    let files_node = super::fleet::Node {
        machine: node.machine.clone(),
        artifacts: etcd_files,
        session: node.session.clone(),
        docker: node.docker.clone(),
        log: node.log.clone(),
    };
    let changed = super::sync_files::sync(&files_node, false)
        .await
        .map_err(|e| vec![e])?;
    if !changed.is_empty() {
        report.steps.push(format!("re-sent {}", changed.join(", ")));
    }
    docker_ops::ensure_image(node.docker(), &spec.image, Duration::from_secs(600))
        .await
        .map_err(|e| err(host, "etcd image", e.to_string()))?;
    docker_ops::ensure_container(node.docker(), &spec, &docker_ops::EnsureOptions::default())
        .await
        .map_err(|e| err(host, "container etcd", e.to_string()))?;
    docker_ops::wait_running(node.docker(), "etcd", Duration::from_secs(3), opts.wait)
        .await
        .map_err(|e| err(host, "container etcd", e.to_string()))?;
    report.steps.push(format!(
        "started etcd on {host} with --initial-cluster-state=existing --initial-cluster={}",
        boot.members
            .iter()
            .map(|(n, u)| format!("{n}={u}"))
            .collect::<Vec<_>>()
            .join(",")
    ));

    // 7. bounded waits: caught up, then every member healthy
    progress(&format!("waiting until {name} is healthy and caught up"));
    let index = members::wait_caught_up(&endpoint, &leader.endpoint, &cred, opts.wait)
        .await
        .map_err(|e| {
            vec![StepError::new(host, "wait caught up", e).hint(
                "read `docker logs etcd` on that node (also in DIR/.k8s-manage/logs); the old data is kept in the moved-aside dir",
            )]
        })?;
    report
        .steps
        .push(format!("{name} caught up at raft index {index}"));
    let health = etcd::wait_healthy(&all_endpoints, &cred, opts.wait)
        .await
        .map_err(|h| {
            err(
                "etcd",
                "wait healthy",
                format!(
                    "not every member is healthy after {:?}: {}",
                    opts.wait,
                    h.problems()
                ),
            )
        })?;
    report.members = leader
        .members()
        .await
        .map_err(|e| err("etcd", "member list", e))?;
    report.health = Some(health);
    report.ok = true;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_of_the_others_decides() {
        assert!(quorum_check(3, 2).unwrap().contains("2 of the other 2"));
        let e = quorum_check(3, 1).unwrap_err();
        assert!(e.contains("lost quorum"), "{e}");
        assert!(quorum_check(3, 0).is_err());
        // five members, two down (the target one of them): 3 of 4 others suffice
        assert!(quorum_check(5, 3).is_ok());
        assert!(quorum_check(5, 2).is_err());
        // a single-member cluster can never be rebuilt from the rest
        assert!(quorum_check(1, 0).is_err());
    }

    #[test]
    fn the_plan_shows_the_phases_in_the_order_they_run() {
        let def = crate::plan::maintainconf::load("etcdfix").unwrap();
        let ids: Vec<&str> = def.phases.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, PHASES);
        assert!(def.exactly_one);
    }

    #[test]
    fn cluster_size_prefers_the_member_list() {
        assert_eq!(cluster_size(2, 3), 2);
        assert_eq!(cluster_size(0, 3), 3);
    }
}
