//! A corpus of malformed inputs, made from four good files (cluster, kubernetes, node list,
//! services-configuration) by named mutations: wrong types, placeholders, duplicate keys,
//! bad CIDRs and paths, huge numbers, invalid UTF-8, deep nesting, alias bombs, broken
//! syntax. Every input is validated as the commands do (config dir, node list for add and
//! for remove, every database's section and scale planner); none may panic, and every
//! error names the file it is about and, unless it is about the whole file, its line.

mod common;
use common::*;
use k8s_manage::diag::{Diagnostics, Severity};
use k8s_manage::model::build::{self, NodeListUse};
use k8s_manage::service::ServicesConfig;
use k8s_manage::service::databases::{self, ScaleRequest};
use std::path::Path;

const CLUSTER: &str = "\
default-machine-properties:
  username: root
  sshport: 22
  ssh-agent: \"true\"
machine-sku:
  GENERIC:
    mem: 1500G
machine-list:
  - hostname: master-1
    hostip: 10.1.0.11
    k8s-role: master
    etcdid: etcd1
    machine-type: GENERIC
  - hostname: master-2
    hostip: 10.1.0.12
    k8s-role: master
    etcdid: etcd2
  - hostname: master-3
    hostip: 10.1.0.13
    k8s-role: master
    etcdid: etcd3
    dashboard: \"true\"
  - hostname: worker-1
    hostip: 10.1.0.21
    k8s-role: worker
    nodename: w1
";

const KUBERNETES: &str = "\
kubernetes:
  cluster-name: rack
  kubernetes-version: v1.36.1
  docker-registry: 10.0.0.5:5000/k8s
  service-cluster-ip-range: 10.96.0.0/12
  pod-cluster-ip-range: 10.244.0.0/16
  cluster-domain: cluster.local
  load-balance-ip: 10.1.0.11
  api-servers-port: 6443
  local-lb-port: 6444
  etcd-data-path: /var/lib/etcd
  etcd-snapshot-copies-kept: 5
  cert-validity-days: 365
  network-plugin: flannel
  cgroup-driver: systemd
";

const NODES: &str = "\
machine-list:
  - hostname: worker-2
    hostip: 10.1.0.22
    k8s-role: worker
  - hostname: worker-3
    hostip: 10.1.0.23
    k8s-role: worker
    sshport: 2222
";

const SERVICES: &str = "\
cluster:
  docker-registry-info:
    docker-namespace: team
    docker-registry-domain: 10.0.0.5:5000
    docker-tag: v1
iotdb:
  storage-class: local
  datanode:
    replicas: 3
    memory: 8Gi
    cpu: 4
  confignode:
    replicas: 3
tdengine:
  storage-class: local
  replicas: 3
  mnodes: 3
  memory: 4Gi
  server-port: 6030
dolphindb:
  storage-class: local
  license-file: ddb.lic
  replication-factor: 2
clickhouse:
  storage-class: local
  shards: 1
  replicas: 2
  insert-quorum: 1
";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Cluster,
    Kubernetes,
    Nodes,
    Services,
}

impl Kind {
    fn file(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster-configuration.yaml",
            Kind::Kubernetes => "kubernetes-configuration.yaml",
            Kind::Nodes => "nodes.yaml",
            Kind::Services => "services-configuration.yaml",
        }
    }
    fn base(self) -> &'static str {
        match self {
            Kind::Cluster => CLUSTER,
            Kind::Kubernetes => KUBERNETES,
            Kind::Nodes => NODES,
            Kind::Services => SERVICES,
        }
    }
}

/// One malformed input: which file, what was done, its bytes.
struct Case {
    kind: Kind,
    what: String,
    bytes: Vec<u8>,
}

/// `key: value` lines of a file: (line index, indentation and key, value).
fn value_lines(text: &str) -> Vec<(usize, String, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let (head, value) = l.split_once(": ")?;
            Some((i, head.to_string(), value.to_string()))
        })
        .collect()
}

fn replace_line(text: &str, i: usize, new: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[i] = new.to_string();
    lines.join("\n") + "\n"
}

