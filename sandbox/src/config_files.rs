//! The ready-to-deploy config directory `up` writes: OpenPAI-shaped
//! `cluster-configuration.yaml` and `kubernetes-configuration.yaml`, and a README.

use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use super::error::{IoContext, SandboxError};
use super::nodes::NodeInfo;
use super::product_facts::ProductFacts;

/// First line of every file the sandbox writes; a file without it is never overwritten.
pub const MARKER: &str = "# Written by `k8s-manage sandbox up`";
/// The README's first line (Markdown, so the marker is a heading there).
const README_MARKER: &str = "<!-- Written by `k8s-manage sandbox up` -->";

/// Kubernetes version the sandbox config asks for.
pub const KUBERNETES_VERSION: &str = "v1.36.1";
pub const SERVICE_RANGE: &str = "10.96.0.0/12";
pub const POD_RANGE: &str = "10.244.0.0/16";

/// Service ranges to choose from, the default first; all disjoint from the pod ranges and
/// from 172.17.0.0/16 (the nodes' own docker0).
const SERVICE_RANGES: [&str; 4] = [
    SERVICE_RANGE,
    "10.128.0.0/12",
    "172.20.0.0/16",
    "192.168.0.0/18",
];
const POD_RANGES: [&str; 4] = [
    POD_RANGE,
    "10.200.0.0/16",
    "172.24.0.0/16",
    "192.168.64.0/18",
];

/// The service and pod ranges for a sandbox on `subnet`: the defaults, or the first
/// candidates that do not overlap it (a `--subnet` inside 10.0.0.0/8, say).
pub fn clear_ranges(subnet: Ipv4Net) -> (Ipv4Net, Ipv4Net) {
    let pick = |candidates: &[&str]| {
        let nets: Vec<Ipv4Net> = candidates
            .iter()
            .map(|c| c.parse().expect("valid range"))
            .collect();
        nets.iter()
            .copied()
            .find(|n| !super::network::overlaps(n, &subnet))
            .unwrap_or(nets[0])
    };
    (pick(&SERVICE_RANGES), pick(&POD_RANGES))
}

/// The images `sandbox up` preloads for `components` and every Kubernetes version in
/// `versions` (`sandbox up --versions`, for upgrade tests).
pub fn referenced_images_for(
    product: &dyn ProductFacts,
    components: Components,
    versions: &[String],
) -> Result<Vec<String>, SandboxError> {
    if components == Components::None {
        return Ok(Vec::new());
    }
    let mut images = vec![
        super::components::HAPROXY_IMAGE.to_string(),
        super::components::REGISTRY_IMAGE.to_string(),
    ];
    images.extend(super::upstream::upstream_references(product, versions)?);
    Ok(images)
}

/// What plays the Kubernetes components in a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Components {
    /// The real upstream programs (pulled, or built from source here).
    #[default]
    Upstream,
    /// None: the nodes only (sshd and dockerd), no image preloaded; the config is written
    /// as for the upstream components. The lightest sandbox, for SSH tests and fan-out
    /// benchmarks.
    None,
}

pub const CLUSTER_FILE: &str = "cluster-configuration.yaml";
pub const KUBERNETES_FILE: &str = "kubernetes-configuration.yaml";
pub const README_FILE: &str = "README.md";

/// What the config files describe.
pub struct ConfigInput<'a> {
    pub sandbox: &'a str,
    pub network: &'a str,
    pub subnet: Ipv4Net,
    pub keyfile: &'a Path,
    pub nodes: &'a [NodeInfo],
    pub dir: &'a Path,
    /// The `kubernetes-version` the config asks for.
    pub kubernetes_version: &'a str,
    pub components: Components,
}

/// Quote a string as a YAML double-quoted scalar (JSON strings are valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

pub fn cluster_configuration(input: &ConfigInput<'_>) -> String {
    let mut out = format!(
        "{MARKER} for sandbox {sandbox:?}:\n\
         # {n} simulated bare-metal servers (Docker containers running sshd and dockerd) in\n\
         # Docker network {network:?}, {subnet}. Remove them with\n\
         # `k8s-manage sandbox down {sandbox}`.\n\
         \n\
         # Filled in for every machine that does not set its own value.\n\
         default-machine-properties:\n  \
           # Account with root permission\n  \
           username: root\n  \
           sshport: 22\n  \
           keyfile-path: {keyfile}\n\
         \n\
         machine-list:\n",
        sandbox = input.sandbox,
        n = input.nodes.len(),
        network = input.network,
        subnet = input.subnet,
        keyfile = quoted(&input.keyfile.display().to_string()),
    );
    for node in input.nodes {
        out.push_str(&format!(
            "\n  - hostname: {}\n    hostip: {}\n",
            node.hostname, node.address
        ));
        if let Some(etcd) = &node.etcd_id {
            out.push_str(&format!("    etcdid: {etcd}\n"));
        }
        out.push_str(&format!("    k8s-role: {}\n", node.role));
    }
    out
}

