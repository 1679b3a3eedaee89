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

/// `GET path` over TLS from the node itself (the endpoint listens on its loopback),
/// verifying the serving certificate against the cluster CA and presenting the
/// load-balancer health-check client certificate. Prints the HTTP status line.
fn tls_get_on_node(port: u16, path: &str) -> String {
    format!(
        "command -v openssl >/dev/null || {{ echo NO-OPENSSL; exit 0; }}; \
         printf 'GET {path} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' | \
         timeout 10 openssl s_client -quiet -connect 127.0.0.1:{port} -servername localhost \
         -cert {pem} -key {pem} -CAfile {ca} -verify_return_error 2>/dev/null | head -1",
        pem = paths::pki("lb-healthcheck.pem"),
        ca = paths::pki("ca.crt"),
    )
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
    let mut warnings = Vec::new();
    for (what, port, path) in checks {
        let start = Instant::now();
        loop {
            let s = node.session.clone();
            let cmd = tls_get_on_node(port, path);
            let out =
                super::fleet::blocking(move || s.run_root("verify", &cmd, Duration::from_secs(20)))
                    .await;
            let line = match out {
                Ok(o) => o.stdout_str().trim().to_string(),
                Err(e) => {
                    return Err(StepError::from_ssh(
                        node.host(),
                        &format!("verify {what}"),
                        &e,
                    ));
                }
            };
            node.log.line(&format!("verify {what}: {line}"));
            if line == "NO-OPENSSL" {
                warnings.push(format!(
                    "{}: openssl is not installed, {what} was not checked",
                    node.host()
                ));
                break;
            }
            if line.contains(" 200") {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(StepError::new(
                    node.host(),
                    &format!("verify {what} over TLS"),
                    format!("answered {line:?}"),
                )
                .hint("read the container's log on that node (`docker logs <container>`)"));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(warnings)
}
