//! `add` and `remove`: read and check the input (config dir, node list, the config as it
//! will be written), run the membership change, print its report.

use super::exit;
use super::output::{err, json, out};
use super::run_setup::{load, phase_lines, reach, runtime};
use crate::cli::{OutputFormat, RunArgs};
use crate::config::write_back;
use crate::model::checked_edit;
use crate::model::{Role, build};
use crate::run::options::{DeployOptions, Progress};
use crate::run::{self, membership::MembershipReport};
use std::path::Path;
use std::time::Duration;

fn options(a: &RunArgs, dry_run: bool) -> DeployOptions {
    // the deploy that follows a membership change rolls replacements (one master at a
    // time, workers drained first) as `deploy` does
    DeployOptions {
        dry_run,
        reach: reach(a),
        wait: Duration::from_secs(a.wait_seconds),
        ..DeployOptions::new(Progress::phases_only(phase_lines(a)))
    }
}

fn print(r: &MembershipReport, format: OutputFormat) {
    match format {
        OutputFormat::Json => json(r),
        OutputFormat::Text => out(&r.render_text()),
    }
}

fn finish(result: Option<Result<MembershipReport, MembershipReport>>, format: OutputFormat) -> i32 {
    match result {
        Some(Ok(r)) => {
            print(&r, format);
            exit::OK
        }
        Some(Err(r)) => {
            print(&r, format);
            exit::FAILED
        }
        None => {
            err(
                "interrupted: each step is safe to repeat; cluster-configuration.yaml matches every etcd membership change made so far. Run the same command again (or `deploy` for machines already in the config)\n",
            );
            130
        }
    }
}

/// `add -p DIR -f NODES`.
pub fn add(dir: &Path, list: &Path, a: &RunArgs, dry_run: bool, color: bool) -> i32 {
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let new = match build::load_node_list(list, dir, build::NodeListUse::Add, &cluster) {
        Ok((m, _)) => m,
        Err(d) => {
            err(&d.render_text(color));
            return exit::INVALID;
        }
    };
    let hosts: Vec<String> = new.iter().map(|m| m.hostname.clone()).collect();
    let entries = match write_back::entries_from_node_list(list, &hosts) {
        Ok(e) => e,
        Err(e) => {
            err(&format!("error: {e}\n"));
            return exit::INVALID;
        }
    };
    let merged = match checked_edit::preview(dir, &entries, &[]) {
        Ok(c) => c,
        Err(e) => {
            err(&format!(
                "error: the config with the new machines does not validate; nothing was changed:\n{e}"
            ));
            return exit::INVALID;
        }
    };
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let opts = options(a, dry_run);
    let result = rt.block_on(async {
        tokio::select! {
            r = run::add::add(&cluster, &merged, &entries, &opts) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    finish(result, a.output)
}

/// `remove -p DIR -f NODES [--force]`.
pub fn remove(
    dir: &Path,
    list: &Path,
    a: &RunArgs,
    dry_run: bool,
    force: bool,
    color: bool,
) -> i32 {
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let removed = match build::load_node_list(list, dir, build::NodeListUse::Existing, &cluster) {
        Ok((m, _)) => m,
        Err(d) => {
            err(&d.render_text(color));
            return exit::INVALID;
        }
    };
    let hosts: Vec<String> = removed.iter().map(|m| m.hostname.clone()).collect();
    if cluster.masters().all(|m| hosts.contains(&m.hostname)) {
        err(&format!(
            "error: {}: this would remove every master ({}); the cluster needs at least one\n  fix: keep at least one master in the cluster (use `clean` to take the whole cluster down); nothing was changed\n",
            list.display(),
            cluster
                .masters()
                .map(|m| m.hostname.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return exit::INVALID;
    }
    let reduced = match checked_edit::preview(dir, &[], &hosts) {
        Ok(c) => c,
        Err(e) => {
            err(&format!(
                "error: the config without these machines does not validate; nothing was changed:\n{e}"
            ));
            return exit::INVALID;
        }
    };
    debug_assert!(reduced.machines.iter().any(|m| m.role == Role::Master));
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let opts = options(a, dry_run);
    let result = rt.block_on(async {
        tokio::select! {
            r = run::remove::remove(&cluster, &reduced, &removed, force, &opts) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    finish(result, a.output)
}
