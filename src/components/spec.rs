//! A container's desired spec: what the executor creates on a node and compares with
//! what runs there. Serializable so `render` can write it and tests can read it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Label keys carried by every container the tool makes.
pub const LABEL_MANAGED: &str = "io.k8s-manage.managed";
pub const LABEL_CLUSTER: &str = "io.k8s-manage.cluster";
pub const LABEL_COMPONENT: &str = "io.k8s-manage.component";
pub const LABEL_SPEC_HASH: &str = "io.k8s-manage.spec-hash";

/// A bind mount from the host into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub host: String,
    pub container: String,
    #[serde(default)]
    pub read_only: bool,
    /// Mount propagation (`rshared`, `rslave`), when the component needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
}

impl Bind {
    pub fn ro(path: &str) -> Bind {
        Bind {
            host: path.into(),
            container: path.into(),
            read_only: true,
            propagation: None,
        }
    }
    pub fn rw(path: &str) -> Bind {
        Bind {
            host: path.into(),
            container: path.into(),
            read_only: false,
            propagation: None,
        }
    }
    pub fn with_propagation(mut self, p: &str) -> Bind {
        self.propagation = Some(p.into());
        self
    }
    /// Docker's `host:container[:opts]` form.
    pub fn to_docker(&self) -> String {
        let mut opts = vec![if self.read_only { "ro" } else { "rw" }];
        if let Some(p) = &self.propagation {
            opts.push(p);
        }
        format!("{}:{}:{}", self.host, self.container, opts.join(","))
    }
}

/// The desired state of one component container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// The program started in the container (Docker's entrypoint).
    pub entrypoint: Vec<String>,
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub binds: Vec<Bind>,
    pub network_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(default)]
    pub privileged: bool,
    /// With `privileged`: capabilities the host cannot grant (`unavailable-capabilities`);
    /// the container then gets every other capability instead of `--privileged`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    pub restart_policy: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Node files the process reads; their content is part of the spec hash, so a changed
    /// certificate or config replaces the container.
    #[serde(default)]
    pub reads: Vec<String>,
    /// Flags read only on the first start of a fresh data dir (etcd's `--initial-*`):
    /// left out of the spec hash, so a membership change does not restart every member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhashed_flags: Vec<String>,
}

impl ContainerSpec {
    /// A host-network, always-restarting container with the tool's labels.
    pub fn new(
        cluster: &str,
        name: &str,
        image: &str,
        entrypoint: &[&str],
        args: Vec<String>,
    ) -> ContainerSpec {
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_MANAGED.into(), "true".into());
        labels.insert(LABEL_CLUSTER.into(), cluster.into());
        labels.insert(LABEL_COMPONENT.into(), name.into());
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            args,
            env: BTreeMap::new(),
            binds: Vec::new(),
            network_mode: "host".into(),
            pid_mode: None,
            privileged: false,
            cap_drop: Vec::new(),
            restart_policy: "always".into(),
            labels,
            reads: Vec::new(),
            unhashed_flags: Vec::new(),
        }
    }

    /// SHA-256 over the spec (without the hash label) and the content of every file it
    /// reads, in order. `file_content` returns the bytes the node receives for a path.
    pub fn compute_hash(&self, file_content: &dyn Fn(&str) -> Option<Vec<u8>>) -> String {
        let mut clean = self.clone();
        clean.labels.remove(LABEL_SPEC_HASH);
        let unhashed = &self.unhashed_flags;
        clean.args.retain(|a| {
            let name = a
                .strip_prefix("--")
                .map(|n| n.split('=').next().unwrap_or(n));
            !name.is_some_and(|n| unhashed.iter().any(|u| u == n))
        });
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&clean).unwrap_or_default());
        for path in &self.reads {
            h.update(path.as_bytes());
            h.update([0]);
            match file_content(path) {
                Some(c) => h.update(&c),
                None => h.update(b"<absent>"),
            }
            h.update([0]);
        }
        hex::encode(h.finalize())
    }

    /// Set the spec-hash label.
    pub fn seal(&mut self, file_content: &dyn Fn(&str) -> Option<Vec<u8>>) {
        let hash = self.compute_hash(file_content);
        self.labels.insert(LABEL_SPEC_HASH.into(), hash);
    }

    /// The `--name` of every flag in `args` (for checks against upstream lists).
    pub fn flag_names(&self) -> Vec<String> {
        self.args
            .iter()
            .filter_map(|a| a.strip_prefix("--"))
            .map(|a| a.split('=').next().unwrap_or(a).to_string())
            .collect()
    }
}
