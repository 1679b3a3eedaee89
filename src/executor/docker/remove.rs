//! Stopping and removing containers: one by id, one named component of the cluster (never
//! a container that is not ours), every container of a cluster, and the kubelet's pod
//! containers.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    InspectContainerOptions, RemoveContainerOptions, StopContainerOptions,
};

use super::error::{ApiContext, DockerOpError, is_not_found};
use super::observe::{list_managed, list_pod_containers};
use crate::components::spec::{LABEL_CLUSTER, LABEL_MANAGED};

/// Graceful stop time for `remove_managed` and the default for
/// [`EnsureOptions`](super::ensure::EnsureOptions).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Kill and remove a container (with its anonymous volumes); one already gone is fine.
pub(super) async fn force_remove(docker: &Docker, id: &str) -> Result<(), BollardError> {
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

/// Stop a container (SIGTERM, then SIGKILL after `timeout`); one already gone is fine.
pub(super) async fn stop(docker: &Docker, id: &str, timeout: Duration) -> Result<(), BollardError> {
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
pub(super) async fn stop_and_remove(
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

/// Remove (killed, not stopped: the node is leaving and its pods were drained) every
/// container of the kubelet's pods. Run once the kubelet and cri-dockerd are gone: the
/// kubelet's containers outlive it, and a kubelet started again on the node would adopt
/// those of a pod object still bound to its node name (a DaemonSet pod of a node removed
/// and added back within the pod garbage collector's delay), never running that pod's init
/// containers again (flannel's, which write the CNI config that clean removed). The names
/// removed; the first failure.
pub async fn remove_pod_containers(docker: &Docker) -> Result<Vec<String>, DockerOpError> {
    let containers = list_pod_containers(docker).await?;
    let mut removed = Vec::new();
    for (name, id) in containers {
        force_remove(docker, &id)
            .await
            .ctx(|| format!("removing pod container {name}"))?;
        removed.push(name);
    }
    Ok(removed)
}

/// The labels of the container called `name`, or `None` when there is none.
pub(super) async fn labels_of(
    docker: &Docker,
    name: &str,
) -> Result<Option<HashMap<String, String>>, String> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(i) => Ok(Some(i.config.and_then(|c| c.labels).unwrap_or_default())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(format!("inspecting container {name}: {e}")),
    }
}

/// Whether labels say "a component of `cluster`".
pub fn is_ours(labels: &HashMap<String, String>, cluster: &str) -> bool {
    labels.get(LABEL_MANAGED).map(String::as_str) == Some("true")
        && labels.get(LABEL_CLUSTER).map(String::as_str) == Some(cluster)
}

async fn check_ours(docker: &Docker, name: &str, cluster: &str) -> Result<bool, String> {
    match labels_of(docker, name).await? {
        None => Ok(false),
        Some(l) if is_ours(&l, cluster) => Ok(true),
        Some(_) => Err(format!(
            "a container named {name} exists that is not labelled as a component of cluster {cluster}; it was left alone (rename or remove it yourself)"
        )),
    }
}

/// Stop the component container `name` of `cluster` (SIGTERM, then SIGKILL after
/// `grace`). `false` when there is none. A manual stop is not undone by the restart policy.
pub async fn stop_named(
    docker: &Docker,
    name: &str,
    cluster: &str,
    grace: Duration,
) -> Result<bool, String> {
    if !check_ours(docker, name, cluster).await? {
        return Ok(false);
    }
    let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
    match docker
        .stop_container(
            name,
            Some(StopContainerOptions {
                t: Some(t),
                signal: None,
            }),
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        // 304: already stopped
        Err(BollardError::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(true),
        Err(e) => Err(format!("stopping container {name}: {e}")),
    }
}

/// Stop and remove the component container `name` of `cluster`. `false` when there is none.
pub async fn remove_named(
    docker: &Docker,
    name: &str,
    cluster: &str,
    grace: Duration,
) -> Result<bool, String> {
    if !stop_named(docker, name, cluster, grace).await? {
        return Ok(false);
    }
    force_remove_named(docker, name).await?;
    Ok(true)
}

/// Remove the container `name` (killed, with its anonymous volumes); none is fine.
pub(super) async fn force_remove_named(docker: &Docker, name: &str) -> Result<(), String> {
    force_remove(docker, name)
        .await
        .map_err(|e| format!("removing container {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_needs_both_labels() {
        let mut l = HashMap::new();
        l.insert(LABEL_MANAGED.to_string(), "true".to_string());
        assert!(!is_ours(&l, "k"));
        l.insert(LABEL_CLUSTER.to_string(), "other".to_string());
        assert!(!is_ours(&l, "k"));
        l.insert(LABEL_CLUSTER.to_string(), "k".to_string());
        assert!(is_ours(&l, "k"));
    }
}
