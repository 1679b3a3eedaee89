//! Container and image operations on one node's Docker engine, RKE1-style: every
//! component is one named container whose labels carry the hash of its sealed
//! [`ContainerSpec`]; a re-run replaces only the containers whose hash differs.
//!
//! Works on any [`bollard::Docker`]: the local engine in tests, a node's engine reached
//! through an SSH-forwarded socket in a deploy.
//!
//! [`ensure_container`] decides from what runs under the spec's name:
//!
//! | observed | same hash | other hash (or none) |
//! |---|---|---|
//! | missing | — | create + start → [`Action::Created`] |
//! | running | [`Action::Unchanged`], nothing touched | replace → [`Action::Replaced`] |
//! | stopped / paused | start / unpause → [`Action::Started`] | replace |
//! | restarting / unhealthy | [`Action::Recreated`] when `recreate_unhealthy`, else unchanged | replace |
//!
//! A replace follows RKE's order, with the old container kept until the new one runs:
//! rename the old one to `<name>-old-<short hash>`, create the new one, stop the old one
//! (frees host-network ports), start the new one, remove the old one. (A crash-looping
//! old container is stopped before the rename: the engine cannot rename it between two
//! restarts.) A failure after the
//! rename removes the new container and puts the old one back under its name (started
//! again when it was running), and the error says so. A `<name>-old-*` left by an
//! interrupted run is removed before anything else, so a re-run after Ctrl-C converges.
//!
//! A container with the spec's name that is not labelled as this cluster's is never
//! touched: that is an error naming it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum,
    ContainerSummaryStateEnum, HealthStatusEnum, HostConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ImportImageOptions, InspectContainerOptions,
    ListContainersOptions, ListImagesOptions, LogsOptions, RemoveContainerOptions,
    RenameContainerOptions, StartContainerOptions, StopContainerOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::components::spec::{
    ContainerSpec, LABEL_CLUSTER, LABEL_COMPONENT, LABEL_MANAGED, LABEL_SPEC_HASH,
};

/// How many characters of a spec hash (or container id) name an old container.
const SHORT_HASH_LEN: usize = 12;
/// Graceful stop time for `remove_managed` and the default for [`EnsureOptions`].
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines quoted in errors about containers that do not stay up.
pub const ERROR_LOG_LINES: usize = 20;
/// Log lines searched for error messages that scrolled out of the quoted tail (a
/// program that prints its usage after the error, like etcd and the Kubernetes binaries).
const ERROR_LOG_SCAN: usize = 400;
/// Earlier error lines quoted at most.
const ERROR_LINES_QUOTED: usize = 5;
/// How often `wait_running` looks at the container.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What runs under a container name now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// No container has that name.
    Missing,
    /// Running (and not reported unhealthy by a health check).
    Running { id: String, hash: Option<String> },
    /// Running, but its image's health check reports it unhealthy.
    Unhealthy { id: String, hash: Option<String> },
    /// Paused (cgroup freezer).
    Paused { id: String, hash: Option<String> },
    /// Created, exited or dead: not running and not about to restart.
    Stopped {
        id: String,
        hash: Option<String>,
        exit_code: i64,
    },
    /// Exited and waiting for the restart policy to start it again.
    Restarting { id: String, hash: Option<String> },
}

impl Observed {
    /// The container id, unless missing.
    pub fn id(&self) -> Option<&str> {
        match self {
            Observed::Missing => None,
            Observed::Running { id, .. }
            | Observed::Unhealthy { id, .. }
            | Observed::Paused { id, .. }
            | Observed::Stopped { id, .. }
            | Observed::Restarting { id, .. } => Some(id),
        }
    }

    /// The spec hash label, when the container exists and carries one.
    pub fn hash(&self) -> Option<&str> {
        match self {
            Observed::Missing => None,
            Observed::Running { hash, .. }
            | Observed::Unhealthy { hash, .. }
            | Observed::Paused { hash, .. }
            | Observed::Stopped { hash, .. }
            | Observed::Restarting { hash, .. } => hash.as_deref(),
        }
    }

    /// Running or restarting (its process is or soon will be up again).
    fn was_up(&self) -> bool {
        !matches!(self, Observed::Missing | Observed::Stopped { .. })
    }
}

/// What [`ensure_container`] did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Same hash, running: nothing touched.
    Unchanged,
    /// No container had the name: created and started.
    Created,
    /// The hash differed: the old container was replaced by a new one.
    Replaced,
    /// Same hash, but stopped or paused: started (unpaused) again.
    Started,
    /// Same hash, restarting or unhealthy, and asked to repair: made afresh.
    Recreated,
}

impl Action {
    /// Whether the node changed (or would change).
    pub fn changes(self) -> bool {
        self != Action::Unchanged
    }
}

/// How [`ensure_container`] may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnsureOptions {
    /// Observe and report the action, change nothing.
    pub dry_run: bool,
    /// Recreate a container with the right hash that is restarting or unhealthy.
    pub recreate_unhealthy: bool,
    /// How long the old container gets to stop (SIGTERM) before it is killed.
    pub stop_timeout: Duration,
    /// When replacing: how long to wait after the old container stopped before the new
    /// one starts (rolling updates give load balancers time to mark the old backend down,
    /// so the new one only gets traffic once its health checks pass). Zero by default.
    pub pause_after_stop: Duration,
}

impl Default for EnsureOptions {
    fn default() -> Self {
        EnsureOptions {
            dry_run: false,
            recreate_unhealthy: false,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            pause_after_stop: Duration::ZERO,
        }
    }
}

/// A container of a cluster, as [`list_managed`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedContainer {
    pub name: String,
    pub id: String,
    /// `io.k8s-manage.component`.
    pub component: Option<String>,
    /// `io.k8s-manage.spec-hash`.
    pub spec_hash: Option<String>,
    /// Docker's state word: `running`, `exited`, `restarting`, `created`, `paused`, ...
    pub state: String,
    pub image: String,
}

/// What [`ensure_image`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    Present,
    Pulled,
}

/// What can go wrong; every variant names the container or image and gives a hint.
#[derive(Debug, thiserror::Error)]
pub enum DockerOpError {
    /// A Docker API call failed.
    #[error("{action} failed: {source}\n  hint: {hint}")]
    Api {
        action: String,
        #[source]
        source: BollardError,
        hint: String,
    },

