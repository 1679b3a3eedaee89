//! Making the container named in a sealed [`ContainerSpec`] match it, RKE1-style: every
//! component is one named container whose labels carry the hash of its sealed spec; a
//! re-run replaces only the containers whose hash differs.
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
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerSummaryStateEnum};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RenameContainerOptions, StartContainerOptions,
};

use super::create_body::create_body;
use super::error::{ApiContext, DockerOpError};
use super::images::image_present;
use super::observe::{Current, Observed, current, label_filters, observe, summary_name};
use super::remove::{DEFAULT_STOP_TIMEOUT, force_remove, stop, stop_and_remove};
use crate::components::spec::{ContainerSpec, LABEL_CLUSTER, LABEL_MANAGED, LABEL_SPEC_HASH};

/// How many characters of a spec hash (or container id) name an old container.
const SHORT_HASH_LEN: usize = 12;

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

/// The name an old container gets while its replacement starts.
pub fn old_name(name: &str, hash_or_id: &str) -> String {
    let short: String = hash_or_id.chars().take(SHORT_HASH_LEN).collect();
    format!("{name}-old-{short}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_names_use_a_short_hash() {
        assert_eq!(
            old_name("etcd", "0123456789abcdef0123"),
            "etcd-old-0123456789ab"
        );
        assert_eq!(old_name("kubelet", "abc"), "kubelet-old-abc");
        assert_eq!(regex_escape("k.x-old-"), "k\\.x-old-");
    }
}
