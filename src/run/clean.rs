//! `clean`: [`CLEAN`]'s phases through the one runner. Every node must answer; an etcd
//! snapshot `auto-clean-<time>` is kept on the control host first (unless told not to);
//! then every container the tool made (by label) and the pods' containers the kubelet made
//! through cri-dockerd go, then every directory it owns, unmounting busy mounts first, and
//! the pod network's links (`paths::POD_NETWORK_LINKS`); the
//! control host forgets the cluster's state (the PKI is kept). Leaves nothing of ours
//! behind.

use super::engine::{self, ActionLog, Failure, Phases};
use super::fleet::{self, Node, StepError, blocking, fan_out};
use super::options::{PhaseProgress, Reach};
use crate::components::{self, paths};
use crate::etcd::snapshot::Snapshot;
use crate::executor::docker::{observe, remove};
use crate::model::{Cluster, Role};
use crate::plan::Step;
use crate::plan::phases::{CLEAN, PhaseSpec};
use crate::render::node::NodeArtifacts;
use crate::ssh::{KnownHosts, snippets};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How to clean.
#[derive(Clone)]
pub struct CleanOptions {
    pub dry_run: bool,
    /// Take no etcd snapshot first (`--no-snapshot`).
    pub no_snapshot: bool,
    pub reach: Reach,
    /// One line per phase (its title).
    pub progress: PhaseProgress,
    /// What the snapshot phase decided (taken, or why not).
    pub note: PhaseProgress,
}

/// What `clean` did: per node what went (as far as it got), the snapshot kept, and the
/// failure that stopped it.
pub struct CleanOutcome {
    pub cleaned: Vec<Cleaned>,
    pub snapshot: Option<Snapshot>,
    pub failure: Option<Failure>,
    /// What each phase walked through, as `plan clean` lists it.
    pub walked: Vec<engine::Walked>,
}

/// What was removed from one node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cleaned {
    pub host: String,
    pub containers: Vec<String>,
    /// The kubelet's pod containers (cri-dockerd's), which outlive it.
    pub pod_containers: Vec<String>,
    pub dirs: Vec<String>,
}

/// Run [`CLEAN`] on every node of `cluster`.
pub async fn clean(cluster: &Cluster, opts: &CleanOptions) -> CleanOutcome {
    let clock = super::phase_clock::PhaseClock::start();
    let run = Clean {
        cluster,
        opts,
        progress: clock.wrap(opts.progress.clone()),
        log: ActionLog::default(),
        nodes: Vec::new(),
        cleaned: BTreeMap::new(),
        snapshot: None,
    };
    let (run, _) = engine::run(&CLEAN, &clock, run).await;
    CleanOutcome {
        cleaned: run.cleaned.into_values().collect(),
        snapshot: run.snapshot,
        failure: run.log.failure,
        walked: run.log.walked,
    }
}

/// One clean as it goes through the phases.
struct Clean<'a> {
    cluster: &'a Cluster,
    opts: &'a CleanOptions,
    /// The options' progress, timed per phase.
    progress: Arc<dyn Fn(&str) + Send + Sync>,
    log: ActionLog,
    nodes: Vec<Node>,
    /// Per host, what went so far.
    cleaned: BTreeMap<String, Cleaned>,
    snapshot: Option<Snapshot>,
}

impl Phases for Clean<'_> {
    type Log = ActionLog;

    async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure> {
        (self.progress)(phase.title);
        let done = match phase.id {
            "connect" => self.connect(),
            "snapshot" => self.take_snapshot().await,
            "stop-containers" => self.stop_containers().await,
            "remove-dirs" => self.remove_dirs().await,
            "forget-state" => {
                self.forget_state();
                Ok(())
            }
            id => Err(vec![engine::no_runner("clean", id)]),
        };
        done.map_err(|errors| Failure::new(phase.id, errors))
    }

    fn log(&mut self) -> &mut ActionLog {
        &mut self.log
    }

    fn finish(&mut self) {}
}

