//! What every command that reaches nodes sets up first: the cluster loaded from the config
//! dir (warnings printed), how to reach the nodes (how many at once and the host-key policy
//! from the flags, the connect options that ask on a terminal), the phase lines on stderr,
//! and the async runtime.

use super::exit;
use super::output::err;
use crate::cli::{OutputFormat, RunArgs};
use crate::model::{Cluster, build};
use crate::run::options::{PhaseProgress, Reach};
use crate::ssh::{ConnectOptions, HostKeyPolicy};
use std::path::Path;
use std::sync::Arc;

pub(crate) fn load(dir: &Path, color: bool, format: OutputFormat) -> Result<Cluster, i32> {
    match build::load(dir) {
        Ok(l) => {
            if !l.warnings.list.is_empty() && format == OutputFormat::Text {
                err(&l.warnings.render_text(color));
            }
            Ok(l.cluster)
        }
        Err(d) => {
            err(&d.render_text(color));
            Err(exit::INVALID)
        }
    }
}

fn policy(a: &RunArgs) -> HostKeyPolicy {
    if a.insecure_ignore_host_keys {
        err(
            "WARNING: --insecure-ignore-host-keys: host keys are NOT verified; anyone in the path can impersonate these hosts\n",
        );
        HostKeyPolicy::InsecureIgnore
    } else if a.accept_new_host_keys {
        HostKeyPolicy::AcceptNew
    } else {
        HostKeyPolicy::TrustOnFirstUse
    }
}

fn connect_options() -> ConnectOptions {
    let notify: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|s: &str| err(&format!("{s}\n")));
    ConnectOptions {
        notify: Some(notify),
        // asked only under trust on first use (not with --accept-new-host-keys)
        confirm_new_host: Some(super::host_trust::confirm_on_terminal()),
        ..ConnectOptions::default()
    }
}

/// How to reach the nodes, from the flags: `--parallel`, the host-key policy (warning
/// about `--insecure-ignore-host-keys`), and connect options that ask on a terminal.
pub(crate) fn reach(a: &RunArgs) -> Reach {
    Reach {
        parallel: a.parallel,
        host_keys: policy(a),
        connect: connect_options(),
    }
}

/// Phase lines (`==> ...`) on stderr with text output; none with JSON.
pub(crate) fn phase_lines(a: &RunArgs) -> PhaseProgress {
    let text = a.output == OutputFormat::Text;
    Arc::new(move |s: &str| {
        if text {
            err(&format!("==> {s}\n"));
        }
    })
}

pub(crate) fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ok()
}
