//! Node lists and the quick-start file written the original's way (issue: the original's
//! files, exactly as its users wrote them): the `machinelist:` map without `k8s-role`, the
//! `machine-list:` list, `remote_deployment_role`, `sshport: "22"`, and the MS-0622
//! quick-start. Each is accepted and plans the expected machines; mismatching keys and
//! unknown machines give located errors that name both places. The shapes come from the
//! original examples in tests/data/openpai/ (see its README).

mod common;
use common::*;
use k8s_manage::config::write_back;
use k8s_manage::diag::Diagnostics;
use k8s_manage::model::build::{self, NodeListUse};
use k8s_manage::model::checked_edit;
use k8s_manage::model::{Cluster, Role};
use k8s_manage::plan;
use std::path::{Path, PathBuf};

/// Three masters, two workers; password and a string `sshport` in the defaults, as the
/// original's files had them.
const CLUSTER: &str = "\
default-machine-properties:
  username: root
  password: s3cret-pw
  sshport: \"22\"
machine-list:
  - hostname: master-1
    hostip: 10.1.0.11
    k8s-role: master
    etcdid: etcd1
  - hostname: master-2
    hostip: 10.1.0.12
    k8s-role: master
    etcdid: etcd2
  - hostname: master-3
    hostip: 10.1.0.13
    k8s-role: master
    etcdid: etcd3
  - hostname: worker-1
    hostip: 10.1.0.101
    k8s-role: worker
  - hostname: worker-2
    hostip: 10.1.0.102
    sshport: '22'
    k8s-role: worker
";

fn setup() -> (tempfile::TempDir, PathBuf, Cluster) {
    let (t, dir) = config_dir(CLUSTER, K8S_OK);
    let c = build::load(&dir)
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster;
    (t, dir, c)
}

