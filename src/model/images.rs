//! Container images: defaults derived from `docker-registry`, the Kubernetes version and the
//! etcd version, overridden one by one by `kubernetes.images` (or `kubelet-image`).

use super::version::{KubeVersion, default_pause_version};
use std::collections::BTreeMap;

/// Image names the tool knows, with what each is for.
pub const KNOWN_IMAGES: &[(&str, &str)] = &[
    ("etcd", "etcd on masters"),
    ("kube-apiserver", "API server on masters"),
    ("kube-controller-manager", "controller manager on masters"),
    ("kube-scheduler", "scheduler on masters"),
    ("kube-proxy", "kube-proxy on every node"),
    (
        "kubelet",
        "kubelet and cri-dockerd on every node (one image carrying both)",
    ),
    ("pause", "pod sandbox image used by cri-dockerd"),
    (
        "haproxy",
        "local API load balancer on every node and the proxy-node load balancer",
    ),
    ("coredns", "cluster DNS add-on"),
    ("flannel", "flannel CNI daemon"),
    ("flannel-cni-plugin", "flannel CNI plugin installer"),
    ("dashboard", "Kubernetes dashboard"),
    ("dashboard-metrics-scraper", "dashboard metrics scraper"),
];

/// The default registry when `docker-registry` is not set.
pub const DEFAULT_REGISTRY: &str = "registry.k8s.io";

/// Compute every image from the registry and versions, then apply overrides.
pub fn resolve(
    registry: &str,
    version: KubeVersion,
    etcd_version: &str,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let r = registry.trim_end_matches('/');
    let v = version.to_string();
    let mut m = BTreeMap::new();
    m.insert("etcd".into(), format!("{r}/etcd:{etcd_version}"));
    for c in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    ] {
        m.insert(c.into(), format!("{r}/{c}:{v}"));
    }
    m.insert("kubelet".into(), format!("{r}/hyperkube:{v}"));
    m.insert(
        "pause".into(),
        format!("{r}/pause:{}", default_pause_version(version)),
    );
    m.insert(
        "coredns".into(),
        format!("{r}/coredns/coredns:{}", default_coredns_version(version)),
    );
    m.insert("haproxy".into(), "docker.io/library/haproxy:3.0".into());
    m.insert("flannel".into(), "docker.io/flannel/flannel:v0.26.7".into());
    m.insert(
        "flannel-cni-plugin".into(),
        "docker.io/flannel/flannel-cni-plugin:v1.6.2-flannel1".into(),
    );
    m.insert(
        "dashboard".into(),
        "docker.io/kubernetesui/dashboard:v2.7.0".into(),
    );
    m.insert(
        "dashboard-metrics-scraper".into(),
        "docker.io/kubernetesui/metrics-scraper:v1.0.8".into(),
    );
    for (k, val) in overrides {
        m.insert(k.clone(), val.clone());
    }
    m
}

fn default_coredns_version(v: KubeVersion) -> &'static str {
    match v.minor {
        31 | 32 => "v1.11.3",
        33 => "v1.12.0",
        _ => "v1.12.1",
    }
}
