//! Verification after deploy: every node registered, kubelets answer over TLS with client
//! certificate auth, node role labels set.

use super::fleet::{Node, StepError};
use crate::components::{node_agents, paths};
use crate::kubeapi::KubeClient;
use crate::model::Cluster;
use std::time::{Duration, Instant};

/// Wait (bounded) until every machine's node name is registered.
pub async fn nodes_registered(
    cluster: &Cluster,
    api: &KubeClient,
    wait: Duration,
) -> Result<(), StepError> {
    let start = Instant::now();
    let mut missing: Vec<String> = Vec::new();
    while start.elapsed() < wait {
        match api.nodes().await {
            Ok(nodes) => {
                missing = cluster
                    .machines
                    .iter()
                    .map(|m| m.nodename.clone())
                    .filter(|n| !nodes.iter().any(|x| &x.name == n))
                    .collect();
                if missing.is_empty() {
                    return Ok(());
                }
            }
            Err(e) => missing = vec![e.to_string()],
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(StepError::new("cluster", "node registration", format!("not registered after {wait:?}: {}", missing.join(", ")))
        .hint("read `docker logs kubelet` on those nodes; the kubelet reaches the API through the local load balancer on 127.0.0.1"))
}

/// Role labels (`node-role.kubernetes.io/<role>`).
pub async fn label_nodes(cluster: &Cluster, api: &KubeClient) -> Result<(), StepError> {
    for m in &cluster.machines {
        let mut labels = serde_json::Map::new();
        labels.insert(
            format!("node-role.kubernetes.io/{}", m.role),
            serde_json::Value::String(String::new()),
        );
        api.label_node(&m.nodename, &labels)
            .await
            .map_err(|e| StepError::new(&m.hostname, "label node", e.to_string()))?;
    }
    Ok(())
}

/// The kubelet's secure port answers to the apiserver's kubelet-client certificate and
/// presents a serving certificate that verifies against the cluster CA.
pub async fn node_endpoints(
    ca_pem: &str,
    kubelet_client: &(String, String),
    node: &Node,
) -> Result<(), StepError> {
    let url = format!(
        "https://{}",
        paths::host_port(node.machine.hostip, node_agents::KUBELET_PORT)
    );
    let c = KubeClient::new(
        &url,
        ca_pem,
        &kubelet_client.0,
        &kubelet_client.1,
        Duration::from_secs(5),
    )
    .map_err(|e| StepError::new(node.host(), "kubelet /healthz", e.to_string()))?;
    let start = Instant::now();
    loop {
        match c.get_ok("/healthz").await {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() > Duration::from_secs(60) => {
                return Err(StepError::new(
                    node.host(),
                    "kubelet /healthz over TLS",
                    e.to_string(),
                )
                .hint("read `docker logs kubelet` on that node"));
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}
