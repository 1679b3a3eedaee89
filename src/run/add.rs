//! `add -f NODES`: machines join a running cluster, [`ADD`]'s phases through the one
//! runner.
//!
//! Everything is checked before anything changes: the merged config validates, every new
//! node answers and passes preflight, and etcd would take the first new member (by etcd's
//! own rules, [`crate::etcd::quorum`]); a dry run stops there, and each later phase says
//! what it would do. Workers: the merged cluster is deployed onto the new nodes only
//! (certificates from the existing CA); existing nodes are not touched. Masters, one at a
//! time: automatic snapshot (once), the new master's files and etcd image, `member add
//! --learner` through the leader (a voting `member add` where etcd has no learners, < 3.4),
//! its etcd started with `--initial-cluster-state=existing`, a bounded wait until it has
//! caught up with the leader, `member promote`, every member healthy, then
//! `cluster-configuration.yaml` written back. The quorum never depends on a member that is
//! not running yet, so 1 → 2 → 3 keeps the API answering. After the last member, three
//! deploys in the order that keeps the API answering ([`deploy_stages`], one phase each):
//! the new nodes, the other nodes' load balancers, then the existing masters one at a time.

use super::deploy::DeployOptions;
use super::engine::{self, Failure, Phases};
use super::fleet::{Node, StepError, fan_out};
use super::membership::{self, MemberChange, MembershipLog, MembershipReport};
use crate::components::etcd::{self as etcd_component, BootstrapState, EtcdBootstrap};
use crate::config::write_back::NewEntry;
use crate::etcd::members::{self, Join, Leader, Member};
use crate::etcd::quorum::{self, Refused};
use crate::executor::docker::ensure::{self, EnsureOptions};
use crate::executor::docker::{images, waits};
use crate::model::{Cluster, Machine, Role, checked_edit};
use crate::pki::Pki;
use crate::plan::phases::{ADD, PhaseSpec};
use crate::render::node as render_node;
use std::collections::BTreeSet;
use std::time::Duration;

/// Add the machines named by `entries` (already validated: `merged` is the config with
/// them appended) to `cluster`: [`ADD`]'s phases through the one runner.
pub async fn add(
    cluster: &Cluster,
    merged: &Cluster,
    entries: &[NewEntry],
    opts: &DeployOptions,
) -> Result<MembershipReport, MembershipReport> {
    let report = MembershipReport::new("add", cluster, opts.dry_run);
    let names: BTreeSet<String> = entries.iter().map(|e| e.hostname.clone()).collect();
    let new: Vec<Machine> = merged
        .machines
        .iter()
        .filter(|m| names.contains(&m.hostname))
        .cloned()
        .collect();
    let clock = super::phase_clock::PhaseClock::start();
    let run = Joining {
        cluster,
        merged,
        entries,
        opts,
        masters_join: new.iter().any(|m| m.role == Role::Master),
        names,
        new,
        log: MembershipLog::new(report),
        pki: None,
        nodes: Vec::new(),
        cred: None,
        endpoints: cluster.masters().map(etcd_component::client_url).collect(),
        learners: true,
        written: BTreeSet::new(),
    };
    let (run, result) = engine::run(&ADD, &clock, run).await;
    let report = run.log.report.finish();
    match result {
        Ok(()) => Ok(report),
        Err(()) => Err(report),
    }
}

/// One `add` as it goes through the phases.
struct Joining<'a> {
    cluster: &'a Cluster,
    merged: &'a Cluster,
    entries: &'a [NewEntry],
    opts: &'a DeployOptions,
    /// Whether any new machine is a master (etcd changes, and the other nodes follow).
    masters_join: bool,
    names: BTreeSet<String>,
    /// The new machines, as the merged config has them.
    new: Vec<Machine>,
    log: MembershipLog,
    pki: Option<Pki>,
    /// The new nodes, connected (until the deploys, which connect on their own).
    nodes: Vec<Node>,
    cred: Option<crate::etcd::EtcdCredentials>,
    /// The etcd client URLs of the members so far (grows with each joined master).
    endpoints: Vec<String>,
    /// The first new master joins as a learner (etcd 3.4+).
    learners: bool,
    /// The masters already written to cluster-configuration.yaml.
    written: BTreeSet<String>,
}

