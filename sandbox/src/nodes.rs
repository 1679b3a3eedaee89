//! Sandbox nodes: which nodes a sandbox has (names, roles, addresses) and the Docker
//! containers that play them, each running sshd and its own dockerd.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig};
use bollard::query_parameters::CreateContainerOptions;
use ipnet::Ipv4Net;

use super::archive::TarBuilder;
use super::error::{DockerContext, IoContext, SandboxError};
use super::role::Role;
use super::{engine, labels, network};

/// One node of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Hostname inside the node, and `hostname` in the machine list (`master1`, `worker2`, ...).
    pub hostname: String,
    /// Docker container name (`<sandbox>-<hostname>`).
    pub container: String,
    /// Fixed address in the sandbox network.
    pub address: Ipv4Addr,
    pub role: Role,
    /// `etcdid` for masters (`etcd1`, ...).
    pub etcd_id: Option<String>,
}

/// The nodes of a sandbox: masters, then workers, then the proxy, at consecutive addresses.
pub fn plan(
    sandbox: &str,
    masters: u32,
    workers: u32,
    proxy: bool,
    subnet: Ipv4Net,
) -> Vec<NodeInfo> {
    let mut nodes = Vec::new();
    let mut add = |role: Role, n: u32| {
        let hostname = format!("{role}{n}");
        let index = nodes.len() as u32;
        nodes.push(NodeInfo {
            container: format!("{sandbox}-{hostname}"),
            address: network::node_address(subnet, index),
            etcd_id: (role == Role::Master).then(|| format!("etcd{n}")),
            hostname,
            role,
        });
    };
    for n in 1..=masters {
        add(Role::Master, n);
    }
    for n in 1..=workers {
        add(Role::Worker, n);
    }
    if proxy {
        add(Role::Proxy, 1);
    }
    nodes
}

/// The command a node container runs: `/` made a shared mount (as systemd does on a real
/// server, so kubelet bind mounts can propagate), sshd in the background, dockerd in front,
/// running containers through [`RUNC_WRAPPER`]. Its storage is overlay2 on the node's
/// tmpfs (measured to work here): unlike vfs, a container does not copy its image. A node
/// container started again (a test's "node reboots") finds the pid files of its previous
/// dockerd and containerd in `/run`, which is no tmpfs here: dockerd refuses to start when
/// the pid in its file names a live process (sshd may have that pid now), so they go
/// first, as a real server's boot empties `/run`.
pub const NODE_COMMAND: &str = "rm -f /run/docker.pid /run/docker/containerd/containerd.pid && mount --make-rshared / && mkdir -p /run/sshd && /usr/sbin/sshd && exec dockerd --storage-driver=overlay2 --add-runtime sandbox-runc=/usr/local/sbin/sandbox-runc --default-runtime sandbox-runc";

/// Where the node's dockerd finds [`RUNC_WRAPPER`].
pub const RUNC_WRAPPER_PATH: &str = "usr/local/sbin/sandbox-runc";

/// The OCI runtime of every node's dockerd: runc, with a negative `oomScoreAdj` in the
/// bundle's config.json raised to 0 first. cri-dockerd asks -998 for pod sandboxes and
/// lowering a score needs CAP_SYS_RESOURCE, which no process on this kind of VM has, so
/// runc would abort every pod. A property of the simulated machine only: nothing of it
/// reaches what deploy gives a real server.
pub const RUNC_WRAPPER: &str = r#"#!/bin/sh
# Written by `k8s-manage sandbox up`: see sandbox/src/nodes.rs (RUNC_WRAPPER).
bundle=""
previous=""
for arg in "$@"; do
    case "$previous" in --bundle|-b) bundle="$arg" ;; esac
    case "$arg" in --bundle=*) bundle="${arg#--bundle=}" ;; esac
    previous="$arg"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    sed -i -E 's/"oomScoreAdj":-[0-9]+/"oomScoreAdj":0/' "$bundle/config.json"
