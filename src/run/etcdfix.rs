//! `etcdfix -f NODE`: rebuild one failed etcd member from the healthy rest of the cluster,
//! in the order of `maintainconf/etcdfix.yaml`: check by etcd's own rules
//! ([`crate::etcd::quorum::may_rebuild`]) that the member can be removed and added back
//! (the others are a quorum, else stop and point to `etcd snapshot restore`; and every
//! other voting member answers, else etcd would refuse the add half-way), take a snapshot
//! (`auto-etcdfix-<time>`), stop and remove the member's container and move its data dir's
//! contents aside (`<dir>.broken-<time>`, kept), remove the member by its exact id and add
//! it back through the leader (as a learner where etcd has them), start it with
//! `--initial-cluster-state=existing` and the live member list, wait (bounded) until it has
//! caught up, promote a learner, and wait until every member is healthy.

use super::engine::{self, ActionLog, Failure, Phases};
use super::etcd_nodes;
use super::fleet::{Node, StepError};
use super::options::{PhaseProgress, Reach};
use super::snapshot::SaveReport;
use crate::components::etcd::{self as etcd_component, BootstrapState, EtcdBootstrap};
use crate::etcd::members::{self, Leader, Member};
use crate::etcd::quorum::{self, Refused, Voters};
use crate::etcd::restore::aside_dir;
use crate::etcd::snapshot::stamp;
use crate::etcd::{self, EtcdHealth};
use crate::executor::docker::{ensure, images, remove, waits};
use crate::model::{Cluster, Machine, Role};
use crate::plan::phases::{ETCDFIX, PhaseSpec};
use crate::ssh::snippets::etcd::{self as etcd_script, MOVED};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run.
#[derive(Clone)]
pub struct EtcdfixOptions {
    pub dry_run: bool,
    pub reach: Reach,
    /// Bound for each wait (leader, member running, caught up, all healthy).
    pub wait: Duration,
    /// One line per phase.
    pub progress: PhaseProgress,
}

/// What `etcdfix` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct EtcdfixReport {
    pub action: String,
    pub ok: bool,
    pub dry_run: bool,
    pub node: String,
    pub member: String,
    pub peer_url: String,
    /// "N of the other M members healthy; quorum of T is Q".
    pub quorum: String,
    /// Whether the member answered healthy before it was rebuilt.
    pub member_was_healthy: bool,
    pub steps: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SaveReport>,
    /// Where the old data dir's contents were moved (kept; delete it when satisfied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_member_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_member_id: Option<String>,
    pub members: Vec<Member>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<EtcdHealth>,
    pub seconds: f64,
}

/// The quorum decision, before anything changes, by etcd's rules. `v`: the voting members
/// and how many are started; `target`: the rebuilt member's entry (`None` when it is not
/// in the list any more), `target_started`: it answers; `other_learners`: learners besides
/// it (etcd takes one at a time).
pub fn quorum_check(
    v: Voters,
    target: Option<&Member>,
    target_started: bool,
    other_learners: usize,
) -> Result<String, Refused> {
    match target {
        Some(t) if !t.is_learner => {
            quorum::may_rebuild(v, target_started)?;
            if other_learners > 0 {
                return Err(Refused::NotNow(format!(
                    "the cluster has {other_learners} other learner(s); etcd takes one at a time"
                )));
            }
            let others = v.started.saturating_sub(usize::from(target_started));
            Ok(format!(
                "{others} of the other {} members are started; a cluster of {} needs {}",
                v.total - 1,
                v.total,
                quorum::quorum(v.total)
            ))
        }
        // not a voting member (removed before, or a learner that never caught up): it is
        // only added back
        _ => {
            quorum::may_add_voter(v)?;
            quorum::may_add_learner(v, other_learners)?;
            Ok(format!(
                "{} of {} voting members are started; the member is added back",
                v.started, v.total
            ))
        }
    }
}