/// The config of a sandbox running the real components: a real rack's, but for the
/// settings a node that is a container needs, each said why. ([`Components::None`] writes
/// the same: a user may preload the images into the nodes themselves.)
pub fn kubernetes_configuration(input: &ConfigInput<'_>) -> String {
    let (service, pod) = clear_ranges(input.subnet);
    format!(
        "{MARKER} for sandbox {sandbox:?}.\n\
         \n\
         kubernetes:\n  \
           kubernetes-version: {version}\n  \
           # The one etcd release the sandbox builds (kubeadm's for 1.34 to 1.36).\n  \
           etcd-version: {etcd}\n  \
           # Both ranges stay clear of the sandbox network {subnet}.\n  \
           service-cluster-ip-range: {service}\n  \
           pod-cluster-ip-range: {pod}\n  \
           # The nodes' resolver is Docker's 127.0.0.11, which a pod cannot reach, and no\n  \
           # DNS server outside answers here: CoreDNS forwards names outside the cluster\n  \
           # to the sandbox network's gateway, this machine, which answers none of them.\n  \
           cluster-dns: {gateway}\n  \
           # The nodes' dockerd runs without systemd, so it uses the cgroupfs driver.\n  \
           cgroup-driver: cgroupfs\n  \
           # The nodes are containers on a VM without CAP_SYS_RESOURCE: privileged\n  \
           # components get every other capability instead of --privileged.\n  \
           unavailable-capabilities: SYS_RESOURCE\n  \
           # The nodes share this machine's cgroup v1 hierarchy, which the kubelet refuses\n  \
           # from v1.35 on unless told otherwise.\n  \
           kubelet-config:\n    \
             failCgroupV1: false\n    \
             # The nodes' disk is this machine's, shared with everything else on it: the\n    \
             # kubelet's default thresholds (shares of the whole disk) would taint every\n    \
             # node with disk-pressure, and garbage-collect the preloaded images, on a\n    \
             # machine that is merely full of other things. Absolute floors instead, and\n    \
             # no image garbage collection (nothing here can pull an image back).\n    \
             evictionHard:\n      \
               memory.available: 100Mi\n      \
               nodefs.available: 1Gi\n      \
               imagefs.available: 1Gi\n      \
               nodefs.inodesFree: 5%\n    \
             imageGCHighThresholdPercent: 100\n    \
             imageGCLowThresholdPercent: 99\n  \
           # A node's network namespace is not the VM's first one, where alone the\n  \
           # conntrack table size may be set: kube-proxy must leave it as it is.\n  \
           extra-args:\n    \
             kube-proxy:\n      \
               conntrack-max-per-core: \"0\"\n  \
           #\n  \
           # Images: the upstream names a real rack pulls (registry.k8s.io, ghcr.io), already\n  \
           # in each node's Docker engine (`sandbox up` pulled them, or built them from the\n  \
           # upstream sources pinned in sandbox/upstream/). Three differ from a real rack's:\n  \
           images:\n    \
             # Debian's haproxy {haproxy_version} instead of docker.io/library/haproxy.\n    \
             haproxy: {haproxy}\n    \
             # The flannel CNI plugin of containernetworking/plugins v0.9.1, its last home\n    \
             # before flannel-io/cni-plugin (which the Go module proxy does not serve).\n    \
             flannel-cni-plugin: {flannel_cni}\n    \
             # Debian's busybox for the local-path-provisioner's helper pods (used only\n    \
             # with `local-path-provisioner: true`).\n    \
             local-path-helper: {busybox}\n",
        sandbox = input.sandbox,
        version = input.kubernetes_version,
        etcd = super::upstream::ETCD_VERSION,
        subnet = input.subnet,
        haproxy = super::components::HAPROXY_IMAGE,
        haproxy_version = super::components::HAPROXY_IMAGE
            .rsplit_once(':')
            .map(|(_, t)| t)
            .unwrap_or(""),
        flannel_cni = super::upstream::FLANNEL_CNI_PLUGIN_IMAGE,
        busybox = super::upstream::BUSYBOX_IMAGE,
        gateway = super::network::gateway(input.subnet),
    )
}

