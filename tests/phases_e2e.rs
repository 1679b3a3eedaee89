//! `plan` and `--dry-run` walk the same phases: for deploy, upgrade, cert rotate, repair,
//! etcd snapshot restore and clean, a dry run on
//! fresh sandbox nodes (1 master + 1 worker, nothing deployed) goes through exactly the
//! phases the plan lists, in order, on the same nodes, with the same files, images and
//! containers (a fresh node has none of them, so every step of the plan is due). Phases
//! that act only on a running cluster (etcd health, add-ons, verify, state, the version
//! skew) are passed by in a dry run and are said to be.

use k8s_manage::model::build::{self, NodeListUse};
use k8s_manage::plan::{self, Plan};
use k8s_manage::run::deploy::{self, DeployOptions};
use k8s_manage::run::engine::Walked;
use k8s_manage::run::options::{Progress, Reach};
use k8s_manage::run::report::Report;
use k8s_manage::run::{clean, restore};
use k8s_manage::ssh::HostKeyPolicy;
use std::collections::BTreeMap;
use std::sync::Arc;

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;

use cluster_sandbox::{cluster, up};

fn options() -> DeployOptions {
    DeployOptions {
        dry_run: true,
        reach: Reach {
            host_keys: HostKeyPolicy::AcceptNew,
            ..Reach::default()
        },
        ..DeployOptions::new(Progress::silent())
    }
}

/// Per phase of the plan: node (or `cluster`) → steps, in plan order.
fn planned(p: &Plan) -> Vec<(String, BTreeMap<String, Vec<plan::Step>>)> {
    p.phases
        .iter()
        .map(|ph| {
            let nodes = ph
                .nodes
                .iter()
                .map(|n| {
                    (
                        n.node.clone().unwrap_or_else(|| "cluster".into()),
                        n.steps.clone(),
                    )
                })
                .collect();
            (ph.id.clone(), nodes)
        })
        .collect()
}

/// The dry run's walk against the plan: same phases in the same order; on each phase that
/// acts in a dry run the same nodes, and for files, images and containers the same steps.
fn assert_same(action: &str, p: &Plan, r: &Report) {
    assert!(r.ok, "{action} dry run failed: {}", r.render_text());
    assert_walked(action, p, &r.walked);
}

/// A walk against the plan (see [`assert_same`]).
fn assert_walked(action: &str, p: &Plan, walked: &[Walked]) {
    // a phase of the list with no node to act on (etcd when only a worker is repaired) is
    // not in the plan either
    let walked: Vec<&Walked> = walked
        .iter()
        .filter(|w| w.live_only || !w.nodes.is_empty())
        .collect();
    let ids: Vec<&str> = walked.iter().map(|w| w.phase.as_str()).collect();
    let plan = planned(p);
    let plan_ids: Vec<&str> = plan.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, plan_ids, "{action}: the phases a dry run walks");
    for (w, (id, nodes)) in walked.iter().zip(&plan) {
        if w.live_only {
            assert!(
                w.nodes.is_empty(),
                "{action}/{id}: passed by, yet did {w:?}"
            );
            continue;
        }
        let hosts: Vec<&String> = w.nodes.keys().collect();
        let plan_hosts: Vec<&String> = nodes.keys().collect();
        assert_eq!(hosts, plan_hosts, "{action}/{id}: the nodes");
        if [
            "files",
            "images",
            "etcd",
            "apiserver",
            "load-balancers",
            "control-plane",
            "node-agents",
            "connect",
            "snapshot-check",
            "snapshot-copy",
            "stop-containers",
            "remove-dirs",
        ]
        .contains(&id.as_str())
        {
            for (host, steps) in nodes {
                let mut want = steps.clone();
                let mut have = w.nodes[host].clone();
                if id == "files" {
                    // the plan lists files in the layout's order, sync in its own
                    want.sort_by_key(|s| s.describe());
                    have.sort_by_key(|s| s.describe());
                }
                assert_eq!(have, want, "{action}/{id} on {host}: the steps");
            }
        }
    }
}

