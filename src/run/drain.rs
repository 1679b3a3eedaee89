//! Draining a node before its kubelet, kube-proxy or cri-dockerd is replaced: cordon, evict
//! every pod kubectl would (DaemonSet and mirror pods stay), wait until they are gone, all
//! within one bound; afterwards wait until the node reports Ready with a fresh heartbeat
//! and uncordon it.

use super::fleet::StepError;
use crate::kubeapi::{Eviction, KubeClient};
use std::time::{Duration, Instant};

/// How long between two looks at evictions, pods and node heartbeats.
const POLL: Duration = Duration::from_secs(1);

/// Cordon `node` and evict its pods; an error when some are still there after `bound`
/// names them. Returns how many pods were evicted.
pub async fn drain(
    api: &KubeClient,
    host: &str,
    node: &str,
    bound: Duration,
) -> Result<usize, StepError> {
    let step = "drain";
    let err = |e: crate::kubeapi::KubeError| {
        StepError::new(host, step, e.to_string()).hint(
            "the API must answer to drain a node; fix it, or run again with --no-drain \
             (pods are then stopped with their node agents, without eviction)",
        )
    };
    api.cordon(node, true).await.map_err(err)?;
    let start = Instant::now();
    let pods: Vec<_> = api
        .pods_on_node(node)
        .await
        .map_err(err)?
        .into_iter()
        .filter(|p| p.evictable())
        .collect();
    let mut pending = pods.clone();
    let mut last_block = String::new();
    // Evict; a PodDisruptionBudget may say "not now" (429): ask again until the bound.
    while !pending.is_empty() {
        let mut still = Vec::new();
        for p in pending {
            match api.evict(&p.namespace, &p.name).await.map_err(err)? {
                Eviction::Done => {}
                Eviction::Blocked(why) => {
                    last_block = format!("{}/{}: {why}", p.namespace, p.name);
                    still.push(p);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if start.elapsed() >= bound {
            return Err(timeout(host, node, bound, &pending, &last_block));
        }
        tokio::time::sleep(POLL).await;
    }
    // Wait until the evicted pods are gone (graceful termination).
    let mut left = pods.clone();
    loop {
        let mut still = Vec::new();
        for p in left {
            if api.pod_exists(&p.namespace, &p.name).await.map_err(err)? {
                still.push(p);
            }
        }
        left = still;
        if left.is_empty() {
            return Ok(pods.len());
        }
        if start.elapsed() >= bound {
            return Err(timeout(host, node, bound, &left, "still terminating"));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn timeout(
    host: &str,
    node: &str,
    bound: Duration,
    pods: &[crate::kubeapi::PodRef],
    why: &str,
) -> StepError {
    let names: Vec<String> = pods
        .iter()
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    StepError::new(
        host,
        "drain",
        format!(
            "node {node} not drained after {bound:?}: {} pod(s) left: {} ({why})",
            names.len(),
            names.join(", ")
        ),
    )
    .hint(
        "check the PodDisruptionBudgets and the pods named above (`kubectl get pdb -A`); \
         raise --wait-seconds, or run again with --no-drain; the node stays cordoned until \
         a run finishes it",
    )
}

/// The node's current Ready heartbeat (`None` when not registered or not readable), taken
/// before its agents are replaced so that the wait afterwards needs a newer one.
pub async fn heartbeat(api: &KubeClient, node: &str) -> Option<String> {
    match api.node_ready_heartbeat(node).await {
        Ok(Some((_, hb))) => Some(hb),
        _ => None,
    }
}

/// Wait until `node` is Ready with a heartbeat other than `before` (its new kubelet
/// reported), then uncordon it when `uncordon`.
pub async fn back_ready(
    api: &KubeClient,
    host: &str,
    node: &str,
    before: Option<&str>,
    bound: Duration,
    uncordon: bool,
) -> Result<(), StepError> {
    let start = Instant::now();
    loop {
        let last = match api.node_ready_heartbeat(node).await {
            Ok(Some((true, hb))) if Some(hb.as_str()) != before => break,
            Ok(Some((ready, hb))) => format!("Ready={ready}, last heartbeat {hb}"),
            Ok(None) => "not registered".to_string(),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= bound {
            return Err(StepError::new(
                host,
                "node Ready",
                format!("node {node} did not report Ready after {bound:?}: {last}"),
            )
            .hint("read `docker logs kubelet` on that node (also in DIR/.k8s-manage/logs); the node stays cordoned"));
        }
        tokio::time::sleep(POLL).await;
    }
    if uncordon {
        api.cordon(node, false).await.map_err(|e| {
            StepError::new(host, "uncordon", e.to_string())
                .hint("uncordon it by hand: `kubectl uncordon <node>`")
        })?;
    }
    Ok(())
}