impl Phases for Joining<'_> {
    type Log = MembershipLog;

    async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure> {
        match phase.id {
            "connect" => self.connect().await,
            "preflight" => self.preflight().await,
            "quorum-check" => self.quorum_check().await,
            id if self.opts.dry_run => {
                self.would(id);
                engine::live_only(&mut self.log);
                Ok(())
            }
            "snapshot" => self.snapshot().await,
            "etcd-join" => self.etcd_join().await,
            id @ ("deploy-new" | "lb-backends" | "roll-masters") => self.deploy(id).await,
            "config-update" => self.config_update().await,
            id => Err(Failure::one(id, engine::no_runner("add", id))),
        }
    }

    fn log(&mut self) -> &mut MembershipLog {
        &mut self.log
    }

    fn finish(&mut self) {}
}

impl Joining<'_> {
    fn step(&mut self, s: impl Into<String>) {
        self.log.report.step(self.opts, s);
    }

    fn new_masters(&self) -> Vec<Machine> {
        self.new
            .iter()
            .filter(|m| m.role == Role::Master)
            .cloned()
            .collect()
    }

    fn cred(&self) -> Result<&crate::etcd::EtcdCredentials, Failure> {
        membership::loaded(&self.cred)
    }

    /// Certificates for the new machines (from the existing CA), then connect to them:
    /// every one must answer.
    async fn connect(&mut self) -> Result<(), Failure> {
        self.step("certificates for the new machines (existing CA)");
        let pki = membership::load_pki(self.merged, self.opts.dry_run)
            .map_err(|e| Failure::one("pki", e))?;
        let mut rendered = Vec::new();
        for m in &self.new {
            let a = render_node::render_node(self.merged, &pki, m).map_err(|e| {
                Failure::one(
                    "render",
                    StepError::new(&m.hostname, "render", e.to_string()),
                )
            })?;
            rendered.push((m.clone(), a));
        }
        self.pki = Some(pki);
        self.step(format!("connecting to the {} new node(s)", self.new.len()));
        let mut errs = Vec::new();
        for r in membership::connect_each(self.merged, rendered, self.opts, "add").await {
            match r {
                Ok(n) => self.nodes.push(n),
                Err(e) => errs.push(e),
            }
        }
        if !errs.is_empty() {
            return Err(Failure::new("connect", errs));
        }
        Ok(())
    }

    async fn preflight(&mut self) -> Result<(), Failure> {
        self.step("preflight checks on the new nodes");
        let all: Vec<&Node> = self.nodes.iter().collect();
        let merged = self.merged;
        let pre = fan_out(&all, self.opts.reach.parallel, |n| async move {
            super::preflight::check(merged, n)
                .await
                .map_err(|mut e| e.remove(0))
        })
        .await;
        let errs: Vec<StepError> = pre.into_iter().filter_map(Result::err).collect();
        if !errs.is_empty() {
            return Err(Failure::new("preflight", errs));
        }
        Ok(())
    }

    /// The etcd credentials, and whether the first new master may join now by etcd's
    /// rules (each later one is decided again when its turn comes).
    async fn quorum_check(&mut self) -> Result<(), Failure> {
        let pki = self.pki.as_ref().ok_or_else(|| {
            Failure::one("pki", StepError::new("control host", "pki", "not loaded"))
        })?;
        self.cred = Some(
            membership::etcd_credentials(pki).map_err(|e| Failure::one("etcd credentials", e))?,
        );
        if let Some(first) = self.new_masters().first() {
            let d = decide_join(self.merged, &self.endpoints, self.cred()?, first)
                .await
                .map_err(|e| Failure::one("etcd quorum", e))?;
            self.learners = d.learners;
        }
        Ok(())
    }

    /// What a dry run says for a phase after the checks.
    fn would(&mut self, phase: &str) {
        match phase {
            "etcd-join" => {
                for m in self.new_masters() {
                    let how = if self.learners {
                        " as a learner, start it, wait until it has caught up, promote it and wait until every member is healthy"
                    } else {
                        " as a voting member (this etcd has no learners), start it and wait until every member is healthy"
                    };
                    self.step(format!(
                        "would add etcd member {} ({}) through the leader{how}",
                        m.etcdid.as_deref().unwrap_or_default(),
                        etcd_component::peer_url(&m),
                    ));
                }
            }
            "deploy-new" | "lb-backends" | "roll-masters" => {
                for stage in deploy_stages(self.cluster, &self.names, self.masters_join) {
                    if stage.phase == phase {
                        self.step(format!("would deploy {}", stage.what));
                    }
                }
            }
            "config-update" => {
                self.step("would write cluster-configuration.yaml (with a backup)");
                let would: Vec<MemberChange> = self
                    .new
                    .iter()
                    .map(|m| MemberChange::of(m, "would join"))
                    .collect();
                self.log.report.nodes.extend(would);
            }
            _ => {}
        }
    }

    async fn snapshot(&mut self) -> Result<(), Failure> {
        if !self.masters_join {
            return Ok(());
        }
        self.step("automatic etcd snapshot before the membership change");
        let p = membership::auto_snapshot(self.cluster, "add", self.opts)
            .await
            .map_err(|e| Failure::new("snapshot", e))?;
        self.log.report.snapshot = Some(p);
        Ok(())
    }

    /// The new masters join etcd one at a time; the config grows with each, so that it
    /// always matches etcd.
    async fn etcd_join(&mut self) -> Result<(), Failure> {
        for m in self.new_masters() {
            let Some(i) = self.nodes.iter().position(|n| n.host() == m.hostname) else {
                continue;
            };
            self.step(format!(
                "etcd member {} joins",
                m.etcdid.as_deref().unwrap_or_default()
            ));
            let cred = self.cred()?.clone();
            join_master(
                self.merged,
                &self.nodes[i],
                &self.endpoints,
                &cred,
                self.opts,
                &mut self.log.report,
            )
            .await
            .map_err(|e| Failure::one("etcd member add", e))?;
            self.endpoints.push(etcd_component::client_url(&m));
            let entry: Vec<NewEntry> = self
                .entries
                .iter()
                .filter(|e| e.hostname == m.hostname)
                .cloned()
                .collect();
            let w = checked_edit::write_back(&self.cluster.config_dir, &entry, &[]).map_err(|e| {
                Failure::one(
                    "config write-back",
                    StepError::new("control host", "cluster-configuration.yaml", e)
                        .hint("the member joined etcd: add its entry to cluster-configuration.yaml by hand, then run `k8s-manage deploy`"),
                )
            })?;
            self.log.report.config_written.push(w);
            self.written.insert(m.hostname.clone());
        }
        Ok(())
    }

    /// The deploys of this phase ([`deploy_stages`]); a stage scoped to some nodes is a
    /// repair of them (no add-ons, no state).
    async fn deploy(&mut self, phase: &str) -> Result<(), Failure> {
        // the deploys connect on their own
        self.nodes.clear();
        for stage in deploy_stages(self.cluster, &self.names, self.masters_join) {
            if stage.phase != phase {
                continue;
            }
            self.step(format!("deploying {}", stage.what));
            let deployed = match &stage.scope {
                Some(hosts) => super::deploy::repair(self.merged, hosts.clone(), self.opts).await,
                None => super::deploy::deploy(self.merged, self.opts).await,
            };
            let (ok, mut dr) = match deployed {
                Ok(r) => (true, r),
                Err(r) => (false, r),
            };
            dr.action = "deploy".into();
            let error = (!ok).then(|| {
                StepError::new(
                    "cluster",
                    "deploy",
                    format!(
                        "{}: {} failed: {}",
                        stage.what,
                        dr.failed_phase.clone().unwrap_or_default(),
                        dr.errors
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
                .hint(if self.written.is_empty() {
                    "fix the cause and run the same `add` again"
                } else {
                    "the new masters are etcd members and in cluster-configuration.yaml: fix the cause and run `k8s-manage deploy`"
                })
            });
            self.log.report.deploy = Some(dr);
            if let Some(e) = error {
                self.log.report.nodes = self
                    .new
                    .iter()
                    .map(|m| {
                        MemberChange::of(
                            m,
                            if self.written.contains(&m.hostname) {
                                "etcd member, control plane not deployed"
                            } else {
                                "failed"
                            },
                        )
                    })
                    .collect();
                return Err(Failure::one("deploy", e));
            }
        }
        Ok(())
    }

    /// The machines not written yet go into cluster-configuration.yaml; the report gets
    /// the etcd members and the nodes that joined.
    async fn config_update(&mut self) -> Result<(), Failure> {
        let rest: Vec<NewEntry> = self
            .entries
            .iter()
            .filter(|e| !self.written.contains(&e.hostname))
            .cloned()
            .collect();
        if !rest.is_empty() {
            self.step("writing cluster-configuration.yaml (with a backup)");
            let w =
                checked_edit::write_back(&self.cluster.config_dir, &rest, &[]).map_err(|e| {
                    Failure::one(
                    "config write-back",
                    StepError::new("control host", "cluster-configuration.yaml", e).hint(
                        "the nodes joined: add their entries to cluster-configuration.yaml by hand",
                    ),
                )
                })?;
            self.log.report.config_written.push(w);
        }
        if let Ok(names) = membership::member_names(&self.endpoints, self.cred()?).await {
            self.log.report.etcd_members = names;
        }
        let joined: Vec<MemberChange> = self
            .new
            .iter()
            .map(|m| MemberChange::of(m, "joined"))
            .collect();
        self.log.report.nodes.extend(joined);
        Ok(())
    }
}

fn step_err(node: &Node, step: &str) -> impl Fn(String) -> StepError + use<> {
    let (host, step) = (node.host().to_string(), step.to_string());
    move |e| StepError::new(&host, &step, e)
}

/// One deploy after the etcd changes: the phase of [`ADD`] it belongs to, what it
/// deploys (for the progress and the report), and the nodes it touches (`None` = all,
/// rolling where containers are replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployStage {
    pub phase: &'static str,
    pub what: String,
    pub scope: Option<BTreeSet<String>>,
}

