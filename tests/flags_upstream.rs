//! Every flag rendered for a component exists in the upstream flag list of its version and
//! is not deprecated. Lists: tests/data/flags (copied from shared/k8s-reference). Where no
//! list exists for the exact version, the nearest one is used, as each assertion says.

mod common;
use common::*;
use k8s_manage::components::{self, etcd};
use k8s_manage::model::build;
use std::collections::HashSet;

fn list(name: &str) -> Option<HashSet<String>> {
    let p = repo().join("tests/data/flags").join(format!("{name}.txt"));
    std::fs::read_to_string(p).ok().map(|s| {
        s.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// The nearest version that has a list: (version used, flags, deprecated flags).
fn nearest(component: &str, minor: u32) -> (String, HashSet<String>, HashSet<String>) {
    let mut candidates: Vec<u32> = (25..=40)
        .filter(|m| list(&format!("{component}-1.{m}")).is_some())
        .collect();
    candidates.sort_by_key(|m| (m.abs_diff(minor), std::cmp::Reverse(*m)));
    let m = *candidates
        .first()
        .unwrap_or_else(|| panic!("no flag list for {component}"));
    let v = format!("1.{m}");
    let flags = list(&format!("{component}-{v}")).unwrap();
    let mut dep = list(&format!("{component}-{v}.deprecated")).unwrap_or_default();
    dep.extend(list(&format!("{component}-{v}.deprecated-for-removal")).unwrap_or_default());
    (v, flags, dep)
}

#[test]
fn rendered_flags_exist_upstream_for_every_supported_minor() {
    for minor in 31..=36u32 {
        let k8s =
            format!("kubernetes:\n  kubernetes-version: v1.{minor}.0\n  docker-registry: r:5000\n");
        let (_t, dir) = config_dir(&standard(3, 1, true), &k8s);
        let cluster = build::load(&dir).unwrap().cluster;
        let boot = etcd::new_cluster(&cluster);
        let mut checked = 0;
        for m in &cluster.machines {
            for c in components::node_containers(&cluster, m, &boot) {
                let component = match c.name.as_str() {
                    "kube-apiserver"
                    | "kube-controller-manager"
                    | "kube-scheduler"
                    | "kubelet"
                    | "kube-proxy" => c.name.clone(),
                    _ => continue,
                };
                let (used, flags, deprecated) = nearest(&component, minor);
                for f in c.flag_names() {
                    assert!(
                        flags.contains(&f),
                        "{component} v1.{minor} (checked against the {used} list): --{f} does not exist upstream"
                    );
                    assert!(
                        !deprecated.contains(&f),
                        "{component} v1.{minor} (checked against {used}): --{f} is deprecated"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 60, "only {checked} flags checked");
    }
}

#[test]
fn kubelet_flags_avoid_everything_deprecated() {
    // The kubelet marks most flags deprecated in favour of the config file; we render
    // none of them, not only none of those deprecated for removal.
    let (_t, dir) = config_dir(&standard(1, 1, false), K8S_OK);
    let cluster = build::load(&dir).unwrap().cluster;
    let dep = list("kubelet-1.36.deprecated").unwrap();
    let c = components::node_agents::kubelet(&cluster, &cluster.machines[1]);
    for f in c.flag_names() {
        assert!(!dep.contains(&f), "--{f}");
    }
}

#[test]
fn etcd_flags_exist_for_its_version() {
    for (etcd_version, list_name) in [
        ("3.5.15-0", "etcd-3.5"),
        ("3.6.5-0", "etcd-3.6"),
        ("3.4.23", "etcd-3.4"),
    ] {
        let k8s =
            format!("kubernetes:\n  etcd-version: {etcd_version}\n  docker-registry: r:5000\n");
        let (_t, dir) = config_dir(&standard(3, 0, false), &k8s);
        let cluster = build::load(&dir).unwrap().cluster;
        let flags = list(list_name).unwrap();
        let dep = list(&format!("{list_name}.deprecated")).unwrap_or_default();
        let c = etcd::container(&cluster, &cluster.machines[0], &etcd::new_cluster(&cluster));
        for f in c.flag_names() {
            assert!(flags.contains(&f), "etcd {etcd_version}: --{f} unknown");
            assert!(!dep.contains(&f), "etcd {etcd_version}: --{f} deprecated");
        }
    }
}

#[test]
fn etcd_cluster_is_tls_with_client_cert_auth() {
    let (_t, dir) = config_dir(&standard(3, 0, false), K8S_OK);
    let cluster = build::load(&dir).unwrap().cluster;
    let c = etcd::container(&cluster, &cluster.machines[1], &etcd::new_cluster(&cluster));
    let args = c.args.join(" ");
    assert!(
        args.contains("--client-cert-auth=true") && args.contains("--peer-client-cert-auth=true")
    );
    assert!(!args.contains("http://"), "plain HTTP in {args}");
    assert!(args.contains("--initial-cluster=etcd1=https://10.1.0.11:2380,etcd2=https://10.1.0.12:2380,etcd3=https://10.1.0.13:2380"));
    assert!(args.contains("--name=etcd2"));
}
