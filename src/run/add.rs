//! `add -f NODES`: machines join a running cluster.
//!
//! Everything is checked before anything changes: the merged config validates, every new
//! node answers and passes preflight, and etcd is healthy enough for each new member.
//! Workers: the merged cluster is deployed onto the new nodes only (certificates from the
//! existing CA); existing nodes are not touched. Masters, one at a time: automatic
//! snapshot (once), quorum check, the new master's files and etcd image, `member add`
//! through the leader, its etcd started with `--initial-cluster-state=existing`, caught up
//! and healthy, then `cluster-configuration.yaml` written back. After the last member a
//! deploy of the merged cluster gives the new masters their control plane and every node's
//! load balancer and every apiserver's `--etcd-servers` the new list.

use super::deploy::DeployOptions;
use super::fleet::{Node, StepError, fan_out};
use super::membership::{self, MemberChange, MembershipReport};
use crate::components::etcd::{self as etcd_component, BootstrapState, EtcdBootstrap};
use crate::config::write_back::{self, NewEntry};
use crate::etcd::members;
use crate::executor::docker_ops::{self, EnsureOptions};
use crate::model::{Cluster, Role};
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

    let cred = match membership::etcd_credentials(merged, &pki) {
        Ok(c) => c,
        Err(e) => return Err(report.fail("etcd credentials", vec![e])),
    };
    let mut endpoints: Vec<String> = cluster.masters().map(etcd_component::client_url).collect();
    if !new_masters.is_empty() {
        // the first addition must be safe now; later ones are checked again before each
        let h = crate::etcd::check(&endpoints, &cred, Duration::from_secs(5)).await;
        let healthy = h.members.iter().filter(|m| m.healthy).count();
        if let Err(e) = members::addition_is_safe(endpoints.len(), healthy) {
            return Err(report.fail(
                "etcd quorum",
                vec![StepError::new("etcd", "add member", e).hint(
                    "bring the unhealthy members back first (`k8s-manage status` shows them)",
                )],
            ));
        }
    }

    if opts.dry_run {
        for m in &new_masters {
            report.step(
                opts,
                format!(
                    "would add etcd member {} ({}) through the leader, start it and wait until it has caught up",
                    m.etcdid.as_deref().unwrap_or_default(),
                    etcd_component::peer_url(m)
                ),
            );
        }
        report.step(
            opts,
            if new_masters.is_empty() {
                "would deploy the new nodes only (existing nodes unchanged)".to_string()
            } else {
                "would deploy the merged cluster: the new masters' control plane, every load balancer and every apiserver's --etcd-servers".to_string()
            },
        );
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
            if let Err(e) = join_master(merged, node, &endpoints, &cred, opts).await {
                return Err(report.fail("etcd member add", vec![e]));
            }
            endpoints.push(etcd_component::client_url(m));
            let entry: Vec<NewEntry> = entries
                .iter()
                .filter(|e| e.hostname == m.hostname)
                .cloned()
                .collect();
            match write_back::write_back(&cluster.config_dir, &entry, &[]) {
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

    let mut dopts = opts.clone();
    if new_masters.is_empty() {
        report.step(opts, "deploying the new nodes (existing nodes unchanged)");
        dopts.repair = Some(names.clone());
    } else {
        report.step(
            opts,
            "deploying the merged cluster: new control planes, load balancers, --etcd-servers",
        );
        dopts.repair = None;
    }
    drop(nodes);
    let deployed = super::deploy::deploy(merged, &dopts).await;
    let (ok, mut dr) = match deployed {
        Ok(r) => (true, r),
        Err(r) => (false, r),
    };
    dr.action = "deploy".into();
    report.deploy = Some(dr.clone());
    if !ok {
        let mut r = report.fail(
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
        match write_back::write_back(&cluster.config_dir, &rest, &[]) {
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

/// One new master joins etcd: quorum check, its files and etcd image, `member add` through
/// the leader (skipped when it is already a member: a re-run), its etcd started to join
/// the existing cluster, then caught up with the leader and every member healthy.
async fn join_master(
    merged: &Cluster,
    node: &Node,
    endpoints: &[String],
    cred: &crate::etcd::EtcdCredentials,
    opts: &DeployOptions,
) -> Result<(), StepError> {
    let m = &node.machine;
    let name = m.etcdid.clone().unwrap_or_else(|| m.hostname.clone());
    let peer = etcd_component::peer_url(m);
    let mut leader = members::connect_leader(endpoints, cred, Duration::from_secs(10))
        .await
        .map_err(|e| StepError::new("etcd", "leader", e))?;
    let list = leader
        .members()
        .await
        .map_err(|e| StepError::new("etcd", "member list", e))?;
    let already = members::find_exact(&list, &name, &peer)
        .map_err(|e| StepError::new(node.host(), "etcd member", e))?
        .cloned();
    if already.is_none() {
        let healthy = leader.health.members.iter().filter(|h| h.healthy).count();
        members::addition_is_safe(list.len(), healthy)
            .map_err(|e| StepError::new("etcd", "add member", e))?;
    }
    (opts.node_progress)(node.host(), "files");
    super::sync_files::sync(node, false).await?;
    let image = merged.kubernetes.images["etcd"].clone();
    (opts.node_progress)(node.host(), "etcd image");
    if !docker_ops::image_present(node.docker(), &image)
        .await
        .map_err(|e| step_err(node, "images")(e.to_string()))?
    {
        docker_ops::ensure_image(node.docker(), &image, Duration::from_secs(600))
            .await
            .map_err(|e| step_err(node, "images")(e.to_string()))?;
    }
    let list = match already {
        Some(_) => list,
        None => {
            (opts.node_progress)(node.host(), "etcd member add");
            // etcd refuses a reconfiguration ("unhealthy cluster") until the leader has
            // been connected to every member for a few seconds, e.g. right after a join
            let start = std::time::Instant::now();
            loop {
                match leader.add(&peer).await {
                    Ok((_, list)) => break list,
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
    let action = docker_ops::ensure_container(node.docker(), &spec, &EnsureOptions::default())
        .await
        .map_err(|e| step_err(node, "container etcd")(e.to_string()))?;
    node.log
        .line(&format!("container etcd (joining): {action:?}"));
    docker_ops::wait_running(node.docker(), "etcd", Duration::from_secs(3), opts.wait)
        .await
        .map_err(|e| step_err(node, "container etcd")(e.to_string()))?;
    let url = etcd_component::client_url(m);
    (opts.node_progress)(node.host(), "etcd catching up");
    members::wait_caught_up(&url, &leader.endpoint, cred, opts.wait)
        .await
        .map_err(|e| {
            StepError::new(node.host(), "etcd catch-up", e)
                .hint("read `docker logs etcd` on that node (also in DIR/.k8s-manage/logs)")
        })?;
    let mut all = endpoints.to_vec();
    all.push(url);
    crate::etcd::wait_healthy(&all, cred, opts.wait)
        .await
        .map_err(|h| StepError::new("etcd", "health after the join", h.problems()))?;
    Ok(())
}
