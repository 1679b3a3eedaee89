//! Deploy's last check: every node Ready and every workload of the cluster add-ons
//! (the pod network's DaemonSet, CoreDNS's Deployment) rolled out, within the wait. When
//! something is not, the error names it with what its pods are waiting for.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::fleet::StepError;
use crate::kubeapi::{CustomKinds, KubeClient, object_of, parse_manifest};
use crate::model::Cluster;
use crate::render::addons::RenderedManifest;

/// One add-on workload to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub path: String,
    /// The pod label selector (`k=v,...`) from `spec.selector.matchLabels`.
    pub selector: String,
}

/// The Deployments and DaemonSets among the rendered add-ons.
pub fn workloads(manifests: &[RenderedManifest]) -> Vec<Workload> {
    let mut out = Vec::new();
    for m in manifests {
        let Ok(docs) = parse_manifest(&m.file_name, &m.content) else {
            continue;
        };
        for doc in &docs {
            let Ok(t) = object_of(&m.file_name, doc, &CustomKinds::default()) else {
                continue;
            };
            if t.kind != "Deployment" && t.kind != "DaemonSet" {
                continue;
            }
            let selector = doc
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .map(|labels| {
                    labels
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            out.push(Workload {
                kind: t.kind,
                namespace: t.namespace.unwrap_or_default(),
                name: t.name,
                path: t.path,
                selector,
            });
        }
    }
    out
}

/// Why a workload is not rolled out yet, from its object; `None` when it is.
pub fn not_ready(kind: &str, obj: &Value) -> Option<String> {
    let n = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let generation = n("/metadata/generation");
    if n("/status/observedGeneration") < generation {
        return Some("its controller has not seen the latest spec yet".into());
    }
    match kind {
        "Deployment" => {
            let want = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let (updated, available) =
                (n("/status/updatedReplicas"), n("/status/availableReplicas"));
            (updated < want || available < want)
                .then(|| format!("{available} of {want} replicas available ({updated} updated)"))
        }
        "DaemonSet" => {
            let want = n("/status/desiredNumberScheduled");
            let (updated, available) = (
                n("/status/updatedNumberScheduled"),
                n("/status/numberAvailable"),
            );
            if want == 0 {
                Some("no node runs it yet".into())
            } else {
                (updated < want || available < want)
                    .then(|| format!("{available} of {want} pods available ({updated} updated)"))
            }
        }
        _ => None,
    }
}

/// What the pods of a workload are stuck on: `pod: reason (message)` for every pod that
/// is not Ready, at most five.
pub fn pod_problems(pods: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for p in pods {
        let name = p
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let ready = p
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        if ready {
            continue;
        }
        let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"]
            .iter()
            .filter_map(|s| p.pointer(s).and_then(Value::as_array))
            .flatten();
        let mut why = None;
        for c in statuses {
            for state in ["waiting", "terminated"] {
                if let Some(s) = c.pointer(&format!("/state/{state}")) {
                    let reason = s["reason"].as_str().unwrap_or(state);
                    if reason == "Completed" {
                        continue;
                    }
                    let msg = s["message"].as_str().unwrap_or_default();
                    why = Some(if msg.is_empty() {
                        format!("{}: {reason}", c["name"].as_str().unwrap_or("?"))
                    } else {
                        format!("{}: {reason} ({msg})", c["name"].as_str().unwrap_or("?"))
                    });
                    break;
                }
            }
            if why.is_some() {
                break;
            }
        }
        let why = why.unwrap_or_else(|| {
            let phase = p
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Unknown");
            let node = p
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("no node yet");
            // Not placed: the scheduler's reason ("0/2 nodes are available: ...").
            let unscheduled = p
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| {
                    c.iter()
                        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
                })
                .and_then(|c| c["message"].as_str());
            match unscheduled {
                Some(msg) => format!("{phase} on {node}: {msg}"),
                None => format!("{phase} on {node}"),
            }
        });
        out.push(format!("{name}: {why}"));
        if out.len() == 5 {
            break;
        }
    }
    out
}

/// Wait (bounded by `wait`) until every node of `cluster` is Ready and every add-on
/// workload is rolled out.
pub async fn wait_ready(
    cluster: &Cluster,
    api: &KubeClient,
    manifests: &[RenderedManifest],
    wait: Duration,
) -> Result<(), StepError> {
    let start = Instant::now();
    let loads = workloads(manifests);
    loop {
        let mut pending = Vec::new();
        match api.nodes().await {
            Ok(nodes) => {
                for m in &cluster.machines {
                    if !nodes.iter().any(|n| n.name == m.nodename && n.ready) {
                        pending.push((
                            format!("node {}", m.nodename),
                            "not Ready".to_string(),
                            None,
                        ));
                    }
                }
            }
            Err(e) => pending.push(("nodes".into(), e.to_string(), None)),
        }
        for w in &loads {
            match api.get_object(&w.path).await {
                Ok(Some(obj)) => {
                    if let Some(why) = not_ready(&w.kind, &obj) {
                        pending.push((
                            format!("{} {}/{}", w.kind, w.namespace, w.name),
                            why,
                            Some(w),
                        ));
                    }
                }
                Ok(None) => pending.push((
                    format!("{} {}/{}", w.kind, w.namespace, w.name),
                    "missing".into(),
                    None,
                )),
                Err(e) => pending.push((w.name.clone(), e.to_string(), None)),
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= wait {
            let mut lines = Vec::new();
            for (what, why, w) in &pending {
                lines.push(format!("{what}: {why}"));
                if let Some(w) = w
                    && let Ok(pods) = api.list_pods(&w.namespace, &w.selector).await
                {
                    lines.extend(pod_problems(&pods).into_iter().map(|p| format!("  {p}")));
                }
            }
            return Err(StepError::new(
                "cluster",
                "add-ons ready",
                format!("not ready after {}s:\n{}", wait.as_secs(), lines.join("\n")),
            )
            .hint("kubectl -n kube-system get pods -o wide, then `kubectl describe pod` and `docker logs kubelet` on the node named"));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rollout_state_is_read_from_status() {
        let d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}});
        assert_eq!(
            not_ready("Deployment", &d).as_deref(),
            Some("1 of 2 replicas available (2 updated)")
        );
        let done = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(not_ready("Deployment", &done), None);
        let stale = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2}});
        assert!(not_ready("Deployment", &stale).is_some());
        let ds = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
            "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}});
        assert_eq!(not_ready("DaemonSet", &ds), None);
        let empty = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1}});
        assert_eq!(
            not_ready("DaemonSet", &empty).as_deref(),
            Some("no node runs it yet")
        );
    }

    #[test]
    fn stuck_pods_name_their_reason() {
        let pods = vec![
            json!({"metadata": {"name": "coredns-1"}, "status": {"phase": "Pending",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "coredns", "state": {"waiting":
                    {"reason": "ImagePullBackOff", "message": "no such image"}}}]}}),
            json!({"metadata": {"name": "coredns-2"}, "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}}),
            json!({"metadata": {"name": "coredns-3"}, "spec": {"nodeName": "w1"},
                "status": {"phase": "Pending"}}),
        ];
        assert_eq!(
            pod_problems(&pods),
            [
                "coredns-1: coredns: ImagePullBackOff (no such image)",
                "coredns-3: Pending on w1"
            ]
        );
    }

    #[test]
    fn the_rendered_add_ons_yield_their_workloads() {
        let m = RenderedManifest {
            file_name: "x.yaml".into(),
            content: "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: ds\n  namespace: kube-flannel\nspec:\n  selector:\n    matchLabels:\n      app: flannel\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: kube-system\n".into(),
        };
        let w = workloads(&[m]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].selector, "app=flannel");
        assert_eq!(
            w[0].path,
            "/apis/apps/v1/namespaces/kube-flannel/daemonsets/ds"
        );
    }

    #[test]
    fn the_local_path_provisioner_is_waited_for_like_the_other_add_ons() {
        let cluster = crate::model::test_cluster::one_master("  local-path-provisioner: true\n");
        let manifests = crate::render::cluster::manifests(&cluster).expect("renders");
        let waits = workloads(&manifests);
        assert!(
            waits
                .iter()
                .any(|w| w.name == "local-path-provisioner" && w.namespace == "local-path-storage"),
            "{waits:?}"
        );
    }
}
