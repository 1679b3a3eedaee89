//! The test-only stand-in images, on this machine's Docker engine (no nodes): what each
//! holds, that the binary inside plays the component it is named after, and that images
//! are rebuilt only when the binary changes. Containers run with no network at all.

mod sandbox_support;

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::RemoveImageOptions;
use k8s_manage::sandbox;
use sandbox_support::docker::run_to_end;
use sandbox_support::standin_binary;

fn progress(message: &str) {
    eprintln!("sandbox: {message}");
}

async fn image_id(docker: &Docker, reference: &str) -> String {
    docker.inspect_image(reference).await.unwrap().id.unwrap()
}

/// The images `sandbox up` makes for its config: labels, env, entrypoints, and every
/// component name a working link to the stand-in, which refuses a flag the real one lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_stand_in_images_play_every_component() {
    let binary = standin_binary();
    let made = sandbox::build_stand_in_images(
        &binary,
        sandbox::SANDBOX_REGISTRY,
        sandbox::KUBERNETES_VERSION,
        &progress,
    )
    .await
    .expect("stand-in images");
    assert_eq!(
        made.references,
        sandbox::stand_in_references("k8s-manage-sandbox", "v1.36.1")
    );
    let docker = sandbox::connect_engine().await.unwrap();

    let mut entrypoints = HashMap::new();
    for (reference, (name, entrypoint)) in made.references.iter().zip(sandbox::STAND_IN_IMAGE_NAMES)
    {
        let image = docker.inspect_image(reference).await.unwrap();
        let config = image.config.unwrap();
        let labels = config.labels.unwrap_or_default();
        assert_eq!(labels["io.k8s-manage.stand-in"], "true", "{reference}");
        assert_eq!(
            labels["io.k8s-manage.stand-in-binary"], made.binary_sha256,
            "{reference}"
        );
        let env = config.env.unwrap_or_default();
        assert!(
            env.iter().any(|e| e == "STANDIN_K8S_VERSION=1.36"),
            "{reference}: {env:?}"
        );
        assert!(
            env.iter().any(|e| e.starts_with("PATH=/usr/local/bin:")),
            "{reference}: {env:?}"
        );
        entrypoints.insert(name, (config.entrypoint, entrypoint));
    }
    for (name, (have, want)) in &entrypoints {
        let want = want.map(|w| vec![format!("/usr/local/bin/{w}")]);
        assert_eq!(have.clone().filter(|e| !e.is_empty()), want, "{name}");
    }

    // Each image runs the component it is named after; the kubelet image both of its.
    let cases: Vec<(String, &str)> = vec![
        (made.references[0].clone(), "kube-apiserver"),
        (made.references[1].clone(), "kube-controller-manager"),
        (made.references[2].clone(), "kube-scheduler"),
        (made.references[3].clone(), "kube-proxy"),
        (made.references[4].clone(), "kubelet"),
        (made.references[4].clone(), "cri-dockerd"),
    ];
    for (image, component) in cases {
        let (code, out) = run_to_end(&docker, &image, Some(component), &["--no-such-flag"]).await;
        assert_ne!(code, 0, "{image} {component}: {out}");
        assert!(out.contains("no-such-flag"), "{image} {component}: {out}");
        assert!(
            out.contains(&format!("[k8s-standin {component}]")),
            "{image} {component}: {out}"
        );
        // The Kubernetes version comes from the image's env (cri-dockerd has its own).
        if component != "cri-dockerd" {
            assert!(
                out.contains(&format!("{component} 1.36")),
                "{image} {component}: {out}"
            );
        }
    }

    // Nothing changed: nothing is rebuilt.
    let ids: Vec<String> =
        futures_util::future::join_all(made.references.iter().map(|r| image_id(&docker, r))).await;
    let again = sandbox::build_stand_in_images(
        &binary,
        sandbox::SANDBOX_REGISTRY,
        sandbox::KUBERNETES_VERSION,
        &progress,
    )
    .await
    .unwrap();
    assert!(!again.built);
    for (reference, id) in made.references.iter().zip(&ids) {
        assert_eq!(&image_id(&docker, reference).await, id, "{reference}");
    }
}

/// Images are rebuilt when the binary's content changes, and only then (under a registry
/// of the test's own, removed afterwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stand_in_images_are_rebuilt_only_when_the_binary_changes() {
    let registry = format!("k8s-manage-sandbox-test{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("k8s-standin");
    std::fs::copy(standin_binary(), &binary).unwrap();
    let docker = sandbox::connect_engine().await.unwrap();

    let cleanup = |references: Vec<String>| {
        let docker = docker.clone();
        async move {
            for r in references {
                let _ = docker
                    .remove_image(
                        &r,
                        Some(RemoveImageOptions {
                            force: true,
                            ..Default::default()
                        }),
                        None,
                    )
                    .await;
            }
        }
    };
    let references = sandbox::stand_in_references(&registry, "v1.35.2");
    let result = async {
        let first = sandbox::build_stand_in_images(&binary, &registry, "v1.35.2", &progress)
            .await
            .unwrap();
        assert!(first.built);
        let kept = sandbox::build_stand_in_images(&binary, &registry, "v1.35.2", &progress)
            .await
            .unwrap();
        assert!(!kept.built);
        assert_eq!(kept.binary_sha256, first.binary_sha256);

        // Trailing bytes change the content hash but leave the ELF file runnable.
        let mut changed = std::fs::read(&binary).unwrap();
        changed.extend_from_slice(b"k8s-manage test");
        std::fs::write(&binary, changed).unwrap();
        let rebuilt = sandbox::build_stand_in_images(&binary, &registry, "v1.35.2", &progress)
            .await
            .unwrap();
        assert!(rebuilt.built);
        assert_ne!(rebuilt.binary_sha256, first.binary_sha256);
        let labels = docker
            .inspect_image(&references[0])
            .await
            .unwrap()
            .config
            .unwrap()
            .labels
            .unwrap();
        assert_eq!(
            labels["io.k8s-manage.stand-in-binary"],
            rebuilt.binary_sha256
        );
        let (code, out) = run_to_end(
            &docker,
            &references[3],
            Some("kube-proxy"),
            &["--no-such-flag"],
        )
        .await;
        assert_ne!(code, 0, "{out}");
        // STANDIN_K8S_VERSION follows the version the images were made for.
        assert!(out.contains("1.35"), "{out}");
    };
    // Remove the test's images whatever happened, then report.
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    cleanup(references.clone()).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn a_missing_standin_is_reported_with_the_build_command() {
    let err = sandbox::locate_standin(Some(Path::new("/nonexistent/k8s-standin"))).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/nonexistent/k8s-standin"), "{text}");
    assert!(text.contains("cargo build -p k8s-standin"), "{text}");
}
