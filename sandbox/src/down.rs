//! `sandbox down`: remove exactly what `up` made for one sandbox, found by its label:
//! node containers (with their anonymous volumes), the network and labelled volumes;
//! before a running node goes, the cgroups its own containers made
//! ([`node_cgroups`]).

use bollard::query_parameters::{RemoveContainerOptions, RemoveVolumeOptions};

use super::error::SandboxError;
use super::{engine, node_cgroups};

/// What `down` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    /// What could not be cleaned up inside a node before it was removed (it was removed
    /// all the same).
    pub warnings: Vec<String>,
}

impl DownReport {
    /// Whether there was nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

fn gone(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Remove the containers, network and volumes labelled `io.k8s-manage.sandbox=<name>`,
/// and nothing else. Removing a sandbox that does not exist is not an error.
pub async fn down(name: &str) -> Result<DownReport, SandboxError> {
    let docker = engine::connect().await?;
    let mut report = DownReport::default();
    let containers = engine::sandbox_containers(&docker, name).await?;
    // the running nodes' cgroups first, all at once (see node_cgroups)
    let running: Vec<String> = containers
        .iter()
        .filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
        .filter_map(|c| c.id.clone())
        .collect();
    let released =
        futures_util::future::join_all(running.iter().map(|id| node_cgroups::release(&docker, id)))
            .await;
    report.warnings = released.into_iter().filter_map(Result::err).collect();
    for c in containers {
        let Some(id) = c.id else { continue };
        let shown = c
            .names
            .and_then(|n| n.first().cloned())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.clone());
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(&id, Some(options)).await {
            Ok(()) => report.containers.push(shown),
            Err(e) if gone(&e) => {}
            Err(e) => {
                return Err(SandboxError::Docker {
                    action: format!("removing container {shown}"),
                    source: e,
                });
            }
        }
    }
    for n in engine::sandbox_networks(&docker, name).await? {
        let Some(id) = n.id else { continue };
        let shown = n.name.unwrap_or_else(|| id.clone());
        match docker.remove_network(&id).await {
            Ok(()) => report.networks.push(shown),
            Err(e) if gone(&e) => {}
            Err(e) => {
                return Err(SandboxError::Docker {
                    action: format!("removing network {shown}"),
                    source: e,
                });
            }
        }
    }
    for v in engine::sandbox_volumes(&docker, name).await? {
        match docker
            .remove_volume(&v.name, Some(RemoveVolumeOptions { force: true }))
            .await
        {
            Ok(()) => report.volumes.push(v.name),
            Err(e) if gone(&e) => {}
            Err(e) => {
                return Err(SandboxError::Docker {
                    action: format!("removing volume {}", v.name),
                    source: e,
                });
            }
        }
    }
    Ok(report)
}
