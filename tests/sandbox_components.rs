//! The locally built component images run their real Debian binaries. Containers run with
//! no network at all.

mod sandbox_support;

use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use k8s_manage::sandbox;
use sandbox_support::docker::{exec, run_to_end};

fn progress(message: &str) {
    eprintln!("sandbox: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_images_run_their_real_debian_binaries() {
    let images = sandbox::build_component_images(&progress)
        .await
        .expect("component images build");
    assert_eq!(images.etcd, "k8s-manage-sandbox/etcd:3.4.23");
    assert_eq!(images.haproxy, "k8s-manage-sandbox/haproxy:2.6");
    assert_eq!(images.registry, "k8s-manage-sandbox/registry:2.8");
    let docker = sandbox::connect_engine().await.unwrap();

    let (code, out) = run_to_end(&docker, &images.etcd, None, &["etcd", "--version"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("etcd Version: 3.4.23"), "{out}");

    let (code, out) = run_to_end(&docker, &images.etcd, Some("etcdctl"), &["version"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("etcdctl version: 3.4.23"), "{out}");

    // A real single-member etcd on the container's own loopback: write a key, read it back.
    let etcd = ContainerCreateBody {
        image: Some(images.etcd.clone()),
        cmd: Some(
            [
                "etcd",
                "--data-dir",
                "/tmp/etcd",
                "--listen-client-urls",
                "http://127.0.0.1:2379",
                "--advertise-client-urls",
                "http://127.0.0.1:2379",
            ]
            .map(String::from)
            .to_vec(),
        ),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = docker
        .create_container(None::<CreateContainerOptions>, etcd)
        .await
        .unwrap()
        .id;
    docker
        .start_container(
            &id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    let mut put = (1, String::new());
    for _ in 0..50 {
        put = exec(
            &docker,
            &id,
            &["etcdctl", "put", "sandbox-key", "sandbox-value"],
        )
        .await;
        if put.0 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(put.0, 0, "etcdctl put: {}", put.1);
    let got = exec(
        &docker,
        &id,
        &["etcdctl", "get", "sandbox-key", "--print-value-only"],
    )
    .await;
    docker
        .remove_container(
            &id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!((got.0, got.1.trim()), (0, "sandbox-value"));

    let (code, out) = run_to_end(&docker, &images.haproxy, None, &["haproxy", "-v"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("HAProxy version 2.6."), "{out}");

    let (code, out) = run_to_end(&docker, &images.registry, None, &["--version"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2.8."), "{out}");

    // Images are kept: a second call builds nothing and returns at once.
    let start = std::time::Instant::now();
    sandbox::build_component_images(&progress).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
