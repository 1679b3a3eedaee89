//! Verification after deploy: every node registered, kubelets answer over TLS with client
//! certificate auth, node labels set (role, and GPU type and count on GPU machines).

use super::fleet::{Node, StepError};
use crate::components::{node_agents, paths};
use crate::kubeapi::{KubeClient, NodeState};
use crate::model::gpu::{self, GpuSku};
use crate::model::{Cluster, Machine};
use crate::ssh::snippets::probes;
use std::time::{Duration, Instant};

/// Wait (bounded) until every machine's node name is registered; the nodes as last listed.
/// The error quotes what the node agents of the missing ones said ([`agents_evidence`]).
pub async fn nodes_registered(
    cluster: &Cluster,
    api: &KubeClient,
    wait: Duration,
    nodes: &[&Node],
) -> Result<Vec<NodeState>, StepError> {
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
                    return Ok(nodes);
                }
            }
            Err(e) => missing = vec![e.to_string()],
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let said = agents_evidence(nodes, &missing).await;
    Err(StepError::new("cluster", "node registration", format!("not registered after {wait:?}: {}{said}", missing.join(", ")))
        .hint("read `docker logs kubelet` on those nodes; the kubelet reaches the API through the local load balancer on 127.0.0.1"))
}

/// Lines of each missing node's log quoted in the error.
const EVIDENCE_LINES: usize = 6;

/// What the node agents of the nodes named in `missing` say: for each, the state of its
/// cri-dockerd and kubelet containers and the kubelet's last lines (with the error lines
/// before them), so that the error itself shows why a node did not register. Empty when
/// none of them is connected.
async fn agents_evidence(nodes: &[&Node], missing: &[String]) -> String {
    use crate::executor::docker::logs::{container_logs_tail, log_excerpt};
    use crate::executor::docker::observe::observe;
    let mut said = String::new();
    for n in nodes
        .iter()
        .filter(|n| missing.contains(&n.machine.nodename))
    {
        said.push_str(&format!("\n  {} ({}):", n.host(), n.machine.nodename));
        for agent in ["cri-dockerd", "kubelet"] {
            let state = match observe(n.docker(), agent).await {
                Ok(o) => format!("{o:?}"),
                Err(e) => format!("not inspected: {e}"),
            };
            said.push_str(&format!("\n    container {agent}: {state}"));
        }
        match container_logs_tail(n.docker(), "kubelet", 400).await {
            Ok(log) => {
                for line in log_excerpt(&log, EVIDENCE_LINES).lines() {
                    said.push_str(&format!("\n    | {line}"));
                }
            }
            Err(e) => said.push_str(&format!("\n    kubelet's log not read: {e}")),
        }
    }
    said
}

/// Node labels: the role (`node-role.kubernetes.io/<role>`) and, on GPU machines, the
/// GPU type and count and the original's `machinetype=gpu` ([`gpu::node_labels`]); our GPU
/// labels on a node that is no longer a GPU machine are removed. A patch for each node
/// whose labels in `registered` (from [`nodes_registered`]) differ, at most 16 at once;
/// none on a re-run.
pub async fn label_nodes(
    cluster: &Cluster,
    api: &KubeClient,
    registered: &[NodeState],
) -> Result<(), StepError> {
    use futures_util::stream::{self, TryStreamExt};
    let todo: Vec<_> = cluster
        .machines
        .iter()
        .filter_map(|m| {
            let current = registered
                .iter()
                .find(|n| n.name == m.nodename)
                .map(|n| &n.labels);
            label_patch(m, cluster.gpu_of(m), current).map(|p| (m, p))
        })
        .collect();
    stream::iter(todo.into_iter().map(Ok))
        .try_for_each_concurrent(16, |(m, labels)| async move {
            api.label_node(&m.nodename, &labels)
                .await
                .map_err(|e| StepError::new(&m.hostname, "label node", e.to_string()))
        })
        .await
}

