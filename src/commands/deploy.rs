//! `deploy`, `clean` and `install-kubectl`: the commands that reach nodes.

use super::exit;
use super::output::{err, json, out};
use crate::cli::{OutputFormat, RollArgs, RunArgs};
use crate::model::{Cluster, build};
use crate::run::{self, deploy::DeployOptions, fleet, rolling::RollMode};
use crate::ssh::{ConnectOptions, HostKeyPolicy, KnownHosts};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

pub(crate) fn policy(a: &RunArgs) -> HostKeyPolicy {
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

pub(crate) fn connect_options() -> ConnectOptions {
    let notify: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|s: &str| err(&format!("{s}\n")));
    ConnectOptions {
        notify: Some(notify),
        // asked only under trust on first use (not with --accept-new-host-keys)
        confirm_new_host: Some(super::host_trust::confirm_on_terminal()),
        ..ConnectOptions::default()
    }
}

pub(crate) fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ok()
}

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
    pub pki: Option<Arc<crate::pki::Pki>>,
    /// `deploy --relay`: pass an image bundle node to node.
    pub relay: bool,
}

impl Mode<'_> {
    fn plain(action: &'static str) -> Mode<'static> {
        Mode {
            action,
            repair_list: None,
            rolling: RollMode::Auto,
            roll: None,
            upgrade: None,
            pki: None,
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
        parallel: a.parallel,
        host_keys: policy(a),
        connect: connect_options(),
        images,
        relay: mode.relay,
        wait: Duration::from_secs(a.wait_seconds),
        rolling: mode.rolling,
        max_unavailable: mode.roll.map_or(1, |r| r.max_unavailable.max(1)),
        drain: mode.roll.is_none_or(|r| !r.no_drain),
        pki: mode.pki,
        action: mode.action,
        ..DeployOptions::new(progress, node_progress)
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = async {
                // each action runs its own phase list
                match (repair, mode.upgrade) {
                    (Some(hosts), _) => run::deploy::repair(&cluster, hosts, &opts).await,
                    (None, Some(allow_downgrade)) => {
                        run::deploy::upgrade(&cluster, allow_downgrade, &opts).await
                    }
                    (None, None) => run::deploy::deploy(&cluster, &opts).await,
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

/// Live progress: on a terminal one spinner per node with its current step; otherwise one
/// line per phase.
struct NodeBars {
    multi: Option<indicatif::MultiProgress>,
    bars: std::sync::Mutex<std::collections::BTreeMap<String, indicatif::ProgressBar>>,
}

impl NodeBars {
    fn new(live: bool) -> NodeBars {
        NodeBars {
            multi: live.then(indicatif::MultiProgress::new),
            bars: Default::default(),
        }
    }

    fn phase(&self, s: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(format!("==> {s}"));
            }
            None => err(&format!("==> {s}\n")),
        }
    }

    fn node(&self, host: &str, what: &str) {
        let Some(m) = &self.multi else { return };
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(host.to_string()).or_insert_with(|| {
            let b = m.add(indicatif::ProgressBar::new_spinner());
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix:<16} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b.set_prefix(host.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        if what == "done" {
            bar.finish_with_message("done");
        } else {
            bar.set_message(what.to_string());
        }
    }

    fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for b in bars.values() {
                if !b.is_finished() {
                    b.abandon();
                }
            }
        }
    }
}

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

pub fn install_kubectl(
    dir: &Path,
    from: Option<String>,
    sha256: Option<String>,
    dest: &Path,
    kubeconfig: Option<PathBuf>,
    force: bool,
    color: bool,
) -> i32 {
    let cluster = match load(dir, color, OutputFormat::Text) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let admin_path = run::state::admin_kubeconfig_path(&cluster);
    let admin = match std::fs::read_to_string(&admin_path) {
        Ok(a) => a,
        Err(_) => {
            err(&format!(
                "error: {} does not exist\n  fix: run `k8s-manage deploy -p {}` first\n",
                admin_path.display(),
                dir.display()
            ));
            return exit::FAILED;
        }
    };
    let source = match from {
        None => run::kubectl::Source::System,
        Some(s) if s.starts_with("https://") || s.starts_with("http://") => {
            run::kubectl::Source::Url { url: s, sha256 }
        }
        Some(p) => run::kubectl::Source::Path(PathBuf::from(p)),
    };
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let kubectl = match rt.block_on(run::kubectl::install(&source, dest)) {
        Ok(p) => p,
        Err(e) => {
            err(&format!("error: {e}\n"));
            return exit::FAILED;
        }
    };
    let target = kubeconfig.unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".kube").join("config")
    });
    // a file that exists but cannot be read is not an empty kubeconfig
    let existing = match std::fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            err(&format!(
                "error: cannot read {}: {e}\n  fix: make it a readable kubeconfig, or pass --kubeconfig FILE; nothing was changed\n",
                target.display()
            ));
            return exit::FAILED;
        }
    };
    let names = run::kubectl::EntryNames::for_cluster(&cluster.kubernetes.cluster_name);
    let merged = match run::kubectl::merge(&existing, &admin, &names, force) {
        Ok(m) => m,
        Err(e) => {
            err(&format!(
                "error: {}: {e}\n  nothing was changed\n",
                target.display()
            ));
            return exit::FAILED;
        }
    };
    if !existing.is_empty() {
        let backup = target.with_extension(format!(
            "bak-{}",
            time::OffsetDateTime::now_utc().unix_timestamp()
        ));
        if let Err(e) = crate::render::write::write_file(&backup, existing.as_bytes(), 0o600) {
            err(&format!(
                "error: cannot keep a backup {}: {e}; nothing was changed\n",
                backup.display()
            ));
            return exit::FAILED;
        }
    }
    if let Err(e) = crate::render::write::write_file(&target, merged.as_bytes(), 0o600) {
        err(&format!("error: cannot write {}: {e}\n", target.display()));
        return exit::FAILED;
    }
    let context = names.context.clone();
    match run::kubectl::check_readyz(&kubectl, &target, &context) {
        Ok(answer) => {
            out(&format!(
                "kubectl {} with context {context} in {}: /readyz says {answer}\n",
                kubectl.display(),
                target.display()
            ));
            exit::OK
        }
        Err(e) => {
            err(&format!(
                "error: {e}\n  the context was merged into {}; check that the API endpoint {} is reachable from here\n",
                target.display(),
                cluster.api_url()
            ));
            exit::FAILED
        }
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
    match rt.block_on(run::snapshot::save(
        &cluster,
        &name,
        policy(a),
        &connect_options(),
        a.parallel,
    )) {
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
