//! Images on a node's engine: whether one is there (one by one, or from one list call),
//! pulling one, loading an image bundle (`docker load`), and how a reference splits into
//! registry, repository and tag.

use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions, ListImagesOptions};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::error::{ApiContext, DockerOpError, is_not_found};

/// What [`ensure_image`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    Present,
    Pulled,
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn load_messages_give_the_image_names() {
        let text = "Loaded image: a/b:1\nLoaded image ID: sha256:ff\n\nother\n";
        assert_eq!(loaded_names(text), ["a/b:1", "sha256:ff"]);
    }
}
