//! `sandbox up`: node image, key pair, network, node containers, readiness wait and the
//! config directory, in that order; a failure after the network exists removes it all.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use futures_util::{StreamExt, TryStreamExt};
use ipnet::Ipv4Net;

use super::config_files::{self, Components, ConfigInput};
use super::error::{IoContext, SandboxError};
use super::nodes::{self, NodeInfo, NodeSetup};
use super::probe::{self, Login};
use super::product_facts::ProductFacts;
use super::{components, down, engine, keys, network, node_image, preload};

/// Name used when none is given.
pub const DEFAULT_NAME: &str = "k8s-sandbox";

/// How long each node may take to answer on sshd and dockerd.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many node containers are created at once.
const CREATE_PARALLELISM: usize = 4;

/// What `up` makes.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Sandbox name: Docker network, container-name prefix and label value.
    pub name: String,
    pub masters: u32,
    pub workers: u32,
    /// Add one `k8s-role: proxy` node.
    pub proxy: bool,
    /// The config directory to write (created when missing).
    pub dir: PathBuf,
    /// The network's subnet; by default the first free /24 in 172.30.0.0/16.
    pub subnet: Option<Ipv4Net>,
    /// Kubernetes versions to build and preload the components of; the config asks for
    /// the first. Empty: [`config_files::KUBERNETES_VERSION`] only.
    pub versions: Vec<String>,
    /// The real upstream components (default), or none (nodes only).
    pub components: Components,
}

impl UpOptions {
    /// The defaults (name `k8s-sandbox`, 3 masters, 2 workers, no proxy, a free subnet)
    /// with the config written to `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        UpOptions {
            name: DEFAULT_NAME.into(),
            masters: 3,
            workers: 2,
            proxy: false,
            dir: dir.into(),
            subnet: None,
            versions: Vec::new(),
            components: Components::Upstream,
        }
    }

    /// The versions to provide, the config's first.
    fn kubernetes_versions(&self) -> Vec<String> {
        if self.versions.is_empty() {
            vec![config_files::KUBERNETES_VERSION.to_string()]
        } else {
            self.versions.clone()
        }
    }

    fn node_count(&self) -> u32 {
        self.masters + self.workers + u32::from(self.proxy)
    }

    fn validate(&self, product: &dyn ProductFacts) -> Result<(), SandboxError> {
        let bad = |m: String| Err(SandboxError::InvalidOptions(m));
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 40
            && self
                .name
                .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return bad(format!(
                "name {:?}: use 1-40 lowercase letters, digits and '-', starting with a letter or digit",
                self.name
            ));
        }
        for v in &self.versions {
            if !product.accepts_kubernetes_version(v) {
                return bad(format!(
                    "version {v:?}: write a supported Kubernetes version such as v1.35.4"
                ));
            }
        }
        if self.masters == 0 {
            return bad("a cluster needs at least one master".into());
        }
        if self.node_count() > 200 {
            return bad(format!("{} nodes is more than 200", self.node_count()));
        }
        Ok(())
    }
}

/// How long the phases of `up` took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpTimings {
    /// Finding (or building) the node image.
    pub image: Duration,
    /// Finding (or building) the Debian component images (haproxy, registry) and the
    /// upstream components' images.
    pub component_images: Duration,
    /// Creating the network and starting every node container.
    pub create: Duration,
    /// Until every node's sshd and dockerd answered.
    pub ready: Duration,
    /// Exporting the referenced images once and loading them into every node's dockerd.
    pub preload: Duration,
    pub total: Duration,
}

/// What `up` made.
#[derive(Debug, Clone)]
pub struct SandboxInfo {
    pub name: String,
    /// Docker network name (the sandbox name).
    pub network: String,
    pub subnet: Ipv4Net,
    /// Node image reference.
    pub image: String,
    pub nodes: Vec<NodeInfo>,
    /// The config directory, absolute.
    pub dir: PathBuf,
    /// The client private key (0600); its public key is root's authorized_keys on each node.
    pub keyfile: PathBuf,
    /// known_hosts with every node's host key.
    pub known_hosts: PathBuf,
    /// The config files written.
    pub config_files: Vec<PathBuf>,
    /// The images the config references, loaded into every node's dockerd.
    pub images: Vec<String>,
    /// The image archive (`docker save` format) in the sandbox cache they were loaded from
    /// (`None` when no image was loaded: [`Components::None`]).
    pub image_archive: Option<PathBuf>,
    pub timings: UpTimings,
}