    /// The spec has no hash label, so it cannot be compared with what runs.
    #[error(
        "container {name}: the spec carries no {LABEL_SPEC_HASH} label\n  hint: seal it \
         with `ContainerSpec::seal` before ensuring it (render does this for every spec)"
    )]
    NotSealed { name: String },

    /// The spec cannot be turned into a container.
    #[error("container {name}: invalid spec: {reason}")]
    InvalidSpec { name: String, reason: String },

    /// A container with the spec's name exists but is not this cluster's.
    #[error("container {name} exists on the node but {reason}; it was left alone\n  hint: {hint}")]
    Foreign {
        name: String,
        reason: String,
        hint: String,
    },

    /// The image a container needs is not in the node's engine.
    #[error(
        "container {container}: image {image} is not on the node\n  hint: pull it first \
         (`ensure_image`), or pass an image bundle made with `docker save` with --images"
    )]
    ImageMissing { container: String, image: String },

    /// Pulling an image failed or took too long.
    #[error(
        "pulling image {image} from registry {registry} failed: {reason}\n  fix: mirror the \
         image into a registry the nodes can reach (and name it in `kubernetes.images`), or \
         pass an image bundle made with `docker save` with --images"
    )]
    Pull {
        image: String,
        registry: String,
        reason: String,
    },

    /// `docker load` of an image bundle failed.
    #[error(
        "loading images from the bundle failed: {reason}\n  hint: the bundle must be a tar \
         written by `docker save` (plain or gzip-compressed)"
    )]
    Load { reason: String },

    /// A container did not come up, or did not stay up.
    #[error(
        "container {name} is not running stably after {:.1}s: {state}{}{}\n  hint: the \
         process exits on its own; its log says why: fix the flags or files it reads, then \
         re-run",
        .waited.as_secs_f64(),
        exit_note(.exit_code),
        logs_note(.logs)
    )]
    NotRunning {
        name: String,
        state: String,
        exit_code: Option<i64>,
        waited: Duration,
        logs: String,
    },

    /// A replace failed after the old container had been renamed.
    #[error("replacing container {name} failed while {step}: {source}\n  {rollback}")]
    Replace {
        name: String,
        step: String,
        #[source]
        source: Box<DockerOpError>,
        rollback: String,
    },
}

fn exit_note(code: &Option<i64>) -> String {
    code.map(|c| format!(", last exit code {c}"))
        .unwrap_or_default()
}

fn logs_note(logs: &str) -> String {
    let logs = logs.trim_end();
    if logs.is_empty() {
        "; it printed nothing".into()
    } else {
        format!("; its last log lines:\n{logs}")
    }
}

/// What to do about a failed Docker call, from the engine's answer.
fn hint_for(err: &BollardError) -> String {
    match err {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => {
            let m = message.to_ascii_lowercase();
            if m.contains("executable file not found") || m.contains("no such file or directory") {
                "the entrypoint (or a bind source) does not exist: check the spec's entrypoint \
                 and image, and the host paths it mounts"
                    .into()
            } else if m.contains("address already in use") {
                "a port it needs is in use on the node: find the process holding it \
                 (`ss -ltnp`) and stop it"
                    .into()
            } else if *status_code == 404 && m.contains("image") {
                "the image is not on the node: pull it, or pass an image bundle with --images"
                    .into()
            } else if *status_code == 404 {
                "it does not exist (any more): something else removed it meanwhile; re-run".into()
            } else if *status_code == 409 {
                "conflict: the name is taken or the container is busy (e.g. being removed); \
                 re-run, or remove the conflicting container on the node"
                    .into()
            } else {
                "see the Docker engine's log on the node (`journalctl -u docker`)".into()
            }
        }
        BollardError::DockerStreamError { .. } => {
            "see the Docker engine's log on the node (`journalctl -u docker`)".into()
        }
        _ => "the engine did not answer properly: check that dockerd runs on the node and that \
              the SSH connection forwarding its socket is up"
            .into(),
    }
}

/// Attach what was being done (and a hint) to a bollard error.
trait ApiContext<T> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, DockerOpError>;
}

impl<T> ApiContext<T> for Result<T, BollardError> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, DockerOpError> {
        self.map_err(|source| DockerOpError::Api {
            action: action(),
            hint: hint_for(&source),
            source,
        })
    }
}

fn is_not_found(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

// ---------------------------------------------------------------------------------------
// Spec → create options
// ---------------------------------------------------------------------------------------

/// Docker's restart policy for the spec's word (`always`, `unless-stopped`, `no`,
/// `on-failure[:N]`).
pub fn restart_policy(spec: &ContainerSpec) -> Result<RestartPolicy, DockerOpError> {
    let invalid = || DockerOpError::InvalidSpec {
        name: spec.name.clone(),
        reason: format!(
            "restart policy {:?} is none of always, unless-stopped, no, on-failure[:N]",
            spec.restart_policy
        ),
    };
    let (word, count) = match spec.restart_policy.split_once(':') {
        Some((w, n)) => (w, Some(n.parse::<i64>().map_err(|_| invalid())?)),
        None => (spec.restart_policy.as_str(), None),
    };
    let name = match word {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "no" | "" => RestartPolicyNameEnum::NO,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return Err(invalid()),
    };
    if count.is_some() && name != RestartPolicyNameEnum::ON_FAILURE {
        return Err(invalid());
    }
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    })
}

