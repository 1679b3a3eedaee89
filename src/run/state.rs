//! The control host's record of a run: `DIR/.k8s-manage/state.json` (what runs where, with
//! which spec hash) and `DIR/.k8s-manage/admin.kubeconfig` (0600).

use super::fleet::Node;
use crate::model::Cluster;
use crate::pki::{KubeconfigUser, Pki, render_kubeconfig};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct NodeState {
    address: String,
    role: String,
    containers: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct State {
    cluster: String,
    kubernetes_version: String,
    api: String,
    written_at: String,
    nodes: BTreeMap<String, NodeState>,
}

pub fn admin_kubeconfig_path(cluster: &Cluster) -> std::path::PathBuf {
    cluster.state_dir().join("admin.kubeconfig")
}

pub fn write(cluster: &Cluster, pki: &Pki, nodes: &[Node]) -> Result<(), String> {
    let dir = cluster.state_dir();
    let t = time::OffsetDateTime::now_utc();
    let state = State {
        cluster: cluster.kubernetes.cluster_name.clone(),
        kubernetes_version: cluster.kubernetes.version.to_string(),
        api: cluster.api_url(),
        written_at: t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        nodes: nodes
            .iter()
            .map(|n| {
                let containers = n
                    .artifacts
                    .containers
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            c.labels
                                .get(crate::components::spec::LABEL_SPEC_HASH)
                                .cloned()
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                (
                    n.host().to_string(),
                    NodeState {
                        address: n.machine.hostip.to_string(),
                        role: n.machine.role.to_string(),
                        containers,
                    },
                )
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
    crate::local_file::write_file(&dir.join("state.json"), &json, 0o600)
        .map_err(|e| format!("cannot write {}: {e}", dir.join("state.json").display()))?;
    let (cert, key) = pki
        .client_credential(&KubeconfigUser::Admin)
        .map_err(|e| e.to_string())?;
    let kc = render_kubeconfig(
        &cluster.kubernetes.cluster_name,
        &cluster.api_url(),
        pki.ca_cert_pem(),
        &cert,
        &key,
        "kubernetes-admin",
    );
    let p = admin_kubeconfig_path(cluster);
    crate::local_file::write_file(&p, kc.as_bytes(), 0o600)
        .map_err(|e| format!("cannot write {}: {e}", p.display()))
}
