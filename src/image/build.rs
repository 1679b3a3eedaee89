//! Building one image through the Docker API from its context tar, tagged with its full
//! reference; the build's own error message is returned on failure.

use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;
use std::collections::HashMap;

/// The label every image built by k8s-manage carries (value: the imagelist name).
pub const IMAGE_LABEL: &str = "io.k8s-manage.image";

/// Build `tar` as `reference`. Base images come from the local engine (never pulled),
/// which is why base images are built first. Returns the last lines of the build output.
pub async fn build(
    docker: &Docker,
    name: &str,
    reference: &str,
    tar: Vec<u8>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<String, String> {
    let labels = HashMap::from([(IMAGE_LABEL.to_string(), name.to_string())]);
    build_for(docker, name, reference, tar, None, labels, progress).await
}

/// [`build`] for a platform (`linux/arm64`; None: the engine's own) with these labels.
pub async fn build_for(
    docker: &Docker,
    name: &str,
    reference: &str,
    tar: Vec<u8>,
    platform: Option<&str>,
    labels: HashMap<String, String>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<String, String> {
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(reference.to_string()),
        rm: true,
        forcerm: true,
        labels: Some(labels),
        platform: platform.unwrap_or_default().to_string(),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    let mut log = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| format!("build of {name} failed: {e}"))?;
        if let Some(d) = info.error_detail {
            return Err(format!(
                "build of {name} failed: {}",
                d.message.unwrap_or_default()
            ));
        }
        if let Some(s) = info.stream {
            for line in s.lines().filter(|l| !l.trim().is_empty()) {
                progress(&format!("  [{name}] {line}"));
                log.push_str(line);
                log.push('\n');
            }
        }
    }
    Ok(log)
}

/// The control host's Docker engine (`DOCKER_HOST` when it is a `unix://` socket, else
/// `/var/run/docker.sock`), checked with a ping.
pub async fn connect_engine() -> Result<Docker, String> {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| h.starts_with("unix://"))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "no Docker engine answers on {socket}: {e}\n  fix: start dockerd (run as root or as a member of the docker group)"
        )
    };
    let docker = Docker::connect_with_unix(&socket, 600, bollard::API_DEFAULT_VERSION)
        .map_err(|e| fail(&e))?;
    tokio::time::timeout(std::time::Duration::from_secs(10), docker.ping())
        .await
        .map_err(|_| fail(&"no answer within 10 s"))?
        .map_err(|e| fail(&e))?;
    docker.negotiate_version().await.map_err(|e| fail(&e))
}
