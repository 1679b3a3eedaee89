//! `etcd snapshot restore --name NAME`: the answer to lost quorum. Refuses a snapshot whose
//! sha256 does not match the one recorded when it was taken; makes sure every master holds
//! a checked copy; takes a last snapshot of the current state when a member still answers;
//! stops kube-apiserver, kube-controller-manager and kube-scheduler, then etcd, on every
//! master; moves each etcd data dir's contents aside (`<dir>.before-restore-<time>`, kept);
//! restores the snapshot on each master inside the etcd image (`etcdutl`, or `etcdctl` on
//! 3.4) with the member's name, peer URL, the full initial cluster and the cluster token of
//! its container spec; starts etcd everywhere, waits for quorum (bounded), and brings the
//! control plane back with the deploy machinery in repair mode (`/readyz`, nodes Ready).

use super::deploy::{self, DeployOptions, NodeProgress};
use super::etcd_nodes;
use super::fleet::{Node, StepError, blocking, fan_out};
use super::report::Report;
use crate::components::etcd::{self as etcd_component};
use crate::etcd::restore::{RestoreParams, RestoreTool, aside_dir, restore_command};
use crate::etcd::snapshot::{self, NODE_SNAPSHOT_DIR, stamp};
use crate::etcd::{self, EtcdHealth};
use crate::executor::docker::jobs::{self, Job, JobError};
use crate::executor::docker::{ensure, logs, remove, waits};
use crate::model::Cluster;
use crate::ssh::snippets::etcd::{self as etcd_script, MOVED};
use crate::ssh::snippets::files;
use crate::ssh::{ConnectOptions, HostKeyPolicy};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run.
#[derive(Clone)]
pub struct RestoreOptions {
    pub dry_run: bool,
    pub parallel: usize,
    pub host_keys: HostKeyPolicy,
    pub connect: ConnectOptions,
    pub wait: Duration,
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
    pub node_progress: NodeProgress,
}

/// One master's part of the restore.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoredNode {
    pub host: String,
    pub member: String,
    /// `present` (a checked copy was there) or `copied`.
    pub copy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<RestoreTool>,
}

/// What the restore did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub action: String,
    pub ok: bool,
    pub dry_run: bool,
    pub snapshot: String,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
    /// The snapshot of the state before the restore, when a member still answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_restore_snapshot: Option<String>,
    pub warnings: Vec<String>,
    pub steps: Vec<String>,
    pub nodes: Vec<RestoredNode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<EtcdHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<Report>,
    pub seconds: f64,
}

/// The snapshot file on the control host.
pub fn snapshot_path(cluster: &Cluster, name: &str) -> PathBuf {
    cluster
        .state_dir()
        .join("snapshots")
        .join(format!("{name}.db"))
}

/// When the snapshot file was written (its modification time), UTC.
pub fn taken_at(cluster: &Cluster, name: &str) -> Option<time::OffsetDateTime> {
    let m = std::fs::metadata(snapshot_path(cluster, name)).ok()?;
    Some(time::OffsetDateTime::from(m.modified().ok()?))
}

/// Check the control host's copy against its recorded sha256.
pub fn verify_local(cluster: &Cluster, name: &str) -> Result<String, StepError> {
    let path = snapshot_path(cluster, name);
    snapshot::verify(&path).map_err(|e| {
        StepError::new(
            "control host",
            "snapshot checksum",
            format!("refusing to restore snapshot {name}: {e}"),
        )
        .hint("the file changed after it was taken, or is damaged: pick another snapshot (DIR/.k8s-manage/snapshots) or take a new one while the cluster has quorum")
    })
}

fn first_word(s: &str) -> String {
    s.split_whitespace().next().unwrap_or_default().to_string()
}

