//! Validation: every problem is found at once, at the right file:line, with a fix.

mod common;
use common::*;
use k8s_manage::diag::{Diagnostics, Severity};
use k8s_manage::model::build;

fn diags(cluster: &str, kubernetes: &str) -> Diagnostics {
    let (_t, dir) = config_dir(cluster, kubernetes);
    match build::load(&dir) {
        Ok(l) => l.warnings,
        Err(d) => d,
    }
}

/// The first error whose message contains `needle`, with its line.
fn error_line(d: &Diagnostics, needle: &str) -> Option<u32> {
    d.list
        .iter()
        .find(|x| x.severity == Severity::Error && x.message.contains(needle))
        .and_then(|x| x.at.line)
}

fn has_warning(d: &Diagnostics, needle: &str) -> bool {
    d.list
        .iter()
        .any(|x| x.severity == Severity::Warning && x.message.contains(needle))
}

#[test]
fn a_good_config_is_valid() {
    let (_t, dir) = config_dir(&standard(3, 2, true), K8S_OK);
    let l = build::load(&dir).expect("valid");
    assert_eq!(l.cluster.machines.len(), 6);
    assert_eq!(l.cluster.masters().count(), 3);
    // nodename defaults to hostip, as in the original
    assert_eq!(l.cluster.machines[0].nodename, "10.1.0.11");
    assert!(!l.warnings.has_errors());
}

#[test]
fn every_error_is_reported_at_once_with_lines() {
    let cluster = cluster_yaml(&[
        machine("m1", "10.1.0.11", "master", Some("etcd1")), // lines 6-9
        machine("m1", "10.1.0.12", "master", None),          // 10-12: duplicate hostname, no etcdid
        machine("w1", "10.1.0.11", "worker", None),          // 13-15: duplicate hostip
        machine("w2", "IP", "wroker", None),                 // 16-18: placeholder ip, unknown role
    ]);
    let k8s = "kubernetes:\n  kubernetes-version: v1.9.4\n  api-servers-port: 99999\n";
    let d = diags(&cluster, k8s);
    assert_eq!(error_line(&d, "duplicate hostname"), Some(10));
    assert_eq!(error_line(&d, "duplicate hostip"), Some(14));
    assert_eq!(error_line(&d, "etcdid"), Some(10));
    assert_eq!(error_line(&d, "placeholder"), Some(17));
    assert_eq!(error_line(&d, "unknown `k8s-role: wroker`"), Some(18));
    assert_eq!(error_line(&d, "Kubernetes 1.9"), Some(2));
    assert_eq!(error_line(&d, "not a TCP port"), Some(3));
    // every error carries a fix
    assert!(d.errors().all(|e| e.fix.is_some()), "{:#?}", d.list);
}

#[test]
fn duplicate_nodename_and_etcdid() {
    let mut a = machine("m1", "10.1.0.11", "master", Some("etcd1"));
    a.push_str("    nodename: node-a\n");
    let mut b = machine("m2", "10.1.0.12", "master", Some("etcd1"));
    b.push_str("    nodename: node-a\n");
    let d = diags(
        &cluster_yaml(&[a, b, machine("m3", "10.1.0.13", "master", Some("etcd3"))]),
        K8S_OK,
    );
    assert!(error_line(&d, "duplicate etcdid").is_some());
    assert!(error_line(&d, "duplicate nodename").is_some());
}

#[test]
fn default_nodename_clashing_with_explicit_one() {
    let mut b = machine("w1", "10.1.0.50", "worker", None);
    b.push_str("    nodename: 10.1.0.11\n");
    let d = diags(
        &cluster_yaml(&[machine("m1", "10.1.0.11", "master", Some("etcd1")), b]),
        K8S_OK,
    );
    assert!(d.has_errors(), "{:#?}", d.list);
}

#[test]
fn master_counts() {
    let d = diags(
        &cluster_yaml(&[machine("w1", "10.1.0.21", "worker", None)]),
        K8S_OK,
    );
    assert!(error_line(&d, "no machine has `k8s-role: master`").is_none()); // no line: whole file
    assert!(
        d.errors()
            .any(|e| e.message.contains("no machine has `k8s-role: master`"))
    );
    let d = diags(&standard(2, 1, false), K8S_OK);
    assert!(!d.has_errors());
    assert!(has_warning(&d, "even count"));
}

