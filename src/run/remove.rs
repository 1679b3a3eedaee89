//! `remove -f NODES`: machines leave the cluster, [`REMOVE`]'s phases through the one
//! runner.
//!
//! Checked before anything changes: every listed node answers (else `--force`, and its host
//! is reported as not cleaned), and etcd would take each member's removal by its own rules
//! ([`crate::etcd::quorum::may_remove`]: it commits, and the started members that stay are a
//! quorum; a member that is down may go, a learner always). Then: drain
//! (cordon, evict, bounded), automatic snapshot (masters), `member remove` by exact match
//! through the leader, `cluster-configuration.yaml` written back, a deploy of the reduced
//! cluster when a master or proxy left (load balancer backends, `--etcd-servers`, the
//! apiserver certificate), the hosts cleaned, and their Node objects deleted. A dry run
//! stops after the checks: each later phase says what it would do.

use super::deploy::DeployOptions;
use super::engine::{self, Failure, Phases};
use super::fleet::{Node, StepError};
use super::membership::{self, MemberChange, MembershipLog, MembershipReport};
use crate::components::etcd as etcd_component;
use crate::etcd::members;
use crate::etcd::quorum;
use crate::model::{Cluster, Machine, Role};
use crate::pki::Pki;
use crate::plan::phases::{PhaseSpec, REMOVE};
use crate::render::node::NodeArtifacts;
use std::time::Duration;

/// Remove `removed` from `cluster`; `reduced` is the validated config without them.
pub async fn remove(
    cluster: &Cluster,
    reduced: &Cluster,
    removed: &[Machine],
    force: bool,
    opts: &DeployOptions,
) -> Result<MembershipReport, MembershipReport> {
    let report = MembershipReport::new("remove", cluster, opts.dry_run);
    if reduced.masters().next().is_none() {
        return Err(report.fail(
            "check",
            vec![
                StepError::new(
                    "cluster",
                    "remove",
                    "this would remove every master; the cluster needs at least one",
                )
                .hint("keep at least one master (use `clean` to take the whole cluster down)"),
            ],
        ));
    }
    let pki = match membership::load_pki(cluster, true) {
        Ok(p) => p,
        Err(e) => return Err(report.fail("pki", vec![e])),
    };
    let clock = super::phase_clock::PhaseClock::start();
    let run = Leave {
        cluster,
        reduced,
        removed,
        force,
        opts,
        log: MembershipLog::new(report),
        pki,
        reachable: Vec::new(),
        cred: None,
        endpoints: cluster.masters().map(etcd_component::client_url).collect(),
        clean_errors: Vec::new(),
    };
    let (run, result) = engine::run(&REMOVE, &clock, run).await;
    let report = run.log.report.finish();
    match result {
        Ok(()) => Ok(report),
        Err(()) => Err(report),
    }
}

/// One removal as it goes through the phases.
struct Leave<'a> {
    cluster: &'a Cluster,
    reduced: &'a Cluster,
    removed: &'a [Machine],
    force: bool,
    opts: &'a DeployOptions,
    log: MembershipLog,
    pki: Pki,
    reachable: Vec<Node>,
    cred: Option<crate::etcd::EtcdCredentials>,
    /// The etcd client URLs of every master before the removal.
    endpoints: Vec<String>,
    /// Hosts that could not be cleaned (the Node objects are deleted all the same).
    clean_errors: Vec<StepError>,
}

impl Phases for Leave<'_> {
    type Log = MembershipLog;

    async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure> {
        match phase.id {
            "connect" => self.connect().await,
            "quorum-check" => self.quorum_check().await,
            id if self.opts.dry_run => {
                self.would(id);
                engine::live_only(&mut self.log);
                Ok(())
            }
            "drain" => self.drain().await,
            "snapshot" => self.snapshot().await,
            "etcd-leave" => self.etcd_leave().await,
            "config-update" => self.config_update(),
            "lb-backends" => self.lb_backends().await,
            "stop-containers" => {
                self.stop_containers().await;
                Ok(())
            }
            "remove-dirs" => {
                self.remove_dirs().await;
                Ok(())
            }
            "delete-node" => self.delete_nodes().await,
            id => Err(Failure::one(id, engine::no_runner("remove", id))),
        }
    }

    fn log(&mut self) -> &mut MembershipLog {
        &mut self.log
    }

    fn finish(&mut self) {}
}

