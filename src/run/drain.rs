//! Drain a node before it leaves: cordon it, then evict its pods through the Eviction API
//! (DaemonSet pods and static-pod mirrors are left alone, as `kubectl drain` does) and wait,
//! bounded, until they are gone. `force` deletes the pods instead of evicting them (for a
//! dead node, whose kubelet will never confirm anything).

use super::fleet::StepError;
use crate::kubeapi::KubeClient;
use crate::kubeapi::pods::{Evicted, PodRef};
use std::time::{Duration, Instant};

/// What a drain did on one node.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Drained {
    pub node: String,
    /// `namespace/name` of every pod evicted (or deleted with `force`).
    pub pods: Vec<String>,
    /// DaemonSet and mirror pods left in place.
    pub skipped: Vec<String>,
    /// The node was not registered (nothing to cordon).
    pub not_registered: bool,
}

fn id(p: &PodRef) -> String {
    format!("{}/{}", p.namespace, p.name)
}

/// Cordon `node` and move its pods off, within `wait`.
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
    if registered {
        api.cordon_node(node)
            .await
            .map_err(|e| err("drain: cordon", e.to_string()))?;
    } else {
        out.not_registered = true;
    }
    let start = Instant::now();
    let mut blocked = String::new();
    loop {
        let pods = api
            .pods_on_node(node)
            .await
            .map_err(|e| err("drain: list pods", e.to_string()))?;
        let (keep, movable): (Vec<PodRef>, Vec<PodRef>) =
            pods.into_iter().partition(|p| p.daemonset || p.mirror);
        out.skipped = keep.iter().map(id).collect();
        if movable.is_empty() {
            return Ok(out);
        }
        for p in &movable {
            if !out.pods.contains(&id(p)) {
                out.pods.push(id(p));
            }
            if force {
                api.delete_pod(&p.namespace, &p.name)
                    .await
                    .map_err(|e| err("drain: delete pod", e.to_string()))?;
            } else {
                match api
                    .evict_pod(&p.namespace, &p.name)
                    .await
                    .map_err(|e| err("drain: evict pod", e.to_string()))?
                {
                    Evicted::Yes => {}
                    Evicted::Blocked => {
                        blocked = format!(
                            "{}: a PodDisruptionBudget does not allow its eviction now",
                            id(p)
                        )
                    }
                }
            }
        }
        if start.elapsed() >= wait {
            let left: Vec<String> = movable.iter().map(id).collect();
            return Err(err(
                "drain",
                format!(
                    "pods still on {node} after {wait:?}: {}{}",
                    left.join(", "),
                    if blocked.is_empty() {
                        String::new()
                    } else {
                        format!(" ({blocked})")
                    }
                ),
            )
            .hint("raise --wait-seconds, or pass --force to delete the pods (for a node that is dead)"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
