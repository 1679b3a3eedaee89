//! Operations on one node's Docker engine, one module per concern. They work on any
//! [`bollard::Docker`]: the local engine in tests, a node's engine reached through an
//! SSH-forwarded socket in a deploy.
//!
//! - [`observe`]: what runs under a name, the containers of a cluster, their spec hashes.
//! - [`ensure`]: make a named container match its sealed spec (create, start, replace
//!   RKE-style with rollback).
//! - [`create_body`]: a sealed spec as Docker's create-container body.
//! - [`remove`]: stop and remove containers (one, a named component, a cluster's, the
//!   kubelet's pod containers).
//! - [`images`]: image presence, pull, `docker load`.
//! - [`logs`]: a container's last log lines and the excerpt quoted in errors.
//! - [`waits`]: wait until a container runs stably.
//! - [`jobs`]: run a one-shot job container to completion (etcd snapshot restore).
//! - [`error`]: [`DockerOpError`](error::DockerOpError), the hint for a failed API call.
//!
//! Each module imports only from the layers before it: `error`; `observe`, `create_body`,
//! `images`, `logs`; `remove`, `waits`; `ensure`, `jobs`.

pub mod create_body;
pub mod ensure;
pub mod error;
pub mod images;
pub mod jobs;
pub mod logs;
pub mod observe;
pub mod remove;
pub mod waits;
