//! The one error type of the sandbox: every variant says what failed, on which node or
//! file, and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong while making, inspecting or removing a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No Docker engine answered on the control host.
    #[error("no Docker engine answers on {socket}: {reason}\n  fix: {fix}")]
    EngineUnavailable {
        socket: String,
        reason: String,
        fix: String,
    },

    /// A Docker API call failed.
    #[error("Docker engine call failed while {action}: {source}")]
    Docker {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },

    /// Building an image needs root (debootstrap, chroot).
    #[error(
        "{what} needs root: debootstrap creates device nodes and chroots into the new file \
         system. Run as root (e.g. `sudo k8s-manage sandbox up ...`), or build the image once \
         as root: later runs reuse the cached image"
    )]
    NotRoot { what: String },

    /// A helper program (debootstrap, tar, chroot, ldd) failed.
    #[error("`{command}` failed ({status}){}", tail_note(.output))]
    Command {
        command: String,
        status: String,
        output: String,
    },

    /// Reading or writing a file on the control host failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The options given to `up` cannot make a sandbox.
    #[error("invalid sandbox options: {0}")]
    InvalidOptions(String),

    /// Something with the sandbox's name or label already exists.
    #[error(
        "sandbox \"{name}\" already exists ({what}); remove it first with \
         `k8s-manage sandbox down {name}`, or choose another name"
    )]
    AlreadyExists { name: String, what: String },

    /// A Docker object with the wanted name exists but was not made by the sandbox.
    #[error(
        "{what} exists and was not made by `k8s-manage sandbox`; remove or rename it, or choose another sandbox name"
    )]
    NameTaken { what: String },

    /// The requested subnet is unusable.
    #[error("subnet {subnet} cannot be used: {reason}")]
    SubnetUnusable { subnet: String, reason: String },

    /// No free /24 was found in the default range.
    #[error(
        "no free /24 in {range}: every one overlaps a Docker network or a host route; \
         pass a subnet explicitly"
    )]
    NoFreeSubnet { range: String },

    /// A node did not become ready in time.
    #[error(
        "node {node} ({address}) was not ready after {}s: {problem}{}",
        .waited.as_secs(),
        tail_note(.logs)
    )]
    NodeNotReady {
        node: String,
        address: String,
        waited: Duration,
        problem: String,
        logs: String,
    },

    /// A config file in the target directory was not written by the sandbox.
    #[error(
        "{} exists and was not written by `k8s-manage sandbox`; choose another directory \
         or move the file away",
        .path.display()
    )]
    ForeignConfigFile { path: PathBuf },

    /// An SSH key could not be made or read.
    #[error("SSH key {}: {reason}", .path.display())]
    Key { path: PathBuf, reason: String },

    /// The product names no image for a component the sandbox makes.
    #[error(
        "the product names no image for {component} of Kubernetes {version}, so the sandbox \
         cannot make it under the product's name"
    )]
    UnnamedImage { component: String, version: String },

    /// A built image is not what its tag promises.
    #[error("image {image}: {reason}")]
    Image { image: String, reason: String },

    /// Loading the images into a node's dockerd failed or took too long.
    #[error("preloading images into node {node} ({container}): {reason}")]
    Preload {
        node: String,
        container: String,
        reason: String,
    },

    /// The sandbox's registry could not be set up or filled.
    #[error("the sandbox registry: {reason}")]
    Registry { reason: String },

    /// `up` failed after it had created containers; they were removed again.
    #[error("{source}\n  (the partly made sandbox \"{name}\" was removed again)")]
    RolledBack {
        name: String,
        #[source]
        source: Box<SandboxError>,
    },
}

fn tail_note(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!("; last output:\n{text}")
    }
}

/// Attach an action to a Docker error.
pub(crate) trait DockerContext<T> {
    fn docker(self, action: impl Into<String>) -> Result<T, SandboxError>;
}

impl<T> DockerContext<T> for Result<T, bollard::errors::Error> {
    fn docker(self, action: impl Into<String>) -> Result<T, SandboxError> {
        self.map_err(|source| SandboxError::Docker {
            action: action.into(),
            source,
        })
    }
}

/// Attach an action and a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn io(self, action: &str, path: impl Into<PathBuf>) -> Result<T, SandboxError>;
}

impl<T> IoContext<T> for Result<T, std::io::Error> {
    fn io(self, action: &str, path: impl Into<PathBuf>) -> Result<T, SandboxError> {
        self.map_err(|source| SandboxError::Io {
            action: action.to_string(),
            path: path.into(),
            source,
        })
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
