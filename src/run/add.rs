//! `add -f NODES`: machines join a running cluster.
//!
//! Everything is checked before anything changes: the merged config validates, every new
//! node answers and passes preflight, and etcd would take the first new member (by etcd's
//! own rules, [`crate::etcd::quorum`]). Workers: the merged cluster is deployed onto the
//! new nodes only (certificates from the existing CA); existing nodes are not touched.
//! Masters, one at a time: automatic snapshot (once), the new master's files and etcd
//! image, `member add --learner` through the leader (a voting `member add` where etcd has
//! no learners, < 3.4), its etcd started with `--initial-cluster-state=existing`, a bounded
//! wait until it has caught up with the leader, `member promote`, every member healthy,
//! then `cluster-configuration.yaml` written back. The quorum never depends on a member
//! that is not running yet, so 1 → 2 → 3 keeps the API answering. After the last member,
//! three deploys in the order that keeps the API answering ([`deploy_stages`]): the new
//! nodes, the other nodes' load balancers, then the existing masters one at a time.

use super::deploy::DeployOptions;
use super::fleet::{Node, StepError, fan_out};
use super::membership::{self, MemberChange, MembershipReport};
use crate::components::etcd::{self as etcd_component, BootstrapState, EtcdBootstrap};
use crate::config::write_back::NewEntry;
use crate::etcd::members::{self, Join, Leader, Member};
use crate::etcd::quorum::{self, Refused};
use crate::executor::docker::ensure::{self, EnsureOptions};
use crate::executor::docker::{images, waits};
use crate::model::{Cluster, Role, checked_edit};
use crate::render::node as render_node;
use std::collections::BTreeSet;
use std::time::Duration;