/// The create body for a spec, field by field: image, entrypoint (an empty one keeps the
/// image's), cmd = args, env, labels, and the host config (binds, network mode, pid mode,
/// privileged, restart policy).
pub fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, DockerOpError> {
    if spec.name.is_empty() || spec.image.is_empty() {
        return Err(DockerOpError::InvalidSpec {
            name: spec.name.clone(),
            reason: "a container needs a name and an image".into(),
        });
    }
    let mut host_config = HostConfig {
        binds: Some(spec.binds.iter().map(|b| b.to_docker()).collect()),
        network_mode: Some(spec.network_mode.clone()),
        pid_mode: spec.pid_mode.clone(),
        privileged: Some(spec.privileged),
        restart_policy: Some(restart_policy(spec)?),
        ..Default::default()
    };
    if spec.privileged && !spec.cap_drop.is_empty() {
        // "Privileged except these capabilities" (nodes that are containers themselves,
        // where the kernel refuses some capabilities): everything `--privileged` grants,
        // spelled out, minus the capabilities the host cannot give.
        host_config.privileged = Some(false);
        host_config.cap_add = Some(vec!["ALL".into()]);
        host_config.cap_drop = Some(spec.cap_drop.clone());
        host_config.security_opt = Some(vec![
            "seccomp=unconfined".into(),
            "apparmor=unconfined".into(),
        ]);
        host_config.device_cgroup_rules = Some(vec!["a *:* rwm".into()]);
        host_config.masked_paths = Some(vec![]);
        host_config.readonly_paths = Some(vec![]);
    }
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: (!spec.entrypoint.is_empty()).then(|| spec.entrypoint.clone()),
        cmd: Some(spec.args.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// The name an old container gets while its replacement starts.
pub fn old_name(name: &str, hash_or_id: &str) -> String {
    let short: String = hash_or_id.chars().take(SHORT_HASH_LEN).collect();
    format!("{name}-old-{short}")
}

// ---------------------------------------------------------------------------------------
// Observing
// ---------------------------------------------------------------------------------------

/// What `inspect` said about a named container.
struct Current {
    id: String,
    labels: HashMap<String, String>,
    observed: Observed,
}

fn observed_from(inspect: &ContainerInspectResponse) -> Observed {
    let id = inspect.id.clone().unwrap_or_default();
    let hash = inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(LABEL_SPEC_HASH).cloned());
    let state = inspect.state.clone().unwrap_or_default();
    let status = state.status;
    if state.restarting == Some(true) || status == Some(ContainerStateStatusEnum::RESTARTING) {
        return Observed::Restarting { id, hash };
    }
    if state.paused == Some(true) || status == Some(ContainerStateStatusEnum::PAUSED) {
        return Observed::Paused { id, hash };
    }
    if state.running == Some(true) || status == Some(ContainerStateStatusEnum::RUNNING) {
        let unhealthy = state
            .health
            .as_ref()
            .and_then(|h| h.status)
            .is_some_and(|s| s == HealthStatusEnum::UNHEALTHY);
        return if unhealthy {
            Observed::Unhealthy { id, hash }
        } else {
            Observed::Running { id, hash }
        };
    }
    Observed::Stopped {
        id,
        hash,
        exit_code: state.exit_code.unwrap_or(0),
    }
}

/// Inspect the container with exactly this name (Docker would also accept an id prefix;
/// that is not a match here).
async fn inspect_named(
    docker: &Docker,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, DockerOpError> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(i) if i.name.as_deref().map(|n| n.trim_start_matches('/')) == Some(name) => Ok(Some(i)),
        Ok(_) => Ok(None),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e).ctx(|| format!("inspecting container {name}")),
    }
}

async fn current(docker: &Docker, name: &str) -> Result<Option<Current>, DockerOpError> {
    Ok(inspect_named(docker, name).await?.map(|i| Current {
        id: i.id.clone().unwrap_or_default(),
        labels: i
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default(),
        observed: observed_from(&i),
    }))
}

/// What runs under `name` now.
pub async fn observe(docker: &Docker, name: &str) -> Result<Observed, DockerOpError> {
    Ok(current(docker, name)
        .await?
        .map(|c| c.observed)
        .unwrap_or(Observed::Missing))
}

fn label_filters(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

fn summary_name(names: &Option<Vec<String>>) -> String {
    names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// Every container of `cluster` (labelled managed and with that cluster), sorted by name.
pub async fn list_managed(
    docker: &Docker,
    cluster: &str,
) -> Result<Vec<ManagedContainer>, DockerOpError> {
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filters(&[
                (LABEL_MANAGED, "true"),
                (LABEL_CLUSTER, cluster),
            ])),
            ..Default::default()
        }))
        .await
        .ctx(|| format!("listing the containers of cluster {cluster}"))?;
    let mut out: Vec<ManagedContainer> = list
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            ManagedContainer {
                name: summary_name(&c.names),
                id: c.id.unwrap_or_default(),
                component: labels.get(LABEL_COMPONENT).cloned(),
                spec_hash: labels.get(LABEL_SPEC_HASH).cloned(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                image: c.image.unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Every container on the node by name, with its spec-hash label (`None` when it has
/// none): one list call, for observing many containers at once.
pub async fn spec_hashes(
    docker: &Docker,
) -> Result<HashMap<String, Option<String>>, DockerOpError> {
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .ctx(|| "listing containers".to_string())?;
    Ok(list
        .into_iter()
        .map(|c| {
            let hash = c
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_SPEC_HASH).cloned());
            (summary_name(&c.names), hash)
        })
        .collect())
}

/// The common case of [`ensure_container`] in one list call: the container runs, is ours,
/// has the wanted spec hash, is not unhealthy, and no old copy is left over. `false` means
/// "look closer", not "changed".
async fn plainly_unchanged(
    docker: &Docker,
    name: &str,
    cluster: &str,
    want: &str,
) -> Result<bool, DockerOpError> {
    let filters = HashMap::from([(
        "name".to_string(),
        vec![format!("^/{}(-old-.*)?$", regex_escape(name))],
    )]);
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .ctx(|| format!("looking up container {name}"))?;
    let [c] = list.as_slice() else {
        return Ok(false);
    };
    let labels = c.labels.clone().unwrap_or_default();
    let label = |k: &str| labels.get(k).map(String::as_str);
    let running = c.state == Some(ContainerSummaryStateEnum::RUNNING);
    let unhealthy = c
        .status
        .as_deref()
        .is_some_and(|s| s.contains("(unhealthy)") || s.contains("(health: starting)"));
    Ok(summary_name(&c.names) == name
        && label(LABEL_MANAGED) == Some("true")
        && label(LABEL_CLUSTER) == Some(cluster)
        && label(LABEL_SPEC_HASH) == Some(want)
        && running
        && !unhealthy)
}

/// Old containers of `name` left by an interrupted replace: `<name>-old-*`, labelled as
/// managed by this cluster. (id, name) pairs.
async fn leftovers(
    docker: &Docker,
    name: &str,
    cluster: &str,
) -> Result<Vec<(String, String)>, DockerOpError> {
    let prefix = format!("{name}-old-");
    let mut filters = label_filters(&[(LABEL_MANAGED, "true"), (LABEL_CLUSTER, cluster)]);
    filters.insert("name".into(), vec![regex_escape(&prefix)]);
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .ctx(|| format!("looking for old containers {prefix}*"))?;
    Ok(list
        .into_iter()
        .map(|c| (c.id.unwrap_or_default(), summary_name(&c.names)))
        .filter(|(_, n)| n.starts_with(&prefix))
        .collect())
}

/// Docker's name filter is a regular expression; container names only hold
/// `[a-zA-Z0-9_.-]`, of which `.` is special.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' || ch == '/') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Ensuring a container
// ---------------------------------------------------------------------------------------

/// Make the container named `spec.name` match the sealed `spec` (see the module
/// documentation for the decisions). With `dry_run`, only report what would be done.
pub async fn ensure_container(
    docker: &Docker,
    spec: &ContainerSpec,
    opts: &EnsureOptions,
) -> Result<Action, DockerOpError> {
    let name = spec.name.as_str();
    let want = spec
        .labels
        .get(LABEL_SPEC_HASH)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| DockerOpError::NotSealed { name: name.into() })?;
    let cluster = spec
        .labels
        .get(LABEL_CLUSTER)
        .map(String::as_str)
        .unwrap_or_default();
    if spec.labels.get(LABEL_MANAGED).map(String::as_str) != Some("true") || cluster.is_empty() {
        return Err(DockerOpError::InvalidSpec {
            name: name.into(),
            reason: format!(
                "its labels lack {LABEL_MANAGED}=true or {LABEL_CLUSTER} (make specs with \
                 `ContainerSpec::new`)"
            ),
        });
    }
    let body = create_body(spec)?;

    if plainly_unchanged(docker, name, cluster, want).await? {
        return Ok(Action::Unchanged);
    }
    let old = leftovers(docker, name, cluster).await?;
    let existing = current(docker, name).await?;
    if let Some(c) = &existing {
        check_ours(name, cluster, &c.labels)?;
    }
    let action = match existing.as_ref().map(|c| &c.observed) {
        None | Some(Observed::Missing) => Action::Created,
        Some(o) if o.hash() != Some(want.as_str()) => Action::Replaced,
        Some(Observed::Running { .. }) => Action::Unchanged,
        Some(Observed::Stopped { .. } | Observed::Paused { .. }) => Action::Started,
        Some(Observed::Restarting { .. } | Observed::Unhealthy { .. }) => {
            if opts.recreate_unhealthy {
                Action::Recreated
            } else {
                Action::Unchanged
            }
        }
    };
    if opts.dry_run {
        return Ok(action);
    }

    // Before anything is removed: a missing image stops the run with the node as it was.
    if matches!(
        action,
        Action::Created | Action::Replaced | Action::Recreated
    ) {
        require_image(docker, spec).await?;
    }
    for (id, old_name) in &old {
        tracing::info!(
            container = name,
            leftover = old_name.as_str(),
            "removing an old container left by an interrupted replace"
        );
        stop_and_remove(docker, id, old_name, opts.stop_timeout).await?;
    }

    match (action, existing) {
        (Action::Unchanged, _) => {}
        (Action::Created, _) => create_and_start(docker, spec, body).await?,
        (Action::Started, Some(c)) => {
            if matches!(c.observed, Observed::Paused { .. }) {
                docker
                    .unpause_container(&c.id)
                    .await
                    .ctx(|| format!("unpausing container {name}"))?;
            } else {
                docker
                    .start_container(&c.id, None::<StartContainerOptions>)
                    .await
                    .ctx(|| format!("starting the stopped container {name}"))?;
            }
        }
        (Action::Replaced | Action::Recreated, Some(c)) => {
            replace(docker, spec, body, &c, opts).await?;
        }
        // Started/Replaced/Recreated always come with an existing container.
        (_, None) => create_and_start(docker, spec, body).await?,
    }
    Ok(action)
}