impl<'a> Leave<'a> {
    fn step(&mut self, s: impl Into<String>) {
        self.log.report.step(self.opts, s);
    }

    fn masters(&self) -> Vec<&'a Machine> {
        self.removed
            .iter()
            .filter(|m| m.role == Role::Master)
            .collect()
    }

    fn is_reachable(&self, host: &str) -> bool {
        self.reachable.iter().any(|n| n.host() == host)
    }

    fn cred(&self) -> Result<&crate::etcd::EtcdCredentials, Failure> {
        membership::loaded(&self.cred)
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        self.step(format!(
            "connecting to the {} node(s) to remove",
            self.removed.len()
        ));
        let machines = self
            .removed
            .iter()
            .map(|m| (m.clone(), NodeArtifacts::none(m)))
            .collect();
        let mut unreachable: Vec<StepError> = Vec::new();
        for r in membership::connect_each(self.cluster, machines, self.opts, "remove").await {
            match r {
                Ok(n) => self.reachable.push(n),
                Err(e) => unreachable.push(e),
            }
        }
        if !unreachable.is_empty() && !self.force {
            let errs = unreachable
                .into_iter()
                .map(|e| e.hint("bring it back, or pass --force to remove it from the cluster without cleaning its host"))
                .collect();
            return Err(Failure::new("connect", errs));
        }
        self.cred = Some(
            membership::etcd_credentials(&self.pki)
                .map_err(|e| Failure::one("etcd credentials", e))?,
        );
        Ok(())
    }

    async fn quorum_check(&mut self) -> Result<(), Failure> {
        let masters = self.masters();
        if masters.is_empty() {
            return Ok(());
        }
        self.step("checking that etcd keeps quorum after each removal");
        check_quorum(self.cluster, &self.endpoints, self.cred()?, &self.masters())
            .await
            .map_err(|e| Failure::one("etcd quorum", e))
    }

    /// What a dry run says for a phase after the checks.
    fn would(&mut self, phase: &str) {
        match phase {
            "drain" => self.step("would cordon and drain each node"),
            "etcd-leave" => {
                let lines: Vec<String> = self
                    .masters()
                    .iter()
                    .map(|m| {
                        format!(
                            "would remove etcd member {} ({}) through the leader",
                            m.etcdid.as_deref().unwrap_or_default(),
                            etcd_component::peer_url(m)
                        )
                    })
                    .collect();
                for l in lines {
                    self.step(l);
                }
            }
            "config-update" => self.step("would write cluster-configuration.yaml (with a backup)"),
            "lb-backends" if self.removed.iter().any(|m| m.role != Role::Worker) => {
                self.step("would deploy the remaining nodes (load balancers, --etcd-servers)")
            }
            "stop-containers" => self.step("would clean the hosts and delete their Node objects"),
            "delete-node" => {
                for m in self.removed {
                    let note = if self.is_reachable(&m.hostname) {
                        vec![]
                    } else {
                        vec!["unreachable: its host would not be cleaned".into()]
                    };
                    self.log.report.nodes.push(MemberChange {
                        host_cleaned: Some(false),
                        notes: note,
                        ..MemberChange::of(m, "would be removed")
                    });
                }
            }
            _ => {}
        }
    }

    async fn drain(&mut self) -> Result<(), Failure> {
        self.step("cordon and drain");
        let api = membership::admin_api(&self.pki, &self.cluster.api_url())
            .map_err(|e| Failure::one("drain", e))?;
        for m in self.removed {
            (self.opts.progress.node)(&m.hostname, "drain");
            let d = super::remove_drain::drain(
                &api,
                &m.nodename,
                &m.hostname,
                self.force,
                self.opts.wait,
            )
            .await
            .map_err(|e| Failure::one("drain", e))?;
            self.log.report.drained.push(d);
        }
        Ok(())
    }

    async fn snapshot(&mut self) -> Result<(), Failure> {
        if self.masters().is_empty() {
            return Ok(());
        }
        self.step("automatic etcd snapshot before the membership change");
        let p = membership::auto_snapshot(self.cluster, "remove", self.opts)
            .await
            .map_err(|e| Failure::new("snapshot", e))?;
        self.log.report.snapshot = Some(p);
        Ok(())
    }

    async fn etcd_leave(&mut self) -> Result<(), Failure> {
        for m in self.masters() {
            self.log.report.step(
                self.opts,
                format!(
                    "etcd member {} leaves",
                    m.etcdid.as_deref().unwrap_or_default()
                ),
            );
            remove_member(&self.endpoints, self.cred()?, m)
                .await
                .map_err(|e| Failure::one("etcd member remove", e))?;
        }
        Ok(())
    }

    fn config_update(&mut self) -> Result<(), Failure> {
        self.step("writing cluster-configuration.yaml (with a backup)");
        let hosts: Vec<String> = self.removed.iter().map(|m| m.hostname.clone()).collect();
        let w = crate::model::checked_edit::write_back(&self.cluster.config_dir, &[], &hosts)
            .map_err(|e| {
                Failure::one(
                    "config write-back",
                    StepError::new("control host", "cluster-configuration.yaml", e)
                        .hint("delete their entries from cluster-configuration.yaml by hand, then run `k8s-manage remove` again"),
                )
            })?;
        self.log.report.config_written.push(w);
        Ok(())
    }

    /// A master or proxy left: the other nodes' load balancers, `--etcd-servers` and the
    /// apiserver certificate follow, by a deploy of the reduced cluster.
    async fn lb_backends(&mut self) -> Result<(), Failure> {
        if !self.removed.iter().any(|m| m.role != Role::Worker) {
            return Ok(());
        }
        self.step(
            "deploying the remaining nodes: load balancer backends, --etcd-servers, apiserver certificate",
        );
        let r = super::deploy::deploy(self.reduced, self.opts).await;
        let ok = r.is_ok();
        let dr = match r {
            Ok(r) | Err(r) => r,
        };
        self.log.report.deploy = Some(dr.clone());
        if ok {
            return Ok(());
        }
        Err(Failure::one(
            "deploy",
            StepError::new(
                "cluster",
                "deploy",
                format!(
                    "{} failed: {}",
                    dr.failed_phase.clone().unwrap_or_default(),
                    dr.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
                ),
            )
            .hint("the machines already left etcd and cluster-configuration.yaml: fix the cause and run `k8s-manage deploy`; their hosts were not cleaned"),
        ))
    }

    /// The reachable hosts' containers; a host that fails is noted, not cleaned further.
    async fn stop_containers(&mut self) {
        self.step("cleaning the removed hosts");
        let errors = super::clean::remove_containers(
            self.cluster,
            &self.reachable,
            self.opts.reach.parallel,
        )
        .await;
        self.clean_errors.extend(errors);
    }

    /// The reachable hosts' directories and pod network links (not on a host whose
    /// containers could not be removed).
    async fn remove_dirs(&mut self) {
        let failed: Vec<String> = self.clean_errors.iter().map(|e| e.host.clone()).collect();
        let left: Vec<&Node> = self
            .reachable
            .iter()
            .filter(|n| !failed.iter().any(|h| h == n.host()))
            .collect();
        let errors = super::clean::remove_dirs(self.cluster, &left, self.opts.reach.parallel).await;
        self.clean_errors.extend(errors);
    }

    /// The Node objects go (after the kubelets, so they cannot register again); the
    /// report says per node whether its host was cleaned.
    async fn delete_nodes(&mut self) -> Result<(), Failure> {
        self.step("deleting the Node objects");
        let api = membership::admin_api(&self.pki, &self.reduced.api_url())
            .map_err(|e| Failure::one("delete node", e))?;
        let mut errs = std::mem::take(&mut self.clean_errors);
        for m in self.removed {
            if let Err(e) = api.delete_node(&m.nodename).await {
                errs.push(StepError::new(&m.hostname, "delete node", e.to_string()));
            }
        }
        let endpoints: Vec<String> = self
            .reduced
            .masters()
            .map(etcd_component::client_url)
            .collect();
        if let Ok(names) = membership::member_names(&endpoints, self.cred()?).await {
            self.log.report.etcd_members = names;
        }
        for m in self.removed {
            let reachable = self.is_reachable(&m.hostname);
            let cleaned = reachable && !errs.iter().any(|e| e.host == m.hostname);
            self.log.report.nodes.push(MemberChange {
                host_cleaned: Some(cleaned),
                notes: if reachable {
                    vec![]
                } else {
                    vec!["host not cleaned: it could not be reached (clean it by hand before it joins anything again)".into()]
                },
                ..MemberChange::of(m, "removed")
            });
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Failure::new("clean", errs))
        }
    }
}

