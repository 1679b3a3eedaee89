//! The Kubernetes API, as the tool uses it: readiness, server-side apply of its manifests
//! (add-ons in tiers, [`apply_tiers`]),
//! node registration and labels, what draining a node needs (cordon, pods, eviction), and
//! deleting a pod (`remove --force`).

pub mod apply_tiers;
pub mod client;
pub mod drain;
pub mod pods;
pub mod resources;

pub use client::{
    Applied, ApplyMode, KubeClient, KubeError, NodeState, ObjectTarget, lost_fields, object_of,
    parse_manifest,
};
pub use drain::{Eviction, PodRef};
pub use resources::CustomKinds;