/// Refuse to touch a container with our name that is not this cluster's.
fn check_ours(
    name: &str,
    cluster: &str,
    labels: &HashMap<String, String>,
) -> Result<(), DockerOpError> {
    if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true") {
        return Err(DockerOpError::Foreign {
            name: name.into(),
            reason: format!("was not made by k8s-manage (no {LABEL_MANAGED}=true label)"),
            hint: format!(
                "remove or rename it on the node (`docker rm -f {name}`) if it is not needed"
            ),
        });
    }
    let theirs = labels.get(LABEL_CLUSTER).map(String::as_str).unwrap_or("");
    if theirs != cluster {
        return Err(DockerOpError::Foreign {
            name: name.into(),
            reason: format!("belongs to cluster \"{theirs}\", not \"{cluster}\""),
            hint: format!(
                "a node serves one cluster: remove cluster \"{theirs}\" from this node first"
            ),
        });
    }
    Ok(())
}

async fn require_image(docker: &Docker, spec: &ContainerSpec) -> Result<(), DockerOpError> {
    if image_present(docker, &spec.image).await? {
        Ok(())
    } else {
        Err(DockerOpError::ImageMissing {
            container: spec.name.clone(),
            image: spec.image.clone(),
        })
    }
}

async fn create(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<String, DockerOpError> {
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.to_string()),
                ..Default::default()
            }),
            body,
        )
        .await
        .ctx(|| format!("creating container {name}"))?;
    Ok(created.id)
}

async fn start(docker: &Docker, id: &str, name: &str) -> Result<(), DockerOpError> {
    docker
        .start_container(id, None::<StartContainerOptions>)
        .await
        .ctx(|| format!("starting container {name}"))
}

/// Create and start; a container that cannot start is removed again, so the next run
/// starts from nothing rather than from a broken leftover.
async fn create_and_start(
    docker: &Docker,
    spec: &ContainerSpec,
    body: ContainerCreateBody,
) -> Result<(), DockerOpError> {
    let id = create(docker, &spec.name, body).await?;
    if let Err(e) = start(docker, &id, &spec.name).await {
        let _ = force_remove(docker, &id).await;
        return Err(e);
    }
    Ok(())
}

