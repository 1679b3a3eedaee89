//! Rolling mode of `deploy` (and so of `upgrade`, `cert rotate` and `add`): when containers
//! of a running cluster would be *replaced*, nodes are changed a few at a time instead of
//! all at once, so the API keeps answering.
//!
//! Each node goes through the component table (`crate::plan::phases::COMPONENTS`), in
//! order, with the gate after each component. Masters one at a time, each: drain (when its
//! node agents change), etcd → wait until every member is healthy, kube-apiserver (stopped,
//! a pause so the load balancers mark it down, started) → wait for its `/readyz`, load
//! balancers, controller-manager and scheduler, node agents → wait Ready with a new
//! heartbeat, uncordon. Then the other nodes in batches of `max_unavailable`: drain, load
//! balancers, node agents, Ready, uncordon.

use super::containers::{self, Containers, admin_client, wait_ready};
use super::drain;
use super::fleet::{Node, StepError, fan_out};
use super::options::DeployOptions;
pub use super::options::RollMode;
use crate::components::paths;
use crate::executor::docker::observe;
use crate::kubeapi::KubeClient;
use crate::model::{Cluster, Role};
use crate::pki::Pki;
use crate::plan::phases::{COMPONENTS, Gate};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The containers that replace the node's kubelet and its runtime (the component whose
/// gate is the node being Ready again): replacing any drains the node first.
pub fn node_agents() -> &'static [&'static str] {
    COMPONENTS
        .iter()
        .find(|c| c.gate == Gate::NodeReady)
        .map_or(&[], |c| c.containers)
}

/// How long a stopped kube-apiserver stays down before its successor starts: the load
/// balancers check every 2 s, and after one failure every 500 ms, 2 failures mark it down
/// (`templates/node/haproxy.cfg`), so 2 + 2 × 0.5 s + margin. Meanwhile new connections to
/// it are refused and haproxy redispatches them to another apiserver. (The component
/// table's `pause_secs` of kube-apiserver.)
pub const LB_DOWN_WAIT: Duration = Duration::from_secs(4);

/// Per host, the containers whose spec hash differs from the running one.
pub type Replacing = BTreeMap<String, BTreeSet<String>>;

/// Split `items` into batches of at most `size` (at least 1), in order.
pub fn batches<T: Clone>(items: &[T], size: usize) -> Vec<Vec<T>> {
    items.chunks(size.max(1)).map(<[T]>::to_vec).collect()
}

/// Whether deploy rolls, given the mode and what would be replaced.
pub fn rolls(mode: RollMode, replacing: &Replacing) -> bool {
    match mode {
        RollMode::Always => true,
        RollMode::Never => false,
        RollMode::Auto => replacing.values().any(|c| !c.is_empty()),
    }
}

/// Whether replacing these containers needs the node drained first.
pub fn needs_drain(replacing: Option<&BTreeSet<String>>) -> bool {
    replacing.is_some_and(|c| node_agents().iter().any(|a| c.contains(*a)))
}