fi
exec /usr/sbin/runc "$@"
"#;

/// sshd settings installed into every node.
const SSHD_DROP_IN: &str = "# Written by `k8s-manage sandbox up`.\n\
HostKey /etc/ssh/ssh_host_ed25519_key\n\
PermitRootLogin prohibit-password\n\
PasswordAuthentication no\n\
KbdInteractiveAuthentication no\n\
UseDNS no\n";

/// Everything a node container needs besides its `NodeInfo`.
pub struct NodeSetup<'a> {
    pub sandbox: &'a str,
    pub image: &'a str,
    pub network: &'a str,
    /// The client public key line installed as root's authorized_keys.
    pub authorized_key: &'a str,
    pub keyfile: &'a str,
    pub known_hosts: &'a str,
}

/// The container for one node, with the Docker-in-Docker settings measured to work on
/// this kind of machine (`--privileged` does not: the VM lacks CAP_SYS_RESOURCE).
pub fn container_spec(node: &NodeInfo, setup: &NodeSetup<'_>) -> ContainerCreateBody {
    let labels = HashMap::from([
        (labels::SANDBOX.to_string(), setup.sandbox.to_string()),
        (labels::ROLE.to_string(), node.role.to_string()),
        (labels::NODE.to_string(), node.hostname.clone()),
        (labels::ADDRESS.to_string(), node.address.to_string()),
        (labels::KEYFILE.to_string(), setup.keyfile.to_string()),
        (
            labels::KNOWN_HOSTS.to_string(),
            setup.known_hosts.to_string(),
        ),
    ]);
    let host_config = HostConfig {
        cap_add: Some(vec!["ALL".into()]),
        cap_drop: Some(vec!["SYS_RESOURCE".into()]),
        security_opt: Some(vec![
            "seccomp=unconfined".into(),
            "apparmor=unconfined".into(),
        ]),
        // `--security-opt systempaths=unconfined` is the CLI's word for empty masked and
        // read-only path lists; the API takes the lists.
        masked_paths: Some(Vec::new()),
        readonly_paths: Some(Vec::new()),
        device_cgroup_rules: Some(vec!["a *:* rwm".into()]),
        // The kubelet's OOM watcher reads the kernel log (a real server has it; a
        // container gets it only when asked).
        devices: Some(vec![bollard::models::DeviceMapping {
            path_on_host: Some("/dev/kmsg".into()),
            path_in_container: Some("/dev/kmsg".into()),
            cgroup_permissions: Some("rwm".into()),
        }]),
        binds: Some(vec!["/sys/fs/cgroup:/sys/fs/cgroup:rw".into()]),
        tmpfs: Some(HashMap::from([(
            "/var/lib/docker".to_string(),
            "exec".to_string(),
        )])),
        network_mode: Some(setup.network.to_string()),
        ..Default::default()
    };
    let endpoint = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(node.address.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(setup.image.to_string()),
        hostname: Some(node.hostname.clone()),
        cmd: Some(vec!["bash".into(), "-c".into(), NODE_COMMAND.into()]),
        labels: Some(labels),
        host_config: Some(host_config),
        networking_config: Some(bollard::models::NetworkingConfig {
            endpoints_config: Some(HashMap::from([(setup.network.to_string(), endpoint)])),
        }),
        ..Default::default()
    }
}

/// The files put into a node before it starts: root's authorized_keys, its own host key
/// and the sshd settings.
pub fn node_files(
    authorized_key: &str,
    host_key: &super::keys::KeyPair,
) -> std::io::Result<Vec<u8>> {
    let mut tar = TarBuilder::new();
    tar.file(RUNC_WRAPPER_PATH, 0o755, RUNC_WRAPPER.as_bytes())?;
    tar.dir("root/.ssh", 0o700)?;
    tar.file(
        "root/.ssh/authorized_keys",
        0o600,
        format!("{}\n", authorized_key.trim()).as_bytes(),
    )?;
    tar.file(
        "etc/ssh/ssh_host_ed25519_key",
        0o600,
        host_key.private_openssh.as_bytes(),
    )?;
    tar.file(
        "etc/ssh/ssh_host_ed25519_key.pub",
        0o644,
        format!("{}\n", host_key.public_openssh).as_bytes(),
    )?;
    tar.file(
        "etc/ssh/sshd_config.d/k8s-manage-sandbox.conf",
        0o644,
        SSHD_DROP_IN.as_bytes(),
    )?;
    tar.finish()
}