async fn force_remove(docker: &Docker, id: &str) -> Result<(), BollardError> {
    match docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

async fn stop(docker: &Docker, id: &str, timeout: Duration) -> Result<(), BollardError> {
    let t = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
    match docker
        .stop_container(
            id,
            Some(StopContainerOptions {
                t: Some(t),
                signal: None,
            }),
        )
        .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

/// Stop gracefully, then remove (with its anonymous volumes).
async fn stop_and_remove(
    docker: &Docker,
    id: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), DockerOpError> {
    stop(docker, id, timeout)
        .await
        .ctx(|| format!("stopping container {name}"))?;
    force_remove(docker, id)
        .await
        .ctx(|| format!("removing container {name}"))
}

/// RKE's replace: rename old, create new, stop old, start new, remove old; a failure
/// after the rename puts the old container back.
async fn replace(
    docker: &Docker,
    spec: &ContainerSpec,
    body: ContainerCreateBody,
    old: &Current,
    opts: &EnsureOptions,
) -> Result<(), DockerOpError> {
    let stop_timeout = opts.stop_timeout;
    let name = spec.name.as_str();
    let parked = old_name(name, old.observed.hash().unwrap_or(&old.id));
    let rename = || {
        docker.rename_container(
            &old.id,
            RenameContainerOptions {
                name: parked.clone(),
            },
        )
    };
    let restarting = |o: &Observed| matches!(o, Observed::Restarting { .. });
    // Between two runs of a restart loop the engine cannot rename a container (it looks
    // for a network sandbox that is gone), so a restarting one is stopped first: its
    // process is not up anyway.
    if restarting(&old.observed) {
        stop(docker, &old.id, stop_timeout)
            .await
            .ctx(|| format!("stopping the restarting container {name}"))?;
    }
    if let Err(e) = rename().await {
        // It may have started crash-looping since it was observed.
        if !restarting(&observe(docker, name).await?) {
            return Err(e).ctx(|| format!("renaming container {name} to {parked}"));
        }
        stop(docker, &old.id, stop_timeout)
            .await
            .ctx(|| format!("stopping the restarting container {name}"))?;
        rename()
            .await
            .ctx(|| format!("renaming container {name} to {parked}"))?;
    }

    let mut new_id: Option<String> = None;
    let result: Result<(), (String, DockerOpError)> = async {
        let id = create(docker, name, body)
            .await
            .map_err(|e| ("creating the new container".to_string(), e))?;
        new_id = Some(id.clone());
        stop(docker, &old.id, stop_timeout)
            .await
            .ctx(|| format!("stopping the old container {parked}"))
            .map_err(|e| (format!("stopping the old container (now {parked})"), e))?;
        if !opts.pause_after_stop.is_zero() {
            tokio::time::sleep(opts.pause_after_stop).await;
        }
        start(docker, &id, name)
            .await
            .map_err(|e| ("starting the new container".to_string(), e))?;
        Ok(())
    }
    .await;

    match result {
        Ok(()) => {
            if let Err(e) = force_remove(docker, &old.id).await {
                // The new container runs; the old one is only in the way of nothing and
                // the next run removes it as a leftover.
                tracing::warn!(
                    container = name,
                    old = parked.as_str(),
                    "the old container could not be removed ({e}); the next run removes it"
                );
            }
            Ok(())
        }
        Err((step, source)) => {
            let rollback = roll_back(docker, name, &parked, old, new_id.as_deref()).await;
            Err(DockerOpError::Replace {
                name: name.into(),
                step,
                source: Box::new(source),
                rollback,
            })
        }
    }
}

/// Remove the new container and put the old one back under its name (started when it
/// was up before). Says what happened.
async fn roll_back(
    docker: &Docker,
    name: &str,
    parked: &str,
    old: &Current,
    new_id: Option<&str>,
) -> String {
    let left = format!(
        "the old container is left stopped as {parked}; the next run removes it and creates \
         {name} afresh"
    );
    if let Some(id) = new_id
        && let Err(e) = force_remove(docker, id).await
    {
        return format!("removing the new container to put the old one back failed ({e}); {left}");
    }
    if let Err(e) = docker
        .rename_container(
            &old.id,
            RenameContainerOptions {
                name: name.to_string(),
            },
        )
        .await
    {
        return format!("renaming {parked} back to {name} failed ({e}); {left}");
    }
    if old.observed.was_up() {
        if let Err(e) = docker
            .start_container(&old.id, None::<StartContainerOptions>)
            .await
        {
            return format!(
                "the old container was put back under its name but starting it failed ({e})"
            );
        }
        "the old container was put back under its name and started again".into()
    } else {
        "the old container (which was not running) was put back under its name".into()
    }
}

/// Stop (gracefully, [`DEFAULT_STOP_TIMEOUT`]) and remove every container of `cluster`
/// (labelled managed and with that cluster), `-old-` ones included, all at once. The
/// names removed, sorted; the first failure when one could not be removed (the others
/// were still tried).
pub async fn remove_managed(docker: &Docker, cluster: &str) -> Result<Vec<String>, DockerOpError> {
    let containers = list_managed(docker, cluster).await?;
    // All at once: each may take the whole stop timeout.
    let results = futures_util::future::join_all(
        containers
            .iter()
            .map(|c| stop_and_remove(docker, &c.id, &c.name, DEFAULT_STOP_TIMEOUT)),
    )
    .await;
    let mut removed = Vec::new();
    for (c, result) in containers.into_iter().zip(results) {
        result?;
        removed.push(c.name);
    }
    Ok(removed)
}

/// The label cri-dockerd puts on every container it makes for the kubelet (`podsandbox`
/// or `container`): the pods of the cluster, not the tool's own containers.
pub const LABEL_CRI_DOCKERD_TYPE: &str = "io.kubernetes.docker.type";

/// Every container cri-dockerd made for the kubelet (pod sandboxes and their containers,
/// stopped ones included): (id, name), sorted by name.
pub async fn list_pod_containers(docker: &Docker) -> Result<Vec<(String, String)>, DockerOpError> {
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![LABEL_CRI_DOCKERD_TYPE.to_string()],
            )])),
            ..Default::default()
        }))
        .await
        .ctx(|| "listing the pods' containers".to_string())?;
    let mut out: Vec<(String, String)> = list
        .into_iter()
        .map(|c| (c.id.unwrap_or_default(), summary_name(&c.names)))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Stop and remove every container of the pods ([`list_pod_containers`]), all at once;
/// the names removed, sorted. Run once the kubelet and cri-dockerd are gone, or the
/// kubelet makes them again.
pub async fn remove_pod_containers(docker: &Docker) -> Result<Vec<String>, DockerOpError> {
    let containers = list_pod_containers(docker).await?;
    let results = futures_util::future::join_all(
        containers
            .iter()
            .map(|(id, name)| stop_and_remove(docker, id, name, DEFAULT_STOP_TIMEOUT)),
    )
    .await;
    let mut removed = Vec::new();
    for ((_, name), result) in containers.into_iter().zip(results) {
        result?;
        removed.push(name);
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/// Whether the engine has an image with this reference.
pub async fn image_present(docker: &Docker, image: &str) -> Result<bool, DockerOpError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e).ctx(|| format!("inspecting image {image}")),
    }
}