/// The deploys after the etcd changes, in order. Workers only: the new nodes. Masters: the
/// new nodes first (so the new apiservers answer), then every other existing node that is
/// not a master (their load balancers learn the new apiservers), then the whole cluster,
/// which rolls the existing masters one at a time (their `--etcd-servers`, certificate and
/// load balancer) while the load balancers already have the new apiservers to turn to.
pub fn deploy_stages(
    cluster: &Cluster,
    new: &BTreeSet<String>,
    masters_join: bool,
) -> Vec<DeployStage> {
    if !masters_join {
        return vec![DeployStage {
            phase: "deploy-new",
            what: "the new nodes (existing nodes unchanged)".into(),
            scope: Some(new.clone()),
        }];
    }
    let mut out = vec![DeployStage {
        phase: "deploy-new",
        what: "the new nodes: the new masters' control plane, their load balancers and node agents"
            .into(),
        scope: Some(new.clone()),
    }];
    let others: BTreeSet<String> = cluster
        .machines
        .iter()
        .filter(|m| m.role != Role::Master && !new.contains(&m.hostname))
        .map(|m| m.hostname.clone())
        .collect();
    if !others.is_empty() {
        out.push(DeployStage {
            phase: "lb-backends",
            what: "the load balancers of the other nodes (the new apiservers as backends)".into(),
            scope: Some(others),
        });
    }
    out.push(DeployStage {
        phase: "roll-masters",
        what: "the merged cluster: the existing masters one at a time (--etcd-servers, apiserver certificate, load balancers)".into(),
        scope: None,
    });
    out
}

