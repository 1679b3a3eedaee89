//! One-shot job containers: run a short container once to completion (`docker run --rm`,
//! without network, bounded, exit code and log returned), as `etcd snapshot restore` does
//! with the etcd image.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerStateStatusEnum, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, LogsOptions, StartContainerOptions,
};
use futures_util::StreamExt;

use super::remove::{force_remove_named, labels_of};
use crate::components::spec::LABEL_CLUSTER;

/// Label on job containers: which job made them (so a leftover can be recognised).
pub const LABEL_JOB: &str = "io.k8s-manage.job";

/// A short job: a container run once to completion, without network.
#[derive(Debug, Clone)]
pub struct Job {
    /// Container name (a leftover of an interrupted run with the same job label is removed).
    pub name: String,
    pub image: String,
    pub entrypoint: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// `host:container[:ro]`.
    pub binds: Vec<String>,
    pub cluster: String,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub exit_code: i64,
    /// Its stdout and stderr (the last 200 lines).
    pub log: String,
}

/// Why a job did not run to an end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The image has no such program (the entrypoint was not found).
    NoSuchProgram(String),
    Other(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::NoSuchProgram(m) | JobError::Other(m) => f.write_str(m),
        }
    }
}

/// Whether a start error says the entrypoint does not exist in the image.
pub fn is_missing_program(message: &str) -> bool {
    message.contains("executable file not found") || message.contains("no such file or directory")
}

/// Run `job` to completion within `timeout` (checked twice a second) and remove it.
pub async fn run_job(
    docker: &Docker,
    job: &Job,
    timeout: Duration,
) -> Result<JobOutcome, JobError> {
    let other = JobError::Other;
    // a leftover of an interrupted run
    match labels_of(docker, &job.name).await.map_err(other)? {
        None => {}
        Some(l)
            if l.get(LABEL_JOB).map(String::as_str) == Some(job.name.as_str())
                && l.get(LABEL_CLUSTER).map(String::as_str) == Some(job.cluster.as_str()) =>
        {
            force_remove_named(docker, &job.name).await.map_err(other)?;
        }
        Some(_) => {
            return Err(JobError::Other(format!(
                "a container named {} exists that k8s-manage did not make; remove it first",
                job.name
            )));
        }
    }
    let body = ContainerCreateBody {
        image: Some(job.image.clone()),
        entrypoint: Some(job.entrypoint.clone()),
        cmd: Some(job.args.clone()),
        env: Some(job.env.clone()),
        labels: Some(HashMap::from([
            (LABEL_JOB.to_string(), job.name.clone()),
            (LABEL_CLUSTER.to_string(), job.cluster.clone()),
        ])),
        host_config: Some(HostConfig {
            binds: Some(job.binds.clone()),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(job.name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| JobError::Other(format!("creating job container {}: {e}", job.name)))?;
    if let Err(e) = docker
        .start_container(&job.name, None::<StartContainerOptions>)
        .await
    {
        let _ = force_remove_named(docker, &job.name).await;
        let msg = format!(
            "starting {} ({} in {}): {e}",
            job.name,
            job.entrypoint.join(" "),
            job.image
        );
        return Err(if is_missing_program(&e.to_string()) {
            JobError::NoSuchProgram(msg)
        } else {
            JobError::Other(msg)
        });
    }
    let began = Instant::now();
    let exit_code = loop {
        let i = docker
            .inspect_container(&job.name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| JobError::Other(format!("inspecting {}: {e}", job.name)))?;
        let st = i.state.unwrap_or_default();
        if matches!(
            st.status,
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
        ) {
            break st.exit_code.unwrap_or(-1);
        }
        if began.elapsed() >= timeout {
            let log = logs(docker, &job.name).await;
            let _ = force_remove_named(docker, &job.name).await;
            return Err(JobError::Other(format!(
                "{} did not finish within {timeout:?} (it was removed); its log:\n{log}",
                job.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let log = logs(docker, &job.name).await;
    force_remove_named(docker, &job.name).await.map_err(other)?;
    Ok(JobOutcome { exit_code, log })
}

async fn logs(docker: &Docker, name: &str) -> String {
    let mut stream = docker.logs(
        name,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: "200".into(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => text.push_str(&c.to_string()),
            Err(e) => {
                text.push_str(&format!("(log unreadable: {e})"));
                break;
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_is_recognised() {
        assert!(is_missing_program(
            "OCI runtime create failed: exec: \"etcdutl\": executable file not found in $PATH: unknown"
        ));
        assert!(!is_missing_program("permission denied"));
    }
}
