//! Running throw-away containers and commands in containers on this machine's Docker
//! engine, for the sandbox tests' set-up and checks.

use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;

/// Run `args` in `image` without a network (with `entrypoint` in place of the image's own,
/// if given) until it exits, at most 60 s; its exit code and output. The container is
/// removed afterwards.
pub async fn run_to_end(
    docker: &Docker,
    image: &str,
    entrypoint: Option<&str>,
    args: &[&str],
) -> (i64, String) {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: entrypoint.map(|e| vec![e.to_string()]),
        cmd: Some(args.iter().map(|a| a.to_string()).collect()),
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
        .start_container(&id, None::<StartContainerOptions>)
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
pub async fn exec(docker: &Docker, container: &str, cmd: &[&str]) -> (i64, String) {
    let created = docker
        .create_exec(
            container,
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