/// Make sure the master holds a copy with the right checksum: `present` or `copied`.
async fn ensure_copy(
    node: &Node,
    name: &str,
    sha: &str,
    data: Arc<Vec<u8>>,
    dry_run: bool,
    keep: u32,
) -> Result<String, StepError> {
    let path = format!("{NODE_SNAPSHOT_DIR}/{name}.db");
    let check = files::sha256_if_file(&path);
    let got = first_word(
        &etcd_nodes::root(
            node,
            "check snapshot copy",
            check.clone(),
            Duration::from_secs(120),
        )
        .await?,
    );
    if got == sha {
        return Ok("present".into());
    }
    if dry_run {
        return Ok("would copy".into());
    }
    etcd_nodes::root(
        node,
        "make room for the snapshot",
        etcd_script::make_room(NODE_SNAPSHOT_DIR, name, data.len() as u64, keep),
        Duration::from_secs(120),
    )
    .await?;
    let (s, host, p) = (node.session.clone(), node.host().to_string(), path.clone());
    blocking(move || {
        s.put_file(&p, &data, 0o600)
            .map_err(|e| StepError::from_ssh(&host, "copy snapshot", &e))
    })
    .await?;
    let got = first_word(
        &etcd_nodes::root(node, "check snapshot copy", check, Duration::from_secs(120)).await?,
    );
    if got == sha {
        Ok("copied".into())
    } else {
        Err(StepError::new(
            node.host(),
            "check snapshot copy",
            format!("the copy in {path} has sha256 {got}, expected {sha}"),
        ))
    }
}

fn phase<T>(results: Vec<Result<T, StepError>>) -> Result<Vec<T>, Vec<StepError>> {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(ok) } else { Err(errs) }
}

/// Restore `name` on one master: move the data aside, restore into a staging dir inside
/// the etcd image, put the result in place. (moved-aside dir, tool used)
async fn restore_member(
    cluster: &Cluster,
    node: &Node,
    name: &str,
    when: &str,
) -> Result<(Option<String>, RestoreTool), StepError> {
    let host = node.host();
    let k = &cluster.kubernetes;
    let data_dir = k.etcd_data_path.clone();
    let aside = aside_dir(&data_dir, "before-restore", when);
    let staging = aside_dir(&data_dir, "restore", when);
    let out = etcd_nodes::root(
        node,
        "move the etcd data dir aside",
        etcd_script::move_aside(&data_dir, &aside, k.etcd_moved_aside_kept),
        Duration::from_secs(600),
    )
    .await?;
    let moved = out.contains(MOVED).then(|| aside.clone());
    etcd_nodes::root(
        node,
        "prepare the restore dir",
        etcd_script::prepare_staging(&staging),
        Duration::from_secs(60),
    )
    .await?;
    let params = RestoreParams {
        snapshot: format!("/snapshots/{name}.db"),
        name: node
            .machine
            .etcdid
            .clone()
            .unwrap_or_else(|| node.machine.hostname.clone()),
        initial_cluster: etcd_component::new_cluster(cluster).members,
        peer_url: etcd_component::peer_url(&node.machine),
        token: format!("{}-etcd", k.cluster_name),
        data_dir: "/restore/data".into(),
    };
    let mut last = String::new();
    for tool in [RestoreTool::Etcdutl, RestoreTool::Etcdctl] {
        let (entrypoint, args, env) = restore_command(tool, &params);
        let job = Job {
            name: "k8s-manage-etcd-restore".into(),
            image: k.images["etcd"].clone(),
            entrypoint,
            args,
            env,
            binds: vec![
                format!("{NODE_SNAPSHOT_DIR}:/snapshots:ro"),
                format!("{staging}:/restore"),
            ],
            cluster: k.cluster_name.clone(),
        };
        node.log.line(&format!(
            "restore job: {} {}",
            job.entrypoint.join(" "),
            job.args.join(" ")
        ));
        match jobs::run_job(node.docker(), &job, Duration::from_secs(600)).await {
            Ok(o) if o.exit_code == 0 => {
                node.log.line(&o.log);
                etcd_nodes::root(
                    node,
                    "put the restored data dir in place",
                    etcd_script::install_restored(&staging, &data_dir),
                    Duration::from_secs(600),
                )
                .await?;
                return Ok((moved, tool));
            }
            Ok(o) => {
                return Err(StepError::new(
                    host,
                    "snapshot restore",
                    format!(
                        "{} snapshot restore exited with {}: {}",
                        tool.program(),
                        o.exit_code,
                        logs::log_excerpt(&o.log, 20)
                    ),
                )
                .hint(format!(
                    "the previous data is kept in {aside}; fix the cause and run the restore again"
                )));
            }
            Err(JobError::NoSuchProgram(m)) => last = m,
            Err(JobError::Other(m)) => {
                return Err(StepError::new(host, "snapshot restore", m));
            }
        }
    }
    Err(StepError::new(
        host,
        "snapshot restore",
        format!(
            "the etcd image {} has neither etcdutl nor etcdctl ({last})",
            k.images["etcd"]
        ),
    )
    .hint("use an etcd image that ships etcdutl (etcd 3.5+) or etcdctl (3.4), like registry.k8s.io/etcd"))
}

