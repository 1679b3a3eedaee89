//! `clean`: confirm (the cluster's name typed on a terminal, or --yes), take a snapshot
//! unless told not to, remove the cluster from every node and print what went.

use super::exit;
use super::output::{err, json, out};
use super::run_setup::{connect_options, load, policy, runtime};
use crate::cli::{OutputFormat, RunArgs};
use crate::model::Cluster;
use crate::run::{self, fleet};
use crate::ssh::KnownHosts;
use std::io::IsTerminal;
use std::path::Path;

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
    let run_dir = run::logs::run_dir(&cluster.state_dir(), "clean");
    let machines: Vec<_> = cluster
        .machines
        .iter()
        .map(|m| {
            (
                m.clone(),
                crate::render::node::NodeArtifacts {
                    hostname: m.hostname.clone(),
                    role: m.role,
                    files: vec![],
                    containers: vec![],
                },
            )
        })
        .collect();
    let known = KnownHosts::in_config_dir(&cluster.config_dir);
    let nodes = match fleet::connect(
        &machines,
        &known,
        policy(a),
        &connect_options(),
        a.parallel,
        &run_dir,
    ) {
        Ok(n) => n,
        Err(errs) => {
            for e in errs {
                err(&format!("error: {e}\n"));
            }
            err("nothing was changed: every node must be reachable for clean\n");
            return exit::FAILED;
        }
    };
    if !dry_run {
        match rt.block_on(clean_snapshot(&cluster, no_snapshot)) {
            Ok(Some(s)) => err(&format!(
                "etcd snapshot {} ({} bytes) kept in {}\n",
                s.name,
                s.bytes,
                s.path.display()
            )),
            Ok(None) => {}
            Err(e) => {
                err(&format!("error: {e}\n"));
                err("nothing was changed\n");
                return exit::FAILED;
            }
        }
    }
    let results = rt.block_on(run::clean::clean(&cluster, &nodes, a.parallel, dry_run));
    let mut failed = false;
    let mut rows = Vec::new();
    for r in results {
        match r {
            Ok(c) => {
                if a.output == OutputFormat::Text {
                    out(&format!(
                        "{:<16} removed {} containers and {} directories\n",
                        c.host,
                        c.containers.len(),
                        c.dirs.len()
                    ));
                }
                rows.push(serde_json::to_value(&c).unwrap_or_default());
            }
            Err(e) => {
                failed = true;
                err(&format!("error: {e}\n"));
            }
        }
    }
    if !dry_run && !failed {
        let _ = std::fs::remove_file(cluster.state_dir().join("state.json"));
        let _ = std::fs::remove_file(run::state::admin_kubeconfig_path(&cluster));
    }
    if a.output == OutputFormat::Json {
        json(&rows);
    }
    if failed { exit::FAILED } else { exit::OK }
}

/// `clean` deletes every etcd data dir: first a snapshot `auto-clean-<UTC>` on the control
/// host. None when there is no PKI (never deployed: no etcd to save) or with `--no-snapshot`
/// (said so); an error when etcd does not answer.
async fn clean_snapshot(
    cluster: &Cluster,
    no_snapshot: bool,
) -> Result<Option<crate::etcd::snapshot::Snapshot>, run::fleet::StepError> {
    if no_snapshot {
        err("WARNING: --no-snapshot: no etcd snapshot is taken; the cluster's state is lost\n");
        return Ok(None);
    }
    if !cluster.state_dir().join("pki").join("ca.crt").is_file() {
        err("no PKI in DIR/.k8s-manage: never deployed, so there is no etcd data to snapshot\n");
        return Ok(None);
    }
    let name = crate::etcd::snapshot::auto_name("clean");
    run::snapshot::take(cluster, &name)
        .await
        .map(Some)
        .map_err(|e| {
            e.hint("clean deletes every etcd data dir, so it takes a snapshot first; bring etcd back (`k8s-manage status`, `etcdfix`), or pass --no-snapshot to clean without one")
        })
}