#[test]
fn dashboard_on_two_nodes() {
    let mut a = machine("m1", "10.1.0.11", "master", Some("etcd1"));
    a.push_str("    dashboard: \"true\"\n");
    let mut b = machine("w1", "10.1.0.21", "worker", None);
    b.push_str("    dashboard: \"true\"\n");
    let d = diags(&cluster_yaml(&[a, b]), K8S_OK);
    let e = d
        .errors()
        .find(|e| e.message.contains("dashboard"))
        .expect("dashboard error");
    assert_eq!(e.at.line, Some(14));
    assert_eq!(e.related.as_ref().and_then(|r| r.line), Some(10));
}

#[test]
fn ranges_overlap_and_contain_nodes() {
    let k8s = "kubernetes:\n  kubernetes-version: v1.31.4\n  service-cluster-ip-range: 10.96.0.0/12\n  pod-cluster-ip-range: 10.100.0.0/16\n  docker-registry: r:5000\n";
    let d = diags(&standard(1, 1, false), k8s);
    assert_eq!(error_line(&d, "overlaps the pod range"), Some(3));
    let k8s = "kubernetes:\n  service-cluster-ip-range: 10.1.0.0/16\n  docker-registry: r:5000\n";
    let d = diags(&standard(1, 1, false), k8s);
    assert!(
        d.errors()
            .any(|e| e.message.contains("lies inside `service-cluster-ip-range`"))
    );
    let k8s =
        "kubernetes:\n  service-cluster-ip-range: 10.96.0.1/12\n  pod-cluster-ip-range: banana\n";
    let d = diags(&standard(1, 1, false), k8s);
    assert_eq!(error_line(&d, "host bits"), Some(2));
    assert_eq!(error_line(&d, "not an IPv4 range"), Some(3));
}

#[test]
fn ssh_credentials() {
    let no_cred = "machine-list:\n  - hostname: m1\n    hostip: 10.1.0.11\n    k8s-role: master\n    etcdid: e1\n";
    let d = diags(no_cred, K8S_OK);
    assert_eq!(error_line(&d, "no SSH credential"), Some(2));
    let missing_key = "default-machine-properties:\n  keyfile-path: /nonexistent/id_ed25519\nmachine-list:\n  - hostname: m1\n    hostip: 10.1.0.11\n    k8s-role: master\n    etcdid: e1\n";
    let d = diags(missing_key, K8S_OK);
    assert_eq!(error_line(&d, "does not exist"), Some(2));
    // reported once, not once per machine
    assert_eq!(
        d.errors()
            .filter(|e| e.message.contains("does not exist"))
            .count(),
        1
    );
}

