//! Node-to-node image relay for offline installs: the control host sends an image bundle
//! (`docker save` tar) once per chain; every node passes the stream on to the next node
//! while loading it into its own engine (`tee` into `docker load` and into an SSH client to
//! the next node), so the bundle reaches N nodes in about the time one link needs for it.
//!
//! Security: the next hop is reached with a per-run, per-hop ed25519 key generated on the
//! control host, whose public half is added to the next node's authorized_keys with a
//! forced command (`restrict`, the receiver only) and removed afterwards, together with the
//! private half; the next node's host key is checked against the one the control host
//! verified. The operator's key never leaves the control host.
//!
//! Robustness: every node records the bytes and the sha256 of what it received; the
//! control host reads every node's record after each round (see [`plan`]) and re-feeds the
//! nodes after a failed one from the control host; a checksum mismatch fails that node.

pub mod hop_key;
pub mod plan;
pub mod receipt;
