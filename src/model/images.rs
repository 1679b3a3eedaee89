//! Container images: defaults derived from `docker-registry`, the Kubernetes version and the
//! etcd version, overridden one by one by `kubernetes.images` (or `kubelet-image`).

use super::version::{KubeVersion, default_pause_version};
use std::collections::BTreeMap;

/// The default registry when `docker-registry` is not set.
pub const DEFAULT_REGISTRY: &str = "registry.k8s.io";

/// The kubelet + cri-dockerd image when `kubelet-image` is not set. No public registry
/// publishes one, so with the default registry it gets a name of its own under the
/// `k8s-manage.local` host (never a public registry: nothing can pull it, or squat it);
/// with a registry of the user's, it lives there.
pub fn default_node_agent_image(registry: &str, version: &str) -> String {
    if registry == DEFAULT_REGISTRY {
        format!("{NODE_AGENT_HOST}/node-agent:{version}")
    } else {
        format!("{registry}/node-agent:{version}")
    }
}

/// The registry host of the default node-agent image.
pub const NODE_AGENT_HOST: &str = "k8s-manage.local";

/// Upstream images, pinned, for every key of the add-on templates
/// (`render::addons::IMAGE_KEYS`).
pub fn default_addon_images() -> BTreeMap<String, String> {
    [
        ("coredns", "registry.k8s.io/coredns/coredns:v1.14.2"),
        ("flannel", "ghcr.io/flannel-io/flannel:v0.28.4"),
        (
            "flannel-cni-plugin",
            "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel1",
        ),
        ("dashboard", "docker.io/kubernetesui/dashboard:v2.7.0"),
        (
            "dashboard-metrics-scraper",
            "docker.io/kubernetesui/metrics-scraper:v1.0.8",
        ),
        (
            "nvidia-device-plugin",
            "nvcr.io/nvidia/k8s-device-plugin:v0.20.0",
        ),
        (
            "local-path-provisioner",
            "docker.io/rancher/local-path-provisioner:v0.0.30",
        ),
        // What the provisioner's helper pods run (`sh`, `mkdir`, `rm`) to make and remove
        // a volume's directory; upstream names plain `busybox`, pinned here.
        ("local-path-helper", "docker.io/library/busybox:1.37.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

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
    m.insert("kubelet".into(), default_node_agent_image(r, &v));
    m.insert(
        "pause".into(),
        format!("{r}/pause:{}", default_pause_version(version)),
    );
    m.insert("haproxy".into(), "docker.io/library/haproxy:3.0".into());
    // Add-on images: upstream, pinned.
    m.extend(default_addon_images());
    if r != DEFAULT_REGISTRY {
        // A private registry (an offline rack) mirrors CoreDNS under its own prefix.
        if let Some(v) = m.get_mut("coredns") {
            *v = v.replacen(DEFAULT_REGISTRY, r, 1);
        }
    }
    for (k, val) in overrides {
        m.insert(k.clone(), val.clone());
    }
    m
}
