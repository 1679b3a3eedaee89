//! `deploy`, `upgrade`, `repair` and `cert rotate` (through [`run_deploy`]): each
//! action's phase list with live progress, the report printed, the exit status.

use super::exit;
use super::output::{err, json, out};
use super::progress::NodeBars;
use super::run_setup::{load, reach, runtime};
use crate::cli::{OutputFormat, RollArgs, RunArgs};
use crate::model::build;
use crate::run::options::{DeployOptions, ImageSupply, Progress, Rollout};
use crate::run::{self, rolling::RollMode};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn print_report(r: &run::report::Report, format: OutputFormat) {
    match format {
        OutputFormat::Json => json(r),
        OutputFormat::Text => out(&r.render_text()),
    }
}

/// What differs between deploy, repair, upgrade and cert rotate.
pub(crate) struct Mode<'a> {
    pub action: &'static str,
    pub repair_list: Option<&'a Path>,
    pub rolling: RollMode,
    pub roll: Option<&'a RollArgs>,
    /// `upgrade`: Some(allow_downgrade).
    pub upgrade: Option<bool>,
    /// `cert rotate`: what its first phase reissues.
    pub reissue: Option<run::deploy::Reissue>,
    /// `deploy --relay`: pass an image bundle node to node.
    pub relay: bool,
}

impl Mode<'_> {
    pub(crate) fn plain(action: &'static str) -> Mode<'static> {
        Mode {
            action,
            repair_list: None,
            rolling: RollMode::Auto,
            roll: None,
            upgrade: None,
            reissue: None,
            relay: true,
        }
    }
}

pub fn deploy(
    dir: &Path,
    a: &RunArgs,
    roll: &RollArgs,
    dry_run: bool,
    images: Option<PathBuf>,
    relay: crate::cli::RelayMode,
    color: bool,
) -> i32 {
    let mode = Mode {
        roll: Some(roll),
        relay: relay == crate::cli::RelayMode::On,
        ..Mode::plain("deploy")
    };
    run_deploy(dir, a, dry_run, images, mode, color)
}

/// `upgrade`: deploy with the skew check first and rolling forced.
pub fn upgrade(
    dir: &Path,
    a: &RunArgs,
    roll: &RollArgs,
    allow_downgrade: bool,
    dry_run: bool,
    images: Option<PathBuf>,
    color: bool,
) -> i32 {
    let mode = Mode {
        roll: Some(roll),
        rolling: RollMode::Always,
        upgrade: Some(allow_downgrade),
        ..Mode::plain("upgrade")
    };
    run_deploy(dir, a, dry_run, images, mode, color)
}

/// `repair -f NODES`: the deploy machinery restricted to the listed nodes.
pub fn repair(dir: &Path, nodes: &Path, a: &RunArgs, dry_run: bool, color: bool) -> i32 {
    let mode = Mode {
        repair_list: Some(nodes),
        rolling: RollMode::Never,
        ..Mode::plain("repair")
    };
    run_deploy(dir, a, dry_run, None, mode, color)
}

pub(crate) fn run_deploy(
    dir: &Path,
    a: &RunArgs,
    dry_run: bool,
    images: Option<PathBuf>,
    mode: Mode<'_>,
    color: bool,
) -> i32 {
    let repair_list = mode.repair_list;
    let reissue = mode.reissue.clone();
    let rotating = reissue.is_some();
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let repair = match repair_list {
        None => None,
        Some(f) => match build::load_node_list(f, dir, build::NodeListUse::Existing, &cluster) {
            Ok((machines, _)) => Some(
                machines
                    .into_iter()
                    .map(|m| m.hostname)
                    .collect::<std::collections::BTreeSet<_>>(),
            ),
            Err(d) => {
                err(&d.render_text(color));
                return exit::INVALID;
            }
        },
    };
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let text = a.output == OutputFormat::Text;
    let bars = Arc::new(NodeBars::new(text && std::io::stderr().is_terminal()));
    let b1 = bars.clone();
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |s: &str| {
        if text {
            b1.phase(s);
        }
    });
    let b2 = bars.clone();
    let node_progress: run::deploy::NodeProgress = Arc::new(move |h: &str, s: &str| b2.node(h, s));
    let opts = DeployOptions {
        dry_run,
        reach: reach(a),
        images: ImageSupply {
            bundle: images,
            relay: mode.relay,
        },
        wait: Duration::from_secs(a.wait_seconds),
        rollout: Rollout {
            mode: mode.rolling,
            max_unavailable: mode.roll.map_or(1, |r| r.max_unavailable.max(1)),
            drain: mode.roll.is_none_or(|r| !r.no_drain),
        },
        action: mode.action,
        ..DeployOptions::new(Progress::new(progress, node_progress))
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = async {
                // each action runs its own phase list
                match (repair, mode.upgrade, reissue) {
                    (Some(hosts), _, _) => run::deploy::repair(&cluster, hosts, &opts).await,
                    (None, Some(allow_downgrade), _) => {
                        run::deploy::upgrade(&cluster, allow_downgrade, &opts).await
                    }
                    (None, None, Some(r)) => run::deploy::cert_rotate(&cluster, r, &opts).await,
                    (None, None, None) => run::deploy::deploy(&cluster, &opts).await,
                }
            } => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    bars.finish();
    match result {
        Some(Ok(mut r)) => {
            if !dry_run {
                r.admin_kubeconfig = Some(
                    run::state::admin_kubeconfig_path(&cluster)
                        .display()
                        .to_string(),
                );
            }
            print_report(&r, a.output);
            exit::OK
        }
        Some(Err(r)) => {
            print_report(&r, a.output);
            if rotating && !dry_run && r.failed_phase.as_deref() != Some("reissue") {
                err(
                    "the new certificates are in place on the control host: fix the cause and run `k8s-manage deploy -p DIR` to finish (rotating again would reissue them once more)\n",
                );
            }
            exit::FAILED
        }
        None => {
            err(
                "interrupted: containers are replaced atomically (rename, create, start, remove), so nothing is half-made; run deploy again to resume\n",
            );
            130
        }
    }
}
