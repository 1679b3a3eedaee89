//! The validated cluster model: machines with their roles and SSH settings, and the
//! Kubernetes settings with every default applied. Built from the raw config by
//! `build`, which reports every problem at once.

pub mod build;
pub mod build_kubernetes;
pub mod build_machines;
pub mod checked_edit;
pub mod gpu;
pub mod host_paths;
pub mod images;
pub mod network;
pub mod node_agent;
pub mod node_list_match;
#[cfg(test)]
pub mod test_cluster;
pub mod version;

use crate::diag::At;
use ipnet::Ipv4Net;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
pub use version::KubeVersion;

/// A node's role, as `k8s-role` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Worker,
    Proxy,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "master" => Some(Role::Master),
            "worker" => Some(Role::Worker),
            "proxy" => Some(Role::Proxy),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Proxy => "proxy",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s).ok_or_else(|| format!("unknown role {s:?}"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string: never printed, never serialized in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    /// The secret itself, for the one place that needs it (sudo's stdin, SSH auth).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// How to reach a machine over SSH.
#[derive(Debug, Clone, Serialize)]
pub struct SshSettings {
    pub port: u16,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyfile: Option<PathBuf>,
    pub agent: bool,
}

/// One machine of the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub hostip: IpAddr,
    /// The Kubernetes node name (kubelet `--hostname-override`); defaults to `hostip`.
    pub nodename: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcdid: Option<String>,
    pub dashboard: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<String>,
    pub ssh: SshSettings,
    /// Every other key of the machine entry (service labels etc.), kept as written.
    pub extra: BTreeMap<String, serde_json::Value>,
    #[serde(skip)]
    pub at: Option<At>,
    #[serde(skip)]
    pub hostip_at: Option<At>,
}

impl Machine {
    pub fn is_master(&self) -> bool {
        self.role == Role::Master
    }
}

/// The Kubernetes settings, defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct KubernetesSettings {
    pub cluster_name: String,
    pub version: KubeVersion,
    pub etcd_version: String,
    pub docker_registry: String,
    pub images: BTreeMap<String, String>,
    pub service_cidr: Ipv4Net,
    pub pod_cidr: Ipv4Net,
    pub cluster_domain: String,
    /// First address of the service range: the `kubernetes` Service.
    pub kubernetes_service_ip: Ipv4Addr,
    /// Tenth address of the service range: cluster DNS.
    pub dns_service_ip: Ipv4Addr,
    /// Upstream nameservers for cluster DNS (the original's `cluster-dns`); empty = the
    /// nodes' /etc/resolv.conf.
    pub dns_upstream: Vec<IpAddr>,
    pub load_balance_ip: Option<IpAddr>,
    pub api_port: u16,
    pub local_lb_port: u16,
    pub etcd_data_path: String,
    /// Snapshot copies kept in `/var/lib/k8s-manage/snapshots` on each master, the newest.
    pub etcd_snapshot_copies_kept: u32,
    /// Moved-aside etcd data dirs (`<etcd-data-path>.broken-*`, `.before-restore-*`) kept
    /// on each master, the newest.
    pub etcd_moved_aside_kept: u32,
    pub cert_validity_days: u32,
    pub network_plugin: NetworkPlugin,
    /// The nodes' Docker cgroup driver, which the kubelet must match (`systemd` or `cgroupfs`).
    pub cgroup_driver: String,
    /// Extra flags per component (`kube-apiserver`, `etcd`, ...), appended after ours.
    pub extra_args: BTreeMap<String, Vec<(String, String)>>,
    /// `kubelet-config`: KubeletConfiguration fields merged over the rendered ones.
    pub kubelet_config: serde_json::Map<String, serde_json::Value>,
    /// Capabilities the nodes' kernel cannot grant to containers (nodes that are containers
    /// themselves); privileged components get all others.
    pub unavailable_capabilities: Vec<String>,
    /// Run NVIDIA's device plugin on GPU nodes (`nvidia-device-plugin`, default true); off
    /// when the user brings a GPU operator of their own.
    pub nvidia_device_plugin: bool,
    /// Run rancher's local-path-provisioner with the `local-path` StorageClass
    /// (`local-path-provisioner`, default false).
    pub local_path_provisioner: bool,
    /// Where `image node-agent` takes the kubelet and cri-dockerd from, and what it trusts.
    pub node_agent: node_agent::NodeAgentSettings,
}

/// Which pod network to deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPlugin {
    Flannel,
    None,
}

/// The validated cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub config_dir: PathBuf,
    pub machines: Vec<Machine>,
    pub kubernetes: KubernetesSettings,
    /// The `machine-sku` kinds that have GPUs, by name (see [`gpu`]).
    pub gpu_skus: BTreeMap<String, gpu::GpuSku>,
}

impl Cluster {
    pub fn masters(&self) -> impl Iterator<Item = &Machine> {
        self.machines.iter().filter(|m| m.role == Role::Master)
    }

    pub fn proxies(&self) -> impl Iterator<Item = &Machine> {
        self.machines.iter().filter(|m| m.role == Role::Proxy)
    }

    pub fn machine(&self, hostname: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.hostname == hostname)
    }

    /// The address clients outside the cluster use for the API: `load-balance-ip`, else the
    /// first proxy node, else the first master.
    pub fn api_endpoint(&self) -> IpAddr {
        if let Some(ip) = self.kubernetes.load_balance_ip {
            return ip;
        }
        if let Some(p) = self.proxies().next() {
            return p.hostip;
        }
        self.masters()
            .next()
            .map(|m| m.hostip)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    pub fn api_url(&self) -> String {
        match self.api_endpoint() {
            IpAddr::V4(ip) => format!("https://{ip}:{}", self.kubernetes.api_port),
            IpAddr::V6(ip) => format!("https://[{ip}]:{}", self.kubernetes.api_port),
        }
    }

    /// The URL every node's components use: the node-local load balancer.
    pub fn local_api_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.kubernetes.local_lb_port)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.config_dir.join(".k8s-manage")
    }
}