fn corpus() -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |kind: Kind, what: String, bytes: Vec<u8>| out.push(Case { kind, what, bytes });
    let wrong_values = [
        ("a list", "[a, b]"),
        ("a mapping", "{x: 1}"),
        ("null", "~"),
        ("a boolean", "true"),
        ("a float", "12.5"),
        ("a placeholder", "<fill-me-in>"),
        ("a huge number", "99999999999999999999999999999999999999999"),
        ("a negative number", "-1"),
        ("an empty string", "\"\""),
        ("control characters", "\"a\\u0000b\\tc\""),
    ];
    for kind in [Kind::Cluster, Kind::Kubernetes, Kind::Nodes, Kind::Services] {
        let base = kind.base();
        for (i, head, _) in value_lines(base) {
            for (what, v) in wrong_values {
                add(
                    kind,
                    format!("line {}: {} is {what}", i + 1, head.trim()),
                    replace_line(base, i, &format!("{head}: {v}")).into_bytes(),
                );
            }
            // the same key twice
            let lines: Vec<&str> = base.lines().collect();
            let mut dup: Vec<&str> = lines.clone();
            dup.insert(i + 1, lines[i]);
            add(
                kind,
                format!("line {}: {} twice", i + 1, head.trim()),
                (dup.join("\n") + "\n").into_bytes(),
            );
        }
        // whole-file damage
        let mut bad_utf8 = base.as_bytes().to_vec();
        bad_utf8.splice(10..10, [0xff, 0xfe, 0xc3]);
        add(kind, "invalid UTF-8".into(), bad_utf8);
        add(kind, "empty".into(), Vec::new());
        add(kind, "only a comment".into(), b"# nothing\n".to_vec());
        add(kind, "a list at the top".into(), b"- a\n- b\n".to_vec());
        add(kind, "a scalar at the top".into(), b"just text\n".to_vec());
        add(
            kind,
            "tabs for indentation".into(),
            base.replace("  ", "\t").into_bytes(),
        );
        add(
            kind,
            "an unclosed quote".into(),
            base.replacen(": ", ": \"", 3).into_bytes(),
        );
        add(
            kind,
            "deep flow nesting".into(),
            format!("x: {}{}\n", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        );
        add(
            kind,
            "deep block nesting".into(),
            (0..400)
                .map(|d| format!("{}k{d}:\n", "  ".repeat(d)))
                .collect::<String>()
                .into_bytes(),
        );
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for n in 1..12 {
            bomb.push_str(&format!(
                "{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                (b'a' + n as u8) as char,
                (b'a' + n as u8) as char,
                p = (b'a' + n as u8 - 1) as char
            ));
        }
        add(kind, "an alias bomb".into(), bomb.into_bytes());
        add(
            kind,
            "a truncated file".into(),
            base.as_bytes()[..base.len() / 2].to_vec(),
        );
        add(
            kind,
            "a key without a value and a stray colon".into(),
            format!("{base}: :\n::\n").into_bytes(),
        );
    }
    // values that are valid YAML but wrong in meaning
    let meaning: [(Kind, &str, &str); 28] = [
        (
            Kind::Kubernetes,
            "service-cluster-ip-range: 10.96.0.0/12",
            "service-cluster-ip-range: 10.96.0.0/33",
        ),
        (
            Kind::Kubernetes,
            "service-cluster-ip-range: 10.96.0.0/12",
            "service-cluster-ip-range: 10.96.0.1/12",
        ),
        (
            Kind::Kubernetes,
            "service-cluster-ip-range: 10.96.0.0/12",
            "service-cluster-ip-range: fd00::/108",
        ),
        (
            Kind::Kubernetes,
            "service-cluster-ip-range: 10.96.0.0/12",
            "service-cluster-ip-range: 10.1.0.0/16",
        ),
        (
            Kind::Kubernetes,
            "pod-cluster-ip-range: 10.244.0.0/16",
            "pod-cluster-ip-range: 10.96.0.0/12",
        ),
        (
            Kind::Kubernetes,
            "pod-cluster-ip-range: 10.244.0.0/16",
            "pod-cluster-ip-range: 300.1.1.1/8",
        ),
        (
            Kind::Kubernetes,
            "etcd-data-path: /var/lib/etcd",
            "etcd-data-path: //",
        ),
        (
            Kind::Kubernetes,
            "etcd-data-path: /var/lib/etcd",
            "etcd-data-path: /var/lib",
        ),
        (
            Kind::Kubernetes,
            "etcd-data-path: /var/lib/etcd",
            "etcd-data-path: /etc/../",
        ),
        (
            Kind::Kubernetes,
            "etcd-data-path: /var/lib/etcd",
            "etcd-data-path: relative/etcd",
        ),
        (
            Kind::Kubernetes,
            "api-servers-port: 6443",
            "api-servers-port: 70000",
        ),
        (
            Kind::Kubernetes,
            "local-lb-port: 6444",
            "local-lb-port: 6443",
        ),
        (
            Kind::Kubernetes,
            "kubernetes-version: v1.36.1",
            "kubernetes-version: v1.9.4",
        ),
        (
            Kind::Kubernetes,
            "kubernetes-version: v1.36.1",
            "kubernetes-version: v99999999999999999999.1.1",
        ),
        (
            Kind::Kubernetes,
            "cert-validity-days: 365",
            "cert-validity-days: 4294967296",
        ),
        (
            Kind::Kubernetes,
            "load-balance-ip: 10.1.0.11",
            "load-balance-ip: 10.1.0",
        ),
        (
            Kind::Kubernetes,
            "etcd-snapshot-copies-kept: 5",
            "etcd-snapshot-copies-kept: 0",
        ),
        (Kind::Cluster, "hostip: 10.1.0.12", "hostip: 10.1.0.11"),
        (Kind::Cluster, "hostname: master-2", "hostname: master-1"),
        (Kind::Cluster, "etcdid: etcd2", "etcdid: etcd1"),
        (
            Kind::Cluster,
            "hostip: 10.1.0.21",
            "hostip: 255.255.255.255",
        ),
        (Kind::Cluster, "sshport: 22", "sshport: 65536"),
        (Kind::Cluster, "k8s-role: worker", "k8s-role: wroker"),
        (Kind::Nodes, "hostip: 10.1.0.22", "hostip: 10.1.0.11"),
        (Kind::Nodes, "hostname: worker-3", "hostname: worker-2"),
        (
            Kind::Services,
            "license-file: ddb.lic",
            "license-file: ../../../etc/shadow",
        ),
        (
            Kind::Services,
            "memory: 8Gi",
            "memory: 99999999999999999999999Ti",
        ),
        (
            Kind::Services,
            "replicas: 3\n  mnodes: 3",
            "replicas: 1\n  mnodes: 3",
        ),
    ];
    for (kind, from, to) in meaning {
        let text = kind.base().replacen(from, to, 1);
        assert_ne!(text, kind.base(), "{from} is not in the {kind:?} file");
        add(kind, format!("`{to}`"), text.into_bytes());
    }
    out
}

