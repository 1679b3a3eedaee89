//! `render`: every node gets exactly its files with the right modes, specs are sealed with
//! hashes that change only when their inputs change, and the outputs pass real checkers
//! (haproxy -c, kubernetes-validate --strict).

mod common;
use assert_cmd::Command;
use common::*;
use k8s_manage::components::spec::LABEL_SPEC_HASH;
use k8s_manage::model::{Cluster, build};
use k8s_manage::pki::Pki;
use k8s_manage::render::node::{NodeArtifacts, pki_request, render_node};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn render_dir(dir: &Path) -> (Cluster, Vec<NodeArtifacts>) {
    let c = build::load(dir)
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster;
    let pki = Pki::load_or_create(
        &c.state_dir().join("pki"),
        &pki_request(&c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    let nodes = c
        .machines
        .iter()
        .map(|m| render_node(&c, &pki, m).unwrap())
        .collect();
    (c, nodes)
}

fn hashes(nodes: &[NodeArtifacts]) -> BTreeMap<(String, String), String> {
    nodes
        .iter()
        .flat_map(|n| {
            n.containers.iter().map(move |c| {
                (
                    (n.hostname.clone(), c.name.clone()),
                    c.labels[LABEL_SPEC_HASH].clone(),
                )
            })
        })
        .collect()
}

#[test]
fn nodes_get_exactly_their_files() {
    let (_t, dir) = config_dir(&standard(3, 1, true), K8S_OK);
    let (c, nodes) = render_dir(&dir);
    for n in &nodes {
        let m = c.machine(&n.hostname).unwrap();
        let expected: Vec<String> = k8s_manage::components::files::node_files(m)
            .into_iter()
            .map(|f| f.path)
            .collect();
        let got: Vec<String> = n.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(got, expected, "{}", n.hostname);
        for f in &n.files {
            let secret =
                f.contents.contains("PRIVATE KEY") || f.contents.contains("client-key-data");
            if secret {
                assert_eq!(f.mode, 0o600, "{} {}", n.hostname, f.path);
            }
            if !m.is_master() {
                assert!(
                    !f.path.ends_with("ca.key"),
                    "worker {} got {}",
                    n.hostname,
                    f.path
                );
            }
        }
        // node components reach the API through the local load balancer
        let kubelet_conf = &n.file("/etc/kubernetes/kubelet.conf").unwrap().contents;
        assert!(
            kubelet_conf.contains("https://127.0.0.1:6444"),
            "{kubelet_conf}"
        );
        assert_eq!(
            n.file("/etc/kubernetes/admin.conf").is_some(),
            m.is_master()
        );
    }
}

#[test]
fn rerender_is_identical_and_pki_is_reused() {
    let (_t, dir) = config_dir(&standard(3, 1, false), K8S_OK);
    let (_, a) = render_dir(&dir);
    let (_, b) = render_dir(&dir);
    assert_eq!(hashes(&a), hashes(&b));
    for (x, y) in a.iter().zip(&b) {
        for (f, g) in x.files.iter().zip(&y.files) {
            assert_eq!(f.contents, g.contents, "{}", f.path);
        }
    }
}

#[test]
fn an_etcd_setting_changes_only_the_etcd_members() {
    let (_t, dir) = config_dir(&standard(3, 2, false), K8S_OK);
    let (_, before) = render_dir(&dir);
    write_config(
        &dir,
        &standard(3, 2, false),
        &format!("{K8S_OK}  etcd-data-path: /data/etcd\n"),
    );
    let (_, after) = render_dir(&dir);
    let (hb, ha) = (hashes(&before), hashes(&after));
    let changed: Vec<&(String, String)> = hb.keys().filter(|k| hb[*k] != ha[*k]).collect();
    assert!(!changed.is_empty());
    assert!(changed.iter().all(|(_, c)| c == "etcd"), "{changed:?}");
    assert_eq!(changed.len(), 3);
}

#[test]
fn adding_a_master_keeps_existing_etcd_members_untouched() {
    let (_t, dir) = config_dir(&standard(3, 1, false), K8S_OK);
    let (_, before) = render_dir(&dir);
    let mut with4 = standard(3, 1, false);
    with4.push_str(&machine("master-4", "10.1.0.14", "master", Some("etcd4")));
    write_config(&dir, &with4, K8S_OK);
    let (_, after) = render_dir(&dir);
    let (hb, ha) = (hashes(&before), hashes(&after));
    for m in ["master-1", "master-2", "master-3"] {
        let k = (m.to_string(), "etcd".to_string());
        assert_eq!(hb[&k], ha[&k], "{m}'s etcd would restart");
        let k = (m.to_string(), "kube-apiserver".to_string());
        assert_ne!(
            hb[&k], ha[&k],
            "{m}'s apiserver must learn the new etcd member"
        );
    }
    let lb = ("worker-1".to_string(), "k8s-manage-local-lb".to_string());
    assert_ne!(
        hb[&lb], ha[&lb],
        "every load balancer learns the new apiserver"
    );
}

#[test]
fn rendered_haproxy_configs_pass_haproxy_check() {
    let (_t, dir) = config_dir(&standard(3, 1, true), K8S_OK);
    let out = dir.join("out");
    Command::cargo_bin("k8s-manage")
        .unwrap()
        .args(["render", "-p"])
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    for (node, cfg) in [
        ("worker-1", "local-lb"),
        ("proxy-1", "proxy-lb"),
        ("proxy-1", "local-lb"),
    ] {
        let files = out.join("nodes").join(node).join("files");
        let text = std::fs::read_to_string(files.join(format!("etc/kubernetes/{cfg}/haproxy.cfg")))
            .unwrap();
        // point the certificate paths at the rendered copies so haproxy can load them here
        let local = text.replace(
            "/etc/kubernetes/pki",
            &files.join("etc/kubernetes/pki").display().to_string(),
        );
        let p = dir.join(format!("{node}-{cfg}.cfg"));
        std::fs::write(&p, local).unwrap();
        let o = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&p)
            .output()
            .expect("haproxy is needed for this test: apt-get install haproxy");
        assert!(
            o.status.success(),
            "{node} {cfg}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn rendered_cluster_manifests_pass_strict_schema_validation() {
    for version in ["v1.31.0", "v1.36.1"] {
        let k8s =
            format!("kubernetes:\n  kubernetes-version: {version}\n  docker-registry: r:5000\n");
        let mut cl = standard(1, 1, false);
        cl = cl.replace(
            "    k8s-role: master\n",
            "    k8s-role: master\n    dashboard: \"true\"\n",
        );
        let (_t, dir) = config_dir(&cl, &k8s);
        let out = dir.join("out");
        Command::cargo_bin("k8s-manage")
            .unwrap()
            .args(["render", "-p"])
            .arg(&dir)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        let mut files: Vec<String> = std::fs::read_dir(out.join("cluster"))
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        files.sort();
        assert_eq!(files.len(), 4, "{files:?}");
        let o = std::process::Command::new("kubernetes-validate")
            .args(["--strict", "-k", version.trim_start_matches('v')])
            .args(&files)
            .output()
            .expect("kubernetes-validate is needed: pip install kubernetes-validate");
        assert!(
            o.status.success(),
            "{version}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn render_writes_secrets_0600_and_keeps_the_pki_private() {
    let (_t, dir) = config_dir(&standard(1, 1, false), K8S_OK);
    let out = dir.join("out");
    Command::cargo_bin("k8s-manage")
        .unwrap()
        .args(["render", "-p"])
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let key = out.join("nodes/master-1/files/etc/kubernetes/pki/apiserver.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let ca_key = dir.join(".k8s-manage/pki/ca.key");
    assert_eq!(
        std::fs::metadata(&ca_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let spec = std::fs::read_to_string(out.join("nodes/worker-1/containers/kubelet.yaml")).unwrap();
    assert!(
        spec.contains(LABEL_SPEC_HASH) && spec.contains("--hostname-override=10.1.0.101"),
        "{spec}"
    );
}