#[test]
fn plan_and_dry_run_walk_the_same_phases() {
    let sb = up("h14-phases", 1, 1, false);
    let c = cluster(&sb.dir);
    let opts = options();

    let p = plan::build("deploy", &c, None).unwrap();
    let r = sb.rt.block_on(deploy::deploy(&c, &opts));
    let r = r.unwrap_or_else(|r| r);
    assert_same("deploy", &p, &r);
    // the pod sandbox image is checked too (the plan always listed it)
    let images = &r.walked.iter().find(|w| w.phase == "images").unwrap().nodes;
    let pause = &c.kubernetes.images["pause"];
    for (host, steps) in images {
        assert!(
            steps.iter().any(|s| s.describe().contains(pause.as_str())),
            "{host}: {steps:?}"
        );
    }

    // upgrade of a cluster that is not running: refused by the skew check, after connect
    let r = sb.rt.block_on(deploy::upgrade(&c, false, &opts));
    let r = r.expect_err("an upgrade of nothing running is refused");
    assert_eq!(r.failed_phase.as_deref(), Some("version skew"));
    let ids: Vec<&str> = r.walked.iter().map(|w| w.phase.as_str()).collect();
    assert_eq!(ids, ["connect", "version-skew"]);
    let up_plan = plan::build("upgrade", &c, None).unwrap();
    assert_eq!(up_plan.phases[1].id, "version-skew");

    // cert rotate (its PKI made as render makes it): `reissue` first, on the control
    // host, and a dry run writes no backup; then deploy's phases, as the plan lists them
    let pki_dir = c.state_dir().join("pki");
    pki_for(&c);
    let p = plan::build("cert-rotate", &c, None).unwrap();
    assert_eq!(p.phases[0].id, "reissue");
    let r = sb
        .rt
        .block_on(deploy::cert_rotate(&c, deploy::Reissue::default(), &opts));
    let r = r.unwrap_or_else(|r| r);
    assert_same("cert-rotate", &p, &r);
    assert!(!c.state_dir().join("backups").exists());
    std::fs::remove_dir_all(&pki_dir).unwrap();

    // repair of the worker: the plan's phases on that node only
    let worker = c
        .machines
        .iter()
        .find(|m| m.role.to_string() == "worker")
        .unwrap();
    let list = sb.dir.join("repair.yaml");
    std::fs::write(
        &list,
        format!("machine-list:\n  - hostname: {}\n", worker.hostname),
    )
    .unwrap();
    let (listed, _) = build::load_node_list(&list, &sb.dir, NodeListUse::Existing, &c).unwrap();
    let p = plan::build("repair", &c, Some(&listed)).unwrap();
    let hosts = listed.iter().map(|m| m.hostname.clone()).collect();
    let r = sb.rt.block_on(deploy::repair(&c, hosts, &opts));
    let r = r.unwrap_or_else(|r| r);
    // repair's plan says "recreate": on a fresh node the dry run creates
    let mut p = p;
    for ph in &mut p.phases {
        for n in &mut ph.nodes {
            for s in &mut n.steps {
                if let plan::Step::EnsureContainer { change, .. } = s {
                    *change = plan::Change::Create;
                }
            }
        }
    }
    assert_same("repair", &p, &r);

    // etcd snapshot restore of a snapshot on the control host (a dry run checks its
    // sha256, connects to the masters and checks their copies, then passes the rest by):
    // the plan's phases, with the snapshot's name for the plan's <NAME>
    let snapshots = c.state_dir().join("snapshots");
    std::fs::create_dir_all(&snapshots).unwrap();
    let bytes = b"not a real etcd snapshot: a dry run only checks its sha256".to_vec();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    std::fs::write(snapshots.join("h14.db"), &bytes).unwrap();
    std::fs::write(snapshots.join("h14.db.sha256"), format!("{sha}  h14.db\n")).unwrap();
    pki_for(&c);
    let mut p = plan::build("restore", &c, None).unwrap();
    for ph in &mut p.phases {
        for n in &mut ph.nodes {
            for s in &mut n.steps {
                match s {
                    plan::Step::CheckSnapshot { file }
                    | plan::Step::CopySnapshot { path: file } => {
                        *file = file.replace("<NAME>", "h14")
                    }
                    _ => {}
                }
            }
        }
    }
    let ropts = restore::RestoreOptions {
        dry_run: true,
        reach: opts.reach.clone(),
        wait: opts.wait,
        progress: opts.progress.clone(),
    };
    let r = sb
        .rt
        .block_on(restore::restore(&c, "h14", &ropts))
        .unwrap_or_else(|e| panic!("restore dry run failed: {e:?}"));
    assert!(r.ok && r.dry_run);
    assert_walked("restore", &p, &r.walked);
    // the masters hold no copy: the dry run says it would copy, and copies nothing
    assert!(
        r.nodes.iter().all(|n| n.copy == "would copy"),
        "{:?}",
        r.nodes
    );
    // clean: every node connected, then on each the containers by label and the
    // directories the plan lists (a dry run takes no snapshot and forgets nothing)
    let p = plan::build("clean", &c, None).unwrap();
    let copts = clean::CleanOptions {
        dry_run: true,
        no_snapshot: false,
        reach: opts.reach.clone(),
        progress: Arc::new(|_: &str| {}),
        note: Arc::new(|_: &str| {}),
    };
    let out = sb.rt.block_on(clean::clean(&c, &copts));
    assert!(
        out.failure.is_none(),
        "clean dry run failed: {:?}",
        out.failure
    );
    assert_walked("clean", &p, &out.walked);
    assert!(out.snapshot.is_none());
    assert!(
        c.state_dir().join("pki").exists(),
        "a dry run removes nothing"
    );
}

/// The cluster's PKI as render makes it (load or create).
fn pki_for(c: &k8s_manage::model::Cluster) {
    k8s_manage::pki::Pki::load_or_create(
        &c.state_dir().join("pki"),
        &k8s_manage::render::node::pki_request(c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
}