/// Look at every node's containers: which exist with another spec hash.
pub async fn observe_replacements(
    nodes: &[&Node],
    parallel: usize,
) -> Result<Replacing, Vec<StepError>> {
    let results = fan_out(nodes, parallel, |n| async move {
        let mut set = BTreeSet::new();
        let seen = observe::spec_hashes(n.docker())
            .await
            .map_err(|e| StepError::new(n.host(), "observe containers", e.to_string()))?;
        for spec in &n.artifacts.containers {
            let want = spec.labels.get(crate::components::spec::LABEL_SPEC_HASH);
            // present with another (or no) spec hash: it would be replaced
            if let Some(hash) = seen.get(&spec.name)
                && hash.as_ref() != want
            {
                set.insert(spec.name.clone());
            }
        }
        Ok((n.host().to_string(), set))
    })
    .await;
    let mut out = Replacing::new();
    let mut errs = Vec::new();
    for r in results {
        match r {
            Ok((h, s)) => {
                out.insert(h, s);
            }
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// What a roll needs.
pub struct Roll<'a> {
    pub cluster: &'a Cluster,
    pub pki: &'a Pki,
    pub nodes: &'a [Node],
    pub replacing: &'a Replacing,
    pub containers: &'a Containers<'a>,
    pub opts: &'a DeployOptions,
}

impl Roll<'_> {
    /// Roll every node: masters one at a time, then the others in batches. Stops at the
    /// first failure: (phase, errors).
    pub async fn run(&self) -> Result<(), (String, Vec<StepError>)> {
        let masters: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.machine.role == Role::Master)
            .collect();
        let others: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.machine.role != Role::Master)
            .collect();
        let progress = &self.opts.progress.phase;
        for (i, m) in masters.iter().enumerate() {
            progress(&format!(
                "rolling master {} ({}/{}){}",
                m.host(),
                i + 1,
                masters.len(),
                self.what(m)
            ));
            self.roll_node(m)
                .await
                .map_err(|e| (format!("rolling {}", m.host()), vec![e]))?;
        }
        let size = self.opts.rollout.max_unavailable.max(1);
        let groups = batches(&others, size);
        for (i, group) in groups.iter().enumerate() {
            let names: Vec<&str> = group.iter().map(|n| n.host()).collect();
            progress(&format!(
                "rolling nodes {} (batch {}/{} of at most {size})",
                names.join(", "),
                i + 1,
                groups.len()
            ));
            let results = fan_out(group, size, |n| self.roll_node(n)).await;
            let errs: Vec<StepError> = results.into_iter().filter_map(Result::err).collect();
            if !errs.is_empty() {
                return Err((format!("rolling {}", names.join(", ")), errs));
            }
        }
        Ok(())
    }

    fn what(&self, n: &Node) -> String {
        match self.replacing.get(n.host()) {
            Some(c) if !c.is_empty() => format!(": replacing {}", join(c)),
            _ => String::new(),
        }
    }

    /// An admin client on a master's apiserver that answers `/readyz`, preferring one
    /// that is not on `avoid` (the node being rolled), else its own.
    async fn api(&self, avoid: &str) -> Result<KubeClient, StepError> {
        let mut masters: Vec<_> = self.cluster.masters().collect();
        masters.sort_by_key(|m| m.hostname == avoid);
        let mut last = String::from("no master");
        for m in masters {
            let url = format!(
                "https://{}",
                paths::host_port(m.hostip, self.cluster.kubernetes.api_port)
            );
            let c = admin_client(self.pki, &url)?;
            match c.readyz().await {
                Ok(true) => return Ok(c),
                Ok(false) => last = format!("{url}: /readyz not ready"),
                Err(e) => last = e.to_string(),
            }
        }
        Err(
            StepError::new(avoid, "drain", format!("no apiserver answers: {last}"))
                .hint("drain needs the API; fix it first or run again with --no-drain"),
        )
    }

    async fn roll_node(&self, n: &Node) -> Result<(), StepError> {
        let opts = self.opts;
        let live = !opts.dry_run;
        let wait = opts.wait;
        let node_name = n.machine.nodename.clone();
        let agents_replaced = needs_drain(self.replacing.get(n.host()));
        let mut api = None;
        if agents_replaced && live {
            let c = self.api(n.host()).await?;
            if opts.rollout.drain {
                (opts.progress.node)(n.host(), "draining");
                match drain::drain(&c, n.host(), &node_name, wait).await? {
                    Some(evicted) => n.log.line(&format!(
                        "drained node {node_name}: {evicted} pod(s) evicted"
                    )),
                    None => n.log.line(&format!(
                        "node {node_name} is not registered: nothing to drain"
                    )),
                }
            }
            api = Some(c);
        }
        // The heartbeat just before the old kubelet stops: Ready must come with a newer one
        // (only when the kubelet or its runtime restarts; else Ready is enough).
        let restarts_kubelet = self
            .replacing
            .get(n.host())
            .is_some_and(|c| c.contains("kubelet") || c.contains("cri-dockerd"));
        for c in COMPONENTS.iter().filter(|c| c.on(n.machine.role)) {
            let before = match (&api, c.gate) {
                (Some(api), Gate::NodeReady) => Some(drain::Before {
                    state: drain::node_state(api, &node_name).await,
                    restarts_kubelet,
                }),
                (None, Gate::NodeReady) => Some(drain::Before {
                    state: None,
                    restarts_kubelet,
                }),
                _ => None,
            };
            let pause = Duration::from_secs(c.pause_secs);
            let done = self.containers.ensure(n, c.containers, pause).await?;
            let changed = containers::changed(&done) && live;
            match c.gate {
                Gate::EtcdHealthy if changed => {
                    (opts.progress.node)(n.host(), "waiting for etcd members");
                    self.etcd_healthy(n).await?;
                }
                Gate::ApiserverReady if changed => {
                    (opts.progress.node)(n.host(), "waiting for kube-apiserver /readyz");
                    let url = format!(
                        "https://{}",
                        paths::host_port(n.machine.hostip, self.cluster.kubernetes.api_port)
                    );
                    let c = admin_client(self.pki, &url)?;
                    wait_ready(&c, n.host(), wait).await?;
                }
                Gate::NodeReady => {
                    if let (Some(c), Some(before)) = (&api, &before) {
                        (opts.progress.node)(n.host(), "waiting for the node to be Ready");
                        drain::back_ready(
                            c,
                            n.host(),
                            &node_name,
                            before,
                            wait,
                            opts.rollout.drain,
                        )
                        .await?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn etcd_healthy(&self, n: &Node) -> Result<(), StepError> {
        let wait = self.opts.wait.max(Duration::from_secs(60));
        containers::etcd_healthy(self.cluster, self.pki, wait, |h| {
                StepError::new(
                    n.host(),
                    "etcd member healthy",
                    format!("etcd is not healthy after {wait:?}: {}", h.problems()),
                )
                .hint("read `docker logs etcd` on that node (also in DIR/.k8s-manage/logs); the other masters were not touched")
        })
        .await
        .map(|_| ())
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_order_and_bound_size() {
        let w = ["w1", "w2", "w3", "w4", "w5"];
        assert_eq!(
            batches(&w, 2),
            vec![vec!["w1", "w2"], vec!["w3", "w4"], vec!["w5"]]
        );
        assert_eq!(batches(&w, 0).len(), 5, "0 means 1");
        assert_eq!(batches(&w, 9), vec![w.to_vec()]);
        assert!(batches::<&str>(&[], 3).is_empty());
    }

    #[test]
    fn auto_rolls_only_when_something_is_replaced() {
        let mut r = Replacing::new();
        r.insert("m1".into(), BTreeSet::new());
        assert!(!rolls(RollMode::Auto, &r));
        assert!(rolls(RollMode::Always, &r));
        r.insert("w1".into(), ["kubelet".to_string()].into());
        assert!(rolls(RollMode::Auto, &r));
        assert!(!rolls(RollMode::Never, &r));
    }

    #[test]
    fn only_node_agent_replacements_drain() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(!needs_drain(None));
        assert!(!needs_drain(Some(&set(&["kube-apiserver", "etcd"]))));
        assert!(!needs_drain(Some(&set(&["k8s-manage-local-lb"]))));
        assert!(needs_drain(Some(&set(&["kube-proxy"]))));
        assert!(needs_drain(Some(&set(&["etcd", "kubelet"]))));
    }
}
