//! Waiting for a container to run stably: polls its state until it has run without a
//! restart for a while, and fails with its state, exit code and log excerpt when it does not.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum};

use super::error::DockerOpError;
use super::logs::{container_logs_tail, log_excerpt};
use super::observe::{Observed, inspect_named, observed_from};

/// Log lines quoted in errors about containers that do not stay up.
pub const ERROR_LOG_LINES: usize = 20;

/// Log lines searched for error messages that scrolled out of the quoted tail (a
/// program that prints its usage after the error, like etcd and the Kubernetes binaries).
const ERROR_LOG_SCAN: usize = 400;

/// How often `wait_running` looks at the container.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Wait until the container runs and has not restarted for `stable_for` (zero: runs now),
/// at most `timeout`. Fails at once when it is missing or stopped for good; on failure the error
/// has its state, its last exit code and the tail of its log.
pub async fn wait_running(
    docker: &Docker,
    name: &str,
    stable_for: Duration,
    timeout: Duration,
) -> Result<(), DockerOpError> {
    let began = Instant::now();
    // (since when, started-at, restart count) of the current uninterrupted run.
    let mut run: Option<(Instant, String, i64)> = None;
    let mut last_exit: Option<i64> = None;
    let mut first_restart_count: Option<i64> = None;
    loop {
        let Some(inspect) = inspect_named(docker, name).await? else {
            return Err(DockerOpError::NotRunning {
                name: name.into(),
                state: "it does not exist".into(),
                exit_code: last_exit,
                waited: began.elapsed(),
                logs: String::new(),
            });
        };
        let state = inspect.state.clone().unwrap_or_default();
        let restarts = inspect.restart_count.unwrap_or(0);
        let restarted_while_waiting = restarts - *first_restart_count.get_or_insert(restarts);
        let health = state.health.as_ref().and_then(|h| h.status);
        let describe = |what: &str| {
            let mut s = what.to_string();
            if restarts > 0 {
                s.push_str(&format!(", restarted {restarts} times"));
            }
            if let Some(err) = state.error.as_deref().filter(|e| !e.is_empty()) {
                s.push_str(&format!(", engine error: {err}"));
            }
            s
        };
        let fail = |what: String, exit: Option<i64>| async move {
            let logs = container_logs_tail(docker, name, ERROR_LOG_SCAN)
                .await
                .map(|full| log_excerpt(&full, ERROR_LOG_LINES))
                .unwrap_or_else(|e| format!("(its log could not be read: {e})"));
            DockerOpError::NotRunning {
                name: name.into(),
                state: what,
                exit_code: exit,
                waited: began.elapsed(),
                logs,
            }
        };
        match observed_from(&inspect) {
            Observed::Running { .. } if health != Some(HealthStatusEnum::STARTING) => {
                let started = state.started_at.clone().unwrap_or_default();
                match &run {
                    Some((since, s, r)) if *s == started && *r == restarts => {
                        if since.elapsed() >= stable_for {
                            return Ok(());
                        }
                    }
                    _ if stable_for.is_zero() => return Ok(()),
                    _ => run = Some((Instant::now(), started, restarts)),
                }
            }
            Observed::Running { .. } | Observed::Unhealthy { .. } | Observed::Paused { .. } => {
                run = None;
            }
            Observed::Restarting { .. } => {
                run = None;
                last_exit = state.exit_code.or(last_exit);
            }
            Observed::Stopped { exit_code, .. } => {
                let what = match state.status {
                    Some(ContainerStateStatusEnum::CREATED) => "created but never started",
                    Some(ContainerStateStatusEnum::DEAD) => "dead",
                    _ => "exited and will not be restarted",
                };
                return Err(fail(describe(what), Some(exit_code)).await);
            }
            Observed::Missing => {}
        }
        let elapsed = began.elapsed();
        if elapsed >= timeout {
            let what = match observed_from(&inspect) {
                Observed::Restarting { .. } => "crash-looping (waiting to restart)",
                Observed::Unhealthy { .. } => "running but unhealthy",
                Observed::Paused { .. } => "paused",
                _ if health == Some(HealthStatusEnum::STARTING) => "health check still starting",
                _ if restarted_while_waiting > 0 => "crash-looping (up again for the moment)",
                _ => "running, but not yet for long enough",
            };
            return Err(fail(describe(what), last_exit).await);
        }
        tokio::time::sleep(POLL_INTERVAL.min(timeout - elapsed)).await;
    }
}
