//! `sandbox status`: per node (not the registry beside them), whether its container runs,
//! its sshd answers (banner on port 22) and its dockerd answers (`docker version` over
//! SSH), and its memory use.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use bollard::models::ContainerSummaryStateEnum;

use super::error::SandboxError;
use super::probe::{self, Login};
use super::role::Role;
use super::{engine, labels};

/// The state of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's hostname (`master1`, ...).
    pub name: String,
    /// Its Docker container.
    pub container: String,
    pub address: Option<Ipv4Addr>,
    pub role: Option<Role>,
    /// The container is running.
    pub running: bool,
    /// sshd sent its banner on port 22.
    pub sshd: bool,
    /// `docker version` over SSH exited 0.
    pub dockerd: bool,
    /// Memory the container uses now (as `docker stats` shows it), when running.
    pub memory_bytes: Option<u64>,
    /// Why sshd or dockerd is not answering, when one is not.
    pub problem: Option<String>,
}

/// The state of every node of sandbox `name`, in address order (empty when there is
/// no such sandbox).
pub async fn status(name: &str) -> Result<Vec<NodeStatus>, SandboxError> {
    let docker = engine::connect().await?;
    let containers = engine::sandbox_containers(&docker, name).await?;
    let checks = containers.into_iter().filter(is_node).map(|c| {
        let docker = docker.clone();
        async move {
            let labels = c.labels.clone().unwrap_or_default();
            let container = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            let mut st = NodeStatus {
                name: labels
                    .get(labels::NODE)
                    .cloned()
                    .unwrap_or_else(|| container.clone()),
                address: labels.get(labels::ADDRESS).and_then(|a| a.parse().ok()),
                role: labels.get(labels::ROLE).and_then(|r| r.parse().ok()),
                running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
                container,
                sshd: false,
                dockerd: false,
                memory_bytes: None,
                problem: None,
            };
            if !st.running {
                st.problem = Some("the container is not running".into());
                return st;
            }
            st.memory_bytes = engine::memory_bytes(&docker, &st.container).await;
            let Some(address) = st.address else {
                st.problem = Some("the container has no sandbox address label".into());
                return st;
            };
            if let Err(problem) = probe::sshd_banner(address, probe::PROBE_TIMEOUT).await {
                st.problem = Some(problem);
                return st;
            }
            st.sshd = true;
            let Some(keyfile) = labels.get(labels::KEYFILE).map(PathBuf::from) else {
                st.problem = Some("the container has no key file label".into());
                return st;
            };
            let host_key = labels
                .get(labels::KNOWN_HOSTS)
                .and_then(|kh| probe::known_host_key(PathBuf::from(kh).as_path(), address));
            let login = Login {
                address,
                user: "root".into(),
                keyfile,
                host_key,
            };
            match probe::ssh_exec(&login, "docker version", probe::PROBE_TIMEOUT).await {
                Ok(out) if out.exit_status == 0 => st.dockerd = true,
                Ok(out) => {
                    st.problem = Some(format!(
                        "`docker version` exited with {}: {}",
                        out.exit_status,
                        out.stderr.trim()
                    ))
                }
                Err(problem) => st.problem = Some(problem),
            }
            st
        }
    });
    let mut nodes = futures_util::future::join_all(checks).await;
    nodes.sort_by_key(|n| (n.address, n.name.clone()));
    Ok(nodes)
}

/// Whether a sandbox container is a node: everything but the containers that serve the
/// nodes (labelled [`labels::SERVICE`], such as the registry).
fn is_node(container: &bollard::models::ContainerSummary) -> bool {
    container
        .labels
        .as_ref()
        .is_none_or(|l| !l.contains_key(labels::SERVICE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(labels: &[(&str, &str)]) -> bollard::models::ContainerSummary {
        bollard::models::ContainerSummary {
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn the_registry_is_not_a_node() {
        assert!(is_node(&container(&[
            (labels::SANDBOX, "s"),
            (labels::ROLE, "master")
        ])));
        assert!(is_node(&container(&[(labels::SANDBOX, "s")])));
        assert!(!is_node(&container(&[
            (labels::SANDBOX, "s"),
            (labels::SERVICE, "registry")
        ])));
    }
}
