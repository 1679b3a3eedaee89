//! The Kubernetes API, as the tool uses it: readiness, server-side apply of its manifests,
//! node registration and labels, cordon and pod eviction (drain).

pub mod client;
pub mod pods;
pub mod resources;

pub use client::{Applied, KubeClient, KubeError, NodeState};
