//! How an action that reaches the nodes runs: connection settings, waits, progress
//! callbacks and the rolling settings. Which phases run is the action's choice
//! (`crate::plan::phases`), never a flag here.

use crate::pki::Pki;
use crate::ssh::{ConnectOptions, HostKeyPolicy};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A per-node progress callback: (host, what it is doing now).
pub type NodeProgress = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How to run.
#[derive(Clone)]
pub struct DeployOptions {
    pub dry_run: bool,
    pub parallel: usize,
    pub host_keys: HostKeyPolicy,
    pub connect: ConnectOptions,
    /// An image bundle (`docker save` tar) to stream to nodes instead of pulling.
    pub images: Option<PathBuf>,
    /// Pass the image bundle node to node (`super::relay`) instead of pushing it from the
    /// control host to each node.
    pub relay: bool,
    pub wait: Duration,
    /// Called with one line per phase (progress).
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
    /// Called with (host, what it is doing now) for live per-node progress.
    pub node_progress: NodeProgress,
    /// Roll replacements (default: when any existing container would be replaced).
    pub rolling: RollMode,
    /// Rolling: how many non-master nodes change at once (at least 1).
    pub max_unavailable: usize,
    /// Rolling: drain a node before its kubelet, kube-proxy or cri-dockerd is replaced.
    pub drain: bool,
    /// Use this PKI instead of loading `DIR/.k8s-manage/pki` (`cert rotate`).
    pub pki: Option<Arc<Pki>>,
    /// The name of the action in the report (`deploy` unless said otherwise).
    pub action: &'static str,
}

impl DeployOptions {
    /// Defaults for everything but the callbacks: no dry run, 50 at once, first use of
    /// host keys trusted, 180 s waits, automatic rolling with drain, one node at a time.
    pub fn new(
        progress: Arc<dyn Fn(&str) + Send + Sync>,
        node_progress: NodeProgress,
    ) -> DeployOptions {
        DeployOptions {
            dry_run: false,
            parallel: 50,
            host_keys: HostKeyPolicy::TrustOnFirstUse,
            connect: ConnectOptions::default(),
            images: None,
            relay: true,
            wait: Duration::from_secs(180),
            progress,
            node_progress,
            rolling: RollMode::Auto,
            max_unavailable: 1,
            drain: true,
            pki: None,
            action: "deploy",
        }
    }
}

/// Whether deploy rolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RollMode {
    /// Roll when any existing container would be replaced; a first deploy (only creations)
    /// runs the parallel phases.
    #[default]
    Auto,
    /// Always roll (`upgrade`).
    Always,
    /// Never roll: every phase on all nodes at once, no drain (a first deploy; `cert
    /// rotate` when the old certificates have expired or the CAs change, since then the
    /// old and new certificates cannot talk to each other).
    Never,
}
