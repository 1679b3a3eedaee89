//! `status`: connect to every node and report the cluster's health; changes nothing.

use super::exit;
use super::output::{json, out};
use super::run_setup::{load, reach, runtime};
use crate::cli::{OutputFormat, RunArgs};
use crate::run::status::{StatusOptions, status};
use std::path::Path;
use std::time::Duration;

pub fn run(dir: &Path, a: &RunArgs, color: bool) -> i32 {
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let opts = StatusOptions {
        reach: reach(a),
        timeout: Duration::from_secs(a.wait_seconds.clamp(1, 10)),
    };
    let report = rt.block_on(status(&cluster, &opts));
    match a.output {
        OutputFormat::Json => json(&report),
        OutputFormat::Text => out(&report.render_text()),
    }
    if report.ok { exit::OK } else { exit::FAILED }
}