/// The member list from the first of `endpoints` that gives one (etcd serves it without
/// quorum), and the health of every member at its own client URLs.
async fn member_list(
    endpoints: &[String],
    cred: &etcd::EtcdCredentials,
) -> (Vec<Member>, EtcdHealth) {
    let h = etcd::check(endpoints, cred, Duration::from_secs(5)).await;
    for e in endpoints {
        let Ok(mut c) = etcd::health::connect(e, cred, Duration::from_secs(5)).await else {
            continue;
        };
        if let Ok(r) = c.member_list().await {
            let list: Vec<Member> = r.members().iter().map(Member::from_client).collect();
            let health = members::member_health(&list, cred).await;
            return (list, health);
        }
    }
    (Vec::new(), h)
}

fn err(host: &str, step: &str, e: impl Into<String>) -> Vec<StepError> {
    vec![StepError::new(host, step, e)]
}

/// Rebuild the etcd member of `target` (a master of `cluster`): the input is checked and
/// the credentials made, then [`ETCDFIX`]'s phases run in order through the one runner.
pub async fn etcdfix(
    cluster: &Cluster,
    target: &Machine,
    opts: &EtcdfixOptions,
) -> Result<EtcdfixReport, Vec<StepError>> {
    let started = Instant::now();
    let host = target.hostname.as_str();
    if target.role != Role::Master {
        return Err(err(
            host,
            "etcdfix",
            format!("{host} is a {}, not a master: it runs no etcd", target.role),
        ));
    }
    let name = target
        .etcdid
        .clone()
        .unwrap_or_else(|| target.hostname.clone());
    let peer_url = etcd_component::peer_url(target);
    let pki = etcd_nodes::load_pki(cluster).map_err(|e| vec![e])?;
    let rendered = etcd_nodes::render(cluster, &pki, &[target]).map_err(|e| vec![e])?;
    let cred = super::membership::etcd_credentials(&pki).map_err(|e| vec![e])?;
    let data_dir = cluster.kubernetes.etcd_data_path.clone();
    let aside = aside_dir(&data_dir, "broken", &stamp(time::OffsetDateTime::now_utc()));
    let clock = super::phase_clock::PhaseClock::start();
    let run = Rebuild {
        cluster,
        target,
        opts,
        progress: clock.wrap(opts.progress.clone()),
        report: EtcdfixReport {
            action: "etcdfix".into(),
            ok: false,
            dry_run: opts.dry_run,
            node: host.to_string(),
            member: name.clone(),
            peer_url: peer_url.clone(),
            quorum: String::new(),
            member_was_healthy: false,
            steps: Vec::new(),
            snapshot: None,
            moved_aside: None,
            removed_member_id: None,
            added_member_id: None,
            members: Vec::new(),
            health: None,
            seconds: 0.0,
        },
        log: ActionLog::default(),
        endpoint: etcd_component::client_url(target),
        all_endpoints: cluster.masters().map(etcd_component::client_url).collect(),
        others: cluster
            .masters()
            .filter(|m| m.hostname != target.hostname)
            .map(etcd_component::client_url)
            .collect(),
        name,
        peer_url,
        cred,
        rendered: Some(rendered),
        node: None,
        data_dir,
        aside,
        leader: None,
        learner: false,
        added: None,
        after: Vec::new(),
    };
    let (mut run, result) = engine::run(&ETCDFIX, &clock, run).await;
    match result {
        Ok(()) => {
            run.report.seconds = started.elapsed().as_secs_f64();
            Ok(run.report)
        }
        Err(()) => Err(run.log.failure.map(|f| f.errors).unwrap_or_default()),
    }
}

/// One rebuild as it goes through the phases: the facts fixed before the first, and what
/// each phase leaves for the next (the node, the leader, the member added back).
struct Rebuild<'a> {
    cluster: &'a Cluster,
    target: &'a Machine,
    opts: &'a EtcdfixOptions,
    /// The options' progress, timed per phase.
    progress: Arc<dyn Fn(&str) + Send + Sync>,
    report: EtcdfixReport,
    log: ActionLog,
    name: String,
    peer_url: String,
    /// The member's own client URL.
    endpoint: String,
    all_endpoints: Vec<String>,
    /// The other members' client URLs.
    others: Vec<String>,
    cred: etcd::EtcdCredentials,
    /// The target's files, until `connect` takes them.
    rendered: Option<Vec<(Machine, crate::render::node::NodeArtifacts)>>,
    node: Option<Node>,
    data_dir: String,
    /// Where the data dir's contents are moved (kept).
    aside: String,
    leader: Option<Leader>,
    /// The member is added back as a learner (etcd >= 3.4).
    learner: bool,
    added: Option<Member>,
    /// The member list after the add.
    after: Vec<Member>,
}

