//! The planner: pure, phases from maintainconf, steps per role, targets checked.

mod common;
use common::*;
use k8s_manage::model::build::{self, NodeListUse};
use k8s_manage::model::{Cluster, Machine};
use k8s_manage::plan::{self, Plan, PlanError, Step};

fn cluster(m: usize, w: usize, proxy: bool) -> (tempfile::TempDir, std::path::PathBuf, Cluster) {
    let (t, dir) = config_dir(&standard(m, w, proxy), K8S_OK);
    let c = build::load(&dir).unwrap().cluster;
    (t, dir, c)
}

fn nodes_of(p: &Plan, phase: &str) -> Vec<String> {
    p.phases
        .iter()
        .find(|x| x.id == phase)
        .map(|x| x.nodes.iter().filter_map(|n| n.node.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn every_action_definition_loads_and_every_phase_yields_steps() {
    let (_t, dir, c) = cluster(3, 2, true);
    for (action, _) in plan::maintainconf::SOURCES {
        let def = plan::phases::definition(action).expect(action);
        assert_eq!(&def.action, action);
        let listed: Option<Vec<Machine>> = match def.targets {
            plan::maintainconf::Targets::All => None,
            plan::maintainconf::Targets::Listed if *action == "add" => {
                let f = dir.join("add.yaml");
                std::fs::write(&f, "machine-list:\n  - hostname: master-9\n    hostip: 10.1.0.19\n    k8s-role: master\n    etcdid: etcd9\n").unwrap();
                Some(
                    build::load_node_list(&f, &dir, NodeListUse::Add, &c)
                        .unwrap()
                        .0,
                )
            }
            plan::maintainconf::Targets::Listed => Some(vec![c.machines[0].clone()]),
        };
        let p = plan::build(action, &c, listed.as_deref()).expect(action);
        let ids: Vec<&str> = p.phases.iter().map(|x| x.id.as_str()).collect();
        for ph in &def.phases {
            assert!(
                ids.contains(&ph.id.as_str()),
                "{action}: phase {} produced no step",
                ph.id
            );
        }
    }
}

#[test]
fn deploy_runs_etcd_on_masters_and_agents_everywhere() {
    let (_t, _d, c) = cluster(3, 2, true);
    let p = plan::build("deploy", &c, None).unwrap();
    assert_eq!(
        nodes_of(&p, "etcd"),
        vec!["master-1", "master-2", "master-3"]
    );
    assert_eq!(nodes_of(&p, "node-agents").len(), 6);
    assert_eq!(p.observed, "nothing observed yet: everything is new");
    let order: Vec<&str> = p.phases.iter().map(|x| x.id.as_str()).collect();
    let pos = |id: &str| order.iter().position(|x| *x == id).unwrap();
    assert!(pos("etcd") < pos("etcd-health") && pos("etcd-health") < pos("apiserver"));
    assert!(pos("apiserver") < pos("load-balancers") && pos("load-balancers") < pos("node-agents"));
    // the proxy node runs the proxy load balancer, workers do not
    let lb = p.phases.iter().find(|x| x.id == "load-balancers").unwrap();
    let proxy = lb
        .nodes
        .iter()
        .find(|n| n.node.as_deref() == Some("proxy-1"))
        .unwrap();
    assert!(
        proxy.steps.iter().any(
            |s| matches!(s, Step::EnsureContainer { name, .. } if name == "k8s-manage-proxy-lb")
        )
    );
    let worker = lb
        .nodes
        .iter()
        .find(|n| n.node.as_deref() == Some("worker-1"))
        .unwrap();
    assert_eq!(worker.steps.len(), 1);
    // a worker never receives a key of a CA
    let files = p.phases.iter().find(|x| x.id == "files").unwrap();
    let wf = files
        .nodes
        .iter()
        .find(|n| n.node.as_deref() == Some("worker-1"))
        .unwrap();
    for s in &wf.steps {
        if let Step::PutFile { path, .. } = s {
            assert!(!path.ends_with("ca.key"), "{path}");
        }
    }
}

#[test]
fn node_list_rules() {
    let (_t, _d, c) = cluster(3, 1, false);
    assert!(matches!(
        plan::build("add", &c, None),
        Err(PlanError::NeedsNodeList(_))
    ));
    assert!(matches!(
        plan::build("deploy", &c, Some(&[])),
        Err(PlanError::RejectsNodeList(_))
    ));
    let two = vec![c.machines[0].clone(), c.machines[1].clone()];
    assert!(
        matches!(plan::build("etcdfix", &c, Some(&two)), Err(PlanError::WrongTargets(m)) if m.contains("one by one"))
    );
    let worker = vec![c.machines[3].clone()];
    assert!(
        matches!(plan::build("etcdfix", &c, Some(&worker)), Err(PlanError::WrongTargets(m)) if m.contains("worker"))
    );
}

#[test]
fn removing_a_master_checks_quorum_of_the_rest_and_updates_load_balancers() {
    let (_t, _d, c) = cluster(3, 1, false);
    let p = plan::build("remove", &c, Some(&[c.machines[2].clone()])).unwrap();
    let q = p.phases.iter().find(|x| x.id == "quorum-check").unwrap();
    assert_eq!(
        q.nodes[0].steps,
        vec![Step::EtcdQuorumCheck {
            remaining: vec!["etcd1".into(), "etcd2".into()]
        }]
    );
    let lb = p.phases.iter().find(|x| x.id == "lb-backends").unwrap();
    assert_eq!(
        lb.nodes[0].steps,
        vec![Step::UpdateLbBackends {
            apiservers: vec!["10.1.0.11:6443".into(), "10.1.0.12:6443".into()]
        }]
    );
    // removing a worker takes no snapshot and leaves load balancers alone
    let p = plan::build("remove", &c, Some(&[c.machines[3].clone()])).unwrap();
    assert!(
        p.phases
            .iter()
            .all(|x| x.id != "snapshot" && x.id != "lb-backends" && x.id != "etcd-leave")
    );
}

#[test]
fn adding_a_master_joins_etcd_serially_and_every_lb_learns_it() {
    let (_t, dir, c) = cluster(3, 1, false);
    let f = dir.join("add.yaml");
    std::fs::write(&f, "machine-list:\n  - hostname: master-4\n    hostip: 10.1.0.14\n    k8s-role: master\n    etcdid: etcd4\n  - hostname: master-5\n    hostip: 10.1.0.15\n    k8s-role: master\n    etcdid: etcd5\n").unwrap();
    let (new, _) = build::load_node_list(&f, &dir, NodeListUse::Add, &c).unwrap();
    let p = plan::build("add", &c, Some(&new)).unwrap();
    let join = p.phases.iter().find(|x| x.id == "etcd-join").unwrap();
    assert!(join.serial);
    assert_eq!(join.nodes.len(), 2);
    let lb = p.phases.iter().find(|x| x.id == "lb-backends").unwrap();
    match &lb.nodes[0].steps[0] {
        Step::UpdateLbBackends { apiservers } => assert_eq!(apiservers.len(), 5),
        other => panic!("{other:?}"),
    }
    // only the new machines are targets
    assert_eq!(p.targets, vec!["master-4", "master-5"]);
}

#[test]
fn adding_an_existing_machine_is_refused() {
    let (_t, dir, c) = cluster(1, 1, false);
    let f = dir.join("add.yaml");
    std::fs::write(
        &f,
        "machinelist:\n  worker-1:\n    hostip: 10.1.0.101\n    k8s-role: worker\n",
    )
    .unwrap();
    let e = build::load_node_list(&f, &dir, NodeListUse::Add, &c).unwrap_err();
    assert!(
        e.errors()
            .any(|d| d.message.contains("already in the cluster"))
    );
}

#[test]
fn restore_works_on_the_masters_then_repairs_every_node() {
    let (_t, _d, c) = cluster(3, 2, true);
    let p = plan::build("restore", &c, None).unwrap();
    let order: Vec<&str> = p.phases.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        order,
        [
            "snapshot-check",
            "connect",
            "snapshot-copy",
            "snapshot",
            "stop",
            "move-aside",
            "restore",
            "etcd-start",
            "etcd-health",
            "repair",
        ]
    );
    let masters = vec!["master-1", "master-2", "master-3"];
    for phase in [
        "connect",
        "snapshot-copy",
        "stop",
        "move-aside",
        "restore",
        "etcd-start",
    ] {
        assert_eq!(nodes_of(&p, phase), masters, "{phase}");
    }
    assert_eq!(nodes_of(&p, "repair").len(), 6);
    let restore = p.phases.iter().find(|x| x.id == "restore").unwrap();
    assert!(matches!(
        &restore.nodes[0].steps[..],
        [Step::EtcdRestore { name, .. }] if name == "etcd1"
    ));
    let stop = p.phases.iter().find(|x| x.id == "stop").unwrap();
    assert!(matches!(
        &stop.nodes[0].steps[..],
        [Step::StopContainers { names }] if names.last().map(String::as_str) == Some("etcd")
    ));
    assert!(matches!(
        plan::build("restore", &c, Some(&[])),
        Err(PlanError::RejectsNodeList(_))
    ));
}
