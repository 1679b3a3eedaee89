//! Every file of the original OpenPAI examples (tests/data/openpai-examples, copied from the
//! project's reference material; origin in its SOURCE.md and MANIFEST.md) is read without a
//! crash: config dirs and node lists give clear, located validation errors.

mod common;
use common::*;
use k8s_manage::config::source::SourceFile;
use k8s_manage::diag::Diagnostics;
use k8s_manage::model::build::{self, NodeListUse};
use std::path::{Path, PathBuf};

fn examples() -> PathBuf {
    let p = repo().join("tests/data/openpai-examples");
    assert!(p.is_dir(), "{} is missing", p.display());
    p
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_example_yaml_file_parses() {
    let mut files = Vec::new();
    yaml_files(&examples(), &mut files);
    assert!(files.len() >= 39, "found only {} files", files.len());
    for f in files {
        let mut d = Diagnostics::default();
        let parsed = SourceFile::read(&f, &mut d);
        assert!(
            parsed.is_some(),
            "{}: {}",
            f.display(),
            d.render_text(false)
        );
    }
}

#[test]
fn original_config_dir_gives_located_placeholder_errors() {
    let dir = examples().join("microsoft-pai-46b6ad6/cluster-configuration");
    let d = build::load(&dir).expect_err("the example holds placeholders");
    let text = d.render_text(false);
    // every error names a file and a line
    for e in d.errors() {
        assert!(
            e.at.line.is_some() || e.message.contains("machine-list"),
            "unlocated: {e}"
        );
        assert!(e.fix.is_some(), "no fix: {e}");
    }
    for needle in [
        "`hostip: IP` is still the example's placeholder",
        "`sshport: port`",
        "hostname (echo",
        "Kubernetes 1.9",
        "etcd `3.2.17`",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // the machinetype typo (#664) is a warning, the service file is not read at all
    assert!(d.warnings().any(|w| w.message.contains("machinetype")));
    assert!(!text.contains("services-configuration"));
}

#[test]
fn original_node_lists_are_read_in_both_forms() {
    let (_t, dir) = config_dir(&standard(3, 1, false), K8S_OK);
    let cluster = build::load(&dir).unwrap().cluster;
    for (rel, expect_machines) in [
        ("microsoft-pai-46b6ad6/node-list-example.yaml", 2),
        ("microsoft-pai-5ee9d19/node-list-example.yaml", 2),
    ] {
        let f = examples().join(rel);
        let mut d = Diagnostics::default();
        let list = k8s_manage::config::node_list::read(&f, &mut d).expect("read");
        assert_eq!(list.machines.len(), expect_machines, "{rel}");
        // placeholders (IP, PORT) are errors at their lines, never a crash
        let err = build::load_node_list(&f, &dir, NodeListUse::Add, &cluster).expect_err(rel);
        assert!(
            err.errors().all(|e| e.at.line.is_some()),
            "{rel}: {}",
            err.render_text(false)
        );
    }
    // the map form takes the map key as the hostname
    let mut d = Diagnostics::default();
    let list = k8s_manage::config::node_list::read(
        &examples().join("microsoft-pai-46b6ad6/node-list-example.yaml"),
        &mut d,
    )
    .unwrap();
    assert_eq!(
        list.machines[0].hostname.as_ref().unwrap().value,
        "worker-06"
    );
}

#[test]
fn repository_examples_are_valid() {
    for name in ["single-master", "three-masters"] {
        let dir = repo().join("cluster-configuration").join(name);
        let l = build::load(&dir).unwrap_or_else(|d| panic!("{name}: {}", d.render_text(false)));
        assert!(l.cluster.masters().count() >= 1);
    }
    let dir = repo().join("cluster-configuration/three-masters");
    let cluster = build::load(&dir).unwrap().cluster;
    let (added, _) = build::load_node_list(
        &repo().join("cluster-configuration/add-workers.yaml"),
        &dir,
        NodeListUse::Add,
        &cluster,
    )
    .unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(
        added[0].ssh.username, "root",
        "defaults are merged into node-list machines"
    );
}

/// The repository stands alone: no test reads the reference material beside the clone
/// (the `shared` folder beside it); what the tests need is copied into tests/data with its origin.
#[test]
fn no_test_reads_beside_the_repository() {
    let beside = ["..", "shared"].join("/");
    let mut sources = Vec::new();
    for dir in [
        "tests",
        "tests/common",
        "tests/databases",
        "benches",
        "examples",
    ] {
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "rs") {
                sources.push(e.path());
            }
        }
    }
    assert!(sources.len() > 20, "{sources:?}");
    for f in sources {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains(&beside) && !text.contains("join(\"shared\")"),
            "{} reads {beside}: copy the data into tests/data instead",
            f.display()
        );
    }
}