pub fn readme(input: &ConfigInput<'_>) -> String {
    let mut out = format!(
        "{README_MARKER}\n\
         # Sandbox `{sandbox}`\n\
         \n\
         A ready config for {n} simulated bare-metal servers on this machine; deploy with \
         `k8s-manage deploy -p {dir}`, check with `k8s-manage sandbox status {sandbox}`, \
         remove with `k8s-manage sandbox down {sandbox}`.\n\
         \n\
         {images}\n\
         \n\
         | hostname | address | role | container |\n\
         |---|---|---|---|\n",
        sandbox = input.sandbox,
        n = input.nodes.len(),
        dir = input.dir.display(),
        images = match input.components {
            Components::Upstream => {
                "Every image the config references is already in each node's Docker engine \
                 (nothing is pulled): the upstream Kubernetes components, etcd, CoreDNS and \
                 flannel under the names a real rack pulls, and Debian's haproxy; see \
                 `kubernetes-configuration.yaml`."
            }
            Components::None => {
                "No image was loaded into the nodes (`--components none`): a deploy pulls \
                 every image `kubernetes-configuration.yaml` references, so the nodes must \
                 reach a registry that has them."
            }
        },
    );
    for node in input.nodes {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            node.hostname, node.address, node.role, node.container
        ));
    }
    out
}

fn written_by_sandbox(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .map(|text| {
            let first = text.lines().next().unwrap_or("");
            first.starts_with(MARKER) || first == README_MARKER
        })
        .unwrap_or(false)
}

/// Fail when `dir` holds a config file the sandbox did not write (checked before `up`
/// makes anything, so a user's own config is never overwritten).
pub fn check_writable(dir: &Path) -> Result<(), SandboxError> {
    for name in [CLUSTER_FILE, KUBERNETES_FILE, README_FILE] {
        let path = dir.join(name);
        if path.exists() && !written_by_sandbox(&path) {
            return Err(SandboxError::ForeignConfigFile { path });
        }
    }
    Ok(())
}

