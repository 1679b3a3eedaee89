//! `etcd snapshot restore --name NAME`: the answer to lost quorum, [`RESTORE`]'s phases
//! (`maintainconf/restore.yaml`) through the one runner, in this order: `snapshot-check`
//! refuses a snapshot whose sha256 does not match the one recorded when it was taken;
//! `connect`; `snapshot-copy` makes sure every master holds a checked copy; `snapshot`
//! takes a last snapshot of the current state when a member still answers; `stop` stops
//! kube-apiserver, kube-controller-manager and kube-scheduler, then etcd, on every master;
//! `move-aside` moves each etcd data dir's contents aside (`<dir>.before-restore-<time>`,
//! kept); `restore` restores the snapshot on each master inside the etcd image (`etcdutl`,
//! or `etcdctl` on 3.4) with the member's name, peer URL, the full initial cluster and the
//! cluster token of its container spec; `etcd-start` starts etcd everywhere and
//! `etcd-health` waits for quorum (bounded); `repair` brings the control plane back with
//! the deploy machinery in repair mode (`/readyz`, nodes Ready). A dry run runs the first
//! three (it checks, copies nothing) and says what each later one would do.

use super::deploy::{self, DeployOptions};
use super::engine::{self, ActionLog, Failure, Phases};
use super::etcd_nodes;
use super::fleet::{Node, StepError, blocking, fan_out};
use super::options::{Progress, Reach, Rollout};
use super::phase_clock::PhaseClock;
use super::report::Report;
use crate::components::etcd::{self as etcd_component};
use crate::etcd::restore::{RestoreParams, RestoreTool, aside_dir, restore_command};
use crate::etcd::snapshot::{self, NODE_SNAPSHOT_DIR, stamp};
use crate::etcd::{self, EtcdHealth};
use crate::executor::docker::jobs::{self, Job, JobError};
use crate::executor::docker::{ensure, logs, remove, waits};
use crate::model::Cluster;
use crate::plan::Step;
use crate::plan::phases::{PhaseSpec, RESTORE};
use crate::ssh::snippets::etcd::{self as etcd_script, MOVED};
use crate::ssh::snippets::files;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run.
#[derive(Clone)]
pub struct RestoreOptions {
    pub dry_run: bool,
    pub reach: Reach,
    /// Bound for each wait (etcd healthy, the control plane back).
    pub wait: Duration,
    pub progress: Progress,
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
    /// What each phase walked through, as `plan restore` lists it (not in the JSON: the
    /// steps above say it in words).
    #[serde(skip)]
    pub walked: Vec<engine::Walked>,
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

/// Every node's result, or every error.
fn all_ok<T>(results: Vec<Result<T, StepError>>) -> Result<Vec<T>, Vec<StepError>> {
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

/// Move one master's etcd data dir's contents aside to `<dir>.before-restore-<when>`:
/// the moved-aside dir, `None` when the data dir was empty.
async fn move_aside(
    cluster: &Cluster,
    node: &Node,
    when: &str,
) -> Result<Option<String>, StepError> {
    let k = &cluster.kubernetes;
    let data_dir = &k.etcd_data_path;
    let aside = aside_dir(data_dir, "before-restore", when);
    let out = etcd_nodes::root(
        node,
        "move the etcd data dir aside",
        etcd_script::move_aside(data_dir, &aside, k.etcd_moved_aside_kept),
        Duration::from_secs(600),
    )
    .await?;
    Ok(out.contains(MOVED).then_some(aside))
}

/// Restore `name` on one master whose data dir was moved aside: restore into a staging
/// dir inside the etcd image, put the result in place. The tool used.
async fn restore_member(
    cluster: &Cluster,
    node: &Node,
    name: &str,
    when: &str,
) -> Result<RestoreTool, StepError> {
    let host = node.host();
    let k = &cluster.kubernetes;
    let data_dir = k.etcd_data_path.clone();
    let aside = aside_dir(&data_dir, "before-restore", when);
    let staging = aside_dir(&data_dir, "restore", when);
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
                return Ok(tool);
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

/// Restore snapshot `name` on every master and bring the control plane back:
/// [`RESTORE`]'s phases in order through the one runner.
pub async fn restore(
    cluster: &Cluster,
    name: &str,
    opts: &RestoreOptions,
) -> Result<RestoreReport, Vec<StepError>> {
    let started = Instant::now();
    let clock = PhaseClock::start();
    let run = Restore::new(cluster, name, opts, &clock);
    let (mut run, result) = engine::run(&RESTORE, &clock, run).await;
    match result {
        Ok(()) => {
            run.report.seconds = started.elapsed().as_secs_f64();
            Ok(run.report)
        }
        Err(()) => Err(run.log.failure.map(|f| f.errors).unwrap_or_default()),
    }
}

/// One restore as it goes through the phases: what each phase leaves for the next (the
/// snapshot's bytes, the etcd credentials, the nodes, the time stamp of the moved-aside
/// dirs).
struct Restore<'a> {
    cluster: &'a Cluster,
    name: &'a str,
    opts: &'a RestoreOptions,
    /// The options' progress, timed per phase.
    progress: Arc<dyn Fn(&str) + Send + Sync>,
    report: RestoreReport,
    log: ActionLog,
    /// The checked snapshot file.
    data: Arc<Vec<u8>>,
    cred: Option<etcd::EtcdCredentials>,
    nodes: Vec<Node>,
    /// Every master's client URL.
    endpoints: Vec<String>,
    /// The UTC time stamp of the moved-aside and staging dirs.
    when: String,
}

impl<'a> Restore<'a> {
    /// A restore of snapshot `name` before its first phase; `clock` times its progress.
    fn new(
        cluster: &'a Cluster,
        name: &'a str,
        opts: &'a RestoreOptions,
        clock: &PhaseClock,
    ) -> Restore<'a> {
        Restore {
            cluster,
            name,
            opts,
            progress: clock.wrap(opts.progress.phase.clone()),
            report: RestoreReport {
                action: "etcd snapshot restore".into(),
                ok: false,
                dry_run: opts.dry_run,
                snapshot: name.into(),
                sha256: String::new(),
                taken_at: None,
                pre_restore_snapshot: None,
                warnings: Vec::new(),
                steps: Vec::new(),
                nodes: Vec::new(),
                health: None,
                control_plane: None,
                seconds: 0.0,
                walked: Vec::new(),
            },
            log: ActionLog::default(),
            data: Arc::new(Vec::new()),
            cred: None,
            nodes: Vec::new(),
            endpoints: cluster.masters().map(etcd_component::client_url).collect(),
            when: String::new(),
        }
    }
}

impl Phases for Restore<'_> {
    type Log = ActionLog;

