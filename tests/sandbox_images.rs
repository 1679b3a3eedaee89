//! The upstream component images `sandbox up` loads into its nodes, on this machine's
//! Docker engine (no nodes): each holds the real program it is named after, at the version
//! its name says, under the name the product asks for; a second build makes nothing.
//! Containers run with no network at all. (The images are built from source the first
//! time; `scripts/test.sh` does that in a stage of its own before the tests.)

mod sandbox_support;

use std::collections::BTreeMap;

use bollard::Docker;
use k8s_manage::model::{images, version};
use k8s_manage::sandbox;
use k8s_manage::sandbox::upstream;
use sandbox_support::docker::run_to_end;

fn progress(message: &str) {
    eprintln!("sandbox: {message}");
}

async fn image_id(docker: &Docker, reference: &str) -> String {
    docker.inspect_image(reference).await.unwrap().id.unwrap()
}

/// Every image of the sandbox's Kubernetes version: the product's names, the label that
/// says where it came from, and each program inside answering `--version` with its real
/// version (and refusing a flag it does not have, as only the real one does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_images_run_the_real_programs_at_their_versions() {
    let versions = [sandbox::KUBERNETES_VERSION.to_string()];
    let made = upstream::build_upstream_images(&versions, &progress)
        .await
        .expect("upstream images");
    assert_eq!(made, upstream::upstream_references(&versions).unwrap());

    // The names are the ones a deploy of this version asks for.
    let v = version::parse_kube_version(sandbox::KUBERNETES_VERSION).unwrap();
    let named = images::resolve(
        images::DEFAULT_REGISTRY,
        v,
        upstream::ETCD_VERSION,
        &BTreeMap::new(),
    );
    for component in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "kubelet",
        "pause",
        "coredns",
        "flannel",
    ] {
        assert!(
            made.contains(&named[component]),
            "{component}: {} is not among {made:?}",
            named[component]
        );
    }

    let docker = sandbox::connect_engine().await.unwrap();
    for reference in &made {
        let config = docker
            .inspect_image(reference)
            .await
            .unwrap()
            .config
            .unwrap();
        let labels = config.labels.unwrap_or_default();
        assert_eq!(
            labels
                .get("io.k8s-manage.sandbox-built-from")
                .map(String::as_str),
            Some("upstream-source"),
            "{reference}: {labels:?}"
        );
        let env = config.env.unwrap_or_default();
        assert!(
            env.iter().any(|e| e.starts_with("PATH=/usr/local/")),
            "{reference}: {env:?}"
        );
    }

    // (image, entrypoint, arguments, what the output must contain)
    let kube = sandbox::KUBERNETES_VERSION;
    let kubernetes = format!("Kubernetes {kube}");
    let cases: Vec<(&str, &str, &[&str], &str)> = vec![
        (
            &named["kube-apiserver"],
            "kube-apiserver",
            &["--version"],
            &kubernetes,
        ),
        (
            &named["kube-controller-manager"],
            "kube-controller-manager",
            &["--version"],
            &kubernetes,
        ),
        (
            &named["kube-scheduler"],
            "kube-scheduler",
            &["--version"],
            &kubernetes,
        ),
        (
            &named["kube-proxy"],
            "kube-proxy",
            &["--version"],
            &kubernetes,
        ),
        (&named["kubelet"], "kubelet", &["--version"], &kubernetes),
        (
            &named["kubelet"],
            "cri-dockerd",
            &["--version"],
            "cri-dockerd 0.4.3",
        ),
        (
            &named["etcd"],
            "etcd",
            &["--version"],
            "etcd Version: 3.6.8",
        ),
        (
            &named["etcd"],
            "etcdctl",
            &["version"],
            "etcdctl version: 3.6.8",
        ),
        (
            &named["coredns"],
            "/coredns",
            &["-version"],
            "CoreDNS-1.14.2",
        ),
        (
            &named["flannel"],
            "/opt/bin/flanneld",
            &["--version"],
            "v0.28.4",
        ),
        (
            upstream::BUSYBOX_IMAGE,
            "sh",
            &["-c", "busybox 2>&1 | head -1"],
            "BusyBox v1.35.0",
        ),
    ];
    for (image, entrypoint, args, want) in cases {
        let (code, out) = run_to_end(&docker, image, Some(entrypoint), args).await;
        assert_eq!(code, 0, "{image} {entrypoint} {args:?}: {out}");
        assert!(
            out.contains(want),
            "{image} {entrypoint} {args:?}: {want:?} not in {out}"
        );
    }

    // The real apiserver refuses a flag it does not have.
    let (code, out) = run_to_end(
        &docker,
        &named["kube-apiserver"],
        Some("kube-apiserver"),
        &["--no-such-flag"],
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("unknown flag: --no-such-flag"), "{out}");

    // Nothing changed: nothing is rebuilt.
    let ids: Vec<String> =
        futures_util::future::join_all(made.iter().map(|r| image_id(&docker, r))).await;
    let started = std::time::Instant::now();
    let again = upstream::build_upstream_images(&versions, &progress)
        .await
        .unwrap();
    assert_eq!(again, made);
    for (reference, id) in made.iter().zip(&ids) {
        assert_eq!(&image_id(&docker, reference).await, id, "{reference}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "finding the images again took {:?}",
        started.elapsed()
    );
}

/// A version the sandbox cannot build is refused before anything is made, naming those it
/// can and how to add one.
#[tokio::test]
async fn an_unbuildable_version_is_refused_with_the_ones_that_are() {
    let text = upstream::build_upstream_images(&["v1.31.4".to_string()], &progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("v1.31.4"), "{text}");
    for v in upstream::modules::kubernetes_versions() {
        assert!(text.contains(v), "{v} missing: {text}");
    }
    assert!(text.contains("add-version.sh"), "{text}");
}
