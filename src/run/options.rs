//! How an action that reaches the nodes runs, in pieces the actions share: how to reach
//! the nodes ([`Reach`]), the progress callbacks ([`Progress`]), the rolling settings
//! ([`Rollout`]) and the image supply ([`ImageSupply`]), put together for deploy and the
//! actions that deploy ([`DeployOptions`]). Which phases run is the action's choice
//! (`crate::plan::phases`), never a flag here.

use crate::pki::Pki;
use crate::ssh::{ConnectOptions, HostKeyPolicy};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A progress callback that gets one line at a time (one per phase, or a note).
pub type PhaseProgress = Arc<dyn Fn(&str) + Send + Sync>;

/// A per-node progress callback: (host, what it is doing now).
pub type NodeProgress = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How to reach the nodes: how many at once, which host keys to trust and the SSH
/// connection settings (time limits, retries, the callbacks that ask and tell the user).
#[derive(Clone)]
pub struct Reach {
    /// Nodes connected to and worked on at once.
    pub parallel: usize,
    pub host_keys: HostKeyPolicy,
    pub connect: ConnectOptions,
}

impl Default for Reach {
    /// 50 at once, first use of host keys trusted, the default connection settings.
    fn default() -> Self {
        Reach {
            parallel: 50,
            host_keys: HostKeyPolicy::TrustOnFirstUse,
            connect: ConnectOptions::default(),
        }
    }
}

/// The progress callbacks of an action that reports both its phases and what each node
/// is doing.
#[derive(Clone)]
pub struct Progress {
    /// Called with one line per phase.
    pub phase: PhaseProgress,
    /// Called with (host, what it is doing now) for live per-node progress.
    pub node: NodeProgress,
}

impl Progress {
    pub fn new(phase: PhaseProgress, node: NodeProgress) -> Progress {
        Progress { phase, node }
    }

    /// Phase lines to `phase`; what each node is doing goes nowhere.
    pub fn phases_only(phase: PhaseProgress) -> Progress {
        Progress::new(phase, Arc::new(|_: &str, _: &str| {}))
    }

    /// Nothing reported.
    pub fn silent() -> Progress {
        Progress::phases_only(Arc::new(|_: &str| {}))
    }
}

/// How replacements of a running cluster's containers roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Whether to roll (default: when any existing container would be replaced).
    pub mode: RollMode,
    /// How many non-master nodes change at once (at least 1).
    pub max_unavailable: usize,
    /// Drain a node before its kubelet, kube-proxy or cri-dockerd is replaced.
    pub drain: bool,
}

impl Default for Rollout {
    /// Automatic rolling, one node at a time, with drain.
    fn default() -> Self {
        Rollout {
            mode: RollMode::Auto,
            max_unavailable: 1,
            drain: true,
        }
    }
}

/// Where the nodes get their images from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSupply {
    /// An image bundle (`docker save` tar) to stream to nodes instead of pulling.
    pub bundle: Option<PathBuf>,
    /// Pass the image bundle node to node (`super::relay`) instead of pushing it from the
    /// control host to each node.
    pub relay: bool,
}

impl Default for ImageSupply {
    /// No bundle (the nodes pull); a bundle, when given, is relayed.
    fn default() -> Self {
        ImageSupply {
            bundle: None,
            relay: true,
        }
    }
}

/// How to run deploy and the actions that deploy (repair, upgrade, cert rotate, add,
/// remove).
#[derive(Clone)]
pub struct DeployOptions {
    /// Look and report, change nothing.
    pub dry_run: bool,
    /// Bound for each wait (health gates, readiness, drain).
    pub wait: Duration,
    /// Use this PKI instead of loading `DIR/.k8s-manage/pki` (`cert rotate`).
    pub pki: Option<Arc<Pki>>,
    /// The name of the action in the report (`deploy` unless said otherwise).
    pub action: &'static str,
    pub reach: Reach,
    pub progress: Progress,
    pub rollout: Rollout,
    pub images: ImageSupply,
}

impl DeployOptions {
    /// Defaults for everything but the callbacks: no dry run, 180 s waits, action
    /// `deploy`, [`Reach::default`] (50 at once, first use of host keys trusted),
    /// [`Rollout::default`] (automatic rolling with drain, one node at a time) and
    /// [`ImageSupply::default`] (no bundle).
    pub fn new(progress: Progress) -> DeployOptions {
        DeployOptions {
            dry_run: false,
            wait: Duration::from_secs(180),
            pki: None,
            action: "deploy",
            reach: Reach::default(),
            progress,
            rollout: Rollout::default(),
            images: ImageSupply::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_defaults() {
        let o = DeployOptions::new(Progress::silent());
        assert!(!o.dry_run);
        assert_eq!(o.wait, Duration::from_secs(180));
        assert!(o.pki.is_none());
        assert_eq!(o.action, "deploy");
        assert_eq!(o.reach.parallel, 50);
        assert_eq!(o.reach.host_keys, HostKeyPolicy::TrustOnFirstUse);
        assert_eq!(
            format!("{:?}", o.reach.connect),
            format!("{:?}", ConnectOptions::default())
        );
        assert_eq!(
            o.rollout,
            Rollout {
                mode: RollMode::Auto,
                max_unavailable: 1,
                drain: true
            }
        );
        assert_eq!(
            o.images,
            ImageSupply {
                bundle: None,
                relay: true
            }
        );
    }
}