    async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure> {
        let done = match phase.id {
            "snapshot-check" => self.snapshot_check(),
            "connect" => self.connect().await,
            "snapshot-copy" => self.snapshot_copy().await,
            // a dry run stops after the copies are checked: each later phase only says
            // what it would do
            id if self.opts.dry_run => {
                if let Some(line) = self.would(id) {
                    self.report.steps.push(line);
                }
                engine::live_only(&mut self.log);
                Ok(())
            }
            "snapshot" => self.snapshot().await,
            "stop" => self.stop().await,
            "move-aside" => self.move_aside().await,
            "restore" => self.restore().await,
            "etcd-start" => self.etcd_start().await,
            "etcd-health" => self.etcd_health().await,
            "repair" => self.repair().await,
            id => Err(vec![engine::no_runner("restore", id)]),
        };
        done.map_err(|errors| Failure::new(phase.id, errors))
    }

    fn log(&mut self) -> &mut ActionLog {
        &mut self.log
    }

    fn finish(&mut self) {
        self.report.ok = true;
        self.report.walked = self.log.walked.clone();
    }
}

type PhaseResult = Result<(), Vec<StepError>>;

impl Restore<'_> {
    fn progress(&self, line: &str) {
        (self.progress)(line)
    }

    fn cred(&self) -> Result<&etcd::EtcdCredentials, Vec<StepError>> {
        self.cred.as_ref().ok_or_else(|| {
            vec![StepError::new(
                "control host",
                "etcd credentials",
                "not connected",
            )]
        })
    }

    /// What a dry run says for a phase it passes by (the last line covers the phases
    /// after `etcd-start` too).
    fn would(&self, phase: &str) -> Option<String> {
        let (name, data_dir) = (self.name, &self.cluster.kubernetes.etcd_data_path);
        Some(match phase {
            "snapshot" => {
                "would take a snapshot of the current state first when a member still answers"
                    .to_string()
            }
            "stop" => "would stop kube-apiserver, kube-controller-manager and kube-scheduler, then etcd, on every master".to_string(),
            "move-aside" => format!("would move the contents of {data_dir} aside to {data_dir}.before-restore-<UTC time> on every master (kept)"),
            "restore" => format!("would restore {name} on every master with etcdutl (etcdctl on 3.4) from the etcd image"),
            "etcd-start" => "would start etcd everywhere, wait for quorum, then bring the control plane back (repair)".to_string(),
            _ => return None,
        })
    }

    /// 1. The control host's file against its recorded sha256, then read.
    fn snapshot_check(&mut self) -> PhaseResult {
        let (cluster, name) = (self.cluster, self.name);
        self.progress(&format!(
            "checking snapshot {name} against its recorded sha256"
        ));
        let sha = verify_local(cluster, name).map_err(|e| vec![e])?;
        self.report.taken_at = taken_at(cluster, name).map(|t| format!("{} UTC", stamp(t)));
        self.report.steps.push(format!(
            "snapshot {name}: sha256 {sha} matches the recorded one"
        ));
        self.report.sha256 = sha;
        engine::walked(
            &mut self.log,
            "cluster",
            vec![Step::CheckSnapshot {
                file: format!(".k8s-manage/snapshots/{name}.db"),
            }],
        );
        self.data = Arc::new(std::fs::read(snapshot_path(cluster, name)).map_err(|e| {
            vec![StepError::new(
                "control host",
                "read snapshot",
                e.to_string(),
            )]
        })?);
        Ok(())
    }

    /// 2. Every master's files (for the etcd credentials and etcd's container), then
    ///    SSH and Docker on each.
    async fn connect(&mut self) -> PhaseResult {
        let cluster = self.cluster;
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
        self.progress(&format!("connecting to {} masters", masters.len()));
        for m in &masters {
            engine::walked(&mut self.log, &m.hostname, vec![Step::connect_to(m)]);
        }
        self.nodes = etcd_nodes::connect(cluster, rendered, &self.opts.reach, "restore").await?;
        self.cred = Some(cred);
        Ok(())
    }

    /// 3. A checked copy on every master (a dry run only checks).
    async fn snapshot_copy(&mut self) -> PhaseResult {
        self.progress("making sure every master holds a checked copy");
        let (name, sha, data) = (self.name, self.report.sha256.as_str(), &self.data);
        let (dry_run, keep) = (
            self.opts.dry_run,
            self.cluster.kubernetes.etcd_snapshot_copies_kept,
        );
        let all: Vec<&Node> = self.nodes.iter().collect();
        let copies = all_ok(
            fan_out(&all, self.opts.reach.parallel, |n| {
                ensure_copy(n, name, sha, data.clone(), dry_run, keep)
            })
            .await,
        )?;
        for (n, copy) in self.nodes.iter().zip(copies) {
            engine::walked(
                &mut self.log,
                n.host(),
                vec![Step::CopySnapshot {
                    path: format!("{NODE_SNAPSHOT_DIR}/{name}.db"),
                }],
            );
            self.report.nodes.push(RestoredNode {
                host: n.host().into(),
                member: n.machine.etcdid.clone().unwrap_or_default(),
                copy,
                ..Default::default()
            });
        }
        Ok(())
    }

    /// 4. The current state, when it can still be read (a warning when not).
    async fn snapshot(&mut self) -> PhaseResult {
        let now_health = etcd::check(&self.endpoints, self.cred()?, Duration::from_secs(3)).await;
        if now_health.healthy_count() == 0 {
            self.report
                .warnings
                .push("no etcd member answers: no snapshot of the current state was taken".into());
            return Ok(());
        }
        let pre = snapshot::auto_name("restore");
        self.progress(&format!("taking snapshot {pre} of the current state first"));
        let opts = self.opts;
        match super::snapshot::save(self.cluster, &pre, &opts.reach).await {
            Ok(_) => {
                self.report
                    .steps
                    .push(format!("snapshot {pre} of the state before the restore"));
                self.report.pre_restore_snapshot = Some(pre);
            }
            Err(errs) => self.report.warnings.push(format!(
                "no snapshot of the current state could be taken: {}",
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
        Ok(())
    }

    /// Stop these containers, in order, on every master.
    async fn stop_everywhere(&self, names: &'static [&'static str]) -> PhaseResult {
        let cluster_name = self.cluster.kubernetes.cluster_name.as_str();
        let np = &self.opts.progress.node;
        let all: Vec<&Node> = self.nodes.iter().collect();
        all_ok(
            fan_out(&all, self.opts.reach.parallel, |n| async move {
                for c in names {
                    np(n.host(), &format!("stopping {c}"));
                    remove::stop_named(n.docker(), c, cluster_name, remove::DEFAULT_STOP_TIMEOUT)
                        .await
                        .map_err(|e| StepError::new(n.host(), &format!("stop {c}"), e))?;
                }
                Ok(())
            })
            .await,
        )
        .map(|_| ())
    }

    /// 5. The control plane, then etcd, stopped on every master.
    async fn stop(&mut self) -> PhaseResult {
        self.progress(
            "stopping kube-apiserver, kube-controller-manager and kube-scheduler on every master",
        );
        self.stop_everywhere(&[
            "kube-scheduler",
            "kube-controller-manager",
            "kube-apiserver",
        ])
        .await?;
        self.report
            .steps
            .push("stopped kube-apiserver, kube-controller-manager and kube-scheduler".into());
        self.progress("stopping etcd on every master");
        self.stop_everywhere(&["etcd"]).await?;
        self.report
            .steps
            .push("stopped etcd on every master".into());
        Ok(())
    }

    /// 6. Each data dir's contents moved aside (kept). The progress line says the
    ///    whole restore (this phase and the next).
    async fn move_aside(&mut self) -> PhaseResult {
        let (cluster, name) = (self.cluster, self.name);
        self.progress(&format!(
            "restoring {name} into {} on every master",
            cluster.kubernetes.etcd_data_path
        ));
        self.when = stamp(time::OffsetDateTime::now_utc());
        let (when, np) = (self.when.as_str(), &self.opts.progress.node);
        let all: Vec<&Node> = self.nodes.iter().collect();
        let moved = all_ok(
            fan_out(&all, self.opts.reach.parallel, |n| {
                np(n.host(), "restoring");
                move_aside(cluster, n, when)
            })
            .await,
        )?;
        for (r, m) in self.report.nodes.iter_mut().zip(moved) {
            r.moved_aside = m;
        }
        Ok(())
    }

    /// 7. The snapshot restored into each (now empty) data dir.
    async fn restore(&mut self) -> PhaseResult {
        let (cluster, name, when) = (self.cluster, self.name, self.when.as_str());
        let all: Vec<&Node> = self.nodes.iter().collect();
        let tools = all_ok(
            fan_out(&all, self.opts.reach.parallel, |n| {
                restore_member(cluster, n, name, when)
            })
            .await,
        )?;
        for (r, tool) in self.report.nodes.iter_mut().zip(tools) {
            r.tool = Some(tool);
        }
        self.report.steps.push(format!(
            "restored {name} on every master; old data kept in {}",
            aside_dir(
                &cluster.kubernetes.etcd_data_path,
                "before-restore",
                &self.when
            )
        ));
        Ok(())
    }

    /// 8. etcd started again (same spec) on every master.
    async fn etcd_start(&mut self) -> PhaseResult {
        self.progress("starting etcd on every master");
        let wait = self.opts.wait;
        let all: Vec<&Node> = self.nodes.iter().collect();
        all_ok(
            fan_out(&all, self.opts.reach.parallel, |n| async move {
                let spec = n
                    .artifacts
                    .containers
                    .iter()
                    .find(|c| c.name == "etcd")
                    .ok_or_else(|| StepError::new(n.host(), "container etcd", "not rendered"))?;
                ensure::ensure_container(n.docker(), spec, &ensure::EnsureOptions::default())
                    .await
                    .map_err(|e| StepError::new(n.host(), "container etcd", e.to_string()))?;
                waits::wait_running(n.docker(), "etcd", Duration::from_secs(3), wait)
                    .await
                    .map_err(|e| StepError::new(n.host(), "container etcd", e.to_string()))
            })
            .await,
        )?;
        Ok(())
    }

    /// 9. Quorum (bounded).
    async fn etcd_health(&mut self) -> PhaseResult {
        self.progress("waiting for etcd quorum");
        let wait = self.opts.wait;
        let health = etcd::wait_healthy(&self.endpoints, self.cred()?, wait)
            .await
            .map_err(|h| {
                vec![StepError::new(
                    "etcd",
                    "wait healthy",
                    format!("etcd is not healthy {wait:?} after the restore: {}", h.problems()),
                )
                .hint("read `docker logs etcd` on the masters (also in DIR/.k8s-manage/logs); the old data dirs are kept beside the data dir")]
            })?;
        self.report.steps.push("etcd healthy with a leader".into());
        self.report.health = Some(health);
        Ok(())
    }

    /// 10. The control plane back: repair on every node.
    async fn repair(&mut self) -> PhaseResult {
        self.progress("bringing the control plane back (repair on every node)");
        let opts = self.opts;
        // the stopped containers are only started again (same spec): no rolling, no drain
        let dopts = DeployOptions {
            reach: opts.reach.clone(),
            wait: opts.wait,
            rollout: Rollout {
                mode: super::rolling::RollMode::Never,
                drain: false,
                ..Rollout::default()
            },
            action: "repair",
            ..DeployOptions::new(opts.progress.clone())
        };
        let every: std::collections::BTreeSet<String> = self
            .cluster
            .machines
            .iter()
            .map(|m| m.hostname.clone())
            .collect();
        match deploy::repair(self.cluster, every, &dopts).await {
            Ok(r) => {
                self.report
                    .steps
                    .push("control plane back: /readyz ok, nodes registered and Ready".into());
                self.report.control_plane = Some(r);
                Ok(())
            }
            Err(r) => {
                let mut errs = r.errors.clone();
                if errs.is_empty() {
                    errs.push(StepError::new("control plane", "repair", "failed"));
                }
                Err(errs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::phases::ActionSpec;
    use std::sync::Mutex;

    /// RESTORE without its first three phases: what a dry run passes by.
    const AFTER_THE_CHECKS: ActionSpec = ActionSpec {
        phases: RESTORE.phases.split_at(3).1,
        ..RESTORE
    };

    /// A phase the runner cannot run.
    const UNKNOWN: ActionSpec = ActionSpec {
        phases: &[PhaseSpec {
            id: "no-such-phase",
            ..RESTORE.phases[0]
        }],
        ..RESTORE
    };

    fn options(dry_run: bool, lines: Arc<Mutex<Vec<String>>>) -> RestoreOptions {
        RestoreOptions {
            dry_run,
            reach: Reach {
                parallel: 4,
                ..Reach::default()
            },
            wait: Duration::from_secs(1),
            progress: Progress::phases_only(Arc::new(move |l: &str| {
                lines.lock().unwrap().push(l.to_string())
            })),
        }
    }

    fn run_on<'a>(
        action: &ActionSpec,
        cluster: &'a Cluster,
        opts: &'a RestoreOptions,
    ) -> (Restore<'a>, Result<(), ()>) {
        let clock = PhaseClock::start();
        let run = Restore::new(cluster, "snap1", opts, &clock);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(engine::run(action, &clock, run))
    }

    #[test]
    fn a_phase_the_runner_cannot_run_fails_naming_it() {
        let cluster = crate::model::test_cluster::one_master("");
        let opts = options(false, Arc::default());
        let (run, result) = run_on(&UNKNOWN, &cluster, &opts);
        assert!(result.is_err());
        let f = run.log.failure.expect("a failure");
        assert_eq!(f.phase, "no-such-phase");
        assert!(
            f.errors[0].to_string().contains("no runner for this phase"),
            "{:?}",
            f.errors
        );
        assert!(!run.report.ok);
    }

    #[test]
    fn a_dry_run_says_what_each_phase_after_the_checks_would_do() {
        assert_eq!(AFTER_THE_CHECKS.phases[0].id, "snapshot");
        let cluster = crate::model::test_cluster::one_master("");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let opts = options(true, lines.clone());
        let (run, result) = run_on(&AFTER_THE_CHECKS, &cluster, &opts);
        assert!(result.is_ok());
        assert!(run.report.ok);
        let d = &cluster.kubernetes.etcd_data_path;
        assert_eq!(
            run.report.steps,
            [
                "would take a snapshot of the current state first when a member still answers"
                    .to_string(),
                "would stop kube-apiserver, kube-controller-manager and kube-scheduler, then etcd, on every master".to_string(),
                format!("would move the contents of {d} aside to {d}.before-restore-<UTC time> on every master (kept)"),
                "would restore snap1 on every master with etcdutl (etcdctl on 3.4) from the etcd image".to_string(),
                "would start etcd everywhere, wait for quorum, then bring the control plane back (repair)".to_string(),
            ]
        );
        assert!(run.report.warnings.is_empty());
        // nothing was done, nothing said on the progress line
        assert!(lines.lock().unwrap().is_empty());
        assert!(run.log.walked.iter().all(|w| w.live_only));
        let walked: Vec<&str> = run.log.walked.iter().map(|w| w.phase.as_str()).collect();
        let ids: Vec<&str> = AFTER_THE_CHECKS.phases.iter().map(|p| p.id).collect();
        assert_eq!(walked, ids);
    }
}
