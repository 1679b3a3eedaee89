//! What controller-manager, scheduler and kube-proxy do with the API: call `/readyz` every
//! 2 s (and renew a Lease in kube-system for the first two), logging each change of outcome.

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::json;

use crate::client::ApiClient;
use crate::clock;
use crate::log::log;

/// Logs an outcome when it differs from the previous one.
struct Outcomes {
    last: Option<String>,
}

impl Outcomes {
    fn report(&mut self, what: &str, outcome: String) {
        if self.last.as_deref() != Some(outcome.as_str()) {
            log!("{what}: {outcome}");
            self.last = Some(outcome);
        }
    }
}

fn describe(result: &Result<(hyper::StatusCode, bytes::Bytes), String>) -> String {
    match result {
        Ok((status, _)) if status.is_success() => format!("{} OK", status.as_u16()),
        Ok((status, body)) => format!(
            "{} {}",
            status.as_u16(),
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
        Err(e) => format!("failed: {e}"),
    }
}

/// Every 2 s: GET /readyz, and when `lease` is given, apply Lease kube-system/<lease>.
pub fn spawn(client: Arc<ApiClient>, lease: Option<&'static str>) {
    log!(
        "API server {} via {} as {} {:?}",
        client.server(),
        client.target.file,
        client.target.user,
        client.target.groups
    );
    tokio::spawn(async move {
        let holder = format!("{}_{}", hostname(), clock::uid());
        let mut ready = Outcomes { last: None };
        let mut leased = Outcomes { last: None };
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let r = client.call(Method::GET, "/readyz", None, Vec::new()).await;
            ready.report(
                &format!("GET https://{}/readyz", client.server()),
                describe(&r),
            );
            let Some(name) = lease else { continue };
            let path = format!(
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}?fieldManager={name}&force=true"
            );
            let body = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-system"},
                "spec": {
                    "holderIdentity": holder,
                    "leaseDurationSeconds": 15,
                    "renewTime": clock::now_micro(),
                },
            });
            let r = client
                .call(
                    Method::PATCH,
                    &path,
                    Some("application/apply-patch+yaml"),
                    body.to_string().into_bytes(),
                )
                .await;
            leased.report(&format!("renew Lease kube-system/{name}"), describe(&r));
        }
    });
}

/// This machine's host name (as the real components use for identities).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