/// Refuse when etcd would refuse removing the masters one after the other (or could not
/// commit it), or when the member list does not match the config.
async fn check_quorum(
    cluster: &Cluster,
    endpoints: &[String],
    cred: &crate::etcd::EtcdCredentials,
    masters: &[&Machine],
) -> Result<(), StepError> {
    let mut leader = members::connect_leader(endpoints, cred, Duration::from_secs(10))
        .await
        .map_err(|e| {
            StepError::new("etcd", "leader", e).hint(format!(
                "with quorum lost, `remove` cannot change etcd membership; {}",
                super::etcd_nodes::restore_hint(cluster)
            ))
        })?;
    let list = leader
        .members()
        .await
        .map_err(|e| StepError::new("etcd", "member list", e))?;
    let health = members::member_health(&list, cred).await;
    let started = |m: &members::Member| members::is_started(m, &health);
    let (mut v, _) = members::voters(&list, &started);
    for m in masters {
        let name = m.etcdid.clone().unwrap_or_else(|| m.hostname.clone());
        let peer = etcd_component::peer_url(m);
        let Some(member) = members::find_exact(&list, &name, &peer)
            .map_err(|e| StepError::new(&m.hostname, "etcd member", e))?
        else {
            continue; // not a member (any more): nothing to remove
        };
        let up = started(member);
        quorum::may_remove(v, member.is_learner, up).map_err(|e| {
            let detail = if health.problems().is_empty() {
                String::new()
            } else {
                format!(" ({})", health.problems())
            };
            StepError::new(
                &m.hostname,
                "etcd quorum",
                format!("refusing to remove etcd member {name}: {e}{detail}"),
            )
            .hint(if e.lost_quorum() {
                super::etcd_nodes::restore_hint(cluster)
            } else {
                "bring the members that do not answer back first (`k8s-manage status`), or remove fewer masters (a member that is down may be removed)".to_string()
            })
        })?;
        if !member.is_learner {
            v.total -= 1;
            v.started -= usize::from(up);
        }
    }
    Ok(())
}

