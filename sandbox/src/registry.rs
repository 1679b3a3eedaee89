//! A registry inside a sandbox, for images a test must pull rather than find preloaded
//! (a pod with `imagePullPolicy: Always`). It is the sandbox's registry image
//! ([`REGISTRY_IMAGE`]) in a container beside the nodes, labelled with the sandbox's name
//! (so `down` removes it) and [`labels::SERVICE`] (so `status` does not take it for a node),
//! at a fixed address on the sandbox network and under the name [`REGISTRY_HOST`], which
//! Docker's resolver in the nodes answers.
//!
//! It serves TLS only, with a certificate from a CA made for it ([`super::registry_tls`]);
//! the nodes' Docker engines trust that CA through
//! `/etc/docker/certs.d/<host>:<port>/ca.crt`, not `insecure-registries`. Images get into it
//! by `docker push` from the first node, whose engine already holds them (preloaded).
//! This is the test bed's own set-up, through the control host's Docker API; it is no part
//! of what k8s-manage does on a server.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use ipnet::Ipv4Net;

use super::archive::TarBuilder;
use super::error::{DockerContext, IoContext, SandboxError, last_lines};
use super::nodes::NodeInfo;
use super::preload::{exec, sandbox_nodes};
use super::registry_tls::{self, RegistryTls};
use super::{REGISTRY_IMAGE, build_component_images, engine, labels, network};

/// The registry's name in the nodes: under `.test`, a top-level domain that never resolves
/// on the Internet, so a pull meant for it can never reach someone else's registry.
pub const REGISTRY_HOST: &str = "registry.k8s-manage-sandbox.test";

/// The port it serves TLS on (the registry image's own).
pub const REGISTRY_PORT: u16 = 5000;

/// Where the serving certificate and key go in the registry container.
const TLS_DIR: &str = "etc/docker/registry/tls";

/// How long the registry may take to answer after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long pushing every image from a node may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(600);

/// `host:port`, as image references and `certs.d` name the registry.
pub fn registry_address() -> String {
    format!("{REGISTRY_HOST}:{REGISTRY_PORT}")
}

/// The registry container of sandbox `name`.
fn container_name(name: &str) -> String {
    format!("{name}-registry")
}

/// Its address: the last of the free addresses before the first node's.
fn registry_ip(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + network::FIRST_NODE_OFFSET - 1)
}

/// A running sandbox registry.
#[derive(Debug, Clone)]
pub struct SandboxRegistry {
    /// Its address on the sandbox network.
    pub ip: Ipv4Addr,
    /// The CA certificate the nodes trust it by, PEM.
    pub ca_cert_pem: String,
}

/// Start (or start again, with fresh TLS material) the registry of the running sandbox
/// `name`, wait until it answers over TLS, and make every node's Docker engine trust it.
/// Its content starts empty; [`push_to_registry`] fills it.
pub async fn start_registry(
    name: &str,
    progress: &dyn Fn(&str),
) -> Result<SandboxRegistry, SandboxError> {
    let nodes = sandbox_nodes(name).await?;
    let docker = engine::connect().await?;
    let (network, subnet) = sandbox_network(&docker, name).await?;
    if engine::image_labels(&docker, REGISTRY_IMAGE)
        .await?
        .is_none()
    {
        build_component_images(progress).await?;
    }
    let ip = registry_ip(subnet);
    let tls = registry_tls::issue(REGISTRY_HOST, ip)?;
    progress(&format!(
        "starting registry {} at {ip} in sandbox {name}",
        registry_address()
    ));
    remove_registry(&docker, name).await?;
    create_registry(&docker, name, &network, ip, &tls).await?;
    wait_until_ready(ip, &tls.ca_cert_pem).await?;
    for node in &nodes {
        trust_in_node(&docker, node, &tls.ca_cert_pem).await?;
    }
    Ok(SandboxRegistry {
        ip,
        ca_cert_pem: tls.ca_cert_pem,
    })
}

/// The sandbox's network: its name and subnet.
async fn sandbox_network(docker: &Docker, name: &str) -> Result<(String, Ipv4Net), SandboxError> {
    let networks = engine::sandbox_networks(docker, name).await?;
    let found = networks.into_iter().find_map(|n| {
        let subnet = n
            .labels
            .as_ref()?
            .get(labels::SANDBOX_SUBNET)?
            .parse()
            .ok()?;
        Some((n.name?, subnet))
    });
    found.ok_or_else(|| SandboxError::InvalidOptions(format!("sandbox {name} has no network")))
}

