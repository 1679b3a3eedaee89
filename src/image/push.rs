//! Pushing one image through the Docker API with the registry credentials (in the API's
//! `X-Registry-Auth` header only; never printed).

use crate::service::config::RegistrySettings;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::PushImageOptions;
use futures_util::StreamExt;

/// Credentials for the engine, when the settings have a username and password.
pub fn credentials(r: &RegistrySettings) -> Option<DockerCredentials> {
    match (&r.username, &r.password) {
        (Some(u), Some(p)) => Some(DockerCredentials {
            username: Some(u.clone()),
            password: Some(p.expose().to_string()),
            serveraddress: Some(r.server()),
            ..Default::default()
        }),
        _ => None,
    }
}

/// Push `repository:tag`. The error carries the engine's message (with no credential in it).
pub async fn push(
    docker: &Docker,
    repository: &str,
    tag: &str,
    creds: Option<DockerCredentials>,
) -> Result<(), String> {
    let options = PushImageOptions {
        tag: Some(tag.to_string()),
        ..Default::default()
    };
    let mut stream = docker.push_image(repository, Some(options), creds);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| format!("push of {repository}:{tag} failed: {e}"))?;
        if let Some(d) = info.error_detail {
            return Err(format!(
                "push of {repository}:{tag} failed: {}",
                d.message.unwrap_or_default()
            ));
        }
    }
    Ok(())
}
