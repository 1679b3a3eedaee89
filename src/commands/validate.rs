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
                let usage = guess_usage(f, dir, &loaded.cluster);
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

fn guess_usage(f: &Path, dir: &Path, cluster: &crate::model::Cluster) -> NodeListUse {
    match build::load_node_list(f, dir, NodeListUse::Existing, cluster) {
        Ok(_) => NodeListUse::Existing,
        Err(_) => NodeListUse::Add,
    }
}