/// A reference split as the engine reads it: (registry, repository without the tag, tag
/// or digest). `etcd:3.5` → (`docker.io`, `etcd`, `3.5`).
pub fn split_reference(image: &str) -> (String, String, String) {
    let (repo, tag) = if let Some((repo, digest)) = image.split_once('@') {
        (repo.to_string(), digest.to_string())
    } else {
        let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
        match image[slash..].rfind(':') {
            Some(i) => (
                image[..slash + i].to_string(),
                image[slash + i + 1..].to_string(),
            ),
            None => (image.to_string(), "latest".to_string()),
        }
    };
    let registry = match repo.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    };
    (registry, repo, tag)
}

/// The references of every image on the node (tags and digests, as Docker shows them:
/// `docker.io/library/` left out), from one list call.
pub async fn listed_images(
    docker: &Docker,
) -> Result<std::collections::HashSet<String>, DockerOpError> {
    let list = docker
        .list_images(Some(ListImagesOptions {
            all: false,
            ..Default::default()
        }))
        .await
        .ctx(|| "listing images".to_string())?;
    Ok(list
        .into_iter()
        .flat_map(|i| i.repo_tags.into_iter().chain(i.repo_digests))
        .collect())
}

/// Whether `image` is among [`listed_images`]' references. `false` means "not seen in the
/// list", not "absent": callers check such images one by one (a reference can be written
/// in ways the list does not show).
pub fn image_listed(listed: &std::collections::HashSet<String>, image: &str) -> bool {
    let short = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    let last = short.rsplit('/').next().unwrap_or(short);
    let tagged = if short.contains('@') || last.contains(':') {
        short.to_string()
    } else {
        format!("{short}:latest")
    };
    listed.contains(&tagged)
}

/// Make sure the image is on the node: present → [`ImageAction::Present`]; else pull it
/// (progress discarded) within `pull_timeout`.
pub async fn ensure_image(
    docker: &Docker,
    image: &str,
    pull_timeout: Duration,
) -> Result<ImageAction, DockerOpError> {
    if image_present(docker, image).await? {
        return Ok(ImageAction::Present);
    }
    let (registry, repo, tag) = split_reference(image);
    let pull_error = |reason: String| DockerOpError::Pull {
        image: image.to_string(),
        registry: registry.clone(),
        reason,
    };
    let options = if image.contains('@') {
        CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        }
    } else {
        CreateImageOptions {
            from_image: Some(repo),
            tag: Some(tag),
            ..Default::default()
        }
    };
    let pull = async {
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            item?;
        }
        Ok::<(), BollardError>(())
    };
    match tokio::time::timeout(pull_timeout, pull).await {
        Err(_) => {
            return Err(pull_error(format!(
                "no image within {}s",
                pull_timeout.as_secs_f64()
            )));
        }
        Ok(Err(e)) => return Err(pull_error(e.to_string())),
        Ok(Ok(())) => {}
    }
    if image_present(docker, image).await? {
        Ok(ImageAction::Pulled)
    } else {
        Err(pull_error(
            "the engine reported no error, yet the image is not there".into(),
        ))
    }
}

/// The image names in `docker load`'s messages (`Loaded image: x:y`, or
/// `Loaded image ID: sha256:...` for untagged images).
pub fn loaded_names(messages: &str) -> Vec<String> {
    messages
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("Loaded image ID: ")
                .or_else(|| l.strip_prefix("Loaded image: "))
        })
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

/// `docker load`: stream an image bundle (a `docker save` tar) into the engine. The
/// names of the images loaded.
pub async fn load_images(
    docker: &Docker,
    tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> Result<Vec<String>, DockerOpError> {
    let mut stream = docker.import_image_stream(
        ImportImageOptions {
            quiet: true,
            ..Default::default()
        },
        tar,
        None,
    );
    let mut messages = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| DockerOpError::Load {
            reason: e.to_string(),
        })?;
        if let Some(s) = info.stream {
            messages.push_str(&s);
            if !s.ends_with('\n') {
                messages.push('\n');
            }
        }
    }
    let names = loaded_names(&messages);
    if names.is_empty() {
        return Err(DockerOpError::Load {
            reason: format!(
                "the engine loaded no image (it said: {:?})",
                messages.trim()
            ),
        });
    }
    Ok(names)
}

// ---------------------------------------------------------------------------------------
// Watching a container
// ---------------------------------------------------------------------------------------

/// The last `lines` lines the container printed (stdout and stderr, interleaved).
pub async fn container_logs_tail(
    docker: &Docker,
    name: &str,
    lines: usize,
) -> Result<String, DockerOpError> {
    let mut stream = docker.logs(
        name,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ctx(|| format!("reading the log of container {name}"))?;
        text.push_str(&chunk.to_string());
    }
    Ok(text)
}

