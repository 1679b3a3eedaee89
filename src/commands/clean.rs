//! `clean`: confirm (the cluster's name typed on a terminal, or --yes), run the clean
//! phases (`run::clean`) with their lines on stderr, and print what went from each node.

use super::exit;
use super::output::{err, json, out};
use super::run_setup::{load, reach, runtime};
use crate::cli::{OutputFormat, RunArgs};
use crate::model::Cluster;
use crate::run::{self, clean::CleanOptions};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

fn confirm(cluster: &Cluster) -> bool {
    if !std::io::stdin().is_terminal() {
        err(
            "clean removes the cluster from every node; pass --yes to confirm (stdin is not a terminal)\n",
        );
        return false;
    }
    err(&format!(
        "This removes cluster {} from {} nodes: every container of ours, /etc/kubernetes, etcd data, kubelet and CNI state.\nType the cluster name to confirm: ",
        cluster.kubernetes.cluster_name,
        cluster.machines.len()
    ));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim() == cluster.kubernetes.cluster_name
}

pub fn clean(
    dir: &Path,
    a: &RunArgs,
    yes: bool,
    no_snapshot: bool,
    dry_run: bool,
    color: bool,
) -> i32 {
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !yes && !dry_run && !confirm(&cluster) {
        err("not confirmed; nothing was changed\n");
        return exit::FAILED;
    }
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let opts = CleanOptions {
        dry_run,
        no_snapshot,
        reach: reach(a),
        progress: Arc::new(|line: &str| err(&format!("==> {line}\n"))),
        note: Arc::new(|line: &str| err(&format!("{line}\n"))),
    };
    let outcome = rt.block_on(run::clean::clean(&cluster, &opts));
    let failed_hosts: Vec<&str> = outcome
        .failure
        .iter()
        .flat_map(|f| f.errors.iter().map(|e| e.host.as_str()))
        .collect();
    let mut rows = Vec::new();
    for c in outcome
        .cleaned
        .iter()
        .filter(|c| !failed_hosts.contains(&c.host.as_str()))
    {
        if a.output == OutputFormat::Text {
            out(&format!(
                "{:<16} removed {} containers and {} directories\n",
                c.host,
                c.containers.len(),
                c.dirs.len()
            ));
        }
        rows.push(serde_json::to_value(c).unwrap_or_default());
    }
    if let Some(f) = &outcome.failure {
        for e in &f.errors {
            err(&format!("error: {e}\n"));
        }
        err(&match f.phase.as_str() {
            "connect" => {
                "nothing was changed: every node must be reachable for clean\n".to_string()
            }
            "snapshot" => "nothing was changed\n".to_string(),
            phase => format!(
                "clean stopped in phase `{phase}`; fix the cause and run it again (it only removes what is still there)\n"
            ),
        });
    }
    if a.output == OutputFormat::Json {
        json(&rows);
    }
    if outcome.failure.is_some() {
        exit::FAILED
    } else {
        exit::OK
    }
}