/// Make a sandbox: one container per node, each with sshd and its own dockerd, on its
/// own network; wait until all answer; write a ready config into `opts.dir`. The images
/// are named as `product` pulls them.
pub async fn up(
    product: &dyn ProductFacts,
    opts: &UpOptions,
    progress: &dyn Fn(&str),
) -> Result<SandboxInfo, SandboxError> {
    let start = Instant::now();
    opts.validate(product)?;
    let docker = engine::connect().await?;
    ensure_absent(&docker, opts).await?;
    if let Some(subnet) = opts.subnet {
        // Checked again when the network is made; here so that nothing is built for naught.
        network::check_subnet(subnet, opts.node_count(), &used_subnets(&docker).await?)?;
    }

    std::fs::create_dir_all(&opts.dir).io("creating", &opts.dir)?;
    let dir = std::fs::canonicalize(&opts.dir).io("resolving", &opts.dir)?;
    config_files::check_writable(&dir)?;

    let image = node_image::ensure_node_image(&docker, progress).await?;
    let image_time = start.elapsed();

    // Every image the config will reference exists on this host before any node starts.
    let images_start = Instant::now();
    let versions = opts.kubernetes_versions();
    let images = build_images(product, opts.components, &versions, progress).await?;
    let images_time = images_start.elapsed();

    let state = dir.join(".k8s-manage").join("sandbox");
    let keyfile = state.join("id_ed25519");
    let known_hosts = state.join("known_hosts");
    let client = keys::ensure_client_key(&keyfile, &format!("k8s-manage-sandbox-{}", opts.name))?;

    let subnet = create_network(&docker, opts).await?;
    progress(&format!(
        "network {} ({subnet}); starting {} nodes",
        opts.name,
        opts.node_count()
    ));
    let nodes = nodes::plan(&opts.name, opts.masters, opts.workers, opts.proxy, subnet);
    let made = async {
        let create_start = Instant::now();
        let keyfile_s = keyfile.display().to_string();
        let known_hosts_s = known_hosts.display().to_string();
        let setup = NodeSetup {
            sandbox: &opts.name,
            image: &image,
            network: &opts.name,
            authorized_key: &client.public_openssh,
            keyfile: &keyfile_s,
            known_hosts: &known_hosts_s,
        };
        let host_keys = start_nodes(&docker, &nodes, &setup).await?;
        let entries: Vec<(String, String)> = nodes
            .iter()
            .zip(&host_keys)
            .map(|(n, k)| (n.address.to_string(), k.public_openssh.clone()))
            .collect();
        std::fs::write(&known_hosts, keys::known_hosts(&entries)).io("writing", &known_hosts)?;
        // the config dir's own known_hosts gets the nodes' real keys too: nothing to trust
        // on first use (which, without a terminal, needs --accept-new-host-keys)
        let config_known = dir.join(".k8s-manage").join("known_hosts");
        keys::write_private(&config_known, &keys::known_hosts(&entries))?;
        let create_time = create_start.elapsed();

        progress(&format!(
            "waiting for sshd and dockerd on {} nodes (at most {}s each)",
            nodes.len(),
            READY_TIMEOUT.as_secs()
        ));
        let ready_start = Instant::now();
        wait_ready(&docker, &nodes, &host_keys, &keyfile).await?;
        let ready_time = ready_start.elapsed();

        let preload_start = Instant::now();
        let loaded = if images.is_empty() {
            None
        } else {
            let loaded = preload::preload(&docker, &nodes, &images, progress).await?;
            progress(&format!(
                "{} images in every node after {:.1}s: archive of {} MiB {} in {:.1}s, loaded in {:.1}s",
                images.len(),
                preload_start.elapsed().as_secs_f64(),
                loaded.archive.bytes / (1024 * 1024),
                if loaded.archive.reused { "reused" } else { "exported" },
                loaded.export.as_secs_f64(),
                loaded.load.as_secs_f64(),
            ));
            Some(loaded)
        };
        let preload_time = preload_start.elapsed();

        let input = ConfigInput {
            sandbox: &opts.name,
            network: &opts.name,
            subnet,
            keyfile: &keyfile,
            nodes: &nodes,
            dir: &dir,
            kubernetes_version: &versions[0],
            components: opts.components,
        };
        let config_files = config_files::write(&input)?;
        Ok::<_, SandboxError>((config_files, loaded, create_time, ready_time, preload_time))
    }
    .await;

    let (config_files, loaded, create_time, ready_time, preload_time) = match made {
        Ok(v) => v,
        Err(e) => {
            // Leave nothing half made behind; the error says what failed first.
            let _ = down::down(&opts.name).await;
            return Err(SandboxError::RolledBack {
                name: opts.name.clone(),
                source: Box::new(e),
            });
        }
    };
    progress(&format!(
        "sandbox {} is up: {} nodes in {:.1}s; config in {}",
        opts.name,
        nodes.len(),
        start.elapsed().as_secs_f64(),
        dir.display()
    ));
    Ok(SandboxInfo {
        name: opts.name.clone(),
        network: opts.name.clone(),
        subnet,
        image,
        nodes,
        dir,
        keyfile,
        known_hosts,
        config_files,
        images,
        image_archive: loaded.map(|l| l.archive.path),
        timings: UpTimings {
            image: image_time,
            component_images: images_time,
            create: create_time,
            ready: ready_time,
            preload: preload_time,
            total: start.elapsed(),
        },
    })
}

