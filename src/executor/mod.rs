//! The executor: carries the rendered plan out on the nodes. Every node is reached through
//! its Docker engine (later over an SSH-forwarded socket); nothing runs in a shell there.
//!
//! - [`docker_ops`]: the container and image operations on one engine (observe, ensure a
//!   container matches its sealed spec, replace RKE-style, remove, load and pull images,
//!   wait until a container runs stably).
//! - [`docker_jobs`]: stop or remove one named component container, run a job container
//!   once to completion (etcd snapshot restore).

pub mod docker_jobs;
pub mod docker_ops;