/// Write the three files into `input.dir`; their paths.
pub fn write(input: &ConfigInput<'_>) -> Result<Vec<PathBuf>, SandboxError> {
    check_writable(input.dir)?;
    std::fs::create_dir_all(input.dir).io("creating", input.dir)?;
    let files = [
        (CLUSTER_FILE, cluster_configuration(input)),
        (KUBERNETES_FILE, kubernetes_configuration(input)),
        (README_FILE, readme(input)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = input.dir.join(name);
        std::fs::write(&path, text).io("writing", &path)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::plan;
    use crate::product_facts::StandIn;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Cluster {
        #[serde(rename = "default-machine-properties")]
        defaults: Defaults,
        #[serde(rename = "machine-list")]
        machines: Vec<Machine>,
    }
    #[derive(Deserialize)]
    struct Defaults {
        username: String,
        sshport: u16,
        #[serde(rename = "keyfile-path")]
        keyfile: String,
    }
    #[derive(Deserialize)]
    struct Machine {
        hostname: String,
        hostip: String,
        #[serde(rename = "k8s-role")]
        role: String,
        etcdid: Option<String>,
        dashboard: Option<String>,
    }
    #[derive(Deserialize)]
    struct Kube {
        kubernetes: KubeInner,
    }
    #[derive(Deserialize)]
    struct KubeInner {
        #[serde(rename = "kubernetes-version")]
        version: String,
        #[serde(rename = "etcd-version")]
        etcd: String,
        images: std::collections::BTreeMap<String, String>,
        #[serde(rename = "service-cluster-ip-range")]
        service: String,
        #[serde(rename = "pod-cluster-ip-range")]
        pod: String,
    }

    fn input<'a>(nodes: &'a [NodeInfo], dir: &'a Path, key: &'a Path) -> ConfigInput<'a> {
        ConfigInput {
            sandbox: "sb",
            network: "sb",
            subnet: "172.30.9.0/24".parse().unwrap(),
            keyfile: key,
            nodes,
            dir,
            kubernetes_version: KUBERNETES_VERSION,
            components: Components::Upstream,
        }
    }

    #[test]
    fn the_cluster_file_is_openpai_shaped_and_parses() {
        let nodes = plan("sb", 3, 1, true, "172.30.9.0/24".parse().unwrap());
        let key = Path::new("/tmp/a dir/.k8s-manage/sandbox/id_ed25519");
        let text = cluster_configuration(&input(&nodes, Path::new("/tmp/x"), key));
        let parsed: Cluster = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(parsed.defaults.username, "root");
        assert_eq!(parsed.defaults.sshport, 22);
        assert_eq!(parsed.defaults.keyfile, key.display().to_string());
        assert_eq!(parsed.machines.len(), 5);
        let m = &parsed.machines;
        assert_eq!(
            (m[0].hostname.as_str(), m[0].hostip.as_str()),
            ("master1", "172.30.9.11")
        );
        // No dashboard: no image of it is built here.
        assert!(m.iter().all(|m| m.dashboard.is_none()));
        let etcd: Vec<_> = m.iter().filter_map(|m| m.etcdid.clone()).collect();
        assert_eq!(etcd, ["etcd1", "etcd2", "etcd3"]);
        let roles: Vec<_> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["master", "master", "master", "worker", "proxy"]);
    }

    /// With the real components the config is a real rack's (default registry, kubeadm's
    /// etcd) but for what a container-node needs, each said in a comment.
    #[test]
    fn the_upstream_kubernetes_file_is_a_real_racks_but_for_container_nodes() {
        let nodes = plan("sb", 1, 0, false, "172.30.9.0/24".parse().unwrap());
        let text = kubernetes_configuration(&input(&nodes, Path::new("/x"), Path::new("/k")));
        let parsed: Kube = serde_saphyr::from_str(&text).unwrap();
        let k = &parsed.kubernetes;
        assert_eq!(k.version, "v1.36.1");
        assert_eq!(k.service, "10.96.0.0/12");
        assert_eq!(k.pod, "10.244.0.0/16");
        // No registry: the product's default, which the sandbox's images are named after.
        assert!(!text.contains("docker-registry"), "{text}");
        assert_eq!(k.etcd, super::super::upstream::ETCD_VERSION);
        assert_eq!(k.images.len(), 3, "{text}");
        for needed in [
            "cluster-dns: 172.30.9.1",
            "unavailable-capabilities: SYS_RESOURCE",
            "failCgroupV1: false",
            "nodefs.available: 1Gi",
            "imagefs.available: 1Gi",
            "imageGCHighThresholdPercent: 100",
            "conntrack-max-per-core: \"0\"",
        ] {
            assert!(text.contains(needed), "{needed} missing:\n{text}");
        }
        assert_eq!(k.images["haproxy"], "k8s-manage-sandbox/haproxy:2.6");
        assert_eq!(
            k.images["local-path-helper"],
            super::super::upstream::BUSYBOX_IMAGE
        );
    }

    #[test]
    fn ranges_move_out_of_the_way_of_the_sandbox_subnet() {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        let (service, pod) = clear_ranges(net("172.30.9.0/24"));
        assert_eq!((service, pod), (net(SERVICE_RANGE), net(POD_RANGE)));
        let (service, pod) = clear_ranges(net("10.244.3.0/24"));
        assert_eq!((service, pod), (net(SERVICE_RANGE), net("10.200.0.0/16")));
        let (service, pod) = clear_ranges(net("10.100.0.0/24"));
        assert_eq!((service, pod), (net("10.128.0.0/12"), net(POD_RANGE)));
        let (service, pod) = clear_ranges(net("10.0.0.0/8"));
        assert_eq!((service, pod), (net("172.20.0.0/16"), net("172.24.0.0/16")));
        for s in SERVICE_RANGES {
            for p in POD_RANGES {
                assert!(!crate::network::overlaps(&net(s), &net(p)), "{s} {p}");
            }
        }
    }

    /// Nodes only: nothing to preload. (That the product, reading the written config, asks
    /// for exactly the images the sandbox makes is tested on the product's side.)
    #[test]
    fn nodes_only_preload_nothing() {
        let versions = [KUBERNETES_VERSION.to_string()];
        let none = referenced_images_for(&StandIn, Components::None, &versions).unwrap();
        assert!(none.is_empty());
        let upstream = referenced_images_for(&StandIn, Components::Upstream, &versions).unwrap();
        assert!(
            upstream.contains(&super::super::components::HAPROXY_IMAGE.to_string()),
            "{upstream:?}"
        );
    }

    /// The README says what the nodes hold: the upstream images, or nothing.
    #[test]
    fn the_readme_says_what_the_nodes_hold() {
        let nodes = plan("sb", 1, 1, false, "172.30.9.0/24".parse().unwrap());
        let mut i = input(&nodes, Path::new("/x"), Path::new("/k"));
        let text = readme(&i);
        assert!(
            text.contains("the upstream Kubernetes components"),
            "{text}"
        );
        assert!(
            text.contains("| master1 | 172.30.9.11 | master |"),
            "{text}"
        );
        i.components = Components::None;
        let text = readme(&i);
        assert!(text.contains("No image was loaded"), "{text}");
        assert!(!text.contains("upstream Kubernetes components"), "{text}");
    }

    #[test]
    fn foreign_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = plan("sb", 1, 1, false, "172.30.9.0/24".parse().unwrap());
        let key = dir.path().join("key");
        let written = write(&input(&nodes, dir.path(), &key)).unwrap();
        assert_eq!(written.len(), 3);
        // A second write over its own files is fine.
        write(&input(&nodes, dir.path(), &key)).unwrap();
        std::fs::write(
            dir.path().join(CLUSTER_FILE),
            "default-machine-properties: {}\n",
        )
        .unwrap();
        let err = write(&input(&nodes, dir.path(), &key)).unwrap_err();
        assert!(
            matches!(err, SandboxError::ForeignConfigFile { .. }),
            "{err}"
        );
    }
}
