//! Draining a node that leaves the cluster: the drain of rolling updates
//! ([`super::drain::drain`]: cordon, evict, wait, bounded), or with `--force` cordon and
//! delete the pods outright (a dead node's kubelet never confirms an eviction). Records
//! which pods went and which (DaemonSet, mirror) stayed, for the report.

use super::fleet::StepError;
use crate::kubeapi::KubeClient;
use std::time::{Duration, Instant};

/// What a drain did on one node.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Drained {
    pub node: String,
    /// `namespace/name` of every pod evicted (or deleted with `--force`).
    pub pods: Vec<String>,
    /// DaemonSet and mirror pods left in place.
    pub skipped: Vec<String>,
    /// The node was not registered (nothing to cordon or evict).
    pub not_registered: bool,
}

/// Drain `node` (hostname `host`) within `wait`.
pub async fn drain(
    api: &KubeClient,
    node: &str,
    host: &str,
    force: bool,
    wait: Duration,
) -> Result<Drained, StepError> {
    let err = |step: &str, e: String| StepError::new(host, step, e);
    let mut out = Drained {
        node: node.to_string(),
        ..Default::default()
    };
    let registered = api
        .nodes()
        .await
        .map_err(|e| err("drain: list nodes", e.to_string()))?
        .iter()
        .any(|n| n.name == node);
    let pods = api
        .pods_on_node(node)
        .await
        .map_err(|e| err("drain: list pods", e.to_string()))?;
    let id = |p: &crate::kubeapi::PodRef| format!("{}/{}", p.namespace, p.name);
    out.pods = pods.iter().filter(|p| p.evictable()).map(id).collect();
    out.skipped = pods
        .iter()
        .filter(|p| p.daemonset || p.mirror)
        .map(id)
        .collect();
    if !registered {
        out.not_registered = true;
    }
    if !force {
        if registered {
            super::drain::drain(api, host, node, wait).await?;
        }
        return Ok(out);
    }
    if registered {
        api.cordon(node, true)
            .await
            .map_err(|e| err("drain: cordon", e.to_string()))?;
    }
    let start = Instant::now();
    loop {
        let left: Vec<_> = api
            .pods_on_node(node)
            .await
            .map_err(|e| err("drain: list pods", e.to_string()))?
            .into_iter()
            .filter(|p| p.evictable())
            .collect();
        if left.is_empty() {
            return Ok(out);
        }
        for p in &left {
            api.delete_pod(&p.namespace, &p.name)
                .await
                .map_err(|e| err("drain: delete pod", e.to_string()))?;
        }
        if start.elapsed() >= wait {
            let names: Vec<String> = left.iter().map(id).collect();
            return Err(err(
                "drain",
                format!("pods still on {node} after {wait:?}: {}", names.join(", ")),
            )
            .hint("raise --wait-seconds"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
