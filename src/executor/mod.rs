//! The executor: carries the rendered plan out on the nodes. Every node is reached through
//! its Docker engine (later over an SSH-forwarded socket); nothing runs in a shell there.
//!
//! - [`docker`]: the operations on one engine, one module per concern (observe, ensure a
//!   container matches its sealed spec, stop and remove, images, logs, waits, job
//!   containers).

pub mod docker;