/// Restore snapshot `name` on every master and bring the control plane back.
pub async fn restore(
    cluster: &Cluster,
    name: &str,
    opts: &RestoreOptions,
) -> Result<RestoreReport, Vec<StepError>> {
    let started = Instant::now();
    let progress = opts.progress.clone();
    progress(&format!(
        "checking snapshot {name} against its recorded sha256"
    ));
    let sha = verify_local(cluster, name).map_err(|e| vec![e])?;
    let mut report = RestoreReport {
        action: "etcd snapshot restore".into(),
        ok: false,
        dry_run: opts.dry_run,
        snapshot: name.into(),
        sha256: sha.clone(),
        taken_at: taken_at(cluster, name).map(|t| format!("{} UTC", stamp(t))),
        pre_restore_snapshot: None,
        warnings: Vec::new(),
        steps: vec![format!(
            "snapshot {name}: sha256 {sha} matches the recorded one"
        )],
        nodes: Vec::new(),
        health: None,
        control_plane: None,
        seconds: 0.0,
    };
    let data = Arc::new(std::fs::read(snapshot_path(cluster, name)).map_err(|e| {
        vec![StepError::new(
            "control host",
            "read snapshot",
            e.to_string(),
        )]
    })?);

    let pki = etcd_nodes::load_pki(cluster).map_err(|e| vec![e])?;
    let masters: Vec<_> = cluster.masters().collect();
    let rendered = etcd_nodes::render(cluster, &pki, &masters).map_err(|e| vec![e])?;
    let cred = rendered
        .first()
        .and_then(|(_, a)| a.etcd_credentials())
        .ok_or_else(|| {
            vec![StepError::new(
                "control host",
                "etcd credentials",
                "no master, or the healthcheck client certificate was not rendered",
            )]
        })?;
    progress(&format!("connecting to {} masters", masters.len()));
    let nodes = etcd_nodes::connect(
        cluster,
        rendered,
        opts.host_keys,
        &opts.connect,
        opts.parallel,
        "restore",
    )
    .await?;
    let all: Vec<&Node> = nodes.iter().collect();

    progress("making sure every master holds a checked copy");
    let copies = phase(
        fan_out(&all, opts.parallel, |n| {
            ensure_copy(
                n,
                name,
                &sha,
                data.clone(),
                opts.dry_run,
                cluster.kubernetes.etcd_snapshot_copies_kept,
            )
        })
        .await,
    )?;
    for (n, copy) in nodes.iter().zip(copies) {
        report.nodes.push(RestoredNode {
            host: n.host().into(),
            member: n.machine.etcdid.clone().unwrap_or_default(),
            copy,
            ..Default::default()
        });
    }
    let data_dir = &cluster.kubernetes.etcd_data_path;
    if opts.dry_run {
        report.steps.extend([
            "would take a snapshot of the current state first when a member still answers".to_string(),
            "would stop kube-apiserver, kube-controller-manager and kube-scheduler, then etcd, on every master".to_string(),
            format!("would move the contents of {data_dir} aside to {data_dir}.before-restore-<UTC time> on every master (kept)"),
            format!("would restore {name} on every master with etcdutl (etcdctl on 3.4) from the etcd image"),
            "would start etcd everywhere, wait for quorum, then bring the control plane back (repair)".to_string(),
        ]);
        report.ok = true;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    // the current state, when it can still be read
    let endpoints: Vec<String> = cluster.masters().map(etcd_component::client_url).collect();
    let now_health = etcd::check(&endpoints, &cred, Duration::from_secs(3)).await;
    if now_health.healthy_count() > 0 {
        let pre = snapshot::auto_name("restore");
        progress(&format!("taking snapshot {pre} of the current state first"));
        match super::snapshot::save(cluster, &pre, opts.host_keys, &opts.connect, opts.parallel)
            .await
        {
            Ok(_) => {
                report
                    .steps
                    .push(format!("snapshot {pre} of the state before the restore"));
                report.pre_restore_snapshot = Some(pre);
            }
            Err(errs) => report.warnings.push(format!(
                "no snapshot of the current state could be taken: {}",
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    } else {
        report
            .warnings
            .push("no etcd member answers: no snapshot of the current state was taken".into());
    }

    let cluster_name = cluster.kubernetes.cluster_name.clone();
    let stop = |names: &'static [&'static str]| {
        let cluster_name = cluster_name.clone();
        let np = opts.node_progress.clone();
        fan_out(&all, opts.parallel, move |n| {
            let (cluster_name, np) = (cluster_name.clone(), np.clone());
            async move {
                for c in names {
                    np(n.host(), &format!("stopping {c}"));
                    remove::stop_named(n.docker(), c, &cluster_name, remove::DEFAULT_STOP_TIMEOUT)
                        .await
                        .map_err(|e| StepError::new(n.host(), &format!("stop {c}"), e))?;
                }
                Ok(())
            }
        })
    };
    progress("stopping kube-apiserver, kube-controller-manager and kube-scheduler on every master");
    phase(
        stop(&[
            "kube-scheduler",
            "kube-controller-manager",
            "kube-apiserver",
        ])
        .await,
    )?;
    report
        .steps
        .push("stopped kube-apiserver, kube-controller-manager and kube-scheduler".into());
    progress("stopping etcd on every master");
    phase(stop(&["etcd"]).await)?;
    report.steps.push("stopped etcd on every master".into());

    progress(&format!("restoring {name} into {data_dir} on every master"));
    let when = stamp(time::OffsetDateTime::now_utc());
    let restored = phase(
        fan_out(&all, opts.parallel, |n| {
            (opts.node_progress)(n.host(), "restoring");
            restore_member(cluster, n, name, &when)
        })
        .await,
    )?;
    for (r, (moved, tool)) in report.nodes.iter_mut().zip(restored) {
        r.moved_aside = moved;
        r.tool = Some(tool);
    }
    report.steps.push(format!(
        "restored {name} on every master; old data kept in {}",
        aside_dir(data_dir, "before-restore", &when)
    ));

    progress("starting etcd on every master");
    phase(
        fan_out(&all, opts.parallel, |n| async move {
            let spec = n
                .artifacts
                .containers
                .iter()
                .find(|c| c.name == "etcd")
                .ok_or_else(|| StepError::new(n.host(), "container etcd", "not rendered"))?;
            ensure::ensure_container(n.docker(), spec, &ensure::EnsureOptions::default())
                .await
                .map_err(|e| StepError::new(n.host(), "container etcd", e.to_string()))?;
            waits::wait_running(n.docker(), "etcd", Duration::from_secs(3), opts.wait)
                .await
                .map_err(|e| StepError::new(n.host(), "container etcd", e.to_string()))
        })
        .await,
    )?;
    progress("waiting for etcd quorum");
    let health = etcd::wait_healthy(&endpoints, &cred, opts.wait)
        .await
        .map_err(|h| {
            vec![StepError::new(
                "etcd",
                "wait healthy",
                format!("etcd is not healthy {:?} after the restore: {}", opts.wait, h.problems()),
            )
            .hint("read `docker logs etcd` on the masters (also in DIR/.k8s-manage/logs); the old data dirs are kept beside the data dir")]
        })?;
    report.steps.push("etcd healthy with a leader".into());
    report.health = Some(health);

    progress("bringing the control plane back (repair on every node)");
    // the stopped containers are only started again (same spec): no rolling, no drain
    let dopts = DeployOptions {
        parallel: opts.parallel,
        host_keys: opts.host_keys,
        connect: opts.connect.clone(),
        wait: opts.wait,
        rolling: super::rolling::RollMode::Never,
        drain: false,
        action: "repair",
        ..DeployOptions::new(opts.progress.clone(), opts.node_progress.clone())
    };
    let every: std::collections::BTreeSet<String> = cluster
        .machines
        .iter()
        .map(|m| m.hostname.clone())
        .collect();
    match deploy::repair(cluster, every, &dopts).await {
        Ok(r) => {
            report
                .steps
                .push("control plane back: /readyz ok, nodes registered and Ready".into());
            report.control_plane = Some(r);
        }
        Err(r) => {
            let mut errs = r.errors.clone();
            if errs.is_empty() {
                errs.push(StepError::new("control plane", "repair", "failed"));
            }
            return Err(errs);
        }
    }
    report.ok = true;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