/// Add the machines named by `entries` (already validated: `merged` is the config with
/// them appended) to `cluster`.
pub async fn add(
    cluster: &Cluster,
    merged: &Cluster,
    entries: &[NewEntry],
    opts: &DeployOptions,
) -> Result<MembershipReport, MembershipReport> {
    let mut report = MembershipReport::new("add", cluster, opts.dry_run);
    let names: BTreeSet<String> = entries.iter().map(|e| e.hostname.clone()).collect();
    let new: Vec<_> = merged
        .machines
        .iter()
        .filter(|m| names.contains(&m.hostname))
        .cloned()
        .collect();
    let new_masters: Vec<_> = new
        .iter()
        .filter(|m| m.role == Role::Master)
        .cloned()
        .collect();

    report.step(opts, "certificates for the new machines (existing CA)");
    let pki = match membership::load_pki(merged, opts.dry_run) {
        Ok(p) => p,
        Err(e) => return Err(report.fail("pki", vec![e])),
    };
    let mut rendered = Vec::new();
    for m in &new {
        match render_node::render_node(merged, &pki, m) {
            Ok(a) => rendered.push((m.clone(), a)),
            Err(e) => {
                return Err(report.fail(
                    "render",
                    vec![StepError::new(&m.hostname, "render", e.to_string())],
                ));
            }
        }
    }

    report.step(opts, format!("connecting to the {} new node(s)", new.len()));
    let mut nodes = Vec::new();
    let mut errs = Vec::new();
    for r in membership::connect_each(merged, rendered, opts, "add").await {
        match r {
            Ok(n) => nodes.push(n),
            Err(e) => errs.push(e),
        }
    }
    if !errs.is_empty() {
        return Err(report.fail("connect", errs));
    }
    report.step(opts, "preflight checks on the new nodes");
    let all: Vec<&Node> = nodes.iter().collect();
    let pre = fan_out(&all, opts.parallel, |n| async move {
        super::preflight::check(merged, n)
            .await
            .map_err(|mut e| e.remove(0))
    })
    .await;
    let errs: Vec<StepError> = pre.into_iter().filter_map(Result::err).collect();
    if !errs.is_empty() {
        return Err(report.fail("preflight", errs));
    }

    let cred = match membership::etcd_credentials(&pki) {
        Ok(c) => c,
        Err(e) => return Err(report.fail("etcd credentials", vec![e])),
    };
    let mut endpoints: Vec<String> = cluster.masters().map(etcd_component::client_url).collect();
    let mut learners = true;
    if let Some(first) = new_masters.first() {
        // the first addition must be possible now; each later one is checked again
        match decide_join(merged, &endpoints, &cred, first).await {
            Ok(d) => learners = d.learners,
            Err(e) => return Err(report.fail("etcd quorum", vec![e])),
        }
    }

    if opts.dry_run {
        for m in &new_masters {
            report.step(
                opts,
                format!(
                    "would add etcd member {} ({}) through the leader{}",
                    m.etcdid.as_deref().unwrap_or_default(),
                    etcd_component::peer_url(m),
                    if learners {
                        " as a learner, start it, wait until it has caught up, promote it and wait until every member is healthy"
                    } else {
                        " as a voting member (this etcd has no learners), start it and wait until every member is healthy"
                    }
                ),
            );
        }
        for (what, _) in deploy_stages(cluster, &names, !new_masters.is_empty()) {
            report.step(opts, format!("would deploy {what}"));
        }
        report.step(
            opts,
            "would write cluster-configuration.yaml (with a backup)",
        );
        for m in &new {
            report.nodes.push(MemberChange {
                host: m.hostname.clone(),
                role: m.role.to_string(),
                result: "would join".into(),
                ..Default::default()
            });
        }
        return Ok(report.finish());
    }

    let mut written: BTreeSet<String> = BTreeSet::new();
    if !new_masters.is_empty() {
        report.step(opts, "automatic etcd snapshot before the membership change");
        match membership::auto_snapshot(cluster, "add", opts).await {
            Ok(p) => report.snapshot = Some(p),
            Err(e) => return Err(report.fail("snapshot", e)),
        }
        // the config grows one master at a time, so that it always matches etcd
        for m in &new_masters {
            let Some(node) = nodes.iter().find(|n| n.host() == m.hostname) else {
                continue;
            };
            report.step(
                opts,
                format!(
                    "etcd member {} joins",
                    m.etcdid.as_deref().unwrap_or_default()
                ),
            );
            if let Err(e) = join_master(merged, node, &endpoints, &cred, opts, &mut report).await {
                return Err(report.fail("etcd member add", vec![e]));
            }
            endpoints.push(etcd_component::client_url(m));
            let entry: Vec<NewEntry> = entries
                .iter()
                .filter(|e| e.hostname == m.hostname)
                .cloned()
                .collect();
            match checked_edit::write_back(&cluster.config_dir, &entry, &[]) {
                Ok(w) => report.config_written.push(w),
                Err(e) => {
                    return Err(report.fail(
                        "config write-back",
                        vec![StepError::new("control host", "cluster-configuration.yaml", e)
                            .hint("the member joined etcd: add its entry to cluster-configuration.yaml by hand, then run `k8s-manage deploy`")],
                    ));
                }
            }
            written.insert(m.hostname.clone());
        }
    }

    drop(nodes);
    for (what, scope) in deploy_stages(cluster, &names, !new_masters.is_empty()) {
        report.step(opts, format!("deploying {what}"));
        // a stage scoped to some nodes is a repair of them (no add-ons, no state)
        let deployed = match scope {
            Some(hosts) => super::deploy::repair(merged, hosts, opts).await,
            None => super::deploy::deploy(merged, opts).await,
        };
        let (ok, mut dr) = match deployed {
            Ok(r) => (true, r),
            Err(r) => (false, r),
        };
        dr.action = "deploy".into();
        report.deploy = Some(dr.clone());
        if ok {
            continue;
        }
        let mut r = report.fail(
            "deploy",
            vec![StepError::new(
                "cluster",
                "deploy",
                format!(
                    "{what}: {} failed: {}",
                    dr.failed_phase.clone().unwrap_or_default(),
                    dr.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
                ),
            )
            .hint(if written.is_empty() {
                "fix the cause and run the same `add` again"
            } else {
                "the new masters are etcd members and in cluster-configuration.yaml: fix the cause and run `k8s-manage deploy`"
            })],
        );
        r.nodes = new
            .iter()
            .map(|m| MemberChange {
                host: m.hostname.clone(),
                role: m.role.to_string(),
                result: if written.contains(&m.hostname) {
                    "etcd member, control plane not deployed".into()
                } else {
                    "failed".into()
                },
                ..Default::default()
            })
            .collect();
        return Err(r);
    }

    let rest: Vec<NewEntry> = entries
        .iter()
        .filter(|e| !written.contains(&e.hostname))
        .cloned()
        .collect();
    if !rest.is_empty() {
        report.step(opts, "writing cluster-configuration.yaml (with a backup)");
        match checked_edit::write_back(&cluster.config_dir, &rest, &[]) {
            Ok(w) => report.config_written.push(w),
            Err(e) => {
                return Err(report.fail(
                    "config write-back",
                    vec![StepError::new("control host", "cluster-configuration.yaml", e)
                        .hint("the nodes joined: add their entries to cluster-configuration.yaml by hand")],
                ));
            }
        }
    }
    if let Ok(names) = membership::member_names(&endpoints, &cred).await {
        report.etcd_members = names;
    }
    for m in &new {
        report.nodes.push(MemberChange {
            host: m.hostname.clone(),
            role: m.role.to_string(),
            result: "joined".into(),
            ..Default::default()
        });
    }
    Ok(report.finish())
}

