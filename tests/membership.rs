//! `add` / `remove` without nodes: the config write-back on a real config dir (backup,
//! validation, restore) and the refusals that happen before anything changes.

use assert_cmd::Command;
use k8s_manage::config::write_back::NewEntry;
use k8s_manage::model::checked_edit;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn example() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("cfg");
    std::fs::create_dir(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-configuration/three-masters");
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    (t, dir)
}

fn cluster_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("cluster-configuration.yaml")).unwrap()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join(".k8s-manage/backups"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn write_back_keeps_a_backup_and_the_rest_of_the_file() {
    let (_t, dir) = example();
    let before = cluster_text(&dir);
    let w = checked_edit::write_back(&dir, &[], &["worker-2".into()]).unwrap();
    let after = cluster_text(&dir);
    assert_eq!(std::fs::read_to_string(&w.backup).unwrap(), before);
    assert!(
        w.backup
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("cluster-configuration.yaml.")
    );
    let block = "  - hostname: worker-2\n    hostip: 10.10.0.22\n    machine-type: D8SV3\n    k8s-role: worker\n    pai-worker: \"true\"\n\n";
    assert_eq!(after, before.replacen(block, "", 1));
    let c = k8s_manage::model::build::load(&dir).unwrap().cluster;
    assert_eq!(c.machines.len(), 6);
    assert!(c.machines.iter().all(|m| m.hostname != "worker-2"));

    // adding it back (as a node list would give it) appends it after proxy-1
    let e = NewEntry {
        hostname: "worker-9".into(),
        fields: vec![
            ("hostname".into(), "worker-9".into()),
            ("hostip".into(), "10.10.0.29".into()),
            ("k8s-role".into(), "worker".into()),
        ],
    };
    checked_edit::write_back(&dir, &[e], &[]).unwrap();
    assert!(cluster_text(&dir).ends_with(
        "    k8s-role: proxy\n  - hostname: worker-9\n    hostip: 10.10.0.29\n    k8s-role: worker\n"
    ));
    assert_eq!(backups(&dir).len(), 2);
}

#[test]
fn write_back_that_does_not_validate_is_rolled_back() {
    let (_t, dir) = example();
    let before = cluster_text(&dir);
    // same address as master-1: the result does not validate
    let e = NewEntry {
        hostname: "worker-9".into(),
        fields: vec![
            ("hostname".into(), "worker-9".into()),
            ("hostip".into(), "10.10.0.11".into()),
            ("k8s-role".into(), "worker".into()),
        ],
    };
    let err = checked_edit::write_back(&dir, &[e], &[]).unwrap_err();
    assert!(
        err.contains("does not validate") && err.contains("restored"),
        "{err}"
    );
    assert_eq!(cluster_text(&dir), before);
}

fn bin() -> Command {
    Command::cargo_bin("k8s-manage").unwrap()
}

fn node_list(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.parent().unwrap().join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn refusals_change_nothing() {
    let (_t, dir) = example();
    let before = cluster_text(&dir);
    // a node that is not in the config
    let unknown = node_list(
        &dir,
        "unknown.yaml",
        "machine-list:\n  - hostname: nope\n    hostip: 10.10.0.99\n    k8s-role: worker\n",
    );
    bin()
        .args(["remove", "-p"])
        .arg(&dir)
        .arg("-f")
        .arg(&unknown)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a machine of this cluster"));
    // every master
    let masters = node_list(
        &dir,
        "masters.yaml",
        "machinelist:\n  master-1: {hostip: 10.10.0.11, k8s-role: master, etcdid: etcd1}\n  master-2: {hostip: 10.10.0.12, k8s-role: master, etcdid: etcd2}\n  master-3: {hostip: 10.10.0.13, k8s-role: master, etcdid: etcd3}\n",
    );
    bin()
        .args(["remove", "-p"])
        .arg(&dir)
        .arg("-f")
        .arg(&masters)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("every master"));
    // a machine that is already there
    let dup = node_list(
        &dir,
        "dup.yaml",
        "machine-list:\n  - hostname: worker-1\n    hostip: 10.10.0.21\n    k8s-role: worker\n",
    );
    bin()
        .args(["add", "-p"])
        .arg(&dir)
        .arg("-f")
        .arg(&dup)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already in the cluster"));
    // a new master whose etcdid is taken
    let etcdid = node_list(
        &dir,
        "etcdid.yaml",
        "machine-list:\n  - hostname: master-4\n    hostip: 10.10.0.14\n    k8s-role: master\n    etcdid: etcd1\n",
    );
    bin()
        .args(["add", "-p"])
        .arg(&dir)
        .arg("-f")
        .arg(&etcdid)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("etcdid `etcd1` is already used"));
    // a valid addition to a cluster that was never deployed: no PKI
    let ok = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-configuration/add-workers.yaml");
    bin()
        .args(["add", "-p"])
        .arg(&dir)
        .arg("-f")
        .arg(&ok)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("k8s-manage deploy"));
    assert_eq!(cluster_text(&dir), before);
    assert!(backups(&dir).is_empty());
}