#[test]
fn key_file_relative_to_config_dir_and_permissions() {
    let cluster = "default-machine-properties:\n  keyfile-path: id_test\nmachine-list:\n  - hostname: m1\n    hostip: 10.1.0.11\n    k8s-role: master\n    etcdid: e1\n";
    let (_t, dir) = config_dir(cluster, K8S_OK);
    std::fs::write(dir.join("id_test"), "not really a key").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("id_test"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let l = build::load(&dir).expect("valid");
    assert!(
        l.warnings
            .warnings()
            .any(|w| w.message.contains("can be read by others"))
    );
    assert_eq!(
        l.cluster.machines[0].ssh.keyfile.as_deref(),
        Some(dir.join("id_test").as_path())
    );
}

#[test]
fn versions_legacy_keys_must_agree() {
    let k8s = "kubernetes:\n  hyperkube-version: v1.31.2\n  apiserver-version: v1.31.2\n  kube-scheduler-version: v1.31.3\n  docker-registry: r:5000\n";
    let d = diags(&standard(1, 0, false), k8s);
    assert_eq!(error_line(&d, "disagrees"), Some(4));
    let k8s = "kubernetes:\n  hyperkube-version: v1.31.2\n  apiserver-version: v1.31.2\n  docker-registry: r:5000\n";
    let (_t, dir) = config_dir(&standard(1, 0, false), k8s);
    let l = build::load(&dir).expect("agreeing legacy keys are accepted");
    assert_eq!(l.cluster.kubernetes.version.to_string(), "v1.31.2");
    // YAML reads 1.30 as a number: the raw text is kept, so the message shows 1.30
    let d = diags(
        &standard(1, 0, false),
        "kubernetes:\n  kubernetes-version: 1.30\n",
    );
    let e = d
        .errors()
        .find(|e| e.message.contains("1.30"))
        .expect("1.30 reported as written");
    assert_eq!(e.at.line, Some(2));
}

#[test]
fn unknown_kubernetes_key_suggests_the_right_one() {
    let d = diags(
        &standard(1, 0, false),
        "kubernetes:\n  kubernetes-verison: v1.36.1\n  docker-registry: r:5000\n",
    );
    let w = d
        .warnings()
        .find(|w| w.message.contains("kubernetes-verison"))
        .expect("warned");
    assert!(
        w.fix
            .as_deref()
            .unwrap_or("")
            .contains("`kubernetes-version`")
    );
}

#[test]
fn unknown_machine_keys_are_kept() {
    let mut a = machine("m1", "10.1.0.11", "master", Some("etcd1"));
    a.push_str("    zkid: \"1\"\n    openi-master: \"true\"\n");
    let (_t, dir) = config_dir(&cluster_yaml(&[a]), K8S_OK);
    let l = build::load(&dir).expect("valid");
    let m = &l.cluster.machines[0];
    assert_eq!(m.extra.get("zkid").and_then(|v| v.as_str()), Some("1"));
    assert_eq!(
        m.extra.get("openi-master").and_then(|v| v.as_str()),
        Some("true")
    );
}

#[test]
fn services_configuration_is_never_read_by_k8s_actions() {
    let (_t, dir) = config_dir(&standard(1, 0, false), K8S_OK);
    std::fs::write(dir.join("services-configuration.yaml"), "this: [is: broken").unwrap();
    assert!(build::load(&dir).is_ok());
}

#[test]
fn yaml_syntax_error_is_located() {
    let d = diags("machine-list:\n  - hostname: a\n   hostip: [\n", K8S_OK);
    let e = d
        .errors()
        .find(|e| e.message.contains("not valid YAML"))
        .expect("syntax error");
    assert!(e.at.line.is_some());
}

#[test]
fn missing_files_are_named() {
    let t = tempfile::tempdir().unwrap();
    let d = build::load(t.path()).unwrap_err();
    let files: Vec<String> = d.errors().map(|e| e.at.file.to_string()).collect();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("cluster-configuration.yaml"))
    );
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("kubernetes-configuration.yaml"))
    );
}

/// `etcd-data-path` is removed by `clean` and moved by `etcdfix`/`restore`: anything that
/// normalises to `/`, a system directory or a directory others own is refused at its line.
#[test]
fn etcd_data_paths_that_could_empty_a_host_are_refused_at_their_line() {
    for bad in [
        "//",
        "/",
        "/.",
        "/./",
        "/..",
        "/var/lib",
        "/etc",
        "/usr",
        "/var",
        "/boot",
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/home",
        "/root",
        "/var/lib/docker",
        "/var/lib/kubelet",
        "/var//lib/etcd",
        "/var/lib/../etcd",
        "/var/lib/etcd/.",
        "var/lib/etcd",
    ] {
        let k8s = format!("kubernetes:\n  cluster-name: c\n  etcd-data-path: \"{bad}\"\n");
        let d = diags(&standard(1, 0, false), &k8s);
        assert_eq!(
            error_line(&d, "`etcd-data-path: "),
            Some(3),
            "{bad:?} was not refused at line 3: {:#?}",
            d.list
        );
        let e = d
            .errors()
            .find(|e| e.message.contains("etcd-data-path"))
            .unwrap();
        assert!(
            e.at.file.ends_with("kubernetes-configuration.yaml"),
            "{}",
            e.at
        );
        assert!(
            e.fix.as_deref().unwrap_or("").contains("/var/lib/etcd"),
            "{e}"
        );
    }
    let ok = "kubernetes:\n  etcd-data-path: /data/etcd/\n";
    let (_t, dir) = config_dir(&standard(1, 0, false), ok);
    let l = build::load(&dir).expect("valid");
    assert_eq!(l.cluster.kubernetes.etcd_data_path, "/data/etcd");
}

