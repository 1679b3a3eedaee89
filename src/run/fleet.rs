//! The connected fleet: one SSH session and one Docker API tunnel per node, reused by every
//! step (the tunnels' bridges, a second SSH session and a thread each, run only while used
//! and at most `--parallel` at once), and a bounded fan-out that runs a per-node step on
//! all nodes concurrently.

use super::logs::NodeLog;
use super::options::Reach;
use crate::model::Machine;
use crate::render::node::NodeArtifacts;
use crate::ssh::{DockerTunnel, KnownHosts, Session, SshError, Target, TunnelLimit};
use std::future::Future;
use std::sync::Arc;

/// A failure of one step on one node: what, where, why, and what to do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepError {
    pub host: String,
    pub step: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.host, self.step, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  fix: {h}")?;
        }
        Ok(())
    }
}

impl StepError {
    pub fn new(host: &str, step: &str, message: impl Into<String>) -> StepError {
        StepError {
            host: host.into(),
            step: step.into(),
            message: message.into(),
            hint: None,
        }
    }
    pub fn hint(mut self, h: impl Into<String>) -> StepError {
        self.hint = Some(h.into());
        self
    }
    pub fn from_ssh(host: &str, step: &str, e: &SshError) -> StepError {
        StepError::new(host, step, e.to_string())
    }
}

/// One node, connected.
pub struct Node {
    pub machine: Machine,
    pub artifacts: NodeArtifacts,
    pub session: Arc<Session>,
    pub docker: Arc<DockerTunnel>,
    pub log: Arc<NodeLog>,
}

impl Node {
    pub fn host(&self) -> &str {
        &self.machine.hostname
    }
    pub fn docker(&self) -> &bollard::Docker {
        self.docker.client()
    }
}

/// Connect to every machine (bounded concurrency) and open its Docker tunnel. Every
/// unreachable host is reported; none is dropped.
pub fn connect(
    machines: &[(Machine, NodeArtifacts)],
    known: &KnownHosts,
    reach: &Reach,
    run_dir: &std::path::Path,
) -> Result<Vec<Node>, Vec<StepError>> {
    let mut errors = Vec::new();
    let mut nodes = Vec::new();
    for r in connect_each(machines, known, reach, run_dir) {
        match r {
            Ok(n) => nodes.push(n),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(nodes)
    } else {
        Err(errors)
    }
}

/// Like [`connect`], but one result per machine, in the order given: the nodes that
/// answered stay usable when others do not (for reports such as `status`).
pub fn connect_each(
    machines: &[(Machine, NodeArtifacts)],
    known: &KnownHosts,
    reach: &Reach,
    run_dir: &std::path::Path,
) -> Vec<Result<Node, StepError>> {
    let targets: Vec<Target> = machines
        .iter()
        .map(|(m, _)| Target::from_machine(m))
        .collect();
    let parallel = if reach.parallel == 0 {
        crate::ssh::DEFAULT_PARALLEL
    } else {
        reach.parallel
    };
    // Docker tunnels: at most `parallel` of their bridges (a second SSH session and a
    // thread each) run at any time.
    let limit = TunnelLimit::new(parallel);
    let connected = crate::ssh::connect_all_with_docker(
        &targets,
        known,
        reach.host_keys,
        &reach.connect,
        parallel,
        &limit,
    );
    connected
        .into_iter()
        .zip(machines)
        .map(|(c, (machine, a))| {
            let s = c
                .session
                .map_err(|e| StepError::from_ssh(&machine.hostname, "connect", &e))?;
            let Some(t) = c.docker else {
                return Err(StepError::new(
                    &machine.hostname,
                    "docker API over SSH",
                    "a connection thread ended without a result",
                ));
            };
            let (m, a) = (machine.clone(), a.clone());
            match t {
                Ok(t) => {
                    let log = Arc::new(NodeLog::open(run_dir, &m.hostname));
                    log.line(&format!(
                        "connected to {} ({}), host key {}",
                        m.hostname,
                        m.hostip,
                        s.host_key_fingerprint()
                    ));
                    Ok(Node {
                        machine: m,
                        artifacts: a,
                        session: Arc::new(s),
                        docker: Arc::new(t),
                        log,
                    })
                }
                Err(e) => Err(StepError::from_ssh(&m.hostname, "docker API over SSH", &e)),
            }
        })
        .collect()
}

/// Run `f` on every node in `nodes` with at most `parallel` at once; all results, in order.
pub async fn fan_out<'a, T, F, Fut>(
    nodes: &[&'a Node],
    parallel: usize,
    f: F,
) -> Vec<Result<T, StepError>>
where
    F: Fn(&'a Node) -> Fut,
    Fut: Future<Output = Result<T, StepError>> + 'a,
{
    use futures_util::stream::{self, StreamExt};
    let mut indexed: Vec<(usize, Result<T, StepError>)> =
        stream::iter(nodes.iter().enumerate().map(|(i, n)| {
            let fut = f(n);
            async move { (i, fut.await) }
        }))
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, r)| r).collect()
}

/// Run a blocking SSH call off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
