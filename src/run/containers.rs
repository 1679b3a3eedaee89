//! Creating or replacing a node's containers in the order of the component table
//! (`crate::plan::phases::COMPONENTS`), counting what changed per node, and the waits
//! that follow (running, stable, `/readyz`). Used by deploy's phases (all at once) and
//! by [`super::rolling`] (node by node).

use super::fleet::{Node, StepError};
use super::options::DeployOptions;
use super::report::NodeReport;
use crate::executor::docker::ensure::{self, Action, EnsureOptions};
use crate::executor::docker::{error, waits};
use crate::kubeapi::KubeClient;
use crate::pki::Pki;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-node tallies collected while running.
#[derive(Default)]
pub struct Tally {
    pub(super) per_node: BTreeMap<String, NodeReport>,
}

/// Add to `host`'s tally.
pub fn record(t: &Mutex<Tally>, host: &str, f: impl FnOnce(&mut NodeReport)) {
    if let Ok(mut g) = t.lock() {
        f(g.per_node.entry(host.to_string()).or_default());
    }
}

/// What ensuring containers needs: where to count, the run's settings, and whether a
/// container that is restarting or unhealthy is made afresh (repair).
pub struct Containers<'a> {
    pub tally: &'a Mutex<Tally>,
    pub opts: &'a DeployOptions,
    pub recreate_unhealthy: bool,
}

impl Containers<'_> {
    /// Ensure the named containers of a node, in order; what was done to each. `pause`
    /// is the wait between stopping an old container and starting its replacement.
    pub async fn ensure(
        &self,
        node: &Node,
        names: &[&str],
        pause: Duration,
    ) -> Result<Vec<(String, Action)>, StepError> {
        let opts = self.opts;
        let (dry_run, wait) = (opts.dry_run, opts.wait);
        let mut done = Vec::new();
        let mut started: Vec<&str> = Vec::new();
        let step_error = |name: &str, e: error::DockerOpError| {
            StepError::new(node.host(), &format!("container {name}"), e.to_string())
        };
        for spec in node
            .artifacts
            .containers
            .iter()
            .filter(|c| names.contains(&c.name.as_str()))
        {
            (opts.progress.node)(node.host(), &format!("container {}", spec.name));
            let action = ensure::ensure_container(
                node.docker(),
                spec,
                &EnsureOptions {
                    dry_run,
                    recreate_unhealthy: self.recreate_unhealthy,
                    pause_after_stop: pause,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| step_error(&spec.name, e))?;
            node.log
                .line(&format!("container {}: {action:?}", spec.name));
            record(self.tally, node.host(), |r| r.count(&spec.name, &action));
            done.push((spec.name.clone(), action));
            if !dry_run && !matches!(action, Action::Unchanged) {
                // Running before the next one starts (they are in dependency order)...
                waits::wait_running(node.docker(), &spec.name, Duration::ZERO, wait)
                    .await
                    .map_err(|e| step_error(&spec.name, e))?;
                started.push(spec.name.as_str());
            }
        }
        // ...and then all of them stable (not restarting) together, not one after another.
        let stable = started.iter().map(|name| async move {
            waits::wait_running(node.docker(), name, Duration::from_secs(3), wait)
                .await
                .map_err(|e| step_error(name, e))
        });
        futures_util::future::try_join_all(stable).await?;
        Ok(done)
    }
}

/// Whether any of these actions changed a container.
pub fn changed(done: &[(String, Action)]) -> bool {
    done.iter().any(|(_, a)| a.changes())
}

/// The admin API client for `server`, as a step error of the control host on failure.
pub fn admin_client(pki: &Pki, server: &str) -> Result<KubeClient, StepError> {
    KubeClient::admin(pki, server, Duration::from_secs(10))
        .map_err(|e| StepError::new("control host", "admin API client", e))
}

/// Wait (bounded) until the apiserver behind `client` answers `/readyz`.
pub async fn wait_ready(client: &KubeClient, host: &str, wait: Duration) -> Result<(), StepError> {
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < wait {
        match client.readyz().await {
            Ok(true) => return Ok(()),
            Ok(false) => last = "/readyz answered not ready".into(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(StepError::new(host, "kube-apiserver /readyz", format!("not ready after {wait:?}: {last}"))
        .hint("read the container log: `docker logs kube-apiserver` on that node (also in DIR/.k8s-manage/logs)"))
}

/// Wait (bounded, at least 60 s) until etcd has a quorum and every member is healthy,
/// asked with the PKI's etcd client credential; `unhealthy` makes the error from what
/// was last seen.
pub async fn etcd_healthy(
    cluster: &crate::model::Cluster,
    pki: &Pki,
    wait: Duration,
    unhealthy: impl FnOnce(&crate::etcd::EtcdHealth) -> StepError,
) -> Result<crate::etcd::EtcdHealth, StepError> {
    let endpoints: Vec<String> = cluster
        .masters()
        .map(crate::components::etcd::client_url)
        .collect();
    let cred = pki
        .etcd_client()
        .map_err(|e| StepError::new("control host", "etcd credentials", e.to_string()))?;
    crate::etcd::wait_healthy(&endpoints, &cred, wait.max(Duration::from_secs(60)))
        .await
        .map_err(|h| unhealthy(&h))
}
