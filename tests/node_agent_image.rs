//! `image node-agent`: the kubelet + cri-dockerd image from release files.
//!
//! Offline, the "release" files are the kubelet and cri-dockerd the sandbox builds from
//! source, laid out like a mirror of dl.k8s.io and github.com and served over HTTP on
//! loopback, pinned with `node-agent-checksums`; the base is a Debian made here with
//! debootstrap (its apt reaches Debian's mirror). The image is built, saved as a bundle,
//! and a sandbox cluster deployed with `--images` that bundle runs every kubelet and
//! cri-dockerd from it: every node Ready. A wrong checksum, a version the table lacks and
//! an unreachable mirror each fail with a clear error and build no image.

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
mod common;
#[path = "common/file_server.rs"]
mod file_server;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/procs.rs"]
mod procs;

use common::{config_dir, run_cli, standard};
use file_server::FileServer;
use k8s_manage::sandbox::upstream::{go_build, modules};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

const KUBELET_PATH: &str = "dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubelet";
const CRI_PATH: &str =
    "github.com/Mirantis/cri-dockerd/releases/download/v0.4.3/cri-dockerd-0.4.3.amd64.tgz";
/// The official v1.36.1 amd64 kubelet's SHA-256 (the built-in table's row).
const OFFICIAL_KUBELET: &str = "7efa1780c73d9fb3a464002864e582eb2d15aa691e475eaae323093d08feae14";

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Put `data` at `rel` under `root`.
fn put(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn pins(kubelet: Option<&str>, cri: Option<&str>) -> String {
    let mut s = String::from("  node-agent-checksums:\n");
    if let Some(k) = kubelet {
        s.push_str(&format!(
            "    kubelet:\n      v1.36.1:\n        amd64: \"{k}\"\n"
        ));
    }
    if let Some(c) = cri {
        s.push_str(&format!(
            "    cri-dockerd:\n      0.4.3:\n        amd64: \"{c}\"\n"
        ));
        // the sandbox builds 0.4.3 from source; the default (0.3.26) has a table row
        s.insert_str(0, "  cri-dockerd-version: 0.4.3\n");
    }
    s
}

/// A config dir whose kubelet image is `reference`, with `extra` under `kubernetes:`.
fn config(reference: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    config_dir(
        &standard(1, 0, false),
        &format!(
            "kubernetes:\n  kubernetes-version: v1.36.1\n  kubelet-image: {reference}\n{extra}"
        ),
    )
}

fn image_exists(reference: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = k8s_manage::image::build::connect_engine().await.unwrap();
        docker.inspect_image(reference).await.is_ok()
    })
}

fn remove_image(reference: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = k8s_manage::image::build::connect_engine().await.unwrap();
        let _ = docker
            .remove_image(
                reference,
                Some(bollard::query_parameters::RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await;
    });
}

fn fast_reference(what: &str) -> String {
    format!(
        "k8s-manage.local/node-agent:test-{what}-{}",
        std::process::id()
    )
}

#[test]
fn a_file_that_is_not_the_official_release_is_refused_naming_both_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = b"not the kubelet\n";
    put(tmp.path(), KUBELET_PATH, fake);
    put(
        tmp.path(),
        &format!("{KUBELET_PATH}.sha256"),
        sha256(fake).as_bytes(),
    );
    put(tmp.path(), CRI_PATH, b"an archive");
    let server = FileServer::start(tmp.path());
    let reference = fast_reference("mismatch");
    // The kubelet is checked against the built-in table's official checksum.
    let (_t, dir) = config(
        &reference,
        &format!(
            "  release-mirror: {}\n{}",
            server.url(),
            pins(None, Some(&sha256(b"an archive")))
        ),
    );
    let (code, stdout, stderr) = run_cli(&["image", "node-agent", "--arch", "amd64"], &dir);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let url = format!("{}/{KUBELET_PATH}", server.url());
    assert!(
        stderr.contains(&format!(
            "checksum mismatch for {url} (kubelet): expected SHA-256 {OFFICIAL_KUBELET} (from the built-in table (src/image/node_agent/release-checksums.txt)), got {}",
            sha256(fake)
        )),
        "{stderr}"
    );
    assert!(stderr.contains("no image was built"), "{stderr}");
    assert!(!image_exists(&reference));

    // A published kubelet.sha256 that disagrees with the file is refused too, even when
    // the pin matches the file.
    put(
        tmp.path(),
        &format!("{KUBELET_PATH}.sha256"),
        format!("{OFFICIAL_KUBELET}  kubelet\n").as_bytes(),
    );
    let (_t, dir) = config(
        &reference,
        &format!(
            "  release-mirror: {}\n{}",
            server.url(),
            pins(Some(&sha256(fake)), Some(&sha256(b"an archive")))
        ),
    );
    let (code, _, stderr) = run_cli(&["image", "node-agent", "--arch", "amd64"], &dir);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "checksum mismatch: {url} has SHA-256 {}, but {url}.sha256 says {OFFICIAL_KUBELET}",
            sha256(fake)
        )),
        "{stderr}"
    );
    assert!(!image_exists(&reference));
}

