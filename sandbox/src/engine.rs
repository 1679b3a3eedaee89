//! The Docker engine on the control host, reached through its unix socket with bollard,
//! and the small calls the sandbox makes on it again and again.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, LogsOptions,
    UploadToContainerOptions,
};
use futures_util::StreamExt;

use super::error::{DockerContext, SandboxError};
use super::labels;

/// The socket bollard uses when `DOCKER_HOST` names no unix socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Connect to the engine named by `DOCKER_HOST` (when it is a `unix://` address) or the
/// default socket, check that it answers, and agree on an API version with it.
pub async fn connect() -> Result<Docker, SandboxError> {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| h.starts_with("unix://"))
        .unwrap_or_else(|| DEFAULT_SOCKET.to_string());
    connect_socket(&socket).await
}

/// Connect to the engine on one unix socket (`/path` or `unix:///path`).
pub async fn connect_socket(socket: &str) -> Result<Docker, SandboxError> {
    let unavailable = |reason: String| SandboxError::EngineUnavailable {
        socket: socket.to_string(),
        fix: engine_fix(&reason),
        reason,
    };
    let path = socket.strip_prefix("unix://").unwrap_or(socket);
    if !std::path::Path::new(path).exists() {
        return Err(unavailable("the socket does not exist".into()));
    }
    // A plain connect first: its error (permission denied, refused) says more than the
    // HTTP client's "client error (Connect)".
    if let Err(e) = tokio::net::UnixStream::connect(path).await {
        return Err(unavailable(e.to_string()));
    }
    let docker = Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION)
        .map_err(|e| unavailable(e.to_string()))?;
    let ping = tokio::time::timeout(std::time::Duration::from_secs(10), docker.ping()).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unavailable(e.to_string())),
        Err(_) => return Err(unavailable("no answer within 10 s".into())),
    }
    docker
        .negotiate_version()
        .await
        .map_err(|e| unavailable(format!("API version negotiation failed: {e}")))
}

/// What to do when no engine answers, given why.
fn engine_fix(reason: &str) -> String {
    if reason.to_ascii_lowercase().contains("permission denied") {
        return "the socket is root's: run as root, or as a member of the `docker` group".into();
    }
    "install and start one as root: `apt-get install -y docker.io iptables debootstrap`, \
     then `update-alternatives --set iptables /usr/sbin/iptables-legacy` (and ip6tables; \
     dockerd exits with \"Iptables not found\" otherwise), then start `dockerd` in the \
     background; `.ci/setup-docker.sh` in the k8s-manage repository does all of this"
        .into()
}

/// A `label=key=value` filter for list calls.
pub fn label_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{key}={value}")])])
}

/// Containers (running or not) of one sandbox.
pub async fn sandbox_containers(
    docker: &Docker,
    name: &str,
) -> Result<Vec<bollard::models::ContainerSummary>, SandboxError> {
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filter(labels::SANDBOX, name)),
            ..Default::default()
        }))
        .await
        .docker(format!("listing the containers of sandbox {name}"))
}

/// Networks of one sandbox.
pub async fn sandbox_networks(
    docker: &Docker,
    name: &str,
) -> Result<Vec<bollard::models::Network>, SandboxError> {
    docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(label_filter(labels::SANDBOX, name)),
        }))
        .await
        .docker(format!("listing the networks of sandbox {name}"))
}

/// Volumes of one sandbox.
pub async fn sandbox_volumes(
    docker: &Docker,
    name: &str,
) -> Result<Vec<bollard::models::Volume>, SandboxError> {
    let resp = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(label_filter(labels::SANDBOX, name)),
        }))
        .await
        .docker(format!("listing the volumes of sandbox {name}"))?;
    Ok(resp.volumes.unwrap_or_default())
}

/// Whether an image with this reference exists locally; its labels when it does.
pub async fn image_labels(
    docker: &Docker,
    reference: &str,
) -> Result<Option<HashMap<String, String>>, SandboxError> {
    match docker.inspect_image(reference).await {
        Ok(image) => Ok(Some(
            image.config.and_then(|c| c.labels).unwrap_or_default(),
        )),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(SandboxError::Docker {
            action: format!("inspecting image {reference}"),
            source: e,
        }),
    }
}

/// The last lines a container printed (stdout and stderr), for error messages.
pub async fn logs_tail(docker: &Docker, container: &str, lines: usize) -> String {
    let mut stream = docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    text
}

/// Memory a running container uses now, as `docker stats` shows it: usage less the
/// inactive file cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`).
pub async fn memory_bytes(docker: &Docker, container: &str) -> Option<u64> {
    let mut stream = docker.stats(
        container,
        Some(bollard::query_parameters::StatsOptions {
            stream: false,
            one_shot: true,
        }),
    );
    let stats = stream.next().await?.ok()?;
    let memory = stats.memory_stats?;
    let usage = memory.usage?;
    let inactive = memory
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    Some(usage.saturating_sub(inactive))
}

/// Unpack a tar archive (built in memory) at `/` in `container`; `what` names the files
/// for the error ("copying {what} into {container}").
pub async fn upload_to_root(
    docker: &Docker,
    container: &str,
    archive: Vec<u8>,
    what: &str,
) -> Result<(), SandboxError> {
    docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(archive.into()),
        )
        .await
        .docker(format!("copying {what} into {container}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_socket_is_reported_with_the_fix() {
        let err = connect_socket("unix:///nonexistent/k8s-manage-test.sock")
            .await
            .expect_err("no engine there");
        let text = err.to_string();
        assert!(text.contains("/nonexistent/k8s-manage-test.sock"), "{text}");
        assert!(
            text.contains("apt-get install -y docker.io iptables"),
            "{text}"
        );
        assert!(text.contains("iptables-legacy"), "{text}");
        assert!(text.contains("dockerd"), "{text}");
        assert!(engine_fix("connect: Permission denied (os error 13)").contains("docker` group"));
    }
}