/// The last `tail` lines of a log, preceded by the (distinct, last few) lines before them
/// that look like errors: a crash-looping program often prints the reason and then a long
/// usage text.
pub fn log_excerpt(full: &str, tail: usize) -> String {
    let lines: Vec<&str> = full.lines().collect();
    let split = lines.len().saturating_sub(tail);
    let (earlier, last) = lines.split_at(split);
    let looks_like_error = |l: &str| {
        let l = l.to_ascii_lowercase();
        [
            "error",
            "fatal",
            "panic",
            "invalid",
            "failed",
            "unknown flag",
            "not defined",
        ]
        .iter()
        .any(|k| l.contains(k))
    };
    let mut errors: Vec<&str> = Vec::new();
    for line in earlier.iter().rev() {
        if errors.len() == ERROR_LINES_QUOTED {
            break;
        }
        if looks_like_error(line) && !errors.contains(line) && !last.contains(line) {
            errors.push(line);
        }
    }
    errors.reverse();
    let mut out = String::new();
    if !errors.is_empty() {
        out.push_str("[earlier error lines]\n");
        for l in errors {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("[last lines]\n");
    }
    out.push_str(&last.join("\n"));
    out
}

/// Wait until the container runs and has not restarted for `stable_for` (zero: runs now),
/// at most `timeout`. Fails at once when it is missing or stopped for good; on failure the error
/// has its state, its last exit code and the tail of its log.
pub async fn wait_running(
    docker: &Docker,
    name: &str,
    stable_for: Duration,
    timeout: Duration,
) -> Result<(), DockerOpError> {
    let began = Instant::now();
    // (since when, started-at, restart count) of the current uninterrupted run.
    let mut run: Option<(Instant, String, i64)> = None;
    let mut last_exit: Option<i64> = None;
    let mut first_restart_count: Option<i64> = None;
    loop {
        let Some(inspect) = inspect_named(docker, name).await? else {
            return Err(DockerOpError::NotRunning {
                name: name.into(),
                state: "it does not exist".into(),
                exit_code: last_exit,
                waited: began.elapsed(),
                logs: String::new(),
            });
        };
        let state = inspect.state.clone().unwrap_or_default();
        let restarts = inspect.restart_count.unwrap_or(0);
        let restarted_while_waiting = restarts - *first_restart_count.get_or_insert(restarts);
        let health = state.health.as_ref().and_then(|h| h.status);
        let describe = |what: &str| {
            let mut s = what.to_string();
            if restarts > 0 {
                s.push_str(&format!(", restarted {restarts} times"));
            }
            if let Some(err) = state.error.as_deref().filter(|e| !e.is_empty()) {
                s.push_str(&format!(", engine error: {err}"));
            }
            s
        };
        let fail = |what: String, exit: Option<i64>| async move {
            let logs = container_logs_tail(docker, name, ERROR_LOG_SCAN)
                .await
                .map(|full| log_excerpt(&full, ERROR_LOG_LINES))
                .unwrap_or_else(|e| format!("(its log could not be read: {e})"));
            DockerOpError::NotRunning {
                name: name.into(),
                state: what,
                exit_code: exit,
                waited: began.elapsed(),
                logs,
            }
        };
        match observed_from(&inspect) {
            Observed::Running { .. } if health != Some(HealthStatusEnum::STARTING) => {
                let started = state.started_at.clone().unwrap_or_default();
                match &run {
                    Some((since, s, r)) if *s == started && *r == restarts => {
                        if since.elapsed() >= stable_for {
                            return Ok(());
                        }
                    }
                    _ if stable_for.is_zero() => return Ok(()),
                    _ => run = Some((Instant::now(), started, restarts)),
                }
            }
            Observed::Running { .. } | Observed::Unhealthy { .. } | Observed::Paused { .. } => {
                run = None;
            }
            Observed::Restarting { .. } => {
                run = None;
                last_exit = state.exit_code.or(last_exit);
            }
            Observed::Stopped { exit_code, .. } => {
                let what = match state.status {
                    Some(ContainerStateStatusEnum::CREATED) => "created but never started",
                    Some(ContainerStateStatusEnum::DEAD) => "dead",
                    _ => "exited and will not be restarted",
                };
                return Err(fail(describe(what), Some(exit_code)).await);
            }
            Observed::Missing => {}
        }
        let elapsed = began.elapsed();
        if elapsed >= timeout {
            let what = match observed_from(&inspect) {
                Observed::Restarting { .. } => "crash-looping (waiting to restart)",
                Observed::Unhealthy { .. } => "running but unhealthy",
                Observed::Paused { .. } => "paused",
                _ if health == Some(HealthStatusEnum::STARTING) => "health check still starting",
                _ if restarted_while_waiting > 0 => "crash-looping (up again for the moment)",
                _ => "running, but not yet for long enough",
            };
            return Err(fail(describe(what), last_exit).await);
        }
        tokio::time::sleep(POLL_INTERVAL.min(timeout - elapsed)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::spec::Bind;
    use bollard::models::{ContainerConfig, ContainerState, Health};

    fn sealed() -> ContainerSpec {
        let mut s = ContainerSpec::new(
            "c1",
            "etcd",
            "reg.example:5000/etcd:3.5.9",
            &["/usr/local/bin/etcd"],
            vec!["--name=m1".into(), "--data-dir=/var/lib/etcd".into()],
        );
        s.env.insert("ETCDCTL_API".into(), "3".into());
        s.binds.push(Bind::rw("/var/lib/etcd"));
        s.binds
            .push(Bind::ro("/etc/kubernetes/pki").with_propagation("rslave"));
        s.pid_mode = Some("host".into());
        s.privileged = true;
        s.seal(&|_| None);
        s
    }

    #[test]
    fn every_spec_field_reaches_the_create_body() {
        let spec = sealed();
        let body = create_body(&spec).unwrap();
        assert_eq!(body.image.as_deref(), Some("reg.example:5000/etcd:3.5.9"));
        assert_eq!(
            body.entrypoint,
            Some(vec!["/usr/local/bin/etcd".to_string()])
        );
        assert_eq!(body.cmd, Some(spec.args.clone()));
        assert_eq!(body.env, Some(vec!["ETCDCTL_API=3".to_string()]));
        let labels = body.labels.unwrap();
        assert_eq!(labels.len(), spec.labels.len());
        for (k, v) in &spec.labels {
            assert_eq!(labels.get(k), Some(v), "{k}");
        }
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds,
            Some(vec![
                "/var/lib/etcd:/var/lib/etcd:rw".to_string(),
                "/etc/kubernetes/pki:/etc/kubernetes/pki:ro,rslave".to_string()
            ])
        );
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.pid_mode.as_deref(), Some("host"));
        assert_eq!(host.privileged, Some(true));
        assert_eq!(
            host.restart_policy,
            Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None
            })
        );
    }

    #[test]
    fn an_empty_entrypoint_keeps_the_image_one() {
        let mut spec = sealed();
        spec.entrypoint.clear();
        assert_eq!(create_body(&spec).unwrap().entrypoint, None);
    }

    #[test]
    fn restart_policies_parse_and_bad_ones_are_named() {
        let mut spec = sealed();
        for (word, name, count) in [
            ("always", RestartPolicyNameEnum::ALWAYS, None),
            (
                "unless-stopped",
                RestartPolicyNameEnum::UNLESS_STOPPED,
                None,
            ),
            ("no", RestartPolicyNameEnum::NO, None),
            ("on-failure:3", RestartPolicyNameEnum::ON_FAILURE, Some(3)),
        ] {
            spec.restart_policy = word.into();
            let p = restart_policy(&spec).unwrap();
            assert_eq!(
                (p.name, p.maximum_retry_count),
                (Some(name), count),
                "{word}"
            );
        }
        for bad in ["sometimes", "always:2", "on-failure:x"] {
            spec.restart_policy = bad.into();
            let text = restart_policy(&spec).unwrap_err().to_string();
            assert!(text.contains("etcd") && text.contains(bad), "{text}");
        }
    }

    #[test]
    fn listed_images_match_references_as_docker_shows_them() {
        let listed: std::collections::HashSet<String> = [
            "haproxy:2.6",
            "registry.local:5000/k8s/kube-apiserver:v1.35.4",
            "busybox:latest",
            "quay.io/coreos/etcd@sha256:abc",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert!(image_listed(&listed, "haproxy:2.6"));
        assert!(image_listed(&listed, "docker.io/library/haproxy:2.6"));
        assert!(image_listed(&listed, "busybox"));
        assert!(image_listed(
            &listed,
            "registry.local:5000/k8s/kube-apiserver:v1.35.4"
        ));
        assert!(image_listed(&listed, "quay.io/coreos/etcd@sha256:abc"));
        // a registry port is not a tag; other tags and registries are not matches
        assert!(!image_listed(
            &listed,
            "registry.local:5000/k8s/kube-apiserver"
        ));
        assert!(!image_listed(&listed, "haproxy:2.8"));
        assert!(!image_listed(&listed, "other.io/haproxy:2.6"));
    }

    #[test]
    fn references_split_into_registry_repository_and_tag() {
        let cases = [
            ("etcd:3.5", ("docker.io", "etcd", "3.5")),
            (
                "library/haproxy",
                ("docker.io", "library/haproxy", "latest"),
            ),
            (
                "reg.example:5000/k8s/kube-apiserver:v1.30.1",
                (
                    "reg.example:5000",
                    "reg.example:5000/k8s/kube-apiserver",
                    "v1.30.1",
                ),
            ),
            (
                "localhost/etcd@sha256:abc",
                ("localhost", "localhost/etcd", "sha256:abc"),
            ),
            (
                "rancher/hyperkube:v1",
                ("docker.io", "rancher/hyperkube", "v1"),
            ),
        ];
        for (image, (reg, repo, tag)) in cases {
            assert_eq!(
                split_reference(image),
                (reg.to_string(), repo.to_string(), tag.to_string()),
                "{image}"
            );
        }
    }

    #[test]
    fn old_names_use_a_short_hash() {
        assert_eq!(
            old_name("etcd", "0123456789abcdef0123"),
            "etcd-old-0123456789ab"
        );
        assert_eq!(old_name("kubelet", "abc"), "kubelet-old-abc");
        assert_eq!(regex_escape("k.x-old-"), "k\\.x-old-");
    }

    #[test]
    fn a_log_excerpt_keeps_error_lines_that_scrolled_away() {
        let mut log = String::from("starting\nError: unknown flag: --x\n");
        for i in 0..30 {
            log.push_str(&format!("usage line {i}\n"));
        }
        log.push_str("Error: unknown flag: --x\n");
        for i in 0..30 {
            log.push_str(&format!("usage line {i}\n"));
        }
        let text = log_excerpt(&log, 3);
        assert_eq!(
            text,
            "[earlier error lines]\nError: unknown flag: --x\n[last lines]\n\
             usage line 27\nusage line 28\nusage line 29"
        );
        assert_eq!(log_excerpt("a\nb\n", 5), "a\nb");
        assert_eq!(log_excerpt("", 5), "");
    }

    #[test]
    fn load_messages_give_the_image_names() {
        let text = "Loaded image: a/b:1\nLoaded image ID: sha256:ff\n\nother\n";
        assert_eq!(loaded_names(text), ["a/b:1", "sha256:ff"]);
    }

    fn inspect(state: ContainerState, hash: Option<&str>) -> ContainerInspectResponse {
        let labels = hash.map(|h| HashMap::from([(LABEL_SPEC_HASH.to_string(), h.to_string())]));
        ContainerInspectResponse {
            id: Some("id1".into()),
            name: Some("/etcd".into()),
            state: Some(state),
            config: Some(ContainerConfig {
                labels,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn docker_states_map_to_observations() {
        let h = Some("h".to_string());
        let running = ContainerState {
            status: Some(ContainerStateStatusEnum::RUNNING),
            running: Some(true),
            ..Default::default()
        };
        assert_eq!(
            observed_from(&inspect(running.clone(), Some("h"))),
            Observed::Running {
                id: "id1".into(),
                hash: h.clone()
            }
        );
        let unhealthy = ContainerState {
            health: Some(Health {
                status: Some(HealthStatusEnum::UNHEALTHY),
                ..Default::default()
            }),
            ..running.clone()
        };
        assert!(matches!(
            observed_from(&inspect(unhealthy, None)),
            Observed::Unhealthy { hash: None, .. }
        ));
        let restarting = ContainerState {
            status: Some(ContainerStateStatusEnum::RESTARTING),
            running: Some(true),
            restarting: Some(true),
            exit_code: Some(1),
            ..Default::default()
        };
        assert!(matches!(
            observed_from(&inspect(restarting, Some("h"))),
            Observed::Restarting { .. }
        ));
        let paused = ContainerState {
            status: Some(ContainerStateStatusEnum::PAUSED),
            running: Some(true),
            paused: Some(true),
            ..Default::default()
        };
        assert!(matches!(
            observed_from(&inspect(paused, Some("h"))),
            Observed::Paused { .. }
        ));
        let exited = ContainerState {
            status: Some(ContainerStateStatusEnum::EXITED),
            running: Some(false),
            exit_code: Some(137),
            ..Default::default()
        };
        let o = observed_from(&inspect(exited, Some("h")));
        assert_eq!(
            o,
            Observed::Stopped {
                id: "id1".into(),
                hash: h,
                exit_code: 137
            }
        );
        assert_eq!((o.id(), o.hash()), (Some("id1"), Some("h")));
        assert!(!o.was_up());
    }

    #[test]
    fn errors_name_the_object_and_give_a_hint() {
        let e: Result<(), _> = Err(BollardError::DockerResponseServerError {
            status_code: 409,
            message: "Conflict. The container name \"/etcd\" is already in use".into(),
        });
        let text = e
            .ctx(|| "creating container etcd".into())
            .unwrap_err()
            .to_string();
        assert!(text.contains("creating container etcd"), "{text}");
        assert!(text.contains("hint: conflict"), "{text}");
        let e = DockerOpError::NotRunning {
            name: "etcd".into(),
            state: "restarting, restarted 3 times".into(),
            exit_code: Some(2),
            waited: Duration::from_millis(5200),
            logs: "bad flag --x\n".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("container etcd is not running stably after 5.2s"),
            "{text}"
        );
        assert!(text.contains("last exit code 2"), "{text}");
        assert!(text.contains("bad flag --x"), "{text}");
    }
}
