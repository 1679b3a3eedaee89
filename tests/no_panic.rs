//! Property test: whatever the bytes of the config files (cluster and kubernetes files,
//! node lists, services-configuration.yaml), validation returns diagnostics and never
//! panics; for services that includes the databases' typed values and scale planners.

mod common;
use common::*;
use k8s_manage::diag::Diagnostics;
use k8s_manage::model::build::{self, NodeListUse};
use k8s_manage::service::ServicesConfig;
use k8s_manage::service::databases::{self, ScaleRequest};
use proptest::prelude::*;
use std::path::Path;

const GOOD_CLUSTER: &str = "default-machine-properties:\n  username: root\n  ssh-agent: \"true\"\nmachine-list:\n  - hostname: m1\n    hostip: 10.1.0.11\n    k8s-role: master\n    etcdid: e1\n    dashboard: \"true\"\n  - hostname: w1\n    hostip: 10.1.0.21\n    k8s-role: worker\n";

fn mutate(base: &str, ops: &[(usize, u8, u8)]) -> String {
    let mut b: Vec<u8> = base.as_bytes().to_vec();
    for &(pos, kind, byte) in ops {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = pos % b.len();
        match kind % 4 {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            2 => {
                b.remove(i);
            }
            _ => {
                let j = (i + byte as usize) % b.len();
                b.swap(i, j);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

const GOOD_NODES: &str = "machine-list:\n  - hostname: w2\n    hostip: 10.1.0.22\n    k8s-role: worker\n    password: pw\n  - hostname: m2\n    hostip: 10.1.0.12\n    k8s-role: master\n    etcdid: e2\n";

const GOOD_NODES_MAP: &str =
    "machinelist:\n  w3:\n    ip: 10.1.0.23\n    username: root\n    sshport: 22\n";

/// The example's databases with large and small numbers in the places they are read.
const GOOD_SERVICES: &str = "cluster:\n  docker-registry-info:\n    docker-namespace: team\n    docker-registry-domain: 10.0.0.5:5000\n    docker-tag: v1\n    docker-username: u\n    docker-password: p\niotdb:\n  storage-class: local\n  datanode: {replicas: 3, memory: 8Gi, cpu: 4, storage-size: 200Gi}\n  confignode: {replicas: 3, memory: 99999999999999999999Ti}\ntdengine:\n  storage-class: local\n  replicas: 3\n  memory: 18446744073709551616\n  cpu: \"1e309\"\ndolphindb:\n  storage-class: local\n  license-file: x.lic\n  datanode: {replicas: 3, memory: 4Gi}\nclickhouse:\n  storage-class: local\n  shards: 2\n  replicas: 2\n  memory: 9223372036854775807\n";

/// Every node-list use, against a valid cluster.
fn check_node_list(dir: &Path, text: &str) {
    let cluster = build::load(dir).expect("the base cluster is valid").cluster;
    let list = dir.join("nodes.yaml");
    std::fs::write(&list, text).unwrap();
    for usage in [NodeListUse::Add, NodeListUse::Existing] {
        let _ = build::load_node_list(&list, dir, usage, &cluster);
    }
}

/// Every database: validation, typed values, scale plans up and down.
fn check_services(dir: &Path, text: &str) {
    std::fs::write(dir.join("services-configuration.yaml"), text).unwrap();
    let mut d = Diagnostics::default();
    let cfg = ServicesConfig::read(dir, &mut d);
    let _ = k8s_manage::service::config::registry_settings(&cfg, &mut d);
    for db in ["iotdb", "tdengine", "dolphindb", "clickhouse"] {
        databases::validate(db, &cfg, &mut d);
        let _ = databases::template_values(db, &cfg);
        if let Some(p) = databases::planner(db) {
            for (current, target) in [(3, 5), (5, 3), (1, 0), (u32::MAX, 1), (1, u32::MAX)] {
                for component in [None, Some("confignode".to_string())] {
                    let _ = p.scale_plan(
                        &cfg,
                        &ScaleRequest {
                            component,
                            current,
                            target,
                            cluster_domain: "cluster.local".into(),
                        },
                    );
                }
            }
        }
    }
    let _ = d.render_text(false);
}

#[test]
fn the_good_inputs_are_what_the_properties_mutate() {
    let (_t, dir) = config_dir(GOOD_CLUSTER, K8S_OK);
    check_node_list(&dir, GOOD_NODES);
    check_node_list(&dir, GOOD_NODES_MAP);
    check_services(&dir, GOOD_SERVICES);
    // the huge numbers in GOOD_SERVICES are errors, not wrapped sizes
    let mut d = Diagnostics::default();
    let cfg = ServicesConfig::read(&dir, &mut d);
    for db in ["iotdb", "tdengine"] {
        databases::validate(db, &cfg, &mut d);
    }
    let text = d.render_text(false);
    assert!(text.contains("larger than any machine"), "{text}");
    assert!(text.contains("not a CPU amount"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configs_never_panic(ops in proptest::collection::vec((any::<usize>(), any::<u8>(), prop_oneof![Just(b':'), Just(b'-'), Just(b' '), Just(b'\n'), Just(b'['), Just(b'{'), Just(b'"'), Just(b'&'), Just(b'*'), any::<u8>()]), 1..12)) {
        let cluster = mutate(GOOD_CLUSTER, &ops);
        let kube = mutate(K8S_OK, &ops[..ops.len().min(3)]);
        let (_t, dir) = config_dir(&cluster, &kube);
        let _ = build::load(&dir);
    }

    #[test]
    fn mutated_node_lists_never_panic(ops in proptest::collection::vec((any::<usize>(), any::<u8>(), prop_oneof![Just(b':'), Just(b'-'), Just(b' '), Just(b'\n'), Just(b'9'), Just(b'{'), Just(b'"'), any::<u8>()]), 1..12), map in any::<bool>()) {
        let (_t, dir) = config_dir(GOOD_CLUSTER, K8S_OK);
        check_node_list(&dir, &mutate(if map { GOOD_NODES_MAP } else { GOOD_NODES }, &ops));
    }

    #[test]
    fn mutated_services_configurations_never_panic(ops in proptest::collection::vec((any::<usize>(), any::<u8>(), prop_oneof![Just(b':'), Just(b'-'), Just(b' '), Just(b'\n'), Just(b'9'), Just(b'0'), Just(b'{'), Just(b'['), Just(b'"'), any::<u8>()]), 1..12)) {
        let (_t, dir) = config_dir(GOOD_CLUSTER, K8S_OK);
        check_services(&dir, &mutate(GOOD_SERVICES, &ops));
    }

    #[test]
    fn huge_quantities_never_panic(digits in "[1-9][0-9]{0,60}", suffix in prop_oneof![Just(""), Just("Ki"), Just("Mi"), Just("Gi"), Just("Ti"), Just("k"), Just("M"), Just("G"), Just("T"), Just("m")]) {
        let (_t, dir) = config_dir(GOOD_CLUSTER, K8S_OK);
        let q = format!("{digits}{suffix}");
        let text = format!("iotdb:\n  storage-class: local\n  datanode: {{memory: {q}, cpu: {q}, storage-size: {q}}}\ntdengine:\n  storage-class: local\n  memory: {q}\n  cpu: {q}\n  data-size: {q}\nclickhouse:\n  storage-class: local\n  memory: {q}\n");
        check_services(&dir, &text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let (_t, dir) = config_dir(&text, &text);
        let _ = build::load(&dir);
        let (_t, good) = config_dir(GOOD_CLUSTER, K8S_OK);
        check_node_list(&good, &text);
        check_services(&good, &text);
    }
}
