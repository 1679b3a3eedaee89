//! `deploy`: drive the nodes to the rendered desired state, phase by phase (the order of
//! `maintainconf/deploy.yaml`), stopping at the first phase that fails on any node. Every
//! step compares before it changes, so a second run changes nothing and a re-run after a
//! failure or Ctrl-C converges.
//!
//! A first deploy runs each phase on all nodes at once. When containers of a running
//! cluster would be replaced, the container phases roll instead ([`super::rolling`]).

use super::fleet::{self, Node, StepError, blocking, fan_out};
use super::report::{NodeReport, Report};
use super::rolling::{self, RollMode};
use crate::components::{etcd, paths};
use crate::executor::docker_ops::{self, Action, EnsureOptions};
use crate::kubeapi::KubeClient;
use crate::model::{Cluster, Role};
use crate::pki::{KubeconfigUser, Pki};
use crate::render::addons::{self as render_addons, RenderedManifest};
use crate::render::{cluster as render_cluster, node as render_node};
use crate::ssh::{ConnectOptions, HostKeyPolicy, KnownHosts};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A per-node progress callback: (host, what it is doing now).
pub type NodeProgress = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How to run.
#[derive(Clone)]
pub struct DeployOptions {
    pub dry_run: bool,
    pub parallel: usize,
    pub host_keys: HostKeyPolicy,
    pub connect: ConnectOptions,
    /// An image bundle (`docker save` tar) to stream to nodes instead of pulling.
    pub images: Option<PathBuf>,
    /// Pass the image bundle node to node (`super::relay`) instead of pushing it from the
    /// control host to each node.
    pub relay: bool,
    pub wait: Duration,
    /// Called with one line per phase (progress).
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
    /// Called with (host, what it is doing now) for live per-node progress.
    pub node_progress: NodeProgress,
    /// `repair`: only these hosts are touched; missing, stopped, unhealthy or different
    /// containers are re-created, healthy ones are left running; no add-ons, no state.
    pub repair: Option<std::collections::BTreeSet<String>>,
    /// Roll replacements (default: when any existing container would be replaced).
    pub rolling: RollMode,
    /// Rolling: how many non-master nodes change at once (at least 1).
    pub max_unavailable: usize,
    /// Rolling: drain a node before its kubelet, kube-proxy or cri-dockerd is replaced.
    pub drain: bool,
    /// `upgrade`: check the version skew first (Some(allow_downgrade)).
    pub upgrade: Option<bool>,
    /// Use this PKI instead of loading `DIR/.k8s-manage/pki` (`cert rotate`).
    pub pki: Option<Arc<Pki>>,
    /// The name of the action in the report (`deploy` unless said otherwise).
    pub action: &'static str,
}

impl DeployOptions {
    /// Defaults for everything but the callbacks: no dry run, 50 at once, first use of
    /// host keys trusted, 180 s waits, automatic rolling with drain, one node at a time.
    pub fn new(
        progress: Arc<dyn Fn(&str) + Send + Sync>,
        node_progress: NodeProgress,
    ) -> DeployOptions {
        DeployOptions {
            dry_run: false,
            parallel: 50,
            host_keys: HostKeyPolicy::TrustOnFirstUse,
            connect: ConnectOptions::default(),
            images: None,
            relay: true,
            wait: Duration::from_secs(180),
            progress,
            node_progress,
            repair: None,
            rolling: RollMode::Auto,
            max_unavailable: 1,
            drain: true,
            upgrade: None,
            pki: None,
            action: "deploy",
        }
    }
}

/// Per-node tallies collected while running.
#[derive(Default)]
pub struct Tally {
    per_node: BTreeMap<String, NodeReport>,
}

fn record(t: &Mutex<Tally>, host: &str, f: impl FnOnce(&mut NodeReport)) {
    if let Ok(mut g) = t.lock() {
        f(g.per_node.entry(host.to_string()).or_default());
    }
}

