//! What a drain needs from the API: cordon a node, the pods bound to it, evict (Eviction
//! API, which honours PodDisruptionBudgets) or delete a pod.

use super::client::{KubeClient, KubeError};
use serde_json::{Value, json};

/// A pod bound to a node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    /// Owned by a DaemonSet (its controller would put it straight back: left alone).
    pub daemonset: bool,
    /// A static pod's mirror (the kubelet owns it: left alone).
    pub mirror: bool,
}

/// What an eviction request answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evicted {
    /// Accepted (the pod is being deleted) or already gone.
    Yes,
    /// 429: a PodDisruptionBudget does not allow it now; try again later.
    Blocked,
}

/// The pods of one pod-list answer that are bound to `node`.
pub fn pods_bound_to(list: &Value, node: &str) -> Vec<PodRef> {
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node))
        .map(|p| {
            let s = |ptr: &str| {
                p.pointer(ptr)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let daemonset = p
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|o| {
                    o.iter()
                        .any(|r| r.get("kind").and_then(Value::as_str) == Some("DaemonSet"))
                });
            let mirror = p
                .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
                .is_some();
            PodRef {
                namespace: s("/metadata/namespace"),
                name: s("/metadata/name"),
                daemonset,
                mirror,
            }
        })
        .collect()
}

impl KubeClient {
    /// Mark a node unschedulable (`spec.unschedulable: true`).
    pub async fn cordon_node(&self, name: &str) -> Result<(), KubeError> {
        let body = json!({"spec": {"unschedulable": true}});
        self.send(
            reqwest::Method::PATCH,
            &format!("/api/v1/nodes/{name}"),
            Some((
                "application/merge-patch+json",
                body.to_string().into_bytes(),
            )),
        )
        .await
        .map(|_| ())
    }

    /// Every pod bound to `node` (all namespaces). The list is filtered here rather than
    /// with a field selector, so it works against any apiserver that lists pods.
    pub async fn pods_on_node(&self, node: &str) -> Result<Vec<PodRef>, KubeError> {
        let (_, v) = self
            .send(reqwest::Method::GET, "/api/v1/pods", None)
            .await?;
        Ok(pods_bound_to(&v, node))
    }

    /// `POST .../pods/<name>/eviction` (policy/v1).
    pub async fn evict_pod(&self, namespace: &str, name: &str) -> Result<Evicted, KubeError> {
        let body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace}
        });
        match self
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/namespaces/{namespace}/pods/{name}/eviction"),
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await
        {
            Ok(_) | Err(KubeError::Status { status: 404, .. }) => Ok(Evicted::Yes),
            Err(KubeError::Status { status: 429, .. }) => Ok(Evicted::Blocked),
            Err(e) => Err(e),
        }
    }

    /// Delete a pod at once (grace period 0); absent is fine.
    pub async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        match self
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/namespaces/{namespace}/pods/{name}?gracePeriodSeconds=0"),
                None,
            )
            .await
        {
            Ok(_) | Err(KubeError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pods_of_the_node_and_their_kinds() {
        let list = json!({"items": [
            {"metadata": {"namespace": "a", "name": "p1"}, "spec": {"nodeName": "n1"}},
            {"metadata": {"namespace": "a", "name": "p2"}, "spec": {"nodeName": "n2"}},
            {"metadata": {"namespace": "kube-system", "name": "ds",
                          "ownerReferences": [{"kind": "DaemonSet", "name": "x"}]},
             "spec": {"nodeName": "n1"}},
            {"metadata": {"namespace": "kube-system", "name": "static",
                          "annotations": {"kubernetes.io/config.mirror": "abc"}},
             "spec": {"nodeName": "n1"}},
            {"metadata": {"namespace": "a", "name": "pending"}, "spec": {}}
        ]});
        let got = pods_bound_to(&list, "n1");
        let names: Vec<(&str, bool, bool)> = got
            .iter()
            .map(|p| (p.name.as_str(), p.daemonset, p.mirror))
            .collect();
        assert_eq!(
            names,
            vec![
                ("p1", false, false),
                ("ds", true, false),
                ("static", false, true)
            ]
        );
    }
}