/// Remove one master's member, matched exactly by name and peer URL, through the leader.
async fn remove_member(
    endpoints: &[String],
    cred: &crate::etcd::EtcdCredentials,
    m: &Machine,
) -> Result<(), StepError> {
    let name = m.etcdid.clone().unwrap_or_else(|| m.hostname.clone());
    let peer = etcd_component::peer_url(m);
    let me = etcd_component::client_url(m);
    // ask the others first, so the leader found is not the member that leaves
    let others: Vec<String> = endpoints.iter().filter(|e| **e != me).cloned().collect();
    let mut leader = match members::connect_leader(&others, cred, Duration::from_secs(10)).await {
        Ok(l) => l,
        Err(_) => members::connect_leader(endpoints, cred, Duration::from_secs(10))
            .await
            .map_err(|e| StepError::new("etcd", "leader", e))?,
    };
    let list = leader
        .members()
        .await
        .map_err(|e| StepError::new("etcd", "member list", e))?;
    let Some(member) = members::find_exact(&list, &name, &peer)
        .map_err(|e| StepError::new(&m.hostname, "etcd member", e))?
        .cloned()
    else {
        return Ok(());
    };
    leader
        .remove(&member)
        .await
        .map_err(|e| StepError::new(&m.hostname, "etcd member remove", e))?;
    // wait (bounded) until the others agree it is gone and keep a quorum
    let voting_left = list
        .iter()
        .filter(|x| !x.is_learner && x.raw_id != member.raw_id)
        .count();
    let start = std::time::Instant::now();
    loop {
        let h = crate::etcd::check(&others, cred, Duration::from_secs(5)).await;
        let healthy = h.members.iter().filter(|x| x.healthy).count();
        if h.leader.is_some() && healthy >= quorum::quorum(voting_left) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(StepError::new(
                "etcd",
                "after member remove",
                format!("the remaining members are not healthy: {}", h.problems()),
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
