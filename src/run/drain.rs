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
/// names them. Returns how many pods were evicted, or `None` when the node is not
/// registered (a kubelet that never started, as after a failed first deploy): then
/// nothing runs there to drain.
pub async fn drain(
    api: &KubeClient,
    host: &str,
    node: &str,
    bound: Duration,
) -> Result<Option<usize>, StepError> {
    let step = "drain";
    let err = |e: crate::kubeapi::KubeError| {
        StepError::new(host, step, e.to_string()).hint(
            "the API must answer to drain a node; fix it, or run again with --no-drain \
             (pods are then stopped with their node agents, without eviction)",
        )
    };
    match api.cordon(node, true).await {
        Err(crate::kubeapi::KubeError::Status { status: 404, .. }) => return Ok(None),
        other => other.map_err(err)?,
    }
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
            return Ok(Some(pods.len()));
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

/// A node's Ready condition as read just before its agents are replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Before {
    /// `(ready, heartbeat)`, or `None` when the node was not registered.
    pub state: Option<(bool, String)>,
    /// Whether the kubelet or its runtime is being restarted (then a newer heartbeat is
    /// needed: the new kubelet must have reported).
    pub restarts_kubelet: bool,
}

/// The node's Ready condition now (`None` when not registered or not readable).
pub async fn node_state(api: &KubeClient, node: &str) -> Option<(bool, String)> {
    api.node_ready_heartbeat(node).await.ok().flatten()
}

/// Whether the node is back as it was: registered; a newer heartbeat when the kubelet
/// restarted; Ready when it was Ready before (a node that was not, because the pod
/// network is not there yet, cannot be asked to become so by its agents alone).
pub fn is_back(before: &Before, now: Option<&(bool, String)>) -> bool {
    let Some((ready, hb)) = now else {
        return false;
    };
    match &before.state {
        None => !before.restarts_kubelet || !hb.is_empty(),
        Some((was_ready, old_hb)) => {
            (!before.restarts_kubelet || hb != old_hb) && (*ready || !was_ready)
        }
    }
}

/// Wait until `node` is back as it was before (see [`is_back`]), then uncordon it when
/// `uncordon`.
pub async fn back_ready(
    api: &KubeClient,
    host: &str,
    node: &str,
    before: &Before,
    bound: Duration,
    uncordon: bool,
) -> Result<(), StepError> {
    let start = Instant::now();
    loop {
        let now = api.node_ready_heartbeat(node).await;
        let last = match &now {
            Ok(state) if is_back(before, state.as_ref()) => break,
            Ok(Some((ready, hb))) => format!("Ready={ready}, last heartbeat {hb}"),
            Ok(None) => "not registered".to_string(),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= bound {
            let want = match &before.state {
                Some((true, _)) => "report Ready again",
                _ => "report to the API",
            };
            return Err(StepError::new(
                host,
                "node Ready",
                format!("node {node} did not {want} after {bound:?}: {last}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state(ready: bool, hb: &str) -> Option<(bool, String)> {
        Some((ready, hb.to_string()))
    }

    #[test]
    fn a_node_is_back_when_its_new_kubelet_reported_and_it_is_as_ready_as_before() {
        let restarted = |s| Before {
            state: s,
            restarts_kubelet: true,
        };
        let was_ready = restarted(state(true, "t1"));
        assert!(!is_back(&was_ready, None));
        assert!(
            !is_back(&was_ready, state(true, "t1").as_ref()),
            "no new heartbeat yet"
        );
        assert!(
            !is_back(&was_ready, state(false, "t2").as_ref()),
            "not Ready again yet"
        );
        assert!(is_back(&was_ready, state(true, "t2").as_ref()));
        // Not Ready before (no pod network yet): a new heartbeat is enough.
        let was_not = restarted(state(false, "t1"));
        assert!(is_back(&was_not, state(false, "t2").as_ref()));
        // Not registered before: registered now is enough.
        assert!(is_back(&restarted(None), state(false, "t0").as_ref()));
        // Only kube-proxy replaced: Ready as before, no heartbeat needed.
        let kept = Before {
            state: state(true, "t1"),
            restarts_kubelet: false,
        };
        assert!(is_back(&kept, state(true, "t1").as_ref()));
        assert!(!is_back(&kept, state(false, "t1").as_ref()));
    }
}
