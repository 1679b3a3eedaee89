//! Reading what runs on a node: the state of one named container ([`Observed`]), the
//! containers of a cluster, every container's spec hash, and the kubelet's pod containers.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};

use super::error::{ApiContext, DockerOpError, is_not_found};
use crate::components::spec::{LABEL_CLUSTER, LABEL_COMPONENT, LABEL_MANAGED, LABEL_SPEC_HASH};

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
    pub(super) fn was_up(&self) -> bool {
        !matches!(self, Observed::Missing | Observed::Stopped { .. })
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

/// What `inspect` said about a named container.
pub(super) struct Current {
    pub(super) id: String,
    pub(super) labels: HashMap<String, String>,
    pub(super) observed: Observed,
}

pub(super) fn observed_from(inspect: &ContainerInspectResponse) -> Observed {
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
pub(super) async fn inspect_named(
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

pub(super) async fn current(docker: &Docker, name: &str) -> Result<Option<Current>, DockerOpError> {
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

pub(super) fn label_filters(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

pub(super) fn summary_name(names: &Option<Vec<String>>) -> String {
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

/// The label cri-dockerd puts on every container it runs for the kubelet (pod sandboxes
/// and their containers).
pub const LABEL_CRI_DOCKERD_TYPE: &str = "io.kubernetes.docker.type";

/// The containers of the kubelet's pods on the node (cri-dockerd's, by
/// [`LABEL_CRI_DOCKERD_TYPE`]): their names, sorted.
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
        .ctx(|| "listing the containers of the kubelet's pods".to_string())?;
    let mut out: Vec<(String, String)> = list
        .into_iter()
        .map(|c| (summary_name(&c.names), c.id.unwrap_or_default()))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, ContainerState, Health};

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
}
