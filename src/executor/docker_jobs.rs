//! One-off work on a node's Docker engine, beside the component containers: stop or remove
//! one named component container of the cluster (never a container that is not ours), and
//! run a short job container to completion (`docker run --rm`, bounded, exit code and log
//! returned), as `etcd snapshot restore` does with the etcd image.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, ContainerStateStatusEnum, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, LogsOptions, RemoveContainerOptions,
    StartContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;

use crate::components::spec::{LABEL_CLUSTER, LABEL_MANAGED};

/// Label on job containers: which job made them (so a leftover can be recognised).
pub const LABEL_JOB: &str = "io.k8s-manage.job";

fn not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The labels of the container called `name`, or `None` when there is none.
async fn labels_of(docker: &Docker, name: &str) -> Result<Option<HashMap<String, String>>, String> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(i) => Ok(Some(i.config.and_then(|c| c.labels).unwrap_or_default())),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(format!("inspecting container {name}: {e}")),
    }
}

/// Whether labels say "a component of `cluster`".
pub fn is_ours(labels: &HashMap<String, String>, cluster: &str) -> bool {
    labels.get(LABEL_MANAGED).map(String::as_str) == Some("true")
        && labels.get(LABEL_CLUSTER).map(String::as_str) == Some(cluster)
}

async fn check_ours(docker: &Docker, name: &str, cluster: &str) -> Result<bool, String> {
    match labels_of(docker, name).await? {
        None => Ok(false),
        Some(l) if is_ours(&l, cluster) => Ok(true),
        Some(_) => Err(format!(
            "a container named {name} exists that is not labelled as a component of cluster {cluster}; it was left alone (rename or remove it yourself)"
        )),
    }
}

/// Stop the component container `name` of `cluster` (SIGTERM, then SIGKILL after
/// `grace`). `false` when there is none. A manual stop is not undone by the restart policy.
pub async fn stop_named(
    docker: &Docker,
    name: &str,
    cluster: &str,
    grace: Duration,
) -> Result<bool, String> {
    if !check_ours(docker, name, cluster).await? {
        return Ok(false);
    }
    let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
    match docker
        .stop_container(
            name,
            Some(StopContainerOptions {
                t: Some(t),
                signal: None,
            }),
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if not_found(&e) => Ok(false),
        // 304: already stopped
        Err(BollardError::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(true),
        Err(e) => Err(format!("stopping container {name}: {e}")),
    }
}

/// Stop and remove the component container `name` of `cluster`. `false` when there is none.
pub async fn remove_named(
    docker: &Docker,
    name: &str,
    cluster: &str,
    grace: Duration,
) -> Result<bool, String> {
    if !stop_named(docker, name, cluster, grace).await? {
        return Ok(false);
    }
    force_remove(docker, name).await?;
    Ok(true)
}

async fn force_remove(docker: &Docker, name: &str) -> Result<(), String> {
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(format!("removing container {name}: {e}")),
    }
}

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
            force_remove(docker, &job.name).await.map_err(other)?;
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
        let _ = force_remove(docker, &job.name).await;
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
            let _ = force_remove(docker, &job.name).await;
            return Err(JobError::Other(format!(
                "{} did not finish within {timeout:?} (it was removed); its log:\n{log}",
                job.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let log = logs(docker, &job.name).await;
    force_remove(docker, &job.name).await.map_err(other)?;
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
    fn ours_needs_both_labels() {
        let mut l = HashMap::new();
        l.insert(LABEL_MANAGED.to_string(), "true".to_string());
        assert!(!is_ours(&l, "k"));
        l.insert(LABEL_CLUSTER.to_string(), "other".to_string());
        assert!(!is_ours(&l, "k"));
        l.insert(LABEL_CLUSTER.to_string(), "k".to_string());
        assert!(is_ours(&l, "k"));
    }

    #[test]
    fn missing_program_is_recognised() {
        assert!(is_missing_program(
            "OCI runtime create failed: exec: \"etcdutl\": executable file not found in $PATH: unknown"
        ));
        assert!(!is_missing_program("permission denied"));
    }
}
