//! The raw configuration: what the files say, as located strings, before any
//! interpretation. The model is built from this and validated there.

use super::reader::Located;
use crate::diag::At;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One machine of `machine-list` (or of a node-list file).
#[derive(Debug, Clone, Default)]
pub struct RawMachine {
    /// Where the machine's entry starts.
    pub at: Option<At>,
    pub hostname: Option<Located<String>>,
    /// The hostname is the entry's key in the `machinelist:` map form, not a `hostname:` key.
    pub hostname_from_key: bool,
    pub hostip: Option<Located<String>>,
    pub nodename: Option<Located<String>>,
    pub sshport: Option<Located<String>>,
    pub username: Option<Located<String>>,
    pub password: Option<Located<String>>,
    pub keyfile_path: Option<Located<String>>,
    pub ssh_agent: Option<Located<String>>,
    pub etcdid: Option<Located<String>>,
    pub k8s_role: Option<Located<String>>,
    pub dashboard: Option<Located<String>>,
    pub machine_type: Option<Located<String>>,
    /// Every other key (service labels such as `pai-master`, `zkid`, `openi-worker`),
    /// kept as written.
    pub extra: BTreeMap<String, Value>,
}

/// `default-machine-properties`.
#[derive(Debug, Clone, Default)]
pub struct RawDefaults {
    pub username: Option<Located<String>>,
    pub password: Option<Located<String>>,
    pub sshport: Option<Located<String>>,
    pub keyfile_path: Option<Located<String>>,
    pub ssh_agent: Option<Located<String>>,
}

/// The `gpu:` mapping of one `machine-sku` entry.
#[derive(Debug, Clone)]
pub struct RawGpuSku {
    /// The SKU's name (its key under `machine-sku`).
    pub sku: Located<String>,
    /// Where `gpu:` is.
    pub at: At,
    pub gpu_type: Option<Located<String>>,
    pub count: Option<Located<String>>,
}

/// `cluster-configuration.yaml`.
#[derive(Debug, Clone, Default)]
pub struct RawClusterFile {
    pub defaults: RawDefaults,
    pub machines: Vec<RawMachine>,
    pub machine_sku: Value,
    /// Every name under `machine-sku`, where it is written.
    pub sku_names: Vec<Located<String>>,
    /// The SKUs that have a `gpu:` mapping.
    pub gpu_skus: Vec<RawGpuSku>,
    pub extra: BTreeMap<String, Value>,
}

/// The `kubernetes:` section of `kubernetes-configuration.yaml`: scalar keys by name,
/// the `images` overrides, and upstream nameservers (`cluster-dns`, scalar or list).
#[derive(Debug, Clone, Default)]
pub struct RawKubernetes {
    pub at: Option<At>,
    pub scalars: BTreeMap<String, Located<String>>,
    pub images: BTreeMap<String, Located<String>>,
    /// `extra-args: {component: {flag: value}}`.
    #[allow(clippy::type_complexity)]
    pub extra_args: Vec<(Located<String>, Vec<(Located<String>, Located<String>)>)>,
    pub cluster_dns: Vec<Located<String>>,
    /// `kubelet-config: {...}`: fields merged over the rendered KubeletConfiguration,
    /// each with where its key is.
    pub kubelet_config: Option<Vec<(Located<String>, serde_json::Value)>>,
    /// `node-agent-checksums: {artifact: {version: {arch: sha256}}}`, one entry per leaf.
    pub node_agent_checksums: Vec<RawChecksumPin>,
}

/// One leaf of `node-agent-checksums`.
#[derive(Debug, Clone)]
pub struct RawChecksumPin {
    pub artifact: Located<String>,
    pub version: Located<String>,
    pub arch: Located<String>,
    pub sha256: Located<String>,
}

/// `k8s-role-definition.yaml`: the role names it defines.
#[derive(Debug, Clone, Default)]
pub struct RawRoles {
    pub roles: Vec<Located<String>>,
}

/// Everything read from a config dir (and node-list files).
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    pub dir: PathBuf,
    /// Whether each required file could be read and parsed (else it was reported).
    pub cluster_read: bool,
    pub kubernetes_read: bool,
    pub cluster: RawClusterFile,
    pub kubernetes: RawKubernetes,
    pub roles: Option<RawRoles>,
}