#[test]
fn a_version_without_a_known_checksum_is_refused_before_anything_is_fetched() {
    let tmp = tempfile::tempdir().unwrap();
    let server = FileServer::start(tmp.path());
    let reference = fast_reference("unknown");
    let (_t, dir) = config_dir(
        &standard(1, 0, false),
        &format!(
            "kubernetes:\n  kubernetes-version: v1.36.99\n  cri-dockerd-version: 0.4.3\n  kubelet-image: {reference}\n  release-mirror: {}\n",
            server.url()
        ),
    );
    let (code, stdout, stderr) = run_cli(
        &["image", "node-agent", "--arch", "amd64", "--output", "json"],
        &dir,
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["built"], false);
    let error = report["error"].as_str().unwrap();
    let fix = report["fix"].as_str().unwrap();
    // Both files: the kubelet's version, and cri-dockerd 0.4.3 (no source publishes a
    // checksum of 0.4.x).
    assert!(
        error.contains("no SHA-256 is known for kubelet v1.36.99 (amd64)")
            && error.contains("no SHA-256 is known for cri-dockerd 0.4.3 (amd64)"),
        "{error}"
    );
    assert!(
        fix.contains("node-agent-checksums:\n      kubelet:\n        v1.36.99:\n          amd64: <sha256 of kubelet>"),
        "{fix}"
    );
    assert!(
        fix.contains("`cri-dockerd-version:`") && fix.contains("0.3.16 to 0.3.26"),
        "{fix}"
    );
    assert!(fix.contains("v1.31.0 to v1.36.4"), "{fix}");
    assert!(fix.contains("README.md"), "{fix}");
    assert_eq!(server.requests(), Vec::<String>::new());
    assert!(!image_exists(&reference));
}

#[test]
fn an_unreachable_or_incomplete_mirror_is_a_clear_error() {
    let reference = fast_reference("mirror");
    let port = procs::free_port();
    let (_t, dir) = config(
        &reference,
        &format!(
            "  release-mirror: http://127.0.0.1:{port}/releases\n{}",
            pins(Some(&"a".repeat(64)), Some(&"b".repeat(64)))
        ),
    );
    let (code, _, stderr) = run_cli(&["image", "node-agent", "--arch", "amd64"], &dir);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: cannot fetch http://127.0.0.1:{port}/releases/{KUBELET_PATH}: no answer"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("check that the mirror answers") && stderr.contains("`release-mirror` at "),
        "{stderr}"
    );
    assert!(!image_exists(&reference));

    // A mirror folder that lacks the published kubelet.sha256.
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), KUBELET_PATH, b"k");
    let (_t, dir) = config(
        &reference,
        &format!(
            "  release-mirror: {}\n{}",
            tmp.path().display(),
            pins(Some(&sha256(b"k")), Some(&"b".repeat(64)))
        ),
    );
    let (code, _, stderr) = run_cli(&["image", "node-agent", "--arch", "amd64"], &dir);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot fetch {}/{KUBELET_PATH}.sha256: no such file (the release site publishes it beside kubelet; a mirror must carry it too)",
            tmp.path().display()
        )),
        "{stderr}"
    );
    assert!(!image_exists(&reference));
}

#[test]
fn push_refuses_an_image_name_no_registry_serves() {
    let (_t, dir) = config_dir(
        &standard(1, 0, false),
        "kubernetes:\n  kubernetes-version: v1.36.1\n",
    );
    let (code, _, stderr) = run_cli(&["image", "node-agent", "--push"], &dir);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "--push: the kubelet image k8s-manage.local/node-agent:v1.36.1 names no registry"
        ),
        "{stderr}"
    );
}

/// The binaries the sandbox builds from source, as a mirror of the release sites: the
/// kubelet with its kubelet.sha256, cri-dockerd as its release archive. Their SHA-256s.
fn mirror_of_sandbox_builds(rt: &tokio::runtime::Runtime, root: &Path) -> (String, String) {
    let progress = |m: &str| eprintln!("{m}");
    let k8s = modules::find(modules::Program::Kubernetes, "v1.36.1").unwrap();
    let kubelet = rt
        .block_on(go_build::ensure_built(k8s, &["kubelet"], &progress))
        .unwrap()
        .join("kubelet");
    let cri = rt
        .block_on(go_build::ensure_built(
            modules::only_version(modules::Program::CriDockerd),
            &["cri-dockerd"],
            &progress,
        ))
        .unwrap()
        .join("cri-dockerd");
    let kubelet = std::fs::read(kubelet).unwrap();
    put(root, KUBELET_PATH, &kubelet);
    put(
        root,
        &format!("{KUBELET_PATH}.sha256"),
        sha256(&kubelet).as_bytes(),
    );
    // The release archive's layout: cri-dockerd/cri-dockerd.
    let stage = tempfile::tempdir().unwrap();
    std::fs::create_dir(stage.path().join("cri-dockerd")).unwrap();
    std::fs::copy(&cri, stage.path().join("cri-dockerd/cri-dockerd")).unwrap();
    let tgz = root.join(CRI_PATH);
    std::fs::create_dir_all(tgz.parent().unwrap()).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(stage.path())
        .arg("cri-dockerd")
        .status()
        .unwrap();
    assert!(st.success());
    (sha256(&kubelet), sha256(&std::fs::read(&tgz).unwrap()))
}

