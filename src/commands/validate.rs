//! `validate`: exit 0 when the config dir (and node list) are valid, 2 with every problem.

use super::exit;
use super::output::{err, json, out};
use crate::cli::OutputFormat;
use crate::diag::Diagnostics;
use crate::model::build::{self, NodeListUse};
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<&'a crate::diag::Diagnostic>,
}

pub fn run(dir: &Path, nodes: Option<&Path>, format: OutputFormat, color: bool) -> i32 {
    let mut all = Diagnostics::default();
    match build::load(dir) {
        Ok(loaded) => {
            all.extend(loaded.warnings);
            if let Some(f) = nodes {
                // A node list may name new machines (add) or existing ones (remove, repair,
                // etcdfix): validate it as new machines when none of them is in the cluster.
                let usage = guess_usage(f, &loaded.cluster);
                match build::load_node_list(f, dir, usage, &loaded.cluster) {
                    Ok((_, d)) => all.extend(d),
                    Err(d) => all.extend(d),
                }
            }
        }
        Err(d) => all.extend(d),
    }
    let valid = !all.has_errors();
    match format {
        OutputFormat::Json => json(&Report {
            valid,
            errors: all.errors().count(),
            warnings: all.warnings().count(),
            diagnostics: all.sorted(),
        }),
        OutputFormat::Text => {
            if all.list.is_empty() {
                out(&format!("{}: valid\n", dir.display()));
            } else {
                err(&all.render_text(color));
                if valid {
                    out(&format!("{}: valid (with warnings)\n", dir.display()));
                }
            }
        }
    }
    if valid { exit::OK } else { exit::INVALID }
}

fn guess_usage(f: &Path, cluster: &crate::model::Cluster) -> NodeListUse {
    // Existing machines (remove, repair, etcdfix) when any entry names one of the cluster
    // by hostname, nodename or hostip; else new machines (add).
    let mut d = Diagnostics::default();
    let Some(list) = crate::config::node_list::read(f, &mut d) else {
        return NodeListUse::Add;
    };
    let names_one = |m: &crate::config::raw::RawMachine| {
        cluster.machines.iter().any(|c| {
            m.hostname
                .as_ref()
                .is_some_and(|h| h.value.eq_ignore_ascii_case(&c.hostname))
                || m.nodename.as_ref().is_some_and(|n| n.value == c.nodename)
                || m.hostip
                    .as_ref()
                    .is_some_and(|ip| ip.value.parse() == Ok(c.hostip))
        })
    };
    if list.machines.iter().any(names_one) {
        NodeListUse::Existing
    } else {
        NodeListUse::Add
    }
}
