//! `etcdfix -f NODE`, `etcd snapshot save` and `etcd snapshot restore --name NAME`: read and check the input
//! (exactly one master; an existing snapshot; confirmation for a restore), run, print the
//! report (text or JSON) and return the exit status.

use super::exit;
use super::output::{err, json, out};
use super::run_setup::{load, phase_lines, reach, runtime};
use crate::cli::{OutputFormat, RunArgs};
use crate::model::build;
use crate::run::fleet::StepError;
use crate::run::options::Progress;
use crate::run::{self, etcd_nodes, etcdfix, restore};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

/// Print the errors (stderr always; a JSON object on stdout with `--output json`).
fn failed(action: &str, errors: &[StepError], a: &RunArgs) -> i32 {
    for e in errors {
        err(&format!("error: {e}\n"));
    }
    if a.output == OutputFormat::Json {
        json(&serde_json::json!({ "action": action, "ok": false, "errors": errors }));
    }
    exit::FAILED
}

fn interrupted(action: &str) -> i32 {
    err(&format!(
        "interrupted: {action} stopped part-way; run it again (every step checks before it changes)\n"
    ));
    130
}

/// `etcdfix -p DIR -f NODES.yaml`.
pub fn etcdfix(dir: &Path, file: &Path, a: &RunArgs, dry_run: bool, color: bool) -> i32 {
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let listed = match build::load_node_list(file, dir, build::NodeListUse::EtcdMember, &cluster) {
        Ok((m, _)) => m,
        Err(d) => {
            err(&d.render_text(color));
            return exit::INVALID;
        }
    };
    // the same rules `plan etcdfix` applies: exactly one machine, a master
    if let Err(e) = crate::plan::build("etcdfix", &cluster, Some(&listed)) {
        err(&format!("error: {}: {e}\n", file.display()));
        return exit::INVALID;
    }
    let Some(target) = listed
        .first()
        .and_then(|m| cluster.machine(&m.hostname))
        .cloned()
    else {
        err(&format!(
            "error: {}: the machine is not in the cluster\n",
            file.display()
        ));
        return exit::INVALID;
    };
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let opts = etcdfix::EtcdfixOptions {
        dry_run,
        reach: reach(a),
        wait: Duration::from_secs(a.wait_seconds),
        progress: phase_lines(a),
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = etcdfix::etcdfix(&cluster, &target, &opts) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match result {
        Some(Ok(r)) => {
            match a.output {
                OutputFormat::Json => json(&r),
                OutputFormat::Text => {
                    let mut s = format!(
                        "etcdfix {} (member {}, {}){}\n",
                        r.node,
                        r.member,
                        r.peer_url,
                        if r.dry_run { ": dry run" } else { "" }
                    );
                    for step in &r.steps {
                        s.push_str(&format!("  {step}\n"));
                    }
                    if let Some(m) = &r.moved_aside {
                        s.push_str(&format!(
                            "the old data is kept in {m} on {}; remove it once you are satisfied\n",
                            r.node
                        ));
                    }
                    if !r.dry_run {
                        s.push_str(&format!(
                            "{} members healthy; done in {:.1} s\n",
                            r.health.as_ref().map(|h| h.healthy_count()).unwrap_or(0),
                            r.seconds
                        ));
                    }
                    out(&s);
                }
            }
            exit::OK
        }
        Some(Err(errors)) => failed("etcdfix", &errors, a),
        None => interrupted("etcdfix"),
    }
}

fn confirm(warning: &str, cluster_name: &str) -> bool {
    err(&format!("{warning}\n"));
    if !std::io::stdin().is_terminal() {
        err("pass --yes to confirm (stdin is not a terminal)\n");
        return false;
    }
    err(&format!(
        "Type the cluster name ({cluster_name}) to confirm: "
    ));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim() == cluster_name
}

/// `etcd snapshot restore -p DIR --name NAME`.
pub fn restore(dir: &Path, name: &str, a: &RunArgs, yes: bool, dry_run: bool, color: bool) -> i32 {
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !crate::etcd::snapshot::valid_name(name) {
        err(&format!(
            "error: snapshot name {name:?} may hold only letters, digits, -, _ and .\n"
        ));
        return exit::INVALID;
    }
    let path = restore::snapshot_path(&cluster, name);
    if !path.is_file() {
        let names = etcd_nodes::snapshot_names(&cluster);
        err(&format!(
            "error: no snapshot {name}: {} does not exist\n  fix: {}\n",
            path.display(),
            if names.is_empty() {
                "take one with `k8s-manage etcd snapshot save` while the cluster has quorum"
                    .to_string()
            } else {
                format!("pick one of: {}", names.join(", "))
            }
        ));
        return exit::INVALID;
    }
    // a damaged snapshot is refused before anyone is asked anything
    if let Err(e) = restore::verify_local(&cluster, name) {
        return failed("etcd snapshot restore", &[e], a);
    }
    let warning = crate::etcd::restore::loss_warning(
        &cluster.kubernetes.cluster_name,
        restore::taken_at(&cluster, name),
        cluster.masters().count(),
    );
    if !yes && !dry_run && !confirm(&warning, &cluster.kubernetes.cluster_name) {
        err("not confirmed; nothing was changed\n");
        return exit::FAILED;
    }
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let opts = restore::RestoreOptions {
        dry_run,
        reach: reach(a),
        wait: Duration::from_secs(a.wait_seconds),
        progress: Progress::phases_only(phase_lines(a)),
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = restore::restore(&cluster, name, &opts) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match result {
        Some(Ok(r)) => {
            match a.output {
                OutputFormat::Json => json(&r),
                OutputFormat::Text => {
                    let mut s = format!(
                        "etcd snapshot restore {}{}\n",
                        r.snapshot,
                        if r.dry_run { ": dry run" } else { "" }
                    );
                    for step in &r.steps {
                        s.push_str(&format!("  {step}\n"));
                    }
                    for w in &r.warnings {
                        s.push_str(&format!("  warning: {w}\n"));
                    }
                    for n in &r.nodes {
                        s.push_str(&format!(
                            "  {:<16} copy {}{}\n",
                            n.host,
                            n.copy,
                            n.moved_aside
                                .as_deref()
                                .map(|m| format!(", old data kept in {m}"))
                                .unwrap_or_default()
                        ));
                    }
                    if !r.dry_run {
                        s.push_str(&format!("done in {:.1} s\n", r.seconds));
                    }
                    out(&s);
                }
            }
            exit::OK
        }
        Some(Err(errors)) => failed("etcd snapshot restore", &errors, a),
        None => interrupted("the restore"),
    }
}

/// `etcd snapshot save`.
pub fn snapshot_save(dir: &Path, name: Option<String>, a: &RunArgs, color: bool) -> i32 {
    let cluster = match load(dir, color, a.output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let name = name.unwrap_or_else(crate::etcd::snapshot::default_name);
    if !crate::etcd::snapshot::valid_name(&name) {
        err(&format!(
            "error: snapshot name {name:?} may hold only letters, digits, -, _ and .\n"
        ));
        return exit::INVALID;
    }
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    match rt.block_on(run::snapshot::save(&cluster, &name, &reach(a))) {
        Ok(r) => {
            match a.output {
                OutputFormat::Json => json(&r),
                OutputFormat::Text => out(&format!(
                    "snapshot {} ({} bytes, sha256 {}) from {}\n  control host: {}\n  copied and checked on: {}\n",
                    r.snapshot.name,
                    r.snapshot.bytes,
                    r.snapshot.sha256,
                    r.snapshot.from_endpoint,
                    r.snapshot.path.display(),
                    r.copied_to.join(", ")
                )),
            }
            exit::OK
        }
        Err(errs) => {
            for e in errs {
                err(&format!("error: {e}\n"));
            }
            exit::FAILED
        }
    }
}