#[test]
fn kubelet_config_overlays_refuse_the_tools_own_fields_and_warn_on_security_ones() {
    let k8s = "kubernetes:\n  kubernetes-version: v1.36.1\n  docker-registry: r:5000\n  kubelet-config:\n    maxPods: 200\n    kind: Foo\n    authentication:\n      anonymous:\n        enabled: true\n";
    let d = diags(&standard(1, 1, false), k8s);
    assert_eq!(
        error_line(&d, "`kubelet-config.kind` is set by k8s-manage itself"),
        Some(6),
        "{d:?}"
    );
    assert!(has_warning(&d, "`kubelet-config.authentication`"), "{d:?}");
    // A plain overlay is accepted as written and reaches the rendered configuration.
    let (_t, dir) = config_dir(
        &standard(1, 1, false),
        "kubernetes:\n  kubernetes-version: v1.36.1\n  docker-registry: r:5000\n  kubelet-config:\n    maxPods: 200\n    evictionHard:\n      nodefs.available: \"5%\"\n",
    );
    let cluster = build::load(&dir).expect("valid").cluster;
    let m = &cluster.machines[0];
    let text = k8s_manage::render::node_configs::kubelet_config(&cluster, m).unwrap();
    assert!(text.contains("maxPods: 200"), "{text}");
    assert!(text.contains("nodefs.available: 5%"), "{text}");
    // The tool's own settings stay.
    assert!(
        text.contains("anonymous:") && text.contains("enabled: false"),
        "{text}"
    );
}

#[test]
fn the_default_kubelet_image_is_the_node_agent_of_the_version() {
    let (_t, dir) = config_dir(
        &standard(1, 1, false),
        "kubernetes:\n  kubernetes-version: v1.35.4\n",
    );
    let loaded = build::load(&dir).expect("valid");
    assert_eq!(
        loaded.cluster.kubernetes.images["kubelet"],
        "k8s-manage.local/node-agent:v1.35.4"
    );
    // No warning about it any more: a deploy that lacks the image names the command.
    assert!(
        !loaded
            .warnings
            .list
            .iter()
            .any(|d| d.message.contains("kubelet")),
        "{:?}",
        loaded.warnings
    );
    let (_t, dir) = config_dir(&standard(1, 1, false), K8S_OK);
    let c = build::load(&dir).expect("valid").cluster;
    assert_eq!(
        c.kubernetes.images["kubelet"],
        "10.0.0.5:5000/k8s/node-agent:v1.36.1"
    );
}

#[test]
fn local_path_provisioner_is_off_unless_asked_and_must_be_a_boolean() {
    let cluster = standard(1, 1, true);
    let (_t, dir) = config_dir(&cluster, K8S_OK);
    let l = build::load(&dir).expect("valid");
    assert!(!l.cluster.kubernetes.local_path_provisioner);
    let rendered = k8s_manage::render::cluster::manifests(&l.cluster).unwrap();
    assert!(
        !rendered
            .iter()
            .any(|m| m.content.contains("rancher.io/local-path")),
        "rendered without the key"
    );

    let on = format!("{K8S_OK}  local-path-provisioner: true\n");
    let (_t, dir) = config_dir(&cluster, &on);
    let l = build::load(&dir).expect("valid");
    assert!(l.cluster.kubernetes.local_path_provisioner);
    let rendered = k8s_manage::render::cluster::manifests(&l.cluster).unwrap();
    let lpp = rendered
        .iter()
        .find(|m| m.file_name == "50-local-path-provisioner.yaml")
        .expect("the add-on is rendered");
    // The private registry of the config does not rename Docker Hub images; the
    // `images:` overrides do (`local-path-provisioner`, `local-path-helper`).
    assert!(
        lpp.content
            .contains("\"docker.io/rancher/local-path-provisioner:v0.0.30\""),
        "{}",
        lpp.content
    );

    let bad = format!("{K8S_OK}  local-path-provisioner: yes please\n");
    let d = diags(&cluster, &bad);
    assert_eq!(
        error_line(
            &d,
            "`local-path-provisioner: yes please` must be true or false"
        ),
        Some(4),
        "{d:?}"
    );
}