/// Validate a config dir the way the commands do; the diagnostics of every step.
fn validate_all(dir: &Path) -> Vec<Diagnostics> {
    let mut all = Vec::new();
    let loaded = build::load(dir);
    let cluster = match loaded {
        Ok(l) => {
            all.push(l.warnings);
            Some(l.cluster)
        }
        Err(d) => {
            all.push(d);
            None
        }
    };
    if let Some(c) = &cluster {
        for usage in [NodeListUse::Add, NodeListUse::Existing] {
            match build::load_node_list(&dir.join("nodes.yaml"), dir, usage, c) {
                Ok((_, d)) | Err(d) => all.push(d),
            }
        }
    }
    let mut d = Diagnostics::default();
    let cfg = ServicesConfig::read(dir, &mut d);
    let _ = k8s_manage::service::config::registry_settings(&cfg, &mut d);
    for db in ["iotdb", "tdengine", "dolphindb", "clickhouse"] {
        databases::validate(db, &cfg, &mut d);
        let _ = databases::template_values(db, &cfg);
        if let Some(p) = databases::planner(db) {
            for (current, target) in [(3, 4), (4, 3)] {
                let _ = p.scale_plan(
                    &cfg,
                    &ScaleRequest {
                        component: None,
                        current,
                        target,
                        cluster_domain: "cluster.local".into(),
                    },
                );
            }
        }
    }
    all.push(d);
    all
}

/// Errors about a whole file (unreadable, not YAML, empty, the wrong kind of document, a
/// section it lacks) carry no line; every other one does.
fn whole_file(message: &str) -> bool {
    [
        "not UTF-8",
        "cannot read",
        "has no `",
        "is missing",
        "must be a mapping",
        "the YAML parser failed",
        "the file is empty",
        "`machine-list` holds no machine",
        "a node list needs `machine-list:`",
        "needs services-configuration.yaml in the config dir",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[test]
fn every_malformed_input_gets_located_errors_and_no_panic() {
    let cases = corpus();
    assert!(cases.len() >= 200, "only {} inputs", cases.len());
    let mut per_kind = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    let mut errors_seen = 0;
    for case in &cases {
        *per_kind.entry(format!("{:?}", case.kind)).or_insert(0) += 1;
        let (_t, dir) = config_dir(CLUSTER, KUBERNETES);
        std::fs::write(dir.join("nodes.yaml"), NODES).unwrap();
        std::fs::write(dir.join("services-configuration.yaml"), SERVICES).unwrap();
        std::fs::write(dir.join("ddb.lic"), "license").unwrap();
        std::fs::write(dir.join(case.kind.file()), &case.bytes).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            let all = validate_all(&dir);
            let text: String = all.iter().map(|d| d.render_text(false)).collect();
            (all, text)
        });
        let Ok((all, _text)) = outcome else {
            failures.push(format!("{:?} {}: PANIC", case.kind, case.what));
            continue;
        };
        for d in &all {
            for e in d.list.iter().filter(|e| e.severity == Severity::Error) {
                errors_seen += 1;
                let file_ok = [Kind::Cluster, Kind::Kubernetes, Kind::Nodes, Kind::Services]
                    .iter()
                    .any(|k| e.at.file.ends_with(k.file()))
                    || e.at.file.ends_with("ddb.lic")
                    || e.at.file.ends_with("k8s-role-definition.yaml");
                let line_ok = e.at.line.is_some() || whole_file(&e.message);
                if !file_ok || !line_ok {
                    failures.push(format!("{:?} {}: unlocated: {e}", case.kind, case.what));
                }
            }
        }
    }
    eprintln!(
        "{} inputs {per_kind:?}, {errors_seen} errors checked",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(per_kind.values().all(|n| *n >= 30), "{per_kind:?}");
}