#[test]
fn the_image_built_from_release_files_runs_every_node_of_a_cluster() {
    let sb = cluster_sandbox::up("h17-node-agent", 1, 1, false);
    let dir = sb.dir.clone();
    let mirror = tempfile::tempdir().unwrap();
    let (kubelet_sha, cri_sha) = mirror_of_sandbox_builds(&sb.rt, mirror.path());
    let server = FileServer::start(mirror.path());
    let base = sb
        .rt
        .block_on(k8s_manage::sandbox::debian_base_image(&|m: &str| {
            eprintln!("{m}")
        }))
        .unwrap();

    // A tag of its own, so the nodes (which have the sandbox's node-agent image) lack it
    // and deploy loads it from the bundle.
    let reference = "k8s-manage.local/node-agent:v1.36.1-from-release-files";
    remove_image(reference);
    let file = dir.join("kubernetes-configuration.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let keys = format!(
        "kubernetes:\n  kubelet-image: {reference}\n  release-mirror: {}\n  node-agent-base-image: {base}\n{}",
        server.url(),
        pins(Some(&kubelet_sha), Some(&cri_sha))
    );
    std::fs::write(&file, text.replacen("kubernetes:\n", &keys, 1)).unwrap();

    let bundle = mirror.path().join("node-agent.tar");
    let (code, stdout, stderr) = run_cli(
        &[
            "image",
            "node-agent",
            "--out",
            bundle.to_str().unwrap(),
            "--output",
            "json",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["image"], reference);
    assert_eq!(report["built"], true);
    assert_eq!(report["files"][0]["sha256"], kubelet_sha.as_str());
    assert_eq!(report["files"][0]["vouch"]["kind"], "pin");
    // Built from source here, so not the official release: the report says so.
    assert_eq!(report["files"][0]["official_differs"], OFFICIAL_KUBELET);
    assert_eq!(
        report["files"][0]["published"],
        format!("{}/{KUBELET_PATH}.sha256", server.url())
    );
    assert_eq!(report["files"][1]["sha256"], cri_sha.as_str());
    let requested = server.requests();
    for want in [KUBELET_PATH, &format!("{KUBELET_PATH}.sha256"), CRI_PATH] {
        assert!(requested.contains(&format!("/{want}")), "{requested:?}");
    }
    assert!(report["bundle"]["bytes"].as_u64().unwrap() > 50_000_000);

    // The image knows what it holds.
    let labels = sb.rt.block_on(async {
        let docker = k8s_manage::image::build::connect_engine().await.unwrap();
        docker
            .inspect_image(reference)
            .await
            .unwrap()
            .config
            .unwrap()
            .labels
            .unwrap()
    });
    assert_eq!(
        labels["io.k8s-manage.node-agent.kubelet"],
        format!("v1.36.1 sha256:{kubelet_sha}")
    );
    assert_eq!(
        labels["io.k8s-manage.node-agent.cri-dockerd"],
        format!("0.4.3 sha256:{cri_sha}")
    );

    let (code, report, stderr) =
        cluster_sandbox::k8s_manage(&["deploy", "--images", bundle.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");

    let k = kubectl::Kubectl::new(&sb.rt, &dir, "v1.36.1");
    let nodes = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.status.nodeInfo.kubeletVersion}{\"\\n\"}{end}",
    ]);
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    for line in nodes.lines() {
        assert!(line.ends_with("True v1.36.1"), "{nodes}");
    }
    for m in &cluster_sandbox::cluster(&dir).machines {
        let s = cluster_sandbox::ssh(&dir, &m.hostname);
        let run = |cmd: &str| {
            s.run_root("check", cmd, Duration::from_secs(30))
                .unwrap()
                .stdout_str()
                .trim()
                .to_string()
        };
        assert_eq!(
            run("docker inspect -f '{{.Config.Image}}' kubelet cri-dockerd"),
            format!("{reference}\n{reference}"),
            "{}",
            m.hostname
        );
        // The kubelet has called iptables: the wrapper chose the node's backend (the
        // sandbox nodes use legacy) and pointed the links at it.
        assert_eq!(
            run("docker exec kubelet readlink /usr/sbin/iptables"),
            "xtables-legacy-multi",
            "{}",
            m.hostname
        );
        assert!(
            run("docker exec kubelet iptables -V").ends_with("(legacy)"),
            "{}",
            m.hostname
        );
    }
    drop(sb);
    remove_image(reference);
}