type PhaseResult = Result<(), Vec<StepError>>;

impl Clean<'_> {
    /// Every node must answer: nothing changes before they all do.
    fn connect(&mut self) -> PhaseResult {
        let cluster = self.cluster;
        let run_dir = super::logs::run_dir(&cluster.state_dir(), "clean");
        let machines: Vec<_> = cluster
            .machines
            .iter()
            .map(|m| (m.clone(), NodeArtifacts::none(m)))
            .collect();
        let known = KnownHosts::in_config_dir(&cluster.config_dir);
        self.nodes = fleet::connect(&machines, &known, &self.opts.reach, &run_dir)?;
        for m in &cluster.machines {
            engine::walked(&mut self.log, &m.hostname, vec![Step::connect_to(m)]);
        }
        for n in &self.nodes {
            self.cleaned.insert(
                n.host().to_string(),
                Cleaned {
                    host: n.host().to_string(),
                    containers: Vec::new(),
                    pod_containers: Vec::new(),
                    dirs: Vec::new(),
                },
            );
        }
        Ok(())
    }

    /// clean deletes every etcd data dir: first a snapshot `auto-clean-<UTC>` on the
    /// control host. None when there is no PKI (never deployed: no etcd to save) or with
    /// `--no-snapshot` (said so); an error when etcd does not answer.
    async fn take_snapshot(&mut self) -> PhaseResult {
        if self.opts.dry_run {
            engine::live_only(&mut self.log);
            return Ok(());
        }
        if self.opts.no_snapshot {
            (self.opts.note)(
                "WARNING: --no-snapshot: no etcd snapshot is taken; the cluster's state is lost",
            );
            return Ok(());
        }
        if !self
            .cluster
            .state_dir()
            .join("pki")
            .join("ca.crt")
            .is_file()
        {
            (self.opts.note)(
                "no PKI in DIR/.k8s-manage: never deployed, so there is no etcd data to snapshot",
            );
            return Ok(());
        }
        let name = crate::etcd::snapshot::auto_name("clean");
        let s = super::snapshot::take(self.cluster, &name).await.map_err(|e| {
            vec![e.hint("clean deletes every etcd data dir, so it takes a snapshot first; bring etcd back (`k8s-manage status`, `etcdfix`), or pass --no-snapshot to clean without one")]
        })?;
        (self.opts.note)(&format!(
            "etcd snapshot {} ({} bytes) kept in {}",
            s.name,
            s.bytes,
            s.path.display()
        ));
        self.snapshot = Some(s);
        Ok(())
    }

    /// Our containers (by label), then the kubelet's pod containers, which outlive it.
    async fn stop_containers(&mut self) -> PhaseResult {
        let (cluster, dry_run) = (self.cluster, self.opts.dry_run);
        let all: Vec<&Node> = self.nodes.iter().collect();
        let results = fan_out(&all, self.opts.reach.parallel, |n| {
            containers_of(cluster, n, dry_run)
        })
        .await;
        let label = format!(
            "{}={}",
            components::spec::LABEL_CLUSTER,
            cluster.kubernetes.cluster_name
        );
        for (host, _) in results.iter().flatten() {
            engine::walked(
                &mut self.log,
                host,
                vec![Step::RemoveContainers {
                    label: label.clone(),
                }],
            );
        }
        self.record(results, |c, (containers, pods)| {
            c.containers = containers;
            c.pod_containers = pods;
        })
    }

    /// Every directory we own on each node, busy mounts unmounted first, and the pod
    /// network's links.
    async fn remove_dirs(&mut self) -> PhaseResult {
        let (cluster, dry_run) = (self.cluster, self.opts.dry_run);
        let all: Vec<&Node> = self.nodes.iter().collect();
        let results = fan_out(&all, self.opts.reach.parallel, |n| {
            dirs_on(cluster, n, dry_run)
        })
        .await;
        for (host, dirs) in results.iter().flatten() {
            engine::walked(
                &mut self.log,
                host,
                vec![Step::RemoveDirs {
                    paths: dirs.clone(),
                }],
            );
        }
        self.record(results, |c, dirs| c.dirs = dirs)
    }

    /// The control host forgets the cluster (state and admin kubeconfig; the PKI stays).
    fn forget_state(&mut self) {
        if self.opts.dry_run {
            engine::live_only(&mut self.log);
            return;
        }
        let _ = std::fs::remove_file(self.cluster.state_dir().join("state.json"));
        let _ = std::fs::remove_file(super::state::admin_kubeconfig_path(self.cluster));
    }

    /// Note each node's result; the phase fails when any node failed.
    fn record<T>(
        &mut self,
        results: Vec<Result<(String, T), StepError>>,
        mut put: impl FnMut(&mut Cleaned, T),
    ) -> PhaseResult {
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok((host, v)) => {
                    if let Some(c) = self.cleaned.get_mut(&host) {
                        put(c, v);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One node's containers and pod containers, removed (or, in a dry run, listed).
async fn containers_of(
    cluster: &Cluster,
    node: &Node,
    dry_run: bool,
) -> Result<(String, (Vec<String>, Vec<String>)), StepError> {
    let host = node.host().to_string();
    let containers = if dry_run {
        observe::list_managed(node.docker(), &cluster.kubernetes.cluster_name)
            .await
            .map(|l| l.into_iter().map(|c| c.name).collect())
            .map_err(|e| StepError::new(&host, "clean: containers", e.to_string()))?
    } else {
        remove::remove_managed(node.docker(), &cluster.kubernetes.cluster_name)
            .await
            .map_err(|e| StepError::new(&host, "clean: containers", e.to_string()))?
    };
    node.log
        .line(&format!("removed containers: {}", containers.join(", ")));
    // the kubelet's pod containers outlive it (see `remove_pod_containers`)
    let pod_containers = if dry_run {
        observe::list_pod_containers(node.docker())
            .await
            .map(|l| l.into_iter().map(|(name, _)| name).collect())
    } else {
        remove::remove_pod_containers(node.docker()).await
    }
    .map_err(|e| StepError::new(&host, "clean: pod containers", e.to_string()))?;
    node.log.line(&format!(
        "removed the kubelet's pod containers: {}",
        pod_containers.len()
    ));
    Ok((host, (containers, pod_containers)))
}

/// One node's directories, removed (or, in a dry run, only named).
async fn dirs_on(
    cluster: &Cluster,
    node: &Node,
    dry_run: bool,
) -> Result<(String, Vec<String>), StepError> {
    let host = node.host().to_string();
    let dirs = paths::removed_dirs(
        node.machine.role == Role::Master,
        &cluster.kubernetes.etcd_data_path,
    );
    if !dry_run {
        // the links first: the script's status is then the removal's
        let cmd = format!(
            "{}{}",
            snippets::clean::remove_links(paths::POD_NETWORK_LINKS),
            snippets::clean::unmount_and_remove(&dirs)
        );
        let s = node.session.clone();
        let h = host.clone();
        blocking(move || s.run_root("clean: directories", &cmd, Duration::from_secs(120)))
            .await
            .map_err(|e| StepError::from_ssh(&h, "clean: directories", &e))?;
        node.log
            .line(&format!("removed directories: {}", dirs.join(", ")));
    }
    Ok((host, dirs))
}

/// `remove`'s hosts, already connected: their containers and pod containers; the
/// errors, one per host that failed.
pub async fn remove_containers(
    cluster: &Cluster,
    nodes: &[Node],
    parallel: usize,
) -> Vec<StepError> {
    let all: Vec<&Node> = nodes.iter().collect();
    fan_out(&all, parallel, |n| containers_of(cluster, n, false))
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

/// `remove`'s hosts: their directories and the pod network's links; the errors.
pub async fn remove_dirs(cluster: &Cluster, nodes: &[&Node], parallel: usize) -> Vec<StepError> {
    fan_out(nodes, parallel, |n| dirs_on(cluster, n, false))
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}