/// Remove the registry container of sandbox `name`, if there is one; a container of that
/// name that the sandbox did not make is left alone and reported.
async fn remove_registry(docker: &Docker, name: &str) -> Result<(), SandboxError> {
    let container = container_name(name);
    let found = match docker
        .inspect_container(
            &container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
    {
        Ok(found) => found,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(()),
        Err(e) => return Err(e).docker(format!("inspecting {container}")),
    };
    let ours = found
        .config
        .and_then(|c| c.labels)
        .is_some_and(|l| l.get(labels::SANDBOX).map(String::as_str) == Some(name));
    if !ours {
        return Err(SandboxError::NameTaken {
            what: format!("Docker container {container:?}"),
        });
    }
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    docker
        .remove_container(&container, Some(options))
        .await
        .docker(format!("removing {container}"))
}

/// The registry container: TLS on, from files put into it before it starts (the key's
/// path is in its environment, never the key).
fn container_spec(name: &str, network: &str, ip: Ipv4Addr) -> ContainerCreateBody {
    let labels = HashMap::from([
        (labels::SANDBOX.to_string(), name.to_string()),
        (labels::SERVICE.to_string(), "registry".to_string()),
    ]);
    let endpoint = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ..Default::default()
        }),
        aliases: Some(vec![REGISTRY_HOST.to_string()]),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(REGISTRY_IMAGE.to_string()),
        env: Some(vec![
            format!("REGISTRY_HTTP_TLS_CERTIFICATE=/{TLS_DIR}/registry.crt"),
            format!("REGISTRY_HTTP_TLS_KEY=/{TLS_DIR}/registry.key"),
        ]),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_string()),
            ..Default::default()
        }),
        networking_config: Some(bollard::models::NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network.to_string(), endpoint)])),
        }),
        ..Default::default()
    }
}

/// The registry's TLS files: the certificate 0644, the key 0600 in a 0700 folder.
fn tls_files(tls: &RegistryTls) -> std::io::Result<Vec<u8>> {
    let mut tar = TarBuilder::new();
    tar.dir(TLS_DIR, 0o700)?;
    tar.file(
        &format!("{TLS_DIR}/registry.crt"),
        0o644,
        tls.cert_pem.as_bytes(),
    )?;
    tar.file(
        &format!("{TLS_DIR}/registry.key"),
        0o600,
        tls.key_pem.as_bytes(),
    )?;
    tar.finish()
}

/// Create the registry container, put its TLS files in and start it.
async fn create_registry(
    docker: &Docker,
    name: &str,
    network: &str,
    ip: Ipv4Addr,
    tls: &RegistryTls,
) -> Result<(), SandboxError> {
    let container = container_name(name);
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(container.clone()),
                ..Default::default()
            }),
            container_spec(name, network, ip),
        )
        .await
        .docker(format!("creating {container}"))?;
    let files = tls_files(tls).io("archiving the TLS files of", &container)?;
    engine::upload_to_root(docker, &container, files, "the TLS files").await?;
    docker
        .start_container(
            &container,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .docker(format!("starting {container}"))
}

