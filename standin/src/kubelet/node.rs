//! The kubelet's Node: registered through `POST /api/v1/nodes`, then kept fresh by a status
//! PATCH every 5 s whose Ready condition follows whether the CRI socket accepts connections.

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::UnixStream;

use crate::client::ApiClient;
use crate::clock;
use crate::cri;
use crate::lists::Minor;
use crate::log::log;

/// Who this node is.
pub struct NodeInfo {
    pub name: String,
    pub ip: Option<String>,
    pub kubelet_port: u16,
    pub runtime_endpoint: String,
    pub version: Minor,
}

fn addresses(node: &NodeInfo) -> Value {
    let mut list = Vec::new();
    if let Some(ip) = &node.ip {
        list.push(json!({"type": "InternalIP", "address": ip}));
    }
    list.push(json!({"type": "Hostname", "address": node.name}));
    Value::Array(list)
}

fn node_object(node: &NodeInfo) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH,
            },
        },
        "spec": {},
        "status": {
            "addresses": addresses(node),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": node.kubelet_port}},
            "nodeInfo": {
                "kubeletVersion": format!("v{}.{}.0-k8s-standin", node.version.major, node.version.minor),
                "containerRuntimeVersion": "docker://k8s-standin",
                "operatingSystem": "linux",
                "architecture": std::env::consts::ARCH,
            },
        },
    })
}

/// Whether the CRI endpoint accepts a connection within 1 s, and why not.
async fn runtime_ready(endpoint: &str) -> Result<(), String> {
    let path = cri::socket_path(endpoint)?;
    match tokio::time::timeout(Duration::from_secs(1), UnixStream::connect(path)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("container runtime {endpoint}: {e}")),
        Err(_) => Err(format!("container runtime {endpoint}: no answer")),
    }
}

fn status_patch(node: &NodeInfo, runtime: &Result<(), String>) -> Value {
    let now = clock::now();
    let (status, reason, message) = match runtime {
        Ok(()) => (
            "True",
            "KubeletReady",
            "kubelet is posting ready status".to_string(),
        ),
        Err(e) => ("False", "KubeletNotReady", e.clone()),
    };
    json!({"status": {
        "addresses": addresses(node),
        "conditions": [{
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }],
    }})
}

async fn register(client: &ApiClient, node: &NodeInfo) -> Result<String, String> {
    let body = node_object(node).to_string().into_bytes();
    match client
        .call(
            Method::POST,
            "/api/v1/nodes",
            Some("application/json"),
            body,
        )
        .await
    {
        Ok((StatusCode::CREATED, _)) => Ok(format!("node {} registered", node.name)),
        Ok((StatusCode::CONFLICT, _)) => Ok(format!("node {} already registered", node.name)),
        Ok((s, b)) => Err(format!(
            "node registration: {} {}",
            s.as_u16(),
            String::from_utf8_lossy(&b)
        )),
        Err(e) => Err(format!("node registration failed: {e}")),
    }
}

async fn post_status(client: &ApiClient, node: &NodeInfo) -> String {
    let runtime = runtime_ready(&node.runtime_endpoint).await;
    let path = format!("/api/v1/nodes/{}/status", node.name);
    let body = status_patch(node, &runtime).to_string().into_bytes();
    let ready = match &runtime {
        Ok(()) => "Ready".to_string(),
        Err(e) => format!("NotReady ({e})"),
    };
    match client
        .call(
            Method::PATCH,
            &path,
            Some("application/merge-patch+json"),
            body,
        )
        .await
    {
        Ok((StatusCode::OK, _)) => format!("node status {ready} posted"),
        Ok((s, b)) => format!(
            "node status update: {} {}",
            s.as_u16(),
            String::from_utf8_lossy(&b)
        ),
        Err(e) => format!("node status update failed: {e}"),
    }
}

/// Registers the node (retrying every 5 s), then posts its status every 5 s; logs changes.
pub fn spawn(client: Arc<ApiClient>, node: NodeInfo) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut last = String::new();
        let mut report = |outcome: String| {
            if outcome != last {
                log!("{outcome}");
                last = outcome;
            }
        };
        let mut registered = false;
        loop {
            tick.tick().await;
            if !registered {
                match register(&client, &node).await {
                    Ok(m) => {
                        registered = true;
                        report(m);
                    }
                    Err(m) => {
                        report(m);
                        continue;
                    }
                }
            }
            report(post_status(&client, &node).await);
        }
    });
}
