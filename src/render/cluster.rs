//! Model → the Kubernetes manifests applied through the API (add-ons).

use super::addons::{self, AddonContext, RenderedManifest};
use crate::model::{Cluster, NetworkPlugin};

/// The add-on context of this cluster.
pub fn addon_context(cluster: &Cluster) -> AddonContext {
    let k = &cluster.kubernetes;
    let images = addons::IMAGE_KEYS
        .iter()
        .filter_map(|key| k.images.get(*key).map(|v| (key.to_string(), v.clone())))
        .collect();
    AddonContext {
        kubernetes_version: k.version.bare(),
        cluster_domain: k.cluster_domain.clone(),
        dns_service_ip: k.dns_service_ip.to_string(),
        dns_upstream: k.dns_upstream.iter().map(|ip| ip.to_string()).collect(),
        pod_cidr: k.pod_cidr.to_string(),
        service_cidr: k.service_cidr.to_string(),
        network_plugin: match k.network_plugin {
            NetworkPlugin::Flannel => "flannel".into(),
            NetworkPlugin::None => "none".into(),
        },
        dashboard_node: cluster
            .machines
            .iter()
            .find(|m| m.dashboard)
            .map(|m| m.nodename.clone()),
        coredns_replicas: if cluster.machines.len() > 1 { 2 } else { 1 },
        images,
        nvidia_device_plugin: k.nvidia_device_plugin && cluster.gpu_machines().next().is_some(),
        local_path_provisioner: k.local_path_provisioner,
    }
}

pub fn manifests(cluster: &Cluster) -> Result<Vec<RenderedManifest>, addons::AddonError> {
    addons::render_addons(&addon_context(cluster))
}