/// Make (or find) every image a sandbox of `components` and `versions` loads into its
/// nodes, on this host's engine, without making any node; their references (named as
/// `product` pulls them).
pub async fn build_images(
    product: &dyn ProductFacts,
    components: Components,
    versions: &[String],
    progress: &dyn Fn(&str),
) -> Result<Vec<String>, SandboxError> {
    match components {
        Components::None => {
            progress("nodes only: no component image is made or loaded");
            return Ok(Vec::new());
        }
        Components::Upstream => {
            components::build_component_images(progress).await?;
            super::upstream::build_upstream_images(product, versions, progress).await?;
        }
    }
    config_files::referenced_images_for(product, components, versions)
}

/// Refuse to start over an existing sandbox of the same name, or over Docker objects
/// with the names the sandbox would use.
async fn ensure_absent(docker: &Docker, opts: &UpOptions) -> Result<(), SandboxError> {
    let exists = |what: String| SandboxError::AlreadyExists {
        name: opts.name.clone(),
        what,
    };
    let containers = engine::sandbox_containers(docker, &opts.name).await?;
    if !containers.is_empty() {
        return Err(exists(format!("{} node containers", containers.len())));
    }
    if !engine::sandbox_networks(docker, &opts.name)
        .await?
        .is_empty()
    {
        return Err(exists("its network".into()));
    }
    if docker
        .inspect_network(
            &opts.name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .is_ok()
    {
        return Err(SandboxError::NameTaken {
            what: format!("Docker network {:?}", opts.name),
        });
    }
    let probe_subnet: Ipv4Net = "10.0.0.0/8".parse().expect("valid");
    for node in nodes::plan(
        &opts.name,
        opts.masters,
        opts.workers,
        opts.proxy,
        probe_subnet,
    ) {
        if docker
            .inspect_container(
                &node.container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .is_ok()
        {
            return Err(SandboxError::NameTaken {
                what: format!("Docker container {:?}", node.container),
            });
        }
    }
    Ok(())
}

/// Subnets of Docker networks and host routes.
async fn used_subnets(docker: &Docker) -> Result<Vec<Ipv4Net>, SandboxError> {
    let mut used = network::docker_subnets(docker).await?;
    used.extend(network::host_routes());
    Ok(used)
}

/// Create the sandbox network: the requested subnet, or the first free /24 in the
/// default range (trying the next one when another network takes it meanwhile).
async fn create_network(docker: &Docker, opts: &UpOptions) -> Result<Ipv4Net, SandboxError> {
    let used = used_subnets(docker).await?;
    if let Some(subnet) = opts.subnet {
        network::check_subnet(subnet, opts.node_count(), &used)?;
        if network::create(docker, &opts.name, &opts.name, subnet).await? {
            return Ok(subnet);
        }
        return Err(SandboxError::SubnetUnusable {
            subnet: subnet.to_string(),
            reason: "the Docker engine says it overlaps another network".into(),
        });
    }
    let range: Ipv4Net = network::DEFAULT_RANGE.parse().expect("valid range");
    for skip in 0..16 {
        let Some(subnet) = network::pick_free_subnet(range, &used, skip) else {
            break;
        };
        if network::create(docker, &opts.name, &opts.name, subnet).await? {
            return Ok(subnet);
        }
    }
    Err(SandboxError::NoFreeSubnet {
        range: network::DEFAULT_RANGE.into(),
    })
}

/// Create and start every node container, a few at a time; each node's host key pair.
async fn start_nodes(
    docker: &Docker,
    nodes: &[NodeInfo],
    setup: &NodeSetup<'_>,
) -> Result<Vec<keys::KeyPair>, SandboxError> {
    let mut host_keys = Vec::new();
    for node in nodes {
        host_keys.push(keys::generate(&format!("root@{}", node.hostname))?);
    }
    futures_util::stream::iter(nodes.iter().zip(&host_keys))
        .map(|(node, key)| nodes::create_node(docker, node, setup, key))
        .buffer_unordered(CREATE_PARALLELISM)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(host_keys)
}

/// Wait (bounded) until every node's sshd and dockerd answer; the first node that does
/// not is named in the error, with its container's last log lines.
async fn wait_ready(
    docker: &Docker,
    nodes: &[NodeInfo],
    host_keys: &[keys::KeyPair],
    keyfile: &std::path::Path,
) -> Result<(), SandboxError> {
    let waits = nodes.iter().zip(host_keys).map(|(node, key)| {
        let login = Login {
            address: node.address,
            user: "root".into(),
            keyfile: keyfile.to_path_buf(),
            host_key: Some(key.public_openssh.clone()),
        };
        async move { (node, probe::wait_until_answers(&login, READY_TIMEOUT).await) }
    });
    for (node, result) in futures_util::future::join_all(waits).await {
        if let Err(problem) = result {
            return Err(SandboxError::NodeNotReady {
                node: node.hostname.clone(),
                address: node.address.to_string(),
                waited: READY_TIMEOUT,
                problem,
                logs: engine::logs_tail(docker, &node.container, 15).await,
            });
        }
    }
    Ok(())
}