impl Phases for Rebuild<'_> {
    type Log = ActionLog;

    async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure> {
        let done = match phase.id {
            "quorum-check" => self.quorum_check().await,
            "connect" => self.connect().await,
            // a dry run stops after `connect`: each later phase only says what it would do
            id if self.opts.dry_run => {
                let line = self.would(id);
                self.report.steps.push(line);
                engine::live_only(&mut self.log);
                Ok(())
            }
            "snapshot" => self.snapshot().await,
            "etcd-stop-wipe" => self.stop_wipe().await,
            "etcd-replace" => self.replace().await,
            "etcd-rejoin" => self.rejoin().await,
            "etcd-wait" => self.wait().await,
            id => Err(vec![engine::no_runner("etcdfix", id)]),
        };
        done.map_err(|errors| Failure::new(phase.id, errors))
    }

    fn log(&mut self) -> &mut ActionLog {
        &mut self.log
    }

    fn finish(&mut self) {
        self.report.ok = true;
    }
}

type PhaseResult = Result<(), Vec<StepError>>;

impl Rebuild<'_> {
    fn progress(&self, line: &str) {
        (self.progress)(line)
    }

    fn host(&self) -> &str {
        &self.target.hostname
    }

    fn node(&self) -> Result<&Node, Vec<StepError>> {
        self.node
            .as_ref()
            .ok_or_else(|| err(self.host(), "etcdfix", "not connected"))
    }

    fn leader(&mut self) -> Result<&mut Leader, Vec<StepError>> {
        self.leader
            .as_mut()
            .ok_or_else(|| err("etcd", "etcdfix", "no leader found"))
    }

    /// What a dry run says for a phase it passes by.
    fn would(&self, phase: &str) -> String {
        let (host, name, peer_url) = (self.host(), &self.name, &self.peer_url);
        let (data_dir, aside) = (&self.data_dir, &self.aside);
        match phase {
            "snapshot" => {
                "would take snapshot auto-etcdfix-<UTC time> (control host and every master)"
                    .to_string()
            }
            "etcd-stop-wipe" => format!(
                "would stop and remove container etcd on {host} and move the contents of {data_dir} to {aside}"
            ),
            "etcd-replace" => format!(
                "would remove member {name} ({peer_url}) by its exact id and add it back through the leader (as a learner where etcd has them)"
            ),
            "etcd-rejoin" => format!(
                "would start etcd on {host} with --initial-cluster-state=existing and the live member list"
            ),
            "etcd-wait" => format!(
                "would wait up to {:?} until {name} has caught up, promote it, and wait until every member is healthy",
                self.opts.wait
            ),
            other => format!("would run {other}"),
        }
    }

    /// 1. etcd's rules, before anything changes.
    async fn quorum_check(&mut self) -> PhaseResult {
        let name = self.name.clone();
        self.progress(&format!(
            "checking that etcd can remove {name} and add it back"
        ));
        let (list, health) = member_list(&self.all_endpoints, &self.cred).await;
        if list.is_empty() {
            return Err(vec![
                StepError::new(
                    "etcd",
                    "quorum check",
                    format!(
                        "no etcd member answers ({}): the cluster has lost quorum; refusing to rebuild {name}",
                        health.problems()
                    ),
                )
                .hint(etcd_nodes::restore_hint(self.cluster)),
            ]);
        }
        self.report.member_was_healthy = health
            .members
            .iter()
            .any(|h| h.endpoint == self.endpoint && h.healthy);
        let target_member = members::find_exact(&list, &name, &self.peer_url)
            .map_err(|e| err("etcd", "member list", e))?
            .cloned();
        let is_up = |m: &Member| members::is_started(m, &health);
        let (v, learners) = members::voters(&list, &is_up);
        let other_learners = learners
            .iter()
            .filter(|l| Some(l.raw_id) != target_member.as_ref().map(|t| t.raw_id))
            .count();
        let target_started = target_member.as_ref().is_some_and(is_up);
        self.report.quorum =
            quorum_check(v, target_member.as_ref(), target_started, other_learners).map_err(
                |e| {
                    let detail = if health.problems().is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", health.problems())
                    };
                    let hint = if e.lost_quorum() {
                        etcd_nodes::restore_hint(self.cluster)
                    } else {
                        "bring the other members that do not answer back first (`k8s-manage status` names them; `docker start etcd` or `k8s-manage repair -f` on that node), then rebuild them one at a time".to_string()
                    };
                    vec![
                        StepError::new(
                            "etcd",
                            "quorum check",
                            format!("{e}{detail}; refusing to rebuild {name}"),
                        )
                        .hint(hint),
                    ]
                },
            )?;
        self.report
            .steps
            .push(format!("quorum: {}", self.report.quorum));
        Ok(())
    }

    /// 2. The node answers (SSH + Docker).
    async fn connect(&mut self) -> PhaseResult {
        self.progress(&format!("connecting to {}", self.host()));
        let rendered = self.rendered.take().unwrap_or_default();
        let mut nodes =
            etcd_nodes::connect(self.cluster, rendered, &self.opts.reach, "etcdfix").await?;
        if nodes.is_empty() {
            return Err(err(self.host(), "connect", "no node connected"));
        }
        self.node = Some(nodes.remove(0));
        Ok(())
    }

    /// 3. A snapshot first (the automatic snapshot before a membership change).
    async fn snapshot(&mut self) -> PhaseResult {
        let snap_name = crate::etcd::snapshot::auto_name("etcdfix");
        self.progress(&format!("taking snapshot {snap_name}"));
        let snap = super::snapshot::save(self.cluster, &snap_name, &self.opts.reach).await?;
        self.report.steps.push(format!(
            "snapshot {} ({} bytes)",
            snap_name, snap.snapshot.bytes
        ));
        self.report.snapshot = Some(snap);
        Ok(())
    }

    /// 4. Stop and remove the member's container, move its data aside.
    async fn stop_wipe(&mut self) -> PhaseResult {
        let host = self.host().to_string();
        let (data_dir, aside) = (self.data_dir.clone(), self.aside.clone());
        self.progress(&format!("stopping etcd on {host}, moving {data_dir} aside"));
        let node = self.node()?;
        let removed = remove::remove_named(
            node.docker(),
            "etcd",
            &self.cluster.kubernetes.cluster_name,
            remove::DEFAULT_STOP_TIMEOUT,
        )
        .await
        .map_err(|e| err(&host, "stop etcd", e))?;
        let out = etcd_nodes::root(
            node,
            "move the etcd data dir aside",
            etcd_script::move_aside(
                &data_dir,
                &aside,
                self.cluster.kubernetes.etcd_moved_aside_kept,
            ),
            Duration::from_secs(300),
        )
        .await;
        self.report.steps.push(if removed {
            format!("stopped and removed container etcd on {host}")
        } else {
            format!("no etcd container on {host}")
        });
        if out.map_err(|e| vec![e])?.contains(MOVED) {
            self.report.moved_aside = Some(aside.clone());
            self.report.steps.push(format!(
                "moved the contents of {data_dir} to {aside} (kept)"
            ));
        } else {
            self.report
                .steps
                .push(format!("{data_dir} was already empty"));
        }
        Ok(())
    }

    /// 5. Remove the member by its exact id and add it back, through the leader.
    async fn replace(&mut self) -> PhaseResult {
        self.progress("replacing the member through the leader");
        let (name, peer_url) = (self.name.clone(), self.peer_url.clone());
        self.leader = Some(
            etcd_nodes::wait_leader(&self.others, &self.cred, self.opts.wait)
                .await
                .map_err(|e| err("etcd", "find the leader", e))?,
        );
        let leader = self.leader()?;
        let list = leader
            .members()
            .await
            .map_err(|e| err("etcd", "member list", e))?;
        let removed = match members::find_exact(&list, &name, &peer_url)
            .map_err(|e| err("etcd", "member list", e))?
        {
            Some(m) => {
                leader
                    .remove(m)
                    .await
                    .map_err(|e| err("etcd", "member remove", e))?;
                Some((
                    m.id.clone(),
                    format!(
                        "removed member {} ({name}) through {}",
                        m.id, leader.endpoint
                    ),
                ))
            }
            None => None,
        };
        let learner = leader.version().is_some_and(members::supports_learners);
        let (added, after) = if learner {
            leader.add_learner(&peer_url).await
        } else {
            leader.add(&peer_url).await
        }
        .map_err(|e| err("etcd", "member add", e))?;
        let added_line = format!(
            "added member {} at {peer_url} through {}{}",
            added.id,
            leader.endpoint,
            if learner { " as a learner" } else { "" }
        );
        match removed {
            Some((id, line)) => {
                self.report.removed_member_id = Some(id);
                self.report.steps.push(line);
            }
            None => self.report.steps.push(format!(
                "{name} was not in the member list (removed before)"
            )),
        }
        self.report.added_member_id = Some(added.id.clone());
        self.report.steps.push(added_line);
        self.learner = learner;
        self.added = Some(added);
        self.after = after;
        Ok(())
    }

    /// 6. Start it with the live member list.
    async fn rejoin(&mut self) -> PhaseResult {
        let host = self.host().to_string();
        self.progress(&format!("starting etcd on {host} to join the cluster"));
        let boot = EtcdBootstrap {
            state: BootstrapState::Existing,
            members: members::initial_cluster(&self.after, Some((&self.name, &self.peer_url))),
        };
        let node = self.node()?;
        let spec = etcd_nodes::etcd_spec(self.cluster, self.target, &node.artifacts, &boot)
            .map_err(|e| vec![e])?;
        // the certificates etcd reads, re-sent when missing or different
        let mut etcd_files = node.artifacts.clone();
        etcd_files.files.retain(|f| spec.reads.contains(&f.path));
        let files_node = Node {
            machine: node.machine.clone(),
            artifacts: etcd_files,
            session: node.session.clone(),
            docker: node.docker.clone(),
            log: node.log.clone(),
        };
        let changed = super::sync_files::sync(&files_node, false)
            .await
            .map_err(|e| vec![e])?;
        images::ensure_image(node.docker(), &spec.image, Duration::from_secs(600))
            .await
            .map_err(|e| err(&host, "etcd image", e.to_string()))?;
        ensure::ensure_container(node.docker(), &spec, &ensure::EnsureOptions::default())
            .await
            .map_err(|e| err(&host, "container etcd", e.to_string()))?;
        waits::wait_running(
            node.docker(),
            "etcd",
            Duration::from_secs(3),
            self.opts.wait,
        )
        .await
        .map_err(|e| err(&host, "container etcd", e.to_string()))?;
        if !changed.is_empty() {
            self.report
                .steps
                .push(format!("re-sent {}", changed.join(", ")));
        }
        self.report.steps.push(format!(
            "started etcd on {host} with --initial-cluster-state=existing --initial-cluster={}",
            boot.members
                .iter()
                .map(|(n, u)| format!("{n}={u}"))
                .collect::<Vec<_>>()
                .join(",")
        ));
        Ok(())
    }

    /// 7. Bounded waits: caught up, then (a learner) promoted, then every member healthy.
    async fn wait(&mut self) -> PhaseResult {
        let (host, name) = (self.host().to_string(), self.name.clone());
        let wait = self.opts.wait;
        self.progress(&format!("waiting until {name} is healthy and caught up"));
        let leader_endpoint = self.leader()?.endpoint.clone();
        let index = members::wait_caught_up(&self.endpoint, &leader_endpoint, &self.cred, wait)
            .await
            .map_err(|e| {
                vec![StepError::new(&host, "wait caught up", e).hint(
                    "read `docker logs etcd` on that node (also in DIR/.k8s-manage/logs); the old data is kept in the moved-aside dir",
                )]
            })?;
        self.report
            .steps
            .push(format!("{name} caught up at raft index {index}"));
        if self.learner {
            self.progress(&format!("promoting {name} to a voting member"));
            let added = self
                .added
                .clone()
                .ok_or_else(|| err("etcd", "member promote", "no member was added"))?;
            members::promote_when_ready(self.leader()?, &added, wait)
                .await
                .map_err(|e| {
                    vec![StepError::new(&host, "member promote", e).hint(
                        "the member is a learner (it does not vote): run the same etcdfix again",
                    )]
                })?;
            self.report
                .steps
                .push(format!("promoted {name} to a voting member"));
        }
        let health = etcd::wait_healthy(&self.all_endpoints, &self.cred, wait)
            .await
            .map_err(|h| {
                err(
                    "etcd",
                    "wait healthy",
                    format!(
                        "not every member is healthy after {wait:?}: {}",
                        h.problems()
                    ),
                )
            })?;
        self.report.members = self
            .leader()?
            .members()
            .await
            .map_err(|e| err("etcd", "member list", e))?;
        self.report.health = Some(health);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, learner: bool) -> Member {
        Member {
            id: format!("{id:x}"),
            raw_id: id,
            name: format!("etcd{id}"),
            peer_urls: vec![format!("https://10.0.0.{id}:2380")],
            client_urls: vec![format!("https://10.0.0.{id}:2379")],
            is_learner: learner,
        }
    }

    fn v(total: usize, started: usize) -> Voters {
        Voters { total, started }
    }

    #[test]
    fn the_rules_of_etcd_decide() {
        let t = member(2, false);
        let ok = quorum_check(v(3, 2), Some(&t), false, 0).unwrap();
        assert!(ok.contains("2 of the other 2"), "{ok}");
        // the target and another down: lost quorum, a restore
        let e = quorum_check(v(3, 1), Some(&t), false, 0).unwrap_err();
        assert!(
            e.lost_quorum() && e.to_string().contains("lost quorum"),
            "{e}"
        );
        assert!(quorum_check(v(3, 0), Some(&t), false, 0).is_err());
        // five members, the target and one other down: quorum, but etcd would refuse to
        // add it back while the other is down
        let e = quorum_check(v(5, 3), Some(&t), false, 0).unwrap_err();
        assert!(!e.lost_quorum(), "{e}");
        assert!(quorum_check(v(5, 4), Some(&t), false, 0).is_ok());
        assert!(
            quorum_check(v(5, 2), Some(&t), false, 0)
                .unwrap_err()
                .lost_quorum()
        );
        // a single-member cluster can never be rebuilt from the rest
        assert!(
            quorum_check(v(1, 0), Some(&t), false, 0)
                .unwrap_err()
                .lost_quorum()
        );
        // another learner is there: etcd would refuse the second
        assert!(quorum_check(v(3, 2), Some(&t), false, 1).is_err());
        // not a member any more (an earlier etcdfix stopped after the removal): added back
        assert!(quorum_check(v(2, 2), None, false, 0).is_ok());
        assert!(quorum_check(v(2, 1), None, false, 0).is_err());
        // a learner that never caught up: removed and added again
        let l = member(3, true);
        assert!(quorum_check(v(2, 2), Some(&l), true, 0).is_ok());
    }

    #[test]
    fn the_plan_shows_the_phases_in_the_order_they_run() {
        let def = crate::plan::phases::definition("etcdfix").unwrap();
        let ids: Vec<&str> = def.phases.iter().map(|p| p.id.as_str()).collect();
        let run: Vec<&str> = ETCDFIX.phases.iter().map(|p| p.id).collect();
        assert_eq!(ids, run);
        assert!(def.exactly_one);
    }
}
