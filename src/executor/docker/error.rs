//! What a Docker operation on a node fails with: [`DockerOpError`], whose every variant
//! names the container or image and gives a hint, and the hint for a failed API call.

use std::time::Duration;

use bollard::errors::Error as BollardError;

use crate::components::spec::LABEL_SPEC_HASH;

/// What can go wrong; every variant names the container or image and gives a hint.
#[derive(Debug, thiserror::Error)]
pub enum DockerOpError {
    /// A Docker API call failed.
    #[error("{action} failed: {source}\n  hint: {hint}")]
    Api {
        action: String,
        #[source]
        source: BollardError,
        hint: String,
    },

    /// The spec has no hash label, so it cannot be compared with what runs.
    #[error(
        "container {name}: the spec carries no {LABEL_SPEC_HASH} label\n  hint: seal it \
         with `ContainerSpec::seal` before ensuring it (render does this for every spec)"
    )]
    NotSealed { name: String },

    /// The spec cannot be turned into a container.
    #[error("container {name}: invalid spec: {reason}")]
    InvalidSpec { name: String, reason: String },

    /// A container with the spec's name exists but is not this cluster's.
    #[error("container {name} exists on the node but {reason}; it was left alone\n  hint: {hint}")]
    Foreign {
        name: String,
        reason: String,
        hint: String,
    },

    /// The image a container needs is not in the node's engine.
    #[error(
        "container {container}: image {image} is not on the node\n  hint: pull it first \
         (`ensure_image`), or pass an image bundle made with `docker save` with --images"
    )]
    ImageMissing { container: String, image: String },

    /// Pulling an image failed or took too long.
    #[error(
        "pulling image {image} from registry {registry} failed: {reason}\n  fix: mirror the \
         image into a registry the nodes can reach (and name it in `kubernetes.images`), or \
         pass an image bundle made with `docker save` with --images"
    )]
    Pull {
        image: String,
        registry: String,
        reason: String,
    },

    /// `docker load` of an image bundle failed.
    #[error(
        "loading images from the bundle failed: {reason}\n  hint: the bundle must be a tar \
         written by `docker save` (plain or gzip-compressed)"
    )]
    Load { reason: String },

    /// A container did not come up, or did not stay up.
    #[error(
        "container {name} is not running stably after {:.1}s: {state}{}{}\n  hint: the \
         process exits on its own; its log says why: fix the flags or files it reads, then \
         re-run",
        .waited.as_secs_f64(),
        exit_note(.exit_code),
        logs_note(.logs)
    )]
    NotRunning {
        name: String,
        state: String,
        exit_code: Option<i64>,
        waited: Duration,
        logs: String,
    },

    /// A replace failed after the old container had been renamed.
    #[error("replacing container {name} failed while {step}: {source}\n  {rollback}")]
    Replace {
        name: String,
        step: String,
        #[source]
        source: Box<DockerOpError>,
        rollback: String,
    },
}

fn exit_note(code: &Option<i64>) -> String {
    code.map(|c| format!(", last exit code {c}"))
        .unwrap_or_default()
}

fn logs_note(logs: &str) -> String {
    let logs = logs.trim_end();
    if logs.is_empty() {
        "; it printed nothing".into()
    } else {
        format!("; its last log lines:\n{logs}")
    }
}

/// What to do about a failed Docker call, from the engine's answer.
fn hint_for(err: &BollardError) -> String {
    match err {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => {
            let m = message.to_ascii_lowercase();
            if m.contains("executable file not found") || m.contains("no such file or directory") {
                "the entrypoint (or a bind source) does not exist: check the spec's entrypoint \
                 and image, and the host paths it mounts"
                    .into()
            } else if m.contains("address already in use") {
                "a port it needs is in use on the node: find the process holding it \
                 (`ss -ltnp`) and stop it"
                    .into()
            } else if *status_code == 404 && m.contains("image") {
                "the image is not on the node: pull it, or pass an image bundle with --images"
                    .into()
            } else if *status_code == 404 {
                "it does not exist (any more): something else removed it meanwhile; re-run".into()
            } else if *status_code == 409 {
                "conflict: the name is taken or the container is busy (e.g. being removed); \
                 re-run, or remove the conflicting container on the node"
                    .into()
            } else {
                "see the Docker engine's log on the node (`journalctl -u docker`)".into()
            }
        }
        BollardError::DockerStreamError { .. } => {
            "see the Docker engine's log on the node (`journalctl -u docker`)".into()
        }
        _ => "the engine did not answer properly: check that dockerd runs on the node and that \
              the SSH connection forwarding its socket is up"
            .into(),
    }
}

/// Attach what was being done (and a hint) to a bollard error.
pub(super) trait ApiContext<T> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, DockerOpError>;
}

impl<T> ApiContext<T> for Result<T, BollardError> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, DockerOpError> {
        self.map_err(|source| DockerOpError::Api {
            action: action(),
            hint: hint_for(&source),
            source,
        })
    }
}

pub(super) fn is_not_found(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_object_and_give_a_hint() {
        let e: Result<(), _> = Err(BollardError::DockerResponseServerError {
            status_code: 409,
            message: "Conflict. The container name \"/etcd\" is already in use".into(),
        });
        let text = e
            .ctx(|| "creating container etcd".into())
            .unwrap_err()
            .to_string();
        assert!(text.contains("creating container etcd"), "{text}");
        assert!(text.contains("hint: conflict"), "{text}");
        let e = DockerOpError::NotRunning {
            name: "etcd".into(),
            state: "restarting, restarted 3 times".into(),
            exit_code: Some(2),
            waited: Duration::from_millis(5200),
            logs: "bad flag --x\n".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("container etcd is not running stably after 5.2s"),
            "{text}"
        );
        assert!(text.contains("last exit code 2"), "{text}");
        assert!(text.contains("bad flag --x"), "{text}");
    }
}