/// The labels to set (and, as `null`, to remove) on a machine's node given its current
/// labels; `None` when they are all as wanted.
pub fn label_patch(
    m: &Machine,
    gpu: Option<&GpuSku>,
    current: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let gpu_labels = gpu::node_labels(gpu);
    let mut wanted = gpu_labels.clone();
    wanted.insert(role_label(m), String::new());
    let mut patch = serde_json::Map::new();
    for (k, v) in &wanted {
        let have = current.and_then(|c| c.get(k)).and_then(|x| x.as_str());
        if have != Some(v.as_str()) {
            patch.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
    }
    if let Some(c) = current {
        for k in gpu::stale_labels(&gpu_labels, c.keys()) {
            patch.insert(k, serde_json::Value::Null);
        }
    }
    (!patch.is_empty()).then_some(patch)
}

fn role_label(m: &Machine) -> String {
    format!("node-role.kubernetes.io/{}", m.role)
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

/// The status line of each check in [`probes::loopback_checks`]' output, by index.
fn parse_loopback(out: &str) -> std::collections::BTreeMap<usize, String> {
    out.lines()
        .filter_map(|l| {
            let (i, rest) = l.split_once(' ').unwrap_or((l, ""));
            Some((i.parse().ok()?, rest.trim().to_string()))
        })
        .collect()
}

/// Health endpoints that listen on a node's loopback: the local load balancer's `/readyz`
/// on every node, controller-manager and scheduler `/healthz` on masters. Bounded retries;
/// a node without openssl gets a warning instead.
pub async fn node_loopback_endpoints(
    cluster: &Cluster,
    node: &Node,
) -> Result<Vec<String>, StepError> {
    use crate::components::control_plane::{CONTROLLER_MANAGER_PORT, SCHEDULER_PORT};
    let mut checks = vec![(
        "local load balancer /readyz",
        cluster.kubernetes.local_lb_port,
        "/readyz",
    )];
    if node.machine.role == crate::model::Role::Master {
        checks.push((
            "kube-controller-manager /healthz",
            CONTROLLER_MANAGER_PORT,
            "/healthz",
        ));
        checks.push(("kube-scheduler /healthz", SCHEDULER_PORT, "/healthz"));
    }
    let (pem, ca) = (paths::pki("lb-healthcheck.pem"), paths::pki("ca.crt"));
    // the load-balancer health-check client certificate
    let client = probes::TlsClient {
        cert_and_key: &pem,
        ca: &ca,
    };
    let mut warnings = Vec::new();
    // All pending checks in one command per round; a check that answers 200 is done.
    let mut pending: Vec<usize> = (0..checks.len()).collect();
    let start = Instant::now();
    while !pending.is_empty() {
        let todo: Vec<(usize, u16, &str)> = pending
            .iter()
            .map(|&i| (i, checks[i].1, checks[i].2))
            .collect();
        let cmd = probes::loopback_checks(&todo, client);
        let s = node.session.clone();
        let out =
            super::fleet::blocking(move || s.run_root("verify", &cmd, Duration::from_secs(60)))
                .await
                .map_err(|e| StepError::from_ssh(node.host(), "verify loopback endpoints", &e))?;
        let text = out.stdout_str();
        if text.trim() == probes::NO_OPENSSL {
            for (what, _, _) in &checks {
                warnings.push(format!(
                    "{}: openssl is not installed, {what} was not checked",
                    node.host()
                ));
            }
            break;
        }
        let lines = parse_loopback(&text);
        for &i in &pending {
            let line = lines.get(&i).map(String::as_str).unwrap_or("");
            node.log.line(&format!("verify {}: {line}", checks[i].0));
        }
        let failing: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|i| !lines.get(i).is_some_and(|l| l.contains(" 200")))
            .collect();
        if let Some(&i) = failing.first()
            && start.elapsed() > Duration::from_secs(60)
        {
            let line = lines.get(&i).cloned().unwrap_or_default();
            return Err(StepError::new(
                node.host(),
                &format!("verify {} over TLS", checks[i].0),
                format!("answered {line:?}"),
            )
            .hint("read the container's log on that node (`docker logs <container>`)"));
        }
        pending = failing;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn machine(role: crate::model::Role) -> Machine {
        Machine {
            hostname: "gpu-worker-1".into(),
            hostip: "10.0.0.21".parse().unwrap(),
            nodename: "10.0.0.21".into(),
            role,
            etcdid: None,
            dashboard: false,
            machine_type: Some("NC24R".into()),
            ssh: crate::model::SshSettings {
                port: 22,
                username: "root".into(),
                password: None,
                keyfile: None,
                agent: true,
            },
            extra: Default::default(),
            at: None,
            hostip_at: None,
        }
    }

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_gpu_node_gets_type_count_and_the_original_label_once() {
        let m = machine(crate::model::Role::Worker);
        let g = GpuSku {
            sku: "NC24R".into(),
            model: "teslak80".into(),
            count: 4,
        };
        // Freshly registered: everything is set.
        let fresh = labels(json!({"kubernetes.io/hostname": "10.0.0.21"}));
        let p = label_patch(&m, Some(&g), Some(&fresh)).expect("a patch");
        assert_eq!(
            Value::Object(p.clone()),
            json!({
                "node-role.kubernetes.io/worker": "",
                "k8s-manage.io/gpu-type": "teslak80",
                "k8s-manage.io/gpu-count": "4",
                "machinetype": "gpu",
            })
        );
        // Re-run with the labels in place: no patch.
        let mut done = fresh.clone();
        done.extend(p);
        assert_eq!(label_patch(&m, Some(&g), Some(&done)), None);
        // The SKU now says 8: only the count changes.
        let g8 = GpuSku {
            count: 8,
            ..g.clone()
        };
        assert_eq!(
            label_patch(&m, Some(&g8), Some(&done)).map(Value::Object),
            Some(json!({"k8s-manage.io/gpu-count": "8"}))
        );
        // The machine is no longer a GPU kind: our GPU labels go, `machinetype` stays.
        assert_eq!(
            label_patch(&m, None, Some(&done)).map(Value::Object),
            Some(json!({"k8s-manage.io/gpu-type": null, "k8s-manage.io/gpu-count": null}))
        );
    }

    #[test]
    fn a_plain_node_gets_its_role_label_only() {
        let m = machine(crate::model::Role::Master);
        let fresh = labels(json!({"kubernetes.io/hostname": "10.0.0.21"}));
        assert_eq!(
            label_patch(&m, None, Some(&fresh)).map(Value::Object),
            Some(json!({"node-role.kubernetes.io/master": ""}))
        );
        let done = labels(json!({"node-role.kubernetes.io/master": ""}));
        assert_eq!(label_patch(&m, None, Some(&done)), None);
    }

    #[test]
    fn the_loopback_checks_are_read_back_by_index() {
        let got = parse_loopback("0 HTTP/1.1 200 OK\r\n2 \n");
        assert_eq!(got[&0], "HTTP/1.1 200 OK");
        assert_eq!(got[&2], "");
        assert!(parse_loopback("NO-OPENSSL\n").is_empty());
    }
}
