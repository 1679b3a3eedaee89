//! Model + PKI → per node: the files it receives (with contents and modes) and the
//! container specs it runs, sealed with their spec hash.

use super::node_configs::{self, RenderError};
use crate::components::{self, etcd, files, paths, spec::ContainerSpec};
use crate::model::{Cluster, Machine, Role};
use crate::pki::{KubeconfigUser, Pki, PkiHost, PkiRequest, render_kubeconfig};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A file a node receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeFile {
    pub path: String,
    pub mode: u32,
    #[serde(skip)]
    pub contents: String,
}

/// Everything one node receives and runs.
#[derive(Debug, Clone, Serialize)]
pub struct NodeArtifacts {
    pub hostname: String,
    pub role: Role,
    pub files: Vec<NodeFile>,
    pub containers: Vec<ContainerSpec>,
}

impl NodeArtifacts {
    /// Nothing to put or run: for the actions that only connect to a machine (status,
    /// clean, remove, snapshot copies).
    pub fn none(m: &crate::model::Machine) -> NodeArtifacts {
        NodeArtifacts {
            hostname: m.hostname.clone(),
            role: m.role,
            files: vec![],
            containers: vec![],
        }
    }

    pub fn file(&self, path: &str) -> Option<&NodeFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The etcd CA and healthcheck client credential, from a master's files.
    pub fn etcd_credentials(&self) -> Option<crate::etcd::EtcdCredentials> {
        let f = |p: &str| self.file(&paths::pki(p)).map(|f| f.contents.clone());
        Some(crate::etcd::EtcdCredentials {
            ca_pem: f("etcd/ca.crt")?,
            cert_pem: f("etcd/healthcheck-client.crt")?,
            key_pem: f("etcd/healthcheck-client.key")?,
        })
    }
}

fn pki_host(m: &Machine) -> PkiHost {
    PkiHost {
        hostname: m.hostname.clone(),
        nodename: m.nodename.clone(),
        ip: m.hostip,
    }
}

/// What the PKI must cover for this cluster.
pub fn pki_request(cluster: &Cluster, now: time::OffsetDateTime) -> PkiRequest {
    let k = &cluster.kubernetes;
    let masters: Vec<PkiHost> = cluster.masters().map(pki_host).collect();
    let mut extra: Vec<IpAddr> = cluster.proxies().map(|p| p.hostip).collect();
    extra.extend(k.load_balance_ip);
    extra.sort();
    extra.dedup();
    PkiRequest {
        cluster_name: k.cluster_name.clone(),
        leaf_validity_days: k.cert_validity_days,
        ca_validity_days: 3650,
        not_before: now,
        apiserver_sans: crate::pki::apiserver_sans(
            &masters,
            &extra,
            IpAddr::V4(k.kubernetes_service_ip),
            &k.cluster_domain,
        ),
        masters,
        nodes: cluster.machines.iter().map(pki_host).collect(),
    }
}

fn kubeconfig(
    cluster: &Cluster,
    pki: &Pki,
    who: KubeconfigUser,
    user: &str,
) -> Result<String, RenderError> {
    let (cert, key) = pki.client_credential(&who).map_err(|e| RenderError {
        file: format!("kubeconfig for {user}"),
        cause: e.to_string(),
    })?;
    Ok(render_kubeconfig(
        &cluster.kubernetes.cluster_name,
        &cluster.local_api_url(),
        pki.ca_cert_pem(),
        &cert,
        &key,
        user,
    ))
}

/// Render one node.
pub fn render_node(
    cluster: &Cluster,
    pki: &Pki,
    m: &Machine,
) -> Result<NodeArtifacts, RenderError> {
    let mut contents: BTreeMap<String, String> = BTreeMap::new();
    let pki_files = pki
        .try_node_files(&pki_host(m), m.role == Role::Master)
        .map_err(|e| RenderError {
            file: format!("PKI files of {}", m.hostname),
            cause: e.to_string(),
        })?;
    for f in pki_files {
        contents.insert(paths::pki(&f.path), f.contents);
    }
    contents.insert(
        paths::k8s("kubelet.conf"),
        kubeconfig(
            cluster,
            pki,
            KubeconfigUser::Kubelet {
                nodename: m.nodename.clone(),
            },
            &format!("system:node:{}", m.nodename),
        )?,
    );
    contents.insert(
        paths::k8s("kube-proxy.conf"),
        kubeconfig(cluster, pki, KubeconfigUser::KubeProxy, "system:kube-proxy")?,
    );
    contents.insert(
        paths::KUBELET_CONFIG.into(),
        node_configs::kubelet_config(cluster, m)?,
    );
    contents.insert(
        paths::LOCAL_LB_CONFIG.into(),
        node_configs::local_lb_config(cluster)?,
    );
    if m.role == Role::Master {
        contents.insert(
            paths::k8s("admin.conf"),
            kubeconfig(cluster, pki, KubeconfigUser::Admin, "kubernetes-admin")?,
        );
        contents.insert(
            paths::k8s("controller-manager.conf"),
            kubeconfig(
                cluster,
                pki,
                KubeconfigUser::ControllerManager,
                "system:kube-controller-manager",
            )?,
        );
        contents.insert(
            paths::k8s("scheduler.conf"),
            kubeconfig(
                cluster,
                pki,
                KubeconfigUser::Scheduler,
                "system:kube-scheduler",
            )?,
        );
        contents.insert(
            paths::SCHEDULER_CONFIG.into(),
            node_configs::scheduler_config(cluster)?,
        );
    }
    if m.role == Role::Proxy {
        contents.insert(
            paths::PROXY_LB_CONFIG.into(),
            node_configs::proxy_lb_config(cluster, m)?,
        );
    }

    // The contract's file list decides what the node gets, and with which mode.
    let mut out = Vec::new();
    for entry in files::node_files(m) {
        let Some(c) = contents.remove(&entry.path) else {
            return Err(RenderError {
                file: entry.path,
                cause: format!("nothing was rendered for {}", m.hostname),
            });
        };
        out.push(NodeFile {
            path: entry.path,
            mode: entry.mode,
            contents: c,
        });
    }
    if let Some((extra, _)) = contents.into_iter().next() {
        return Err(RenderError {
            file: extra,
            cause: format!("rendered for {} but not in its file list", m.hostname),
        });
    }

    let lookup = |p: &str| {
        out.iter()
            .find(|f| f.path == p)
            .map(|f| f.contents.clone().into_bytes())
    };
    let mut containers = components::node_containers(cluster, m, &etcd::new_cluster(cluster));
    for c in &mut containers {
        c.seal(&lookup);
    }
    Ok(NodeArtifacts {
        hostname: m.hostname.clone(),
        role: m.role,
        files: out,
        containers,
    })
}