/// Create, fill and start the container of one node.
pub async fn create_node(
    docker: &Docker,
    node: &NodeInfo,
    setup: &NodeSetup<'_>,
    host_key: &super::keys::KeyPair,
) -> Result<(), SandboxError> {
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(node.container.clone()),
                ..Default::default()
            }),
            container_spec(node, setup),
        )
        .await
        .docker(format!("creating container {}", node.container))?;
    let files =
        node_files(setup.authorized_key, host_key).io("archiving the files of", &node.container)?;
    engine::upload_to_root(docker, &node.container, files, "SSH keys").await?;
    docker
        .start_container(
            &node.container,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .docker(format!("starting {}", node.container))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_names_roles_and_addresses_every_node() {
        let subnet: Ipv4Net = "172.30.4.0/24".parse().unwrap();
        let nodes = plan("sb", 3, 2, true, subnet);
        let names: Vec<&str> = nodes.iter().map(|n| n.hostname.as_str()).collect();
        assert_eq!(
            names,
            [
                "master1", "master2", "master3", "worker1", "worker2", "proxy1"
            ]
        );
        assert_eq!(nodes[0].container, "sb-master1");
        assert_eq!(nodes[0].address, Ipv4Addr::new(172, 30, 4, 11));
        assert_eq!(nodes[5].address, Ipv4Addr::new(172, 30, 4, 16));
        assert_eq!(nodes[2].etcd_id.as_deref(), Some("etcd3"));
        assert_eq!(nodes[3].etcd_id, None);
        assert_eq!(nodes[5].role, Role::Proxy);
        assert_eq!("worker".parse::<Role>(), Ok(Role::Worker));
    }

    #[test]
    fn the_container_spec_has_the_measured_dind_settings() {
        let subnet: Ipv4Net = "172.30.4.0/24".parse().unwrap();
        let node = &plan("sb", 1, 0, false, subnet)[0];
        let setup = NodeSetup {
            sandbox: "sb",
            image: "img:1",
            network: "sb",
            authorized_key: "ssh-ed25519 AAAA",
            keyfile: "/k",
            known_hosts: "/kh",
        };
        let spec = container_spec(node, &setup);
        let host = spec.host_config.as_ref().unwrap();
        assert_eq!(host.cap_add.as_deref(), Some(&["ALL".to_string()][..]));
        assert_eq!(
            host.cap_drop.as_deref(),
            Some(&["SYS_RESOURCE".to_string()][..])
        );
        assert_eq!(host.privileged, None);
        assert_eq!(host.security_opt.as_ref().unwrap().len(), 2);
        assert_eq!(host.masked_paths.as_deref(), Some(&[][..]));
        assert_eq!(host.readonly_paths.as_deref(), Some(&[][..]));
        assert_eq!(host.tmpfs.as_ref().unwrap()["/var/lib/docker"], "exec");
        let labels = spec.labels.as_ref().unwrap();
        assert_eq!(labels[labels::SANDBOX], "sb");
        assert_eq!(labels[labels::ROLE], "master");
        let endpoints = spec.networking_config.unwrap().endpoints_config.unwrap();
        let ip = endpoints["sb"]
            .ipam_config
            .as_ref()
            .unwrap()
            .ipv4_address
            .clone();
        assert_eq!(ip.as_deref(), Some("172.30.4.11"));
        assert_eq!(spec.cmd.unwrap()[2], NODE_COMMAND);
    }
}