fn list(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.parent().unwrap().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load(f: &Path, dir: &Path, usage: NodeListUse, c: &Cluster) -> (Vec<String>, Diagnostics) {
    let (m, d) = build::load_node_list(f, dir, usage, c)
        .unwrap_or_else(|d| panic!("{}: {}", f.display(), d.render_text(false)));
    (m.into_iter().map(|m| m.hostname).collect(), d)
}

fn load_err(f: &Path, dir: &Path, usage: NodeListUse, c: &Cluster) -> String {
    let d = build::load_node_list(f, dir, usage, c).expect_err("must be refused");
    for e in d.errors() {
        assert!(e.at.line.is_some(), "unlocated: {e}");
        assert!(e.fix.is_some(), "no fix: {e}");
    }
    d.render_text(false)
}

fn targets(action: &str, c: &Cluster, f: &Path, dir: &Path, usage: NodeListUse) -> Vec<String> {
    let (m, _) = build::load_node_list(f, dir, usage, c).unwrap();
    plan::build(action, c, Some(&m)).unwrap().targets
}

/// The original's etcdfix node list: a `machinelist` map whose entry has nodename, hostip,
/// sshport, username, password, etcdid and no k8s-role.
const ETCDFIX: &str = "\
machinelist:

  master-2:
    nodename: 10.1.0.12
    hostip: 10.1.0.12
    sshport: \"22\"
    username: root
    password: s3cret-pw
    etcdid: etcd2
";

#[test]
fn etcdfix_takes_the_originals_map_without_k8s_role() {
    let (_t, dir, c) = setup();
    let f = list(&dir, "etcdfix.yaml", ETCDFIX);
    let (m, warnings) = load(&f, &dir, NodeListUse::EtcdMember, &c);
    assert_eq!(m, ["master-2"]);
    assert!(warnings.list.is_empty(), "{}", warnings.render_text(false));
    assert_eq!(
        targets("etcdfix", &c, &f, &dir, NodeListUse::EtcdMember),
        ["master-2"]
    );
    // through the command line too, and the password never shows
    let (code, stdout, stderr) = run_cli(
        &[
            "plan",
            "etcdfix",
            "--output",
            "json",
            "-f",
            f.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["targets"], serde_json::json!(["master-2"]));
    assert!(!stdout.contains("s3cret-pw") && !stderr.contains("s3cret-pw"));
}

#[test]
fn repair_names_machines_by_hostname_nodename_or_hostip() {
    let (_t, dir, c) = setup();
    // the later list form: an existing machine by hostname and hostip, no k8s-role
    let f = list(
        &dir,
        "repair.yaml",
        "machine-list:\n    - hostname: worker-1\n      hostip: 10.1.0.101\n    - nodename: 10.1.0.102\n    - hostip: 10.1.0.13\n      k8s-role: master\n",
    );
    let (m, _) = load(&f, &dir, NodeListUse::Existing, &c);
    assert_eq!(m, ["worker-1", "worker-2", "master-3"]);
    assert_eq!(
        targets("repair", &c, &f, &dir, NodeListUse::Existing),
        ["worker-1", "worker-2", "master-3"]
    );
    // the machines used are the cluster's: its credentials, not the list's
    let (machines, _) = build::load_node_list(&f, &dir, NodeListUse::Existing, &c).unwrap();
    assert_eq!(
        machines[0].ssh.password.as_ref().unwrap().expose(),
        "s3cret-pw"
    );
    assert_eq!(machines[2].role, Role::Master);
}

#[test]
fn remove_reads_remote_deployment_role() {
    let (_t, dir, c) = setup();
    let f = list(
        &dir,
        "remove.yaml",
        "remote_deployment_role: worker\nmachinelist:\n  worker-2:\n    hostip: 10.1.0.102\n    sshport: 22\n",
    );
    assert_eq!(load(&f, &dir, NodeListUse::Existing, &c).0, ["worker-2"]);
    assert_eq!(
        targets("remove", &c, &f, &dir, NodeListUse::Existing),
        ["worker-2"]
    );
    // the file says its machines are workers: a master in it is a located mismatch
    let f = list(
        &dir,
        "remove-master.yaml",
        "remote_deployment_role: worker\nmachinelist:\n  master-1:\n    hostip: 10.1.0.11\n",
    );
    let e = load_err(&f, &dir, NodeListUse::Existing, &c);
    assert!(e.contains("remote_deployment_role: worker"), "{e}");
    assert!(
        e.contains("cluster-configuration.yaml:"),
        "names the cluster's line: {e}"
    );
}

#[test]
fn add_reads_entries_without_k8s_role_as_workers() {
    let (_t, dir, c) = setup();
    // the original's add list: map form, no k8s-role, string sshport
    let f = list(
        &dir,
        "add.yaml",
        "machinelist:\n\n  worker-06:\n    nodename: 10.1.0.106\n    hostip: 10.1.0.106\n    sshport: \"22\"\n    username: root\n    password: s3cret-pw\n",
    );
    let (m, warnings) = load(&f, &dir, NodeListUse::Add, &c);
    assert_eq!(m, ["worker-06"]);
    let w: Vec<_> = warnings.warnings().collect();
    assert_eq!(w.len(), 1, "{}", warnings.render_text(false));
    assert!(w[0].message.contains("joins as a worker"), "{}", w[0]);
    assert!(w[0].at.line.is_some(), "the warning points at the entry");
    assert_eq!(
        targets("add", &c, &f, &dir, NodeListUse::Add),
        ["worker-06"]
    );
    // written back into the cluster file with the role it joined with
    let e = write_back::entries_from_node_list(&f, &["worker-06".into()]).unwrap();
    assert!(
        e[0].fields
            .contains(&("k8s-role".to_string(), "worker".to_string())),
        "{:?}",
        e[0].fields
    );
    let merged = checked_edit::preview(&dir, &e, &[]).unwrap();
    let added = merged.machine("worker-06").unwrap();
    assert_eq!((added.role, added.ssh.port), (Role::Worker, 22));

    // the oldest form: remote_deployment_role says it, so no warning
    let f = list(
        &dir,
        "add-legacy.yaml",
        "remote_deployment_role: worker\nmachinelist:\n  worker-07:\n    hostip: 10.1.0.107\n",
    );
    let (m, warnings) = load(&f, &dir, NodeListUse::Add, &c);
    assert_eq!(m, ["worker-07"]);
    assert!(warnings.list.is_empty(), "{}", warnings.render_text(false));

    // a new master must say so
    let f = list(
        &dir,
        "add-master.yaml",
        "machine-list:\n  - hostname: master-4\n    hostip: 10.1.0.14\n    k8s-role: master\n    etcdid: etcd4\n",
    );
    let (m, _) = build::load_node_list(&f, &dir, NodeListUse::Add, &c).unwrap();
    assert_eq!(m[0].role, Role::Master);

    // any other remote_deployment_role is a located error
    let f = list(
        &dir,
        "add-bad-role.yaml",
        "machinelist:\n  master-4:\n    hostip: 10.1.0.14\nremote_deployment_role: master\n",
    );
    let e = load_err(&f, &dir, NodeListUse::Add, &c);
    assert!(e.contains("add-bad-role.yaml:4:25"), "{e}");
    assert!(e.contains("workers only"), "{e}");
}

#[test]
fn mismatching_keys_are_located_in_both_files() {
    let (_t, dir, c) = setup();
    // etcdid
    let f = list(
        &dir,
        "etcdid.yaml",
        &ETCDFIX.replace("etcdid: etcd2", "etcdid: etcd3"),
    );
    let e = load_err(&f, &dir, NodeListUse::EtcdMember, &c);
    assert!(e.contains("etcdid.yaml:9:13"), "the list's line: {e}");
    assert!(e.contains("`etcdid: etcd3` does not match master-2"), "{e}");
    assert!(
        e.contains("cluster-configuration.yaml:13:13"),
        "the cluster's line: {e}"
    );
    // `validate -f` reads a list naming machines of the cluster as such, and says why
    let (code, _, stderr) = run_cli(
        &["validate", "--color", "never", "-f", f.to_str().unwrap()],
        &dir,
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("`etcdid: etcd3` does not match master-2"),
        "{stderr}"
    );
    // hostip naming another machine
    let f = list(
        &dir,
        "hostip.yaml",
        "machine-list:\n  - hostname: master-2\n    hostip: 10.1.0.13\n",
    );
    let e = load_err(&f, &dir, NodeListUse::Existing, &c);
    assert!(e.contains("hostip.yaml:3:13"), "{e}");
    assert!(
        e.contains("`hostip: 10.1.0.13`, which is master-3's, does not match master-2"),
        "{e}"
    );
    assert!(e.contains("cluster-configuration.yaml:11:13"), "{e}");
    // sshport and the password (compared, never shown)
    let f = list(
        &dir,
        "port.yaml",
        &ETCDFIX
            .replace("sshport: \"22\"", "sshport: 2222")
            .replace("password: s3cret-pw", "password: other-pw"),
    );
    let e = load_err(&f, &dir, NodeListUse::EtcdMember, &c);
    assert!(e.contains("`sshport: 2222` does not match master-2"), "{e}");
    assert!(
        e.contains("cluster-configuration.yaml:4:12"),
        "the default's line: {e}"
    );
    assert!(e.contains("`password` differs"), "{e}");
    // the messages name the password, never its value (either one)
    let d = build::load_node_list(&f, &dir, NodeListUse::EtcdMember, &c).unwrap_err();
    for x in d.errors() {
        let said = format!("{} {:?} {:?}", x.message, x.fix, x.related);
        assert!(
            !said.contains("s3cret-pw") && !said.contains("other-pw"),
            "{said}"
        );
    }
}

#[test]
fn an_unknown_machine_names_the_closest_one() {
    let (_t, dir, c) = setup();
    let f = list(
        &dir,
        "unknown.yaml",
        "machinelist:\n  worker-3:\n    hostip: 10.1.0.103\n",
    );
    let e = load_err(&f, &dir, NodeListUse::Existing, &c);
    assert!(e.contains("unknown.yaml:3:13"), "{e}");
    assert!(e.contains("is not a machine of this cluster"), "{e}");
    assert!(e.contains("the closest is worker-2"), "{e}");
    // etcdfix on a worker: the original's check that it is a master
    let f = list(
        &dir,
        "worker.yaml",
        "machinelist:\n  worker-1:\n    nodename: 10.1.0.101\n",
    );
    let e = load_err(&f, &dir, NodeListUse::EtcdMember, &c);
    assert!(
        e.contains("worker-1 is a worker") && e.contains("master"),
        "{e}"
    );
}

#[test]
fn the_original_example_lists_give_located_errors() {
    let (_t, dir, c) = setup();
    let data = repo().join("tests/data/openpai");
    for f in [
        "node-list-example-46b6ad6.yaml",
        "node-list-example-5ee9d19.yaml",
    ] {
        for usage in [NodeListUse::Add, NodeListUse::Existing] {
            load_err(&data.join(f), &dir, usage, &c);
        }
    }
}

#[test]
fn the_quick_start_file_makes_the_four_files() {
    let t = tempfile::tempdir().unwrap();
    let qs = t.path().join("quick-start.yaml");
    // the MS-0622 example with its placeholders filled in, comments kept
    let original =
        std::fs::read_to_string(repo().join("tests/data/openpai/quick-start-example.yaml"))
            .unwrap();
    let filled = original
        .replace("<ip-of-master>", "10.2.0.10")
        .replace("<ip-of-worker1>", "10.2.0.21")
        .replace("<ip-of-worder2>", "10.2.0.22")
        .replace("<username>", "pai")
        .replace("<password>", "pai-pw-123")
        .replace("#ssh-port: 22", "ssh-port: \"2222\"")
        .replace("#dns: <ip-of-dns>", "dns: 10.2.0.2");
    std::fs::write(&qs, filled).unwrap();
    let dir = t.path().join("cfg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["init"])
        .arg(&dir)
        .arg("--from")
        .arg(&qs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for f in [
        "cluster-configuration.yaml",
        "kubernetes-configuration.yaml",
        "k8s-role-definition.yaml",
        "services-configuration.yaml",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let c = build::load(&dir)
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster;
    let roles: Vec<(String, Role)> = c
        .machines
        .iter()
        .map(|m| (m.hostip.to_string(), m.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("10.2.0.10".to_string(), Role::Master),
            ("10.2.0.21".to_string(), Role::Worker),
            ("10.2.0.22".to_string(), Role::Worker),
        ]
    );
    let m = &c.machines[0];
    assert_eq!((m.ssh.username.as_str(), m.ssh.port), ("pai", 2222));
    assert_eq!(m.ssh.password.as_ref().unwrap().expose(), "pai-pw-123");
    assert_eq!(c.kubernetes.service_cidr.to_string(), "10.254.0.0/16");
    assert_eq!(c.kubernetes.dns_upstream[0].to_string(), "10.2.0.2");
    assert_eq!(c.api_endpoint().to_string(), "10.2.0.10");
    // the file holding the password is private
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("cluster-configuration.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // the services file is read by the service commands
    let (code, _, stderr) = run_cli(&["service", "list"], &dir);
    assert_eq!(code, 0, "{stderr}");
    // the example as shipped still holds placeholders: located errors, nothing written
    let dir2 = t.path().join("cfg2");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["init", "--color", "never"])
        .arg(&dir2)
        .arg("--from")
        .arg(repo().join("tests/data/openpai/quick-start-example.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("quick-start-example.yaml:23:5"), "{stderr}");
    assert!(stderr.contains("placeholder"), "{stderr}");
    assert!(!dir2.exists());
}
