//! The Kubernetes API, as the tool uses it: readiness, server-side apply of its manifests,
//! node registration and labels.

pub mod client;
pub mod resources;

pub use client::{
    Applied, KubeClient, KubeError, NodeState, ObjectTarget, object_of, parse_manifest,
};
pub use resources::CustomKinds;
