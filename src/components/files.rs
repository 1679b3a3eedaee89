//! Which files each node receives (paths and modes), by role — the contract table of
//! docs/ARCHITECTURE.md as code. Pure: contents come from `render`.

use super::paths::{KUBELET_CONFIG, LOCAL_LB_CONFIG, PROXY_LB_CONFIG, SCHEDULER_CONFIG, k8s, pki};
use crate::model::{Machine, Role};
use serde::Serialize;

pub const SECRET_MODE: u32 = 0o600;
pub const PUBLIC_MODE: u32 = 0o644;

/// A file a node receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub mode: u32,
}

fn mode_for(path: &str) -> u32 {
    if path.ends_with(".key") || path.ends_with(".conf") || path.ends_with(".pem") {
        SECRET_MODE
    } else {
        PUBLIC_MODE
    }
}

/// PKI files under /etc/kubernetes/pki, relative names.
pub fn pki_files(role: Role) -> Vec<&'static str> {
    let mut v = vec!["ca.crt", "kubelet.crt", "kubelet.key", "lb-healthcheck.pem"];
    if role == Role::Master {
        v.extend([
            "ca.key",
            "apiserver.crt",
            "apiserver.key",
            "apiserver-kubelet-client.crt",
            "apiserver-kubelet-client.key",
            "apiserver-etcd-client.crt",
            "apiserver-etcd-client.key",
            "front-proxy-ca.crt",
            "front-proxy-client.crt",
            "front-proxy-client.key",
            "sa.key",
            "sa.pub",
            "etcd/ca.crt",
            "etcd/server.crt",
            "etcd/server.key",
            "etcd/peer.crt",
            "etcd/peer.key",
            "etcd/healthcheck-client.crt",
            "etcd/healthcheck-client.key",
            "controller-manager.crt",
            "controller-manager.key",
            "scheduler.crt",
            "scheduler.key",
        ]);
    }
    v
}

/// Kubeconfig files under /etc/kubernetes.
pub fn kubeconfig_files(role: Role) -> Vec<&'static str> {
    let mut v = vec!["kubelet.conf", "kube-proxy.conf"];
    if role == Role::Master {
        v.extend(["admin.conf", "controller-manager.conf", "scheduler.conf"]);
    }
    v
}

/// Every file of a node, sorted by path.
pub fn node_files(m: &Machine) -> Vec<FileEntry> {
    let mut paths: Vec<String> = pki_files(m.role).iter().map(|p| pki(p)).collect();
    paths.extend(kubeconfig_files(m.role).iter().map(|p| k8s(p)));
    paths.push(KUBELET_CONFIG.into());
    paths.push(LOCAL_LB_CONFIG.into());
    if m.role == Role::Master {
        paths.push(SCHEDULER_CONFIG.into());
    }
    if m.role == Role::Proxy {
        paths.push(PROXY_LB_CONFIG.into());
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let mode = if p == pki("sa.pub") {
                PUBLIC_MODE
            } else {
                mode_for(&p)
            };
            FileEntry { path: p, mode }
        })
        .collect()
}
