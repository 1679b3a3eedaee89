//! The API requests draining a node needs: cordon/uncordon (merge patch of
//! `spec.unschedulable`), the pods bound to a node, eviction through the Eviction API
//! (`POST pods/<name>/eviction`, policy/v1), and the node's Ready heartbeat.

use super::client::{KubeClient, KubeError};
use serde_json::{Value, json};

/// A pod bound to a node, with what decides whether a drain evicts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    /// Owned by a DaemonSet: its controller would put it right back, kubectl skips it.
    pub daemonset: bool,
    /// A static pod's mirror (annotation `kubernetes.io/config.mirror`): the API cannot
    /// remove it, kubectl skips it.
    pub mirror: bool,
    /// Already terminal (Succeeded or Failed): nothing to evict.
    pub finished: bool,
}

impl PodRef {
    /// Whether a drain evicts this pod (kubectl's rules with `--ignore-daemonsets`).
    pub fn evictable(&self) -> bool {
        !self.daemonset && !self.mirror && !self.finished
    }

    fn from_json(p: &Value) -> PodRef {
        let s = |ptr: &str| {
            p.pointer(ptr)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let daemonset = p
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|r| r.get("kind") == Some(&json!("DaemonSet"))));
        let mirror = p
            .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
            .is_some();
        let phase = s("/status/phase");
        PodRef {
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            daemonset,
            mirror,
            finished: phase == "Succeeded" || phase == "Failed",
        }
    }
}

/// What one eviction request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// Accepted (or the pod was already gone).
    Done,
    /// HTTP 429: a PodDisruptionBudget does not allow it now; try again later.
    Blocked(String),
}

impl KubeClient {
    /// Mark a node (un)schedulable.
    pub async fn cordon(&self, node: &str, unschedulable: bool) -> Result<(), KubeError> {
        let body = json!({"spec": {"unschedulable": unschedulable}});
        self.send(
            reqwest::Method::PATCH,
            &format!("/api/v1/nodes/{node}"),
            Some((
                "application/merge-patch+json",
                body.to_string().into_bytes(),
            )),
        )
        .await
        .map(|_| ())
    }

    /// Every pod bound to `node`. The list of all pods is filtered here by `spec.nodeName`
    /// (one request; no field selector, which not every API server in tests supports).
    pub async fn pods_on_node(&self, node: &str) -> Result<Vec<PodRef>, KubeError> {
        let (_, v) = self
            .send(reqwest::Method::GET, "/api/v1/pods", None)
            .await?;
        Ok(v.get("items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node))
                    .map(PodRef::from_json)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Ask the Eviction API to evict a pod (honours PodDisruptionBudgets).
    pub async fn evict(&self, namespace: &str, name: &str) -> Result<Eviction, KubeError> {
        let body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        });
        match self
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/namespaces/{namespace}/pods/{name}/eviction"),
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await
        {
            Ok(_) | Err(KubeError::Status { status: 404, .. }) => Ok(Eviction::Done),
            Err(KubeError::Status {
                status: 429,
                message,
                ..
            }) => Ok(Eviction::Blocked(message)),
            Err(e) => Err(e),
        }
    }

    /// Whether a pod still exists.
    pub async fn pod_exists(&self, namespace: &str, name: &str) -> Result<bool, KubeError> {
        match self
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/namespaces/{namespace}/pods/{name}"),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(KubeError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The node's Ready condition and its kubelet's latest heartbeat: (Ready is True, the
    /// renew time of its Lease in `kube-node-lease`, which a running kubelet renews every
    /// 10 s; the Ready condition's own lastHeartbeatTime when it has no Lease). `None` when
    /// the node is not registered. The condition's time alone is no heartbeat: a kubelet
    /// posts its status only when it changes or every 5 minutes.
    pub async fn node_ready_heartbeat(
        &self,
        node: &str,
    ) -> Result<Option<(bool, String)>, KubeError> {
        let v = match self
            .send(reqwest::Method::GET, &format!("/api/v1/nodes/{node}"), None)
            .await
        {
            Ok((_, v)) => v,
            Err(KubeError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ready = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c.get("type") == Some(&json!("Ready"))));
        let lease = match self
            .send(
                reqwest::Method::GET,
                &format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"),
                None,
            )
            .await
        {
            Ok((_, l)) => l
                .pointer("/spec/renewTime")
                .and_then(Value::as_str)
                .map(str::to_string),
            Err(KubeError::Status { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Some(match ready {
            Some(c) => (
                c.get("status") == Some(&json!("True")),
                lease.unwrap_or_else(|| {
                    c.get("lastHeartbeatTime")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                }),
            ),
            None => (false, lease.unwrap_or_default()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemonset_mirror_and_finished_pods_are_not_evicted() {
        let pod = |extra: Value| {
            let mut p = json!({"metadata": {"namespace": "ns", "name": "p"}, "status": {"phase": "Running"}});
            if let (Some(a), Some(b)) = (p.as_object_mut(), extra.as_object()) {
                for (k, v) in b {
                    a.insert(k.clone(), v.clone());
                }
            }
            PodRef::from_json(&p)
        };
        assert!(pod(json!({})).evictable());
        let ds = pod(json!({"metadata": {"namespace": "ns", "name": "p",
            "ownerReferences": [{"kind": "DaemonSet", "name": "flannel"}]}}));
        assert!(ds.daemonset && !ds.evictable());
        let rs = pod(json!({"metadata": {"namespace": "ns", "name": "p",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web"}]}}));
        assert!(rs.evictable());
        let mirror = pod(json!({"metadata": {"namespace": "ns", "name": "p",
            "annotations": {"kubernetes.io/config.mirror": "abc"}}}));
        assert!(mirror.mirror && !mirror.evictable());
        let done = pod(json!({"status": {"phase": "Succeeded"}}));
        assert!(!done.evictable());
    }
}