/// Stop on the first phase that fails anywhere; say which nodes and why.
fn phase_result<T>(
    phase: &str,
    results: Vec<Result<T, StepError>>,
) -> Result<Vec<T>, (String, Vec<StepError>)> {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(ok)
    } else {
        Err((phase.to_string(), errs))
    }
}

/// Ensure the named containers of a node, in order; whether any changed. `pause` is the
/// wait between stopping an old container and starting its replacement.
pub(super) async fn ensure_named(
    node: &Node,
    names: &[&str],
    tally: &Mutex<Tally>,
    opts: &DeployOptions,
    pause: Duration,
) -> Result<bool, StepError> {
    let (dry_run, wait) = (opts.dry_run, opts.wait);
    let mut changed = false;
    let mut started: Vec<&str> = Vec::new();
    let step_error = |name: &str, e: docker_ops::DockerOpError| {
        StepError::new(node.host(), &format!("container {name}"), e.to_string())
    };
    for spec in node
        .artifacts
        .containers
        .iter()
        .filter(|c| names.contains(&c.name.as_str()))
    {
        (opts.node_progress)(node.host(), &format!("container {}", spec.name));
        let action = docker_ops::ensure_container(
            node.docker(),
            spec,
            &EnsureOptions {
                dry_run,
                // repair re-creates containers that are restarting or unhealthy
                recreate_unhealthy: opts.repair.is_some(),
                pause_after_stop: pause,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| step_error(&spec.name, e))?;
        node.log
            .line(&format!("container {}: {action:?}", spec.name));
        record(tally, node.host(), |r| r.count(&spec.name, &action));
        changed |= action.changes();
        if !dry_run && !matches!(action, Action::Unchanged) {
            // Running before the next one starts (they are in dependency order)...
            docker_ops::wait_running(node.docker(), &spec.name, Duration::ZERO, wait)
                .await
                .map_err(|e| step_error(&spec.name, e))?;
            started.push(spec.name.as_str());
        }
    }
    // ...and then all of them stable (not restarting) together, not one after another.
    let stable = started.iter().map(|name| async move {
        docker_ops::wait_running(node.docker(), name, Duration::from_secs(3), wait)
            .await
            .map_err(|e| step_error(name, e))
    });
    futures_util::future::try_join_all(stable).await?;
    Ok(changed)
}

async fn ensure_images(
    node: &Node,
    bundle: Option<&PathBuf>,
    dry_run: bool,
    tally: &Mutex<Tally>,
) -> Result<(), StepError> {
    let mut needed: Vec<String> = node
        .artifacts
        .containers
        .iter()
        .map(|c| c.image.clone())
        .collect();
    needed.sort();
    needed.dedup();
    // One list call; an image not seen there is checked on its own.
    let listed = docker_ops::listed_images(node.docker())
        .await
        .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
    let mut missing = Vec::new();
    for img in needed
        .iter()
        .filter(|i| !docker_ops::image_listed(&listed, i))
    {
        let present = docker_ops::image_present(node.docker(), img)
            .await
            .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
        if !present {
            missing.push(img.clone());
        }
    }
    record(tally, node.host(), |r| r.images_missing = missing.len());
    if missing.is_empty() || dry_run {
        return Ok(());
    }
    if let Some(path) = bundle {
        let file = tokio::fs::File::open(path).await.map_err(|e| {
            StepError::new(
                node.host(),
                "images",
                format!("cannot open the image bundle {}: {e}", path.display()),
            )
        })?;
        let stream = tokio_util_stream(file);
        // A bundle pushed to many nodes over one link can take longer than the client's
        // default request timeout (120 s).
        let client = node
            .docker()
            .clone()
            .with_timeout(Duration::from_secs(3600));
        let loaded = docker_ops::load_images(&client, stream)
            .await
            .map_err(|e| {
                let message = e.to_string();
                match super::relay::load_failure_hint(node.host(), &message) {
                    // the node's disk, not the bundle: leave out the hint about the bundle
                    Some(h) => {
                        let cause = message.split("\n  hint:").next().unwrap_or(&message);
                        StepError::new(node.host(), "images: load bundle", cause).hint(h)
                    }
                    None => StepError::new(node.host(), "images: load bundle", message),
                }
            })?;
        node.log
            .line(&format!("loaded from bundle: {}", loaded.join(", ")));
    }
    for img in &missing {
        if img.starts_with(&format!("{}/", crate::model::images::NODE_AGENT_HOST)) {
            // The default node-agent image has a name no registry serves: it comes from
            // the bundle, or deploy says how to make it rather than try a pull that
            // cannot work.
            let from_bundle = bundle.is_some()
                && docker_ops::image_present(node.docker(), img)
                    .await
                    .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
            if from_bundle {
                continue;
            }
            return Err(StepError::new(
                node.host(),
                "images",
                format!("the node-agent image {img} (kubelet and cri-dockerd) is not on the node, and no registry serves it"),
            )
            .hint("make it with `k8s-manage image node-agent -p DIR --out node-agent.tar` and deploy with `--images node-agent.tar`, or set `docker-registry:` to your registry and push it there with `k8s-manage image node-agent -p DIR --push`"));
        }
        docker_ops::ensure_image(node.docker(), img, Duration::from_secs(600))
            .await
            .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
    }
    Ok(())
}

/// A file as a stream of chunks (for streaming an image bundle into a node's engine).
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

pub(super) fn admin_client(
    cluster: &Cluster,
    pki: &Pki,
    server: &str,
) -> Result<KubeClient, StepError> {
    let (cert, key) = pki
        .client_credential(&KubeconfigUser::Admin)
        .map_err(|e| StepError::new("control host", "admin credential", e.to_string()))?;
    KubeClient::new(
        server,
        pki.ca_cert_pem(),
        &cert,
        &key,
        Duration::from_secs(10),
    )
    .map_err(|e| {
        StepError::new(
            "control host",
            &format!("API client for {}", cluster.api_url()),
            e.to_string(),
        )
    })
}

pub(super) async fn wait_ready(
    client: &KubeClient,
    host: &str,
    wait: Duration,
) -> Result<(), StepError> {
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < wait {
        match client.readyz().await {
            Ok(true) => return Ok(()),
            Ok(false) => last = "/readyz answered not ready".into(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(StepError::new(host, "kube-apiserver /readyz", format!("not ready after {wait:?}: {last}"))
        .hint("read the container log: `docker logs kube-apiserver` on that node (also in DIR/.k8s-manage/logs)"))
}

/// Run `deploy`. The returned report says per node what changed; an error names the phase,
/// the nodes and the reasons (everything before that phase is in place; re-run to resume).
pub async fn deploy(cluster: &Cluster, opts: &DeployOptions) -> Result<Report, Report> {
    let clock = super::phase_clock::PhaseClock::start();
    let mut timed = opts.clone();
    timed.progress = clock.wrap(opts.progress.clone());
    let result = deploy_phases(cluster, &timed).await;
    let with_times = |mut r: Report| {
        r.phases = clock.times();
        r
    };
    result.map(with_times).map_err(with_times)
}

async fn deploy_phases(cluster: &Cluster, opts: &DeployOptions) -> Result<Report, Report> {
    let started = Instant::now();
    let progress = opts.progress.clone();
    let mut report = Report::new(opts.action, cluster, opts.dry_run);
    let state_dir = cluster.state_dir();
    let run_dir = super::logs::run_dir(&state_dir, opts.action);
    report.log_dir = Some(run_dir.display().to_string());

    // Work that does not depend on a node is done once: PKI, rendering, manifests.
    progress("rendering certificates, files and container specs");
    // A dry run changes nothing, on the control host either: with no PKI yet it plans
    // with a throw-away one held in memory.
    let pki_req = render_node::pki_request(cluster, time::OffsetDateTime::now_utc());
    let pki_dir = state_dir.join("pki");
    let pki_result = if let Some(given) = &opts.pki {
        Ok(given.clone())
    } else if opts.dry_run && !pki_dir.join("ca.crt").exists() {
        Pki::generate_in_memory(&pki_req).map(Arc::new)
    } else {
        Pki::load_or_create(&pki_dir, &pki_req).map(Arc::new)
    };
    let pki = match pki_result {
        Ok(p) => p,
        Err(e) => {
            return Err(report.fail(
                "pki",
                vec![StepError::new("control host", "pki", e.to_string())],
            ));
        }
    };
    let expired = expiry_warnings(&pki, &mut report);
    let mut rendered = Vec::new();
    for m in &cluster.machines {
        match render_node::render_node(cluster, &pki, m) {
            Ok(a) => rendered.push((m.clone(), a)),
            Err(e) => {
                return Err(report.fail(
                    "render",
                    vec![StepError::new(&m.hostname, "render", e.to_string())],
                ));
            }
        }
    }
    let manifests = match render_cluster::manifests(cluster) {
        Ok(m) => m,
        Err(e) => {
            return Err(report.fail(
                "render",
                vec![StepError::new(
                    "control host",
                    "add-on manifests",
                    e.to_string(),
                )],
            ));
        }
    };

    if let Some(only) = &opts.repair {
        rendered.retain(|(m, _)| only.contains(&m.hostname));
        report.action = "repair".into();
    }
    progress(&format!("connecting to {} nodes", rendered.len()));
    let known = KnownHosts::in_config_dir(&cluster.config_dir);
    let (policy, copts, parallel) = (opts.host_keys, opts.connect.clone(), opts.parallel);
    let rd = run_dir.clone();
    let connected =
        blocking(move || fleet::connect(&rendered, &known, policy, &copts, parallel, &rd)).await;
    let nodes = match connected {
        Ok(n) => n,
        Err(errs) => return Err(report.fail("connect", errs)),
    };
    let all: Vec<&Node> = nodes.iter().collect();
    let tally = Mutex::new(Tally::default());

    if let Some(allow_downgrade) = opts.upgrade {
        progress("checking the version skew");
        match super::upgrade::precheck(cluster, &nodes, allow_downgrade).await {
            Ok(what) => progress(&format!("upgrade: {what}")),
            Err(e) => return Err(report.fail("version skew", vec![e])),
        }
    }

    progress("preflight checks");
    let pre = fan_out(&all, parallel, |n| async move {
        super::preflight::check(cluster, n)
            .await
            .map_err(|mut e| e.remove(0))
    })
    .await;
    match phase_result("preflight", pre) {
        Ok(warns) => report.warnings.extend(warns.into_iter().flatten()),
        Err((p, e)) => return Err(report.fail(&p, e)),
    }

    progress("certificates and configuration files");
    let files = fan_out(&all, parallel, |n| async move {
        super::sync_files::sync(n, opts.dry_run)
            .await
            .map(|c| (n.host().to_string(), c))
    })
    .await;
    match phase_result("files", files) {
        Ok(v) => {
            for (h, changed) in v {
                record(&tally, &h, |r| r.files_changed = changed.len());
            }
        }
        Err((p, e)) => return Err(report.fail(&p, e)),
    }

    progress("container images");
    let mut bundle = opts.images.as_ref();
    // Image relay (issue 7): the nodes missing images get the bundle node to node; the
    // per-node step below then finds them present.
    if let (Some(path), true, false) = (bundle, opts.relay, opts.dry_run) {
        let relay = super::relay::RelayOptions::default();
        if let Err(e) = super::relay::deliver_bundle(&all, path, parallel, &relay).await {
            return Err(report.fail("images", e));
        }
        bundle = None;
    }
    let imgs = fan_out(&all, parallel, |n| {
        ensure_images(n, bundle, opts.dry_run, &tally)
    })
    .await;
    if let Err((p, e)) = phase_result("images", imgs) {
        return Err(report.fail(&p, e));
    }

    let wait = opts.wait;
    let rolled = if opts.rolling == RollMode::Never || opts.repair.is_some() {
        None
    } else {
        match rolling::observe_replacements(&all, parallel).await {
            Ok(r) => rolling::rolls(opts.rolling, &r).then_some(r),
            Err(e) => return Err(report.fail("observe", e)),
        }
    };
    report.update = Some(
        if rolled.is_some() {
            "rolling"
        } else {
            "all at once"
        }
        .into(),
    );
    let result = match &rolled {
        Some(replacing) => {
            progress(&format!(
                "rolling update: masters one at a time, then at most {} other node(s) at a time{}",
                opts.max_unavailable.max(1),
                if opts.drain {
                    ", each drained first"
                } else {
                    ", without drain (--no-drain)"
                }
            ));
            rolling::Roll {
                cluster,
                pki: &pki,
                nodes: &nodes,
                replacing,
                tally: &tally,
                opts,
            }
            .run()
            .await
            .map(|()| None)
        }
        None => all_at_once(cluster, &pki, &nodes, &tally, opts).await,
    };
    match result {
        Ok(Some(h)) => report.etcd = Some(h),
        Ok(None) => {}
        Err((p, mut e)) => {
            if !expired.is_empty() {
                let rotate = format!(
                    "{} certificate(s) have expired (first: {}): run `k8s-manage cert rotate -p DIR`",
                    expired.len(),
                    expired[0]
                );
                for err in &mut e {
                    err.hint = Some(match err.hint.take() {
                        Some(h) => format!("{rotate}; else {h}"),
                        None => rotate.clone(),
                    });
                }
            }
            return Err(report.fail(&p, e));
        }
    }

    if !opts.dry_run {
        let api = match admin_client(cluster, &pki, &cluster.api_url()) {
            Ok(c) => c,
            Err(e) => return Err(report.fail("addons", vec![e])),
        };
        if let Err(e) = wait_ready(&api, &cluster.api_url(), wait).await {
            return Err(report.fail(
                "addons",
                vec![
                    e.hint("check the load balancer or the proxy node in front of the apiservers"),
                ],
            ));
        }
        let manifests: &[_] = if opts.repair.is_some() {
            &[]
        } else {
            &manifests
        };
        // CoreDNS comes once every node is Ready (`applied_after_nodes_ready`).
        let (early, late): (Vec<RenderedManifest>, Vec<RenderedManifest>) = manifests
            .iter()
            .cloned()
            .partition(|m| !render_addons::applied_after_nodes_ready(&m.file_name));
        if !early.is_empty() {
            progress("cluster add-ons");
        }
        if let Err(e) = apply_addons(&api, &early, &mut report.applied).await {
            return Err(report.fail("addons", vec![e]));
        }

        progress("verifying node registration and health endpoints");
        // repair checks the repaired nodes only (another node may be down for good reason)
        let mut scope = cluster.clone();
        if let Some(only) = &opts.repair {
            scope.machines.retain(|m| only.contains(&m.hostname));
        }
        let registered = match super::verify::nodes_registered(&scope, &api, wait).await {
            Ok(r) => r,
            Err(e) => return Err(report.fail("verify", vec![e])),
        };
        if let Err(e) = super::verify::label_nodes(&scope, &api, &registered).await {
            return Err(report.fail("verify", vec![e]));
        }
        progress("waiting for every node to be Ready and the add-ons to roll out");
        if !late.is_empty() {
            if let Err(e) = super::addons_ready::wait_ready(&scope, &api, &early, wait).await {
                return Err(report.fail("verify", vec![e]));
            }
            progress("cluster DNS, now that every node is Ready");
            if let Err(e) = apply_addons(&api, &late, &mut report.applied).await {
                return Err(report.fail("addons", vec![e]));
            }
        }
        if let Err(e) = super::addons_ready::wait_ready(&scope, &api, manifests, wait).await {
            return Err(report.fail("verify", vec![e]));
        }
        if super::gpu_ready::applies(&scope) {
            progress("waiting for every GPU node to offer its SKU's nvidia.com/gpu");
        }
        if let Err(e) = super::gpu_ready::wait_allocatable(&scope, &api, wait).await {
            return Err(report.fail("verify", e));
        }
        let kubelet_client = match kubelet_client_credential(master_files(cluster, &pki).as_ref()) {
            Some(c) => c,
            None => {
                return Err(report.fail(
                    "verify",
                    vec![StepError::new(
                        "control host",
                        "kubelet client credential",
                        "no master files rendered",
                    )],
                ));
            }
        };
        let (ca, kc) = (pki.ca_cert_pem().to_string(), &kubelet_client);
        let ca = &ca;
        let r = fan_out(&all, parallel, |n| super::verify::node_endpoints(ca, kc, n)).await;
        if let Err((p, e)) = phase_result("verify", r) {
            return Err(report.fail(&p, e));
        }
        let r = fan_out(&all, parallel, |n| {
            super::verify::node_loopback_endpoints(cluster, n)
        })
        .await;
        match phase_result("verify", r) {
            Ok(w) => report.warnings.extend(w.into_iter().flatten()),
            Err((p, e)) => return Err(report.fail(&p, e)),
        }

        progress("writing state and the admin kubeconfig");
        if opts.repair.is_none()
            && let Err(e) = super::state::write(cluster, &pki, &nodes)
        {
            return Err(report.fail("state", vec![StepError::new("control host", "state", e)]));
        }
    }

    for n in &nodes {
        (opts.node_progress)(n.host(), "done");
    }
    if let Ok(t) = tally.into_inner() {
        for n in &nodes {
            let mut r = t.per_node.get(n.host()).cloned().unwrap_or_default();
            r.host = n.host().to_string();
            r.role = n.machine.role.to_string();
            r.result = "ok".into();
            report.nodes.push(r);
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Every phase on all nodes at once (a first deploy, or when rolling is off): etcd → quorum,
/// apiservers → `/readyz`, load balancers, controller-manager and scheduler, node agents.
/// The etcd health seen, or (phase, errors).
async fn all_at_once(
    cluster: &Cluster,
    pki: &Pki,
    nodes: &[Node],
    tally: &Mutex<Tally>,
    opts: &DeployOptions,
) -> Result<Option<crate::etcd::EtcdHealth>, (String, Vec<StepError>)> {
    let (parallel, wait, progress) = (opts.parallel, opts.wait, opts.progress.clone());
    let all: Vec<&Node> = nodes.iter().collect();
    let masters: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.machine.role == Role::Master)
        .collect();
    let mut health = None;
    progress("etcd");
    let r = fan_out(&masters, parallel, |n| {
        ensure_named(n, &["etcd"], tally, opts, Duration::ZERO)
    })
    .await;
    if let Err((p, e)) = phase_result("etcd", r) {
        return Err((p, e));
    }
    if !opts.dry_run {
        progress("waiting for etcd quorum and healthy members");
        let endpoints: Vec<String> = cluster.masters().map(etcd::client_url).collect();
        // from a master's files, also when a repair (or `add` of workers) touches no master
        let cred = match master_files(cluster, pki).and_then(|a| a.etcd_credentials()) {
            Some(c) => c,
            None => {
                return Err((
                    "etcd-health".into(),
                    vec![StepError::new(
                        "control host",
                        "etcd credentials",
                        "no master files rendered",
                    )],
                ));
            }
        };
        match crate::etcd::wait_healthy(&endpoints, &cred, wait.max(Duration::from_secs(60))).await
        {
            Ok(h) => health = Some(h),
            Err(h) => {
                let msg = format!("etcd is not healthy after {:?}: {}", wait, h.problems());
                return Err((
                    "etcd-health".into(),
                    vec![StepError::new("etcd", "wait for quorum", msg).hint("read `docker logs etcd` on the masters named above (also in DIR/.k8s-manage/logs)")],
                ));
            }
        }
    }

    progress("kube-apiserver");
    let r = fan_out(&masters, parallel, |n| {
        ensure_named(n, &["kube-apiserver"], tally, opts, Duration::ZERO)
    })
    .await;
    if let Err((p, e)) = phase_result("apiserver", r) {
        return Err((p, e));
    }
    if !opts.dry_run {
        let r = fan_out(&masters, parallel, |n| async move {
            let url = format!(
                "https://{}",
                paths::host_port(n.machine.hostip, cluster.kubernetes.api_port)
            );
            let c = admin_client(cluster, pki, &url)?;
            wait_ready(&c, n.host(), wait).await
        })
        .await;
        if let Err((p, e)) = phase_result("apiserver ready", r) {
            return Err((p, e));
        }
    }

    progress("API load balancers");
    let lbs = [
        crate::components::load_balancers::LOCAL_LB,
        crate::components::load_balancers::PROXY_LB,
    ];
    let r = fan_out(&all, parallel, |n| {
        ensure_named(n, &lbs, tally, opts, Duration::ZERO)
    })
    .await;
    if let Err((p, e)) = phase_result("load-balancers", r) {
        return Err((p, e));
    }

    progress("kube-controller-manager and kube-scheduler");
    let r = fan_out(&masters, parallel, |n| {
        ensure_named(
            n,
            &["kube-controller-manager", "kube-scheduler"],
            tally,
            opts,
            Duration::ZERO,
        )
    })
    .await;
    if let Err((p, e)) = phase_result("control-plane", r) {
        return Err((p, e));
    }

    progress("cri-dockerd, kubelet and kube-proxy");
    let r = fan_out(&all, parallel, |n| {
        ensure_named(n, &rolling::NODE_AGENTS, tally, opts, Duration::ZERO)
    })
    .await;
    if let Err((p, e)) = phase_result("node-agents", r) {
        return Err((p, e));
    }
    Ok(health)
}

/// Warn about certificates that expired or expire within 30 days. Deploy never reissues a
/// certificate only because of its dates (that restarts what uses it): `cert rotate` does.
/// Returns the names of the expired ones.
fn expiry_warnings(pki: &Pki, report: &mut Report) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc();
    let certs = pki.certificates();
    let expired = crate::pki::rotation::expired(&certs, now);
    if !expired.is_empty() {
        report.warnings.push(format!(
            "{} certificate(s) have EXPIRED ({}); deploy does not reissue them by itself: run `k8s-manage cert rotate -p DIR`",
            expired.len(),
            expired.join(", ")
        ));
    }
    let soon: Vec<String> = certs
        .iter()
        .filter(|c| c.not_after > now && c.not_after <= now + time::Duration::days(30))
        .map(|c| c.name.clone())
        .collect();
    if !soon.is_empty() {
        report.warnings.push(format!(
            "{} certificate(s) expire within 30 days ({}): plan `k8s-manage cert rotate -p DIR`",
            soon.len(),
            soon.join(", ")
        ));
    }
    expired
}

/// The first master's rendered files (for the etcd and kubelet client credentials), whether
/// or not this run touches a master.
fn master_files(cluster: &Cluster, pki: &Pki) -> Option<render_node::NodeArtifacts> {
    let m = cluster.masters().next()?;
    render_node::render_node(cluster, pki, m).ok()
}

fn kubelet_client_credential(
    master: Option<&render_node::NodeArtifacts>,
) -> Option<(String, String)> {
    let master = master?;
    let f = |p: &str| master.file(&paths::pki(p)).map(|f| f.contents.clone());
    Some((
        f("apiserver-kubelet-client.crt")?,
        f("apiserver-kubelet-client.key")?,
    ))
}

/// Apply rendered add-ons in order (server-side apply, field manager `k8s-manage`),
/// counting the objects applied into `applied`; the first failure names its file.
async fn apply_addons(
    api: &KubeClient,
    list: &[RenderedManifest],
    applied: &mut usize,
) -> Result<(), StepError> {
    for m in list {
        let done = api
            .apply_manifest(&m.file_name, &m.content, "k8s-manage")
            .await
            .map_err(|e| {
                StepError::new("cluster", &format!("apply {}", m.file_name), e.to_string())
            })?;
        *applied += done.len();
    }
    Ok(())
}