/// What etcd says about one joining machine, read through the leader.
struct Decision {
    leader: Leader,
    list: Vec<Member>,
    join: Join,
    /// The server has learners (etcd 3.4+).
    learners: bool,
    version: String,
}

/// Find the leader, read the member list and which members answer, and decide by etcd's
/// rules how `m` joins; a refusal names the rule and what to do.
async fn decide_join(
    cluster: &Cluster,
    endpoints: &[String],
    cred: &crate::etcd::EtcdCredentials,
    m: &crate::model::Machine,
) -> Result<Decision, StepError> {
    let name = m.etcdid.clone().unwrap_or_else(|| m.hostname.clone());
    let peer = etcd_component::peer_url(m);
    let mut leader = members::connect_leader(endpoints, cred, Duration::from_secs(10))
        .await
        .map_err(|e| {
            StepError::new("etcd", "leader", e).hint(super::etcd_nodes::restore_hint(cluster))
        })?;
    let list = leader
        .members()
        .await
        .map_err(|e| StepError::new("etcd", "member list", e))?;
    let already = members::find_exact(&list, &name, &peer)
        .map_err(|e| StepError::new(&m.hostname, "etcd member", e))?
        .cloned();
    let health = members::member_health(&list, cred).await;
    let version = leader.version().unwrap_or_default().to_string();
    let learners = members::supports_learners(&version);
    let join = members::plan_join(
        &list,
        &|x| members::is_started(x, &health),
        already.as_ref(),
        learners,
    )
    .map_err(|e| refused(cluster, &name, &e, &health))?;
    Ok(Decision {
        leader,
        list,
        join,
        learners,
        version,
    })
}

