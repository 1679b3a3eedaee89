//! Deploy's GPU check, after the add-ons are rolled out: every GPU machine's node offers
//! exactly as many `nvidia.com/gpu` (its allocatable) as its `machine-sku` says. Skipped
//! when the cluster has no GPU machine, or when `nvidia-device-plugin: false` (the user's
//! own GPU operator, installed later, provides them).

use std::time::{Duration, Instant};

use super::fleet::StepError;
use crate::kubeapi::{KubeClient, NodeState};
use crate::model::Cluster;
use crate::model::gpu::RESOURCE;

/// Whether deploy checks GPUs at all.
pub fn applies(cluster: &Cluster) -> bool {
    cluster.kubernetes.nvidia_device_plugin && cluster.gpu_machines().next().is_some()
}

/// A node's allocatable `nvidia.com/gpu`, as the API wrote it (`None`: not offered).
pub fn allocatable(node: &NodeState) -> Option<String> {
    node.allocatable.get(RESOURCE).and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_u64().map(|n| n.to_string()))
    })
}

/// One error per GPU machine whose node does not offer its SKU's count.
pub fn shortfalls(cluster: &Cluster, nodes: &[NodeState]) -> Vec<StepError> {
    let mut out = Vec::new();
    for (m, g) in cluster.gpu_machines() {
        let Some(node) = nodes.iter().find(|n| n.name == m.nodename) else {
            out.push(StepError::new(
                &m.hostname,
                "verify GPUs",
                format!("node {} is not registered", m.nodename),
            ));
            continue;
        };
        let have = allocatable(node);
        if have.as_deref() == Some(g.count.to_string().as_str()) {
            continue;
        }
        let found = match &have {
            None => "no nvidia.com/gpu at all".to_string(),
            Some(n) => format!("allocatable nvidia.com/gpu {n}"),
        };
        out.push(
            StepError::new(
                &m.hostname,
                "verify GPUs",
                format!(
                    "node {} offers {found}, machine-sku {} says {} GPU(s) ({})",
                    m.nodename, g.sku, g.count, g.model
                ),
            )
            .hint(format!(
                "read the device plugin's log for that node (`kubectl -n kube-system logs <the \
                 nvidia-device-plugin-daemonset pod on {}>`) and compare with `nvidia-smi -L` \
                 there; a GPU that fell off the bus shows in `dmesg` (Xid); if the machine \
                 really has another count, correct `count` under machine-sku {}",
                m.nodename, g.sku
            )),
        );
    }
    out
}

/// Wait (bounded) until every GPU node offers its SKU's count; else one error per node
/// that does not.
pub async fn wait_allocatable(
    cluster: &Cluster,
    api: &KubeClient,
    wait: Duration,
) -> Result<(), Vec<StepError>> {
    if !applies(cluster) {
        return Ok(());
    }
    let start = Instant::now();
    loop {
        let errors = match api.nodes().await {
            Ok(nodes) => shortfalls(cluster, &nodes),
            Err(e) => vec![StepError::new("cluster", "verify GPUs", e.to_string())],
        };
        if errors.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= wait {
            return Err(errors);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gpu::GpuSku;
    use serde_json::json;

    fn node(name: &str, gpus: Option<serde_json::Value>) -> NodeState {
        let mut allocatable = serde_json::Map::new();
        allocatable.insert("cpu".into(), json!("24"));
        if let Some(g) = gpus {
            allocatable.insert(RESOURCE.into(), g);
        }
        NodeState {
            name: name.into(),
            ready: true,
            internal_ip: None,
            labels: Default::default(),
            allocatable,
        }
    }

    fn cluster() -> Cluster {
        crate::model::gpu::testing::openi_cluster()
    }

    #[test]
    fn the_openi_layout_has_one_gpu_machine() {
        let c = cluster();
        let gpus: Vec<(&str, &GpuSku)> = c
            .gpu_machines()
            .map(|(m, g)| (m.hostname.as_str(), g))
            .collect();
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].0, "gpu-worker-1");
        assert_eq!((gpus[0].1.model.as_str(), gpus[0].1.count), ("teslak80", 4));
        assert!(applies(&c));
    }

    #[test]
    fn a_node_offering_another_count_is_named_with_both_numbers() {
        let c = cluster();
        let ok = [node("10.0.0.11", None), node("10.0.0.21", Some(json!("4")))];
        assert!(shortfalls(&c, &ok).is_empty());
        let missing = [node("10.0.0.11", None), node("10.0.0.21", None)];
        let e = shortfalls(&c, &missing);
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].to_string().lines().next().unwrap(),
            "gpu-worker-1: verify GPUs: node 10.0.0.21 offers no nvidia.com/gpu at all, machine-sku NC24R says 4 GPU(s) (teslak80)"
        );
        let fewer = [node("10.0.0.21", Some(json!("3")))];
        let e = shortfalls(&c, &fewer);
        assert_eq!(
            e[0].message,
            "node 10.0.0.21 offers allocatable nvidia.com/gpu 3, machine-sku NC24R says 4 GPU(s) (teslak80)"
        );
        let gone = [node("10.0.0.11", None)];
        assert_eq!(
            shortfalls(&c, &gone)[0].message,
            "node 10.0.0.21 is not registered"
        );
    }

    #[test]
    fn no_check_without_gpus_or_with_the_plugin_off() {
        let mut c = cluster();
        c.kubernetes.nvidia_device_plugin = false;
        assert!(!applies(&c));
        let mut c = cluster();
        c.gpu_skus.clear();
        assert!(!applies(&c));
        assert!(shortfalls(&c, &[]).is_empty());
    }
}
