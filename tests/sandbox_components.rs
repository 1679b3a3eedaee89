//! The locally built component images run their real Debian binaries, and the stand-in
//! hook turns a binary into a working image. Containers run with no network at all.

use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, RemoveImageOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use k8s_manage::sandbox;

fn progress(message: &str) {
    eprintln!("sandbox: {message}");
}

/// Run `cmd` in `image` without a network (optionally replacing the entrypoint) until it
/// exits; its exit code and output.
async fn run_to_end(
    docker: &Docker,
    image: &str,
    entrypoint: Option<Vec<&str>>,
    cmd: Vec<&str>,
) -> (i64, String) {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: entrypoint.map(|e| e.into_iter().map(String::from).collect()),
        cmd: Some(cmd.into_iter().map(String::from).collect()),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = docker
        .create_container(None::<CreateContainerOptions>, body)
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
    let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
    let code = match tokio::time::timeout(Duration::from_secs(60), wait.next()).await {
        Ok(Some(Ok(r))) => r.status_code,
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
        other => panic!("waiting for {image}: {other:?}"),
    };
    let mut logs = docker.logs(
        &id,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    );
    let mut output = String::new();
    while let Some(Ok(chunk)) = logs.next().await {
        output.push_str(&chunk.to_string());
    }
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
    (code, output)
}

/// Run a command in a running container; its exit code and output.
async fn exec(docker: &Docker, id: &str, cmd: &[&str]) -> (i64, String) {
    let created = docker
        .create_exec(
            id,
            bollard::exec::CreateExecOptions {
                cmd: Some(cmd.iter().map(|c| c.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut output = String::new();
    if let bollard::exec::StartExecResults::Attached {
        output: mut stream, ..
    } = docker.start_exec(&created.id, None).await.unwrap()
    {
        while let Some(Ok(chunk)) = stream.next().await {
            output.push_str(&chunk.to_string());
        }
    }
    let code = docker
        .inspect_exec(&created.id)
        .await
        .unwrap()
        .exit_code
        .unwrap_or(-1);
    (code, output)
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

    let (code, out) = run_to_end(&docker, &images.etcd, None, vec!["etcd", "--version"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("etcd Version: 3.4.23"), "{out}");

    let (code, out) = run_to_end(
        &docker,
        &images.etcd,
        Some(vec!["etcdctl"]),
        vec!["version"],
    )
    .await;
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

    let (code, out) = run_to_end(&docker, &images.haproxy, None, vec!["haproxy", "-v"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("HAProxy version 2.6."), "{out}");

    let (code, out) = run_to_end(&docker, &images.registry, None, vec!["--version"]).await;
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

#[tokio::test]
async fn a_stand_in_image_is_made_from_a_host_binary() {
    let reference = format!("k8s-manage-sandbox/test-stand-in:{}", std::process::id());
    let made = sandbox::stand_in_image_from_binary(std::path::Path::new("/bin/ls"), &reference)
        .await
        .expect("stand-in image");
    assert_eq!(made, reference);
    let docker = sandbox::connect_engine().await.unwrap();
    let (code, out) = run_to_end(&docker, &reference, None, vec!["-1", "/usr/local/bin"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "ls");
    docker
        .remove_image(&reference, None::<RemoveImageOptions>, None)
        .await
        .unwrap();
}