fn refused(
    cluster: &Cluster,
    name: &str,
    e: &Refused,
    health: &crate::etcd::EtcdHealth,
) -> StepError {
    let down = health.problems();
    let detail = if down.is_empty() {
        String::new()
    } else {
        format!(" ({down})")
    };
    let hint = if e.lost_quorum() {
        super::etcd_nodes::restore_hint(cluster)
    } else {
        "bring the members that do not answer back first (`k8s-manage status` shows them, `k8s-manage etcdfix` rebuilds one), or remove them".to_string()
    };
    StepError::new(
        "etcd",
        "add member",
        format!("etcd member {name} cannot join now: {e}{detail}"),
    )
    .hint(hint)
}

/// What `add` says before it adds a voting member (etcd < 3.4 has no learners); when the
/// cluster has one member, that the API stops answering until the second has started.
pub fn voter_add_notice(version: &str, name: &str, pauses_quorum: bool) -> String {
    let version = if version.is_empty() {
        "of an unknown version"
    } else {
        version
    };
    format!(
        "etcd {version} has no learners: {name} is added as a voting member{}",
        if pauses_quorum {
            "; until it has started and joined, etcd has 1 of the 2 members it needs, so etcd and the Kubernetes API do not answer (usually a few seconds)"
        } else {
            ""
        }
    )
}