fn step_err(node: &Node, step: &str) -> impl Fn(String) -> StepError + use<> {
    let (host, step) = (node.host().to_string(), step.to_string());
    move |e| StepError::new(&host, &step, e)
}

/// The deploys after the etcd changes, in order: (what, the nodes it touches; `None` =
/// all, rolling where containers are replaced). Workers only: the new nodes. Masters: the
/// new nodes first (so the new apiservers answer), then every other existing node that is
/// not a master (their load balancers learn the new apiservers), then the whole cluster,
/// which rolls the existing masters one at a time (their `--etcd-servers`, certificate and
/// load balancer) while the load balancers already have the new apiservers to turn to.
pub fn deploy_stages(
    cluster: &Cluster,
    new: &BTreeSet<String>,
    masters_join: bool,
) -> Vec<(String, Option<BTreeSet<String>>)> {
    if !masters_join {
        return vec![(
            "the new nodes (existing nodes unchanged)".into(),
            Some(new.clone()),
        )];
    }
    let mut out = vec![(
        "the new nodes: the new masters' control plane, their load balancers and node agents"
            .to_string(),
        Some(new.clone()),
    )];
    let others: BTreeSet<String> = cluster
        .machines
        .iter()
        .filter(|m| m.role != Role::Master && !new.contains(&m.hostname))
        .map(|m| m.hostname.clone())
        .collect();
    if !others.is_empty() {
        out.push((
            "the load balancers of the other nodes (the new apiservers as backends)".into(),
            Some(others),
        ));
    }
    out.push((
        "the merged cluster: the existing masters one at a time (--etcd-servers, apiserver certificate, load balancers)".into(),
        None,
    ));
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
    (opts.node_progress)(node.host(), "files");
    super::sync_files::sync(node, false).await?;
    let image = merged.kubernetes.images["etcd"].clone();
    (opts.node_progress)(node.host(), "etcd image");
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
            (opts.node_progress)(node.host(), "etcd member add --learner");
            let (added, list) = member_add(&mut leader, &peer, true, node, opts).await?;
            (added, list, true)
        }
        Join::Add {
            learner: false,
            pauses_quorum,
        } => {
            report.step(opts, voter_add_notice(&version, &name, pauses_quorum));
            (opts.node_progress)(node.host(), "etcd member add");
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
    (opts.node_progress)(node.host(), "container etcd");
    let action = ensure::ensure_container(node.docker(), &spec, &EnsureOptions::default())
        .await
        .map_err(|e| step_err(node, "container etcd")(e.to_string()))?;
    node.log
        .line(&format!("container etcd (joining): {action:?}"));
    waits::wait_running(node.docker(), "etcd", Duration::from_secs(3), opts.wait)
        .await
        .map_err(|e| step_err(node, "container etcd")(e.to_string()))?;
    let url = etcd_component::client_url(m);
    (opts.node_progress)(node.host(), "etcd catching up");
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
        (opts.node_progress)(node.host(), "etcd member promote");
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
        assert_eq!(s[0].1.as_ref(), Some(&new));
    }

    #[test]
    fn masters_join_new_nodes_first_then_other_load_balancers_then_a_roll() {
        let c = example();
        let new: BTreeSet<String> = ["master-9".to_string()].into();
        let s = deploy_stages(&c, &new, true);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].1.as_ref(), Some(&new));
        let others = s[1].1.clone().unwrap();
        let want: BTreeSet<String> = c
            .machines
            .iter()
            .filter(|m| m.role != Role::Master)
            .map(|m| m.hostname.clone())
            .collect();
        assert!(!want.is_empty());
        assert_eq!(others, want, "every existing worker and proxy, no master");
        assert_eq!(s[2].1, None, "the last one is the whole cluster");
    }
}