/// An HTTPS client that trusts only `ca_pem` and finds [`REGISTRY_HOST`] at `ip`.
fn registry_client(ip: Ipv4Addr, ca_pem: &str) -> Result<reqwest::Client, SandboxError> {
    let failed = |reason: String| SandboxError::Registry { reason };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| failed(format!("reading its CA certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| failed(format!("trusting its CA certificate: {e}")))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve(REGISTRY_HOST, SocketAddr::from((ip, REGISTRY_PORT)))
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| failed(e.to_string()))
}

/// Wait until `GET /v2/` answers 200 over TLS, the certificate checked against the CA
/// for [`REGISTRY_HOST`] as the nodes check it.
async fn wait_until_ready(ip: Ipv4Addr, ca_pem: &str) -> Result<(), SandboxError> {
    let client = registry_client(ip, ca_pem)?;
    let url = format!("https://{}/v2/", registry_address());
    let start = Instant::now();
    loop {
        let problem = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("{url} answered {}", r.status()),
            Err(e) => format!("{url}: {e:#}"),
        };
        if start.elapsed() > READY_TIMEOUT {
            return Err(SandboxError::Registry {
                reason: format!("not ready after {}s: {problem}", READY_TIMEOUT.as_secs()),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `etc/docker/certs.d/<host>:<port>/ca.crt`, the file by which a Docker engine trusts a
/// registry's CA (read on each connection: no restart needed).
fn trust_file() -> String {
    format!("etc/docker/certs.d/{}/ca.crt", registry_address())
}

/// The trust file with its folders, as an archive to unpack at a node's `/`.
fn trust_archive(ca_pem: &str) -> std::io::Result<Vec<u8>> {
    let file = trust_file();
    let mut tar = TarBuilder::new();
    tar.dir("etc/docker/certs.d", 0o755)?;
    tar.dir(file.trim_end_matches("/ca.crt"), 0o755)?;
    tar.file(&file, 0o644, ca_pem.as_bytes())?;
    tar.finish()
}

/// Make a node's Docker engine trust the registry's CA.
async fn trust_in_node(docker: &Docker, node: &NodeInfo, ca_pem: &str) -> Result<(), SandboxError> {
    let archive = trust_archive(ca_pem).io("archiving the registry CA for", &node.container)?;
    engine::upload_to_root(docker, &node.container, archive, "the registry CA").await
}

/// A shell script that tags each `(local, served)` pair, and pushes the served names
/// when `push`.
fn tag_script(pairs: &[(String, String)], push: bool) -> String {
    let mut lines = vec!["set -e".to_string()];
    for (local, served) in pairs {
        lines.push(format!("docker tag '{local}' '{served}'"));
    }
    if push {
        for (_, served) in pairs {
            lines.push(format!("docker push '{served}' >/dev/null"));
        }
    }
    lines.join("\n")
}

/// Name every `(local, served)` image pair under its served name too in every node of
/// sandbox `name` (so that a pod that may use a present image finds it there), and push
/// the served names into the registry from the first node. The served names must be
/// under [`registry_address`].
pub async fn push_to_registry(
    name: &str,
    pairs: &[(String, String)],
    progress: &dyn Fn(&str),
) -> Result<(), SandboxError> {
    let prefix = format!("{}/", registry_address());
    if let Some((_, bad)) = pairs.iter().find(|(_, s)| !s.starts_with(&prefix)) {
        return Err(SandboxError::InvalidOptions(format!(
            "{bad} is not under the sandbox registry {prefix}"
        )));
    }
    let nodes = sandbox_nodes(name).await?;
    let docker = engine::connect().await?;
    progress(&format!(
        "pushing {} images into {} from {}",
        pairs.len(),
        registry_address(),
        nodes[0].hostname
    ));
    for (i, node) in nodes.iter().enumerate() {
        let script = tag_script(pairs, i == 0);
        let command = ["sh", "-c", script.as_str()];
        let run = exec(&docker, &node.container, &command);
        let (code, output) = tokio::time::timeout(PUSH_TIMEOUT, run)
            .await
            .map_err(|_| format!("not done after {}s", PUSH_TIMEOUT.as_secs()))
            .and_then(|r| r)
            .map_err(|reason| registry_failure(node, reason))?;
        if code != 0 {
            return Err(registry_failure(
                node,
                format!("exited with {code}: {}", last_lines(output.trim(), 10)),
            ));
        }
    }
    Ok(())
}

fn registry_failure(node: &NodeInfo, reason: String) -> SandboxError {
    SandboxError::Registry {
        reason: format!("tagging and pushing in {}: {reason}", node.container),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_takes_the_last_free_address_before_the_nodes() {
        let subnet: Ipv4Net = "172.30.7.0/24".parse().unwrap();
        assert_eq!(registry_ip(subnet), Ipv4Addr::new(172, 30, 7, 10));
        assert!(registry_ip(subnet) < network::node_address(subnet, 0));
        assert!(registry_ip(subnet) > network::gateway(subnet));
    }

    #[test]
    fn the_container_serves_tls_from_files_named_in_its_environment() {
        let spec = container_spec("demo", "demo", Ipv4Addr::new(172, 30, 7, 10));
        let env = spec.env.unwrap();
        assert!(env.contains(&format!("REGISTRY_HTTP_TLS_KEY=/{TLS_DIR}/registry.key")));
        assert!(env.iter().all(|e| !e.contains("PRIVATE KEY")), "{env:?}");
        let labels = spec.labels.unwrap();
        assert_eq!(
            labels.get(labels::SANDBOX).map(String::as_str),
            Some("demo")
        );
        assert!(labels.contains_key(labels::SERVICE));
        let endpoint = &spec.networking_config.unwrap().endpoints_config.unwrap()["demo"];
        assert_eq!(
            endpoint.aliases.as_deref(),
            Some(&[REGISTRY_HOST.to_string()][..])
        );
    }

    #[test]
    fn the_key_is_archived_readable_by_root_only() {
        let tls = registry_tls::issue(REGISTRY_HOST, Ipv4Addr::new(10, 0, 0, 10)).unwrap();
        let bytes = tls_files(&tls).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let modes: HashMap<String, u32> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                (
                    path.trim_end_matches('/').to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(modes[&format!("{TLS_DIR}/registry.key")], 0o600);
        assert_eq!(modes[TLS_DIR], 0o700);
        assert_eq!(modes[&format!("{TLS_DIR}/registry.crt")], 0o644);
    }

    #[test]
    fn the_nodes_trust_it_under_host_and_port() {
        assert_eq!(
            trust_file(),
            "etc/docker/certs.d/registry.k8s-manage-sandbox.test:5000/ca.crt"
        );
    }

    #[test]
    fn every_node_tags_and_only_the_first_pushes() {
        let pairs = vec![(
            "k8s-manage-sandbox/e2e-test-images/kitten:1.8".to_string(),
            format!("{}/e2e-test-images/kitten:1.8", registry_address()),
        )];
        let first = tag_script(&pairs, true);
        assert!(first.starts_with("set -e\n"), "{first}");
        assert!(first.contains(&format!(
            "docker tag 'k8s-manage-sandbox/e2e-test-images/kitten:1.8' '{}'",
            pairs[0].1
        )));
        assert!(first.contains(&format!("docker push '{}'", pairs[0].1)));
        assert!(!tag_script(&pairs, false).contains("docker push"));
    }
}
