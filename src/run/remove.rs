//! `remove -f NODES`: machines leave the cluster.
//!
//! Checked before anything changes: every listed node answers (else `--force`, and its host
//! is reported as not cleaned), and etcd would take each member's removal by its own rules
//! ([`crate::etcd::quorum::may_remove`]: it commits, and the started members that stay are a
//! quorum; a member that is down may go, a learner always). Then: drain
//! (cordon, evict, bounded), automatic snapshot (masters), `member remove` by exact match
//! through the leader, `cluster-configuration.yaml` written back, a deploy of the reduced
//! cluster when a master or proxy left (load balancer backends, `--etcd-servers`, the
//! apiserver certificate), the hosts cleaned, and their Node objects deleted.

use super::deploy::DeployOptions;
use super::fleet::{Node, StepError};
use super::membership::{self, MemberChange, MembershipReport};
use crate::components::etcd as etcd_component;
use crate::etcd::members;
use crate::etcd::quorum;
use crate::model::{Cluster, Machine, Role};
use std::time::Duration;

/// Remove `removed` from `cluster`; `reduced` is the validated config without them.
pub async fn remove(
    cluster: &Cluster,
    reduced: &Cluster,
    removed: &[Machine],
    force: bool,
    opts: &DeployOptions,
) -> Result<MembershipReport, MembershipReport> {
    let mut report = MembershipReport::new("remove", cluster, opts.dry_run);
    let masters: Vec<&Machine> = removed.iter().filter(|m| m.role == Role::Master).collect();
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

    report.step(
        opts,
        format!("connecting to the {} node(s) to remove", removed.len()),
    );
    let machines = removed
        .iter()
        .map(|m| (m.clone(), membership::no_artifacts(m)))
        .collect();
    let mut reachable: Vec<Node> = Vec::new();
    let mut unreachable: Vec<StepError> = Vec::new();
    for r in membership::connect_each(cluster, machines, opts, "remove").await {
        match r {
            Ok(n) => reachable.push(n),
            Err(e) => unreachable.push(e),
        }
    }
    if !unreachable.is_empty() && !force {
        let errs = unreachable
            .into_iter()
            .map(|e| e.hint("bring it back, or pass --force to remove it from the cluster without cleaning its host"))
            .collect();
        return Err(report.fail("connect", errs));
    }
    let is_reachable = |h: &str| reachable.iter().any(|n| n.host() == h);

    let cred = match membership::etcd_credentials(&pki) {
        Ok(c) => c,
        Err(e) => return Err(report.fail("etcd credentials", vec![e])),
    };
    let endpoints: Vec<String> = cluster.masters().map(etcd_component::client_url).collect();
    if !masters.is_empty() {
        report.step(opts, "checking that etcd keeps quorum after each removal");
        if let Err(e) = check_quorum(cluster, &endpoints, &cred, &masters).await {
            return Err(report.fail("etcd quorum", vec![e]));
        }
    }

    if opts.dry_run {
        report.step(opts, "would cordon and drain each node");
        for m in &masters {
            report.step(
                opts,
                format!(
                    "would remove etcd member {} ({}) through the leader",
                    m.etcdid.as_deref().unwrap_or_default(),
                    etcd_component::peer_url(m)
                ),
            );
        }
        report.step(
            opts,
            "would write cluster-configuration.yaml (with a backup)",
        );
        if removed.iter().any(|m| m.role != Role::Worker) {
            report.step(
                opts,
                "would deploy the remaining nodes (load balancers, --etcd-servers)",
            );
        }
        report.step(opts, "would clean the hosts and delete their Node objects");
        for m in removed {
            report.nodes.push(MemberChange {
                host: m.hostname.clone(),
                role: m.role.to_string(),
                result: "would be removed".into(),
                host_cleaned: Some(false),
                notes: if is_reachable(&m.hostname) {
                    vec![]
                } else {
                    vec!["unreachable: its host would not be cleaned".into()]
                },
            });
        }
        return Ok(report.finish());
    }

    report.step(opts, "cordon and drain");
    let api = match membership::admin_api(&pki, &cluster.api_url()) {
        Ok(a) => a,
        Err(e) => return Err(report.fail("drain", vec![e])),
    };
    for m in removed {
        (opts.node_progress)(&m.hostname, "drain");
        match super::remove_drain::drain(&api, &m.nodename, &m.hostname, force, opts.wait).await {
            Ok(d) => report.drained.push(d),
            Err(e) => return Err(report.fail("drain", vec![e])),
        }
    }

    if !masters.is_empty() {
        report.step(opts, "automatic etcd snapshot before the membership change");
        match membership::auto_snapshot(cluster, "remove", opts).await {
            Ok(p) => report.snapshot = Some(p),
            Err(e) => return Err(report.fail("snapshot", e)),
        }
        for m in &masters {
            report.step(
                opts,
                format!(
                    "etcd member {} leaves",
                    m.etcdid.as_deref().unwrap_or_default()
                ),
            );
            if let Err(e) = remove_member(&endpoints, &cred, m).await {
                return Err(report.fail("etcd member remove", vec![e]));
            }
        }
    }

    report.step(opts, "writing cluster-configuration.yaml (with a backup)");
    let hosts: Vec<String> = removed.iter().map(|m| m.hostname.clone()).collect();
    match crate::config::write_back::write_back(&cluster.config_dir, &[], &hosts) {
        Ok(w) => report.config_written.push(w),
        Err(e) => {
            return Err(report.fail(
                "config write-back",
                vec![StepError::new("control host", "cluster-configuration.yaml", e)
                    .hint("delete their entries from cluster-configuration.yaml by hand, then run `k8s-manage remove` again")],
            ));
        }
    }

    if removed.iter().any(|m| m.role != Role::Worker) {
        report.step(
            opts,
            "deploying the remaining nodes: load balancer backends, --etcd-servers, apiserver certificate",
        );
        let r = super::deploy::deploy(reduced, opts).await;
        let ok = r.is_ok();
        let dr = match r {
            Ok(r) | Err(r) => r,
        };
        report.deploy = Some(dr.clone());
        if !ok {
            return Err(report.fail(
                "deploy",
                vec![StepError::new(
                    "cluster",
                    "deploy",
                    format!(
                        "{} failed: {}",
                        dr.failed_phase.clone().unwrap_or_default(),
                        dr.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
                    ),
                )
                .hint("the machines already left etcd and cluster-configuration.yaml: fix the cause and run `k8s-manage deploy`; their hosts were not cleaned")],
            ));
        }
    }

    report.step(opts, "cleaning the removed hosts");
    let cleaned = super::clean::clean_nodes(cluster, &reachable, opts.parallel).await;
    let mut errs = Vec::new();
    for c in cleaned {
        if let Err(e) = c {
            errs.push(e);
        }
    }

    report.step(opts, "deleting the Node objects");
    let api = match membership::admin_api(&pki, &reduced.api_url()) {
        Ok(a) => a,
        Err(e) => return Err(report.fail("delete node", vec![e])),
    };
    for m in removed {
        if let Err(e) = api.delete_node(&m.nodename).await {
            errs.push(StepError::new(&m.hostname, "delete node", e.to_string()));
        }
    }
    if let Ok(names) = membership::member_names(
        &reduced
            .masters()
            .map(etcd_component::client_url)
            .collect::<Vec<_>>(),
        &cred,
    )
    .await
    {
        report.etcd_members = names;
    }
    for m in removed {
        let cleaned = is_reachable(&m.hostname) && !errs.iter().any(|e| e.host == m.hostname);
        report.nodes.push(MemberChange {
            host: m.hostname.clone(),
            role: m.role.to_string(),
            result: "removed".into(),
            host_cleaned: Some(cleaned),
            notes: if is_reachable(&m.hostname) {
                vec![]
            } else {
                vec!["host not cleaned: it could not be reached (clean it by hand before it joins anything again)".into()]
            },
        });
    }
    if !errs.is_empty() {
        return Err(report.fail("clean", errs));
    }
    Ok(report.finish())
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