/// `member add` (a learner, or a voting member) through the leader, retried (bounded) while
/// etcd answers "unhealthy cluster": it refuses a reconfiguration until the leader has been
/// connected to every member for a few seconds, e.g. right after a join.
async fn member_add(
    leader: &mut Leader,
    peer: &str,
    learner: bool,
    node: &Node,
    opts: &DeployOptions,
) -> Result<(Member, Vec<Member>), StepError> {
    let start = std::time::Instant::now();
    loop {
        let r = if learner {
            leader.add_learner(peer).await
        } else {
            leader.add(peer).await
        };
        match r {
            Ok(x) => return Ok(x),
            Err(e) if e.contains("unhealthy cluster") && start.elapsed() < opts.wait => {
                node.log.line(&format!("member add refused for now: {e}"));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                return Err(StepError::new("etcd", "member add", e)
                    .hint("check `k8s-manage status`: every etcd member must be healthy"));
            }
        }
    }
}

/// One new master joins etcd: decided by etcd's rules (a re-run resumes a learner or a
/// member an earlier run added), its files and etcd image, `member add` (as a learner where
/// etcd has them), its etcd started to join, a bounded wait until it has caught up with
/// the leader, `member promote` (retried while etcd says it is not in sync yet), and every
/// member healthy before the next master.
async fn join_master(
    merged: &Cluster,
    node: &Node,
    endpoints: &[String],
    cred: &crate::etcd::EtcdCredentials,
    opts: &DeployOptions,
    report: &mut MembershipReport,
) -> Result<(), StepError> {
    let m = &node.machine;
    let name = m.etcdid.clone().unwrap_or_else(|| m.hostname.clone());
    let peer = etcd_component::peer_url(m);
    let Decision {
        mut leader,
        list,
        join,
        version,
        ..
    } = decide_join(merged, endpoints, cred, m).await?;
    (opts.progress.node)(node.host(), "files");
    super::sync_files::sync(node, false).await?;
    let image = merged.kubernetes.images["etcd"].clone();
    (opts.progress.node)(node.host(), "etcd image");
    if !images::image_present(node.docker(), &image)
        .await
        .map_err(|e| step_err(node, "images")(e.to_string()))?
    {
        images::ensure_image(node.docker(), &image, Duration::from_secs(600))
            .await
            .map_err(|e| step_err(node, "images")(e.to_string()))?;
    }
    let (member, list, learner) = match join {
        Join::Add { learner: true, .. } => {
            report.step(
                opts,
                format!("etcd member {name} added as a learner: it does not vote, so the quorum does not change while it starts and catches up"),
            );
            (opts.progress.node)(node.host(), "etcd member add --learner");
            let (added, list) = member_add(&mut leader, &peer, true, node, opts).await?;
            (added, list, true)
        }
        Join::Add {
            learner: false,
            pauses_quorum,
        } => {
            report.step(opts, voter_add_notice(&version, &name, pauses_quorum));
            (opts.progress.node)(node.host(), "etcd member add");
            let (added, list) = member_add(&mut leader, &peer, false, node, opts).await?;
            (added, list, false)
        }
        Join::Learner(mm) => {
            report.step(
                opts,
                format!("etcd member {name} is a learner already (an earlier add stopped there): starting it, then promoting it"),
            );
            (mm, list, true)
        }
        Join::Voter(mm) => {
            report.step(
                opts,
                format!("etcd member {name} is a voting member already: making sure it runs"),
            );
            (mm, list, false)
        }
    };
    let boot = EtcdBootstrap {
        state: BootstrapState::Existing,
        members: members::initial_cluster(&list, Some((&name, &peer))),
    };
    let mut spec = etcd_component::container(merged, m, &boot);
    let files = node.artifacts.files.clone();
    spec.seal(&|p: &str| {
        files
            .iter()
            .find(|f| f.path == p)
            .map(|f| f.contents.clone().into_bytes())
    });
    (opts.progress.node)(node.host(), "container etcd");
    let action = ensure::ensure_container(node.docker(), &spec, &EnsureOptions::default())
        .await
        .map_err(|e| step_err(node, "container etcd")(e.to_string()))?;
    node.log
        .line(&format!("container etcd (joining): {action:?}"));
    waits::wait_running(node.docker(), "etcd", Duration::from_secs(3), opts.wait)
        .await
        .map_err(|e| step_err(node, "container etcd")(e.to_string()))?;
    let url = etcd_component::client_url(m);
    (opts.progress.node)(node.host(), "etcd catching up");
    let index = members::wait_caught_up(&url, &leader.endpoint, cred, opts.wait)
        .await
        .map_err(|e| {
            StepError::new(node.host(), "etcd catch-up", e)
                .hint("read `docker logs etcd` on that node (also in DIR/.k8s-manage/logs); run the same `add` again to resume")
        })?;
    report.step(
        opts,
        format!("etcd member {name} caught up with the leader (raft index {index})"),
    );
    if learner {
        (opts.progress.node)(node.host(), "etcd member promote");
        let (after, refusals) = members::promote_when_ready(&mut leader, &member, opts.wait)
            .await
            .map_err(|e| {
                StepError::new(node.host(), "etcd member promote", e)
                    .hint("the member is a learner (it does not vote): run the same `add` again to resume")
            })?;
        if refusals > 0 {
            node.log.line(&format!(
                "member promote: etcd said {refusals} time(s) that {name} was not in sync yet"
            ));
        }
        let voting = after.iter().filter(|x| !x.is_learner).count();
        report.step(
            opts,
            format!(
                "etcd member {name} promoted to a voting member: {voting} voting members, quorum {}",
                quorum::quorum(voting)
            ),
        );
    }
    let mut all = endpoints.to_vec();
    if !all.contains(&url) {
        all.push(url);
    }
    crate::etcd::wait_healthy(&all, cred, opts.wait)
        .await
        .map_err(|h| StepError::new("etcd", "health after the join", h.problems()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Cluster {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("cluster-configuration/three-masters");
        crate::model::build::load(&dir).unwrap().cluster
    }

    #[test]
    fn without_learners_the_pause_is_announced() {
        let n = voter_add_notice("3.3.27", "etcd2", true);
        assert!(n.contains("3.3.27 has no learners"), "{n}");
        assert!(n.contains("the Kubernetes API do not answer"), "{n}");
        let n = voter_add_notice("3.3.27", "etcd3", false);
        assert!(!n.contains("do not answer"), "{n}");
        assert!(voter_add_notice("", "etcd2", true).contains("unknown version"));
    }

    #[test]
    fn workers_only_touch_the_new_nodes() {
        let c = example();
        let new: BTreeSet<String> = ["worker-9".to_string()].into();
        let s = deploy_stages(&c, &new, false);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].phase, "deploy-new");
        assert_eq!(s[0].scope.as_ref(), Some(&new));
    }

    #[test]
    fn masters_join_new_nodes_first_then_other_load_balancers_then_a_roll() {
        let c = example();
        let new: BTreeSet<String> = ["master-9".to_string()].into();
        let s = deploy_stages(&c, &new, true);
        assert_eq!(s.len(), 3, "{s:?}");
        let phases: Vec<&str> = s.iter().map(|x| x.phase).collect();
        assert_eq!(phases, ["deploy-new", "lb-backends", "roll-masters"]);
        // every stage belongs to a phase of the list, in the list's order
        let order: Vec<&str> = ADD.phases.iter().map(|p| p.id).collect();
        let pos: Vec<usize> = phases
            .iter()
            .map(|p| order.iter().position(|o| o == p).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
        assert_eq!(s[0].scope.as_ref(), Some(&new));
        let others = s[1].scope.clone().unwrap();
        let want: BTreeSet<String> = c
            .machines
            .iter()
            .filter(|m| m.role != Role::Master)
            .map(|m| m.hostname.clone())
            .collect();
        assert!(!want.is_empty());
        assert_eq!(others, want, "every existing worker and proxy, no master");
        assert_eq!(s[2].scope, None, "the last one is the whole cluster");
    }
}
