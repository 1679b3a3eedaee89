//! `deploy`, `repair` and `upgrade`: each an ordered phase list (`crate::plan::phases`:
//! [`DEPLOY`], [`REPAIR`], [`UPGRADE`], the lists `plan` shows), run by the one runner
//! ([`super::engine`]), which stops at the first phase that fails on any node. Every step
//! compares before it changes, so a second run changes nothing and a re-run after a
//! failure or Ctrl-C converges.
//!
//! The container phases follow the component table (`crate::plan::phases::COMPONENTS`):
//! on a first deploy each runs on all nodes at once, with its health gate after it; when
//! containers of a running cluster would be replaced, the whole table rolls instead
//! ([`super::rolling`]), node by node.

use super::containers::{self, Containers, Tally, record};
use super::engine::{self, Failure, Phases};
use super::fleet::{self, Node, StepError, blocking, fan_out};
use super::report::Report;
use super::rolling::{self, RollMode};
use crate::components::paths;
use crate::executor::docker::ensure::Action;
use crate::executor::docker::images;
use crate::kubeapi::{KubeClient, apply_tiers};
use crate::model::{Cluster, Machine};
use crate::pki::Pki;
use crate::plan::phases::{
    self, ActionSpec, CERT_ROTATE, Component, DEPLOY, Gate, PhaseSpec, REPAIR, UPGRADE,
};
use crate::plan::{Change, Step};
use crate::render::addons::{self as render_addons, RenderedManifest};
use crate::render::{cluster as render_cluster, node as render_node};
use crate::ssh::KnownHosts;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use super::options::{DeployOptions, NodeProgress};

/// Run `deploy` (also `cert rotate`, which deploys with a new PKI). The returned report
/// says per node what changed; an error names the phase, the nodes and the reasons
/// (everything before that phase is in place; re-run to resume).
pub async fn deploy(cluster: &Cluster, opts: &DeployOptions) -> Result<Report, Report> {
    Run::new(cluster, opts).go(&DEPLOY).await
}

/// Run `repair` on these hosts: only they are touched; missing, stopped, unhealthy or
/// different containers are re-created, healthy ones are left running; all at once, no
/// add-ons, no state; verify looks at these hosts only.
pub async fn repair(
    cluster: &Cluster,
    hosts: BTreeSet<String>,
    opts: &DeployOptions,
) -> Result<Report, Report> {
    let mut opts = opts.clone();
    opts.rollout.mode = RollMode::Never;
    let mut run = Run::new(cluster, &opts);
    run.only = Some(hosts);
    run.report.action = "repair".into();
    run.go(&REPAIR).await
}

/// Run `upgrade`: the version skew check after connecting, then deploy's phases, always
/// rolling.
pub async fn upgrade(
    cluster: &Cluster,
    allow_downgrade: bool,
    opts: &DeployOptions,
) -> Result<Report, Report> {
    let mut opts = opts.clone();
    opts.rollout.mode = RollMode::Always;
    let mut run = Run::new(cluster, &opts);
    run.allow_downgrade = allow_downgrade;
    run.go(&UPGRADE).await
}

/// What `cert rotate` reissues: the certificates of these services (every leaf when
/// empty), and new CAs too.
#[derive(Debug, Clone, Default)]
pub struct Reissue {
    pub services: Vec<String>,
    pub new_cas: bool,
}

/// Run `cert rotate`: [`CERT_ROTATE`]'s `reissue` (on the control host: the PKI backed up,
/// the certificates reissued), then deploy's phases with the new PKI. Rolling while the
/// old certificates still work; all at once with new CAs or expired certificates.
pub async fn cert_rotate(
    cluster: &Cluster,
    reissue: Reissue,
    opts: &DeployOptions,
) -> Result<Report, Report> {
    let mut run = Run::new(cluster, opts);
    run.reissue = Some(reissue);
    run.go(&CERT_ROTATE).await
}

/// One run of deploy, repair, upgrade or cert rotate: what the phases share.
struct Run<'a> {
    cluster: &'a Cluster,
    opts: DeployOptions,
    clock: super::phase_clock::PhaseClock,
    report: Report,
    /// `repair`: only these hosts.
    only: Option<BTreeSet<String>>,
    /// `upgrade --allow-downgrade`.
    allow_downgrade: bool,
    /// `cert rotate`: what the `reissue` phase reissues.
    reissue: Option<Reissue>,
    pki: Option<Arc<Pki>>,
    /// Certificates that have expired (their names), for the hint of a failing phase.
    expired: Vec<String>,
    /// The add-ons rendered, applied by `addons`, waited for by `verify`.
    manifests: Vec<RenderedManifest>,
    /// The add-ons applied once every node is Ready (CoreDNS).
    late: Vec<RenderedManifest>,
    /// The add-ons `verify` waits for (none when `addons` did not run).
    applied: Vec<RenderedManifest>,
    nodes: Vec<Node>,
    tally: Mutex<Tally>,
    /// Whether the running containers were looked at (before the first container phase).
    observed: bool,
    /// Rolling: what is replaced per host (the whole table rolled at the first container
    /// phase).
    rolled: Option<rolling::Replacing>,
    /// The admin client through the API endpoint, once it answered.
    api: Option<Arc<KubeClient>>,
}

impl<'a> Run<'a> {
    fn new(cluster: &'a Cluster, opts: &DeployOptions) -> Run<'a> {
        let clock = super::phase_clock::PhaseClock::start();
        let mut timed = opts.clone();
        timed.progress.phase = clock.wrap(opts.progress.phase.clone());
        Run {
            cluster,
            report: Report::new(opts.action, cluster, opts.dry_run),
            opts: timed,
            clock,
            only: None,
            allow_downgrade: false,
            reissue: None,
            pki: None,
            expired: Vec::new(),
            manifests: Vec::new(),
            late: Vec::new(),
            applied: Vec::new(),
            nodes: Vec::new(),
            tally: Mutex::new(Tally::default()),
            observed: false,
            rolled: None,
            api: None,
        }
    }

    async fn go(self, action: &ActionSpec) -> Result<Report, Report> {
        let clock = self.clock.clone();
        let (run, result) = engine::run(action, &clock, self).await;
        match result {
            Ok(()) => Ok(run.report),
            Err(()) => Err(run.report),
        }
    }

    /// `cert rotate`'s first phase, on the control host: the PKI backed up and the selected
    /// certificates reissued; the later phases render with the new PKI, all at once when
    /// the old and new credentials cannot talk to each other. What it did, and how the
    /// restart goes, is said in the report's warnings.
    fn reissue(&mut self) -> Result<(), Failure> {
        let r = self.reissue.clone().unwrap_or_default();
        self.progress("reissuing certificates on the control host (the PKI backed up first)");
        let now = time::OffsetDateTime::now_utc();
        let rotated =
            super::rotate::rotate_pki(self.cluster, &r.services, r.new_cas, self.opts.dry_run, now)
                .map_err(|e| {
                    Failure::one(
                        "reissue",
                        StepError::new("control host", "reissue certificates", e),
                    )
                })?;
        let scope = if r.services.is_empty() {
            "every leaf certificate".to_string()
        } else {
            format!("the certificates of {}", r.services.join(", "))
        };
        let mut said = vec![format!(
            "{} {} certificate(s) ({scope}{}){}",
            if self.opts.dry_run {
                "would reissue"
            } else {
                "reissued"
            },
            rotated.reissued.len(),
            if r.new_cas { ", with new CAs" } else { "" },
            rotated
                .backup
                .as_ref()
                .map(|b| format!("; previous files kept in {}", b.display()))
                .unwrap_or_default()
        )];
        if r.new_cas {
            said.push("new CAs: every certificate and kubeconfig changes, so EVERY component restarts, all at once and without drain; the API is down until the apiservers are back".into());
        } else if rotated.all_at_once {
            said.push(format!(
                "{} certificate(s) had already expired ({}): the old credentials cannot reach the API or etcd, so the affected containers restart all at once (etcd members together), without drain",
                rotated.expired.len(),
                rotated.expired.join(", ")
            ));
        }
        self.report.warnings.extend(said);
        if rotated.all_at_once {
            self.opts.rollout.mode = RollMode::Never;
        }
        self.opts.pki = Some(Arc::new(rotated.pki));
        engine::walked(
            &mut self.report,
            "cluster",
            vec![Step::ReissueCertificates {
                backup: rotated
                    .backup
                    .map(|b| b.display().to_string())
                    .unwrap_or_else(|| ".k8s-manage/backups/pki-<UTC time>".into()),
            }],
        );
        Ok(())
    }

    fn progress(&self, line: &str) {
        (self.opts.progress.phase)(line)
    }

    fn all(&self) -> Vec<&Node> {
        self.nodes.iter().collect()
    }

    fn pki(&self) -> Result<&Arc<Pki>, Failure> {
        self.pki.as_ref().ok_or_else(|| {
            Failure::one(
                "pki",
                StepError::new(
                    "control host",
                    "pki",
                    "no PKI: the connect phase did not run",
                ),
            )
        })
    }

    fn containers(&self) -> Containers<'_> {
        Containers {
            tally: &self.tally,
            opts: &self.opts,
            recreate_unhealthy: self.only.is_some(),
        }
    }

    /// PKI, node files and container specs, add-on manifests: once, on the control host.
    fn render(&mut self) -> Result<Vec<(Machine, render_node::NodeArtifacts)>, Failure> {
        let cluster = self.cluster;
        self.progress("rendering certificates, files and container specs");
        // A dry run changes nothing, on the control host either: with no PKI yet it plans
        // with a throw-away one held in memory.
        let pki_req = render_node::pki_request(cluster, time::OffsetDateTime::now_utc());
        let pki_dir = cluster.state_dir().join("pki");
        let pki = if let Some(given) = &self.opts.pki {
            Ok(given.clone())
        } else if self.opts.dry_run && !pki_dir.join("ca.crt").exists() {
            Pki::generate_in_memory(&pki_req).map(Arc::new)
        } else {
            Pki::load_or_create(&pki_dir, &pki_req).map(Arc::new)
        }
        .map_err(|e| Failure::one("pki", StepError::new("control host", "pki", e.to_string())))?;
        self.expired = expiry_warnings(&pki, &mut self.report);
        let mut rendered = Vec::new();
        for m in &cluster.machines {
            let a = render_node::render_node(cluster, &pki, m).map_err(|e| {
                Failure::one(
                    "render",
                    StepError::new(&m.hostname, "render", e.to_string()),
                )
            })?;
            rendered.push((m.clone(), a));
        }
        self.manifests = render_cluster::manifests(cluster).map_err(|e| {
            Failure::one(
                "render",
                StepError::new("control host", "add-on manifests", e.to_string()),
            )
        })?;
        self.pki = Some(pki);
        if let Some(only) = &self.only {
            rendered.retain(|(m, _)| only.contains(&m.hostname));
        }
        Ok(rendered)
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        let state_dir = self.cluster.state_dir();
        let run_dir = super::logs::run_dir(&state_dir, self.opts.action);
        self.report.log_dir = Some(run_dir.display().to_string());
        let rendered = self.render()?;
        self.progress(&format!("connecting to {} nodes", rendered.len()));
        for (m, _) in &rendered {
            engine::walked(&mut self.report, &m.hostname, vec![Step::connect_to(m)]);
        }
        let known = KnownHosts::in_config_dir(&self.cluster.config_dir);
        let reach = self.opts.reach.clone();
        self.nodes = blocking(move || fleet::connect(&rendered, &known, &reach, &run_dir))
            .await
            .map_err(|errs| Failure::new("connect", errs))?;
        Ok(())
    }

    async fn version_skew(&mut self) -> Result<(), Failure> {
        self.progress("checking the version skew");
        let what = super::upgrade::precheck(self.cluster, &self.nodes, self.allow_downgrade)
            .await
            .map_err(|e| Failure::one("version skew", e))?;
        self.progress(&format!("upgrade: {what}"));
        engine::walked(
            &mut self.report,
            "cluster",
            vec![Step::CheckVersionSkew {
                to: self.cluster.kubernetes.version.to_string(),
            }],
        );
        Ok(())
    }

    async fn preflight(&mut self) -> Result<(), Failure> {
        self.progress("preflight checks");
        let cluster = self.cluster;
        let pre = fan_out(&self.all(), self.opts.reach.parallel, |n| async move {
            super::preflight::check(cluster, n)
                .await
                .map_err(|mut e| e.remove(0))
        })
        .await;
        let warns = phase_result("preflight", pre)?;
        self.report.warnings.extend(warns.into_iter().flatten());
        for n in &self.nodes {
            engine::walked(&mut self.report, n.host(), Vec::new());
        }
        Ok(())
    }

    async fn files(&mut self) -> Result<(), Failure> {
        self.progress("certificates and configuration files");
        let dry_run = self.opts.dry_run;
        let files = fan_out(&self.all(), self.opts.reach.parallel, |n| async move {
            super::sync_files::sync(n, dry_run).await.map(|c| (n, c))
        })
        .await;
        let mut walked = Vec::new();
        for (n, changed) in phase_result("files", files)? {
            record(&self.tally, n.host(), |r| r.files_changed = changed.len());
            let steps = changed
                .into_iter()
                .map(|path| Step::PutFile {
                    mode: format!("{:o}", n.artifacts.file(&path).map_or(0, |f| f.mode)),
                    path,
                })
                .collect();
            walked.push((n.host().to_string(), steps));
        }
        for (host, steps) in walked {
            engine::walked(&mut self.report, &host, steps);
        }
        Ok(())
    }

    async fn images(&mut self) -> Result<(), Failure> {
        self.progress("container images");
        let (parallel, dry_run) = (self.opts.reach.parallel, self.opts.dry_run);
        let mut bundle = self.opts.images.bundle.as_ref();
        // Image relay (issue 7): the nodes missing images get the bundle node to node; the
        // per-node step below then finds them present.
        if let (Some(path), true, false) = (bundle, self.opts.images.relay, dry_run) {
            let relay = super::relay::RelayOptions::default();
            super::relay::deliver_bundle(&self.all(), path, parallel, &relay)
                .await
                .map_err(|e| Failure::new("images", e))?;
            bundle = None;
        }
        let (cluster, tally) = (self.cluster, &self.tally);
        let imgs = fan_out(&self.all(), parallel, |n| async move {
            ensure_images(cluster, n, bundle, dry_run, tally)
                .await
                .map(|i| (n.host().to_string(), i))
        })
        .await;
        for (host, images) in phase_result("images", imgs)? {
            let steps = images
                .into_iter()
                .map(|image| Step::EnsureImage { image })
                .collect();
            engine::walked(&mut self.report, &host, steps);
        }
        Ok(())
    }

    /// Before the first container phase: which running containers would be replaced, and
    /// so whether the component table rolls.
    async fn observe(&mut self) -> Result<(), Failure> {
        self.observed = true;
        self.rolled = if self.opts.rollout.mode == RollMode::Never {
            None
        } else {
            let r = rolling::observe_replacements(&self.all(), self.opts.reach.parallel)
                .await
                .map_err(|e| Failure::new("observe", e))?;
            rolling::rolls(self.opts.rollout.mode, &r).then_some(r)
        };
        self.report.update = Some(
            if self.rolled.is_some() {
                "rolling"
            } else {
                "all at once"
            }
            .into(),
        );
        Ok(())
    }

    /// A container phase of the component table. Rolling: the first one rolls the whole
    /// table node by node, the others are then done.
    async fn component(&mut self, c: &'static Component) -> Result<(), Failure> {
        if !self.observed {
            self.observe().await?;
            if let Some(replacing) = &self.rolled {
                let opts = &self.opts;
                self.progress(&format!(
                    "rolling update: masters one at a time, then at most {} other node(s) at a time{}",
                    opts.rollout.max_unavailable.max(1),
                    if opts.rollout.drain {
                        ", each drained first"
                    } else {
                        ", without drain (--no-drain)"
                    }
                ));
                let pki = self.pki()?.clone();
                let result = rolling::Roll {
                    cluster: self.cluster,
                    pki: &pki,
                    nodes: &self.nodes,
                    replacing,
                    containers: &self.containers(),
                    opts,
                }
                .run()
                .await;
                return result.map_err(|e| self.with_rotate_hint(e.into()));
            }
        }
        if self.rolled.is_some() {
            return Ok(());
        }
        self.progress(c.progress);
        let nodes: Vec<&Node> = self.nodes.iter().filter(|n| c.on(n.machine.role)).collect();
        let containers = &self.containers();
        let r = fan_out(&nodes, self.opts.reach.parallel, |n| async move {
            containers
                .ensure(n, c.containers, Duration::ZERO)
                .await
                .map(|done| (n, done))
        })
        .await;
        let done = phase_result(c.phase.id, r).map_err(|f| self.with_rotate_hint(f))?;
        let walked: Vec<(String, Vec<Step>)> = done
            .into_iter()
            .map(|(n, done)| (n.host().to_string(), container_steps(n, &done)))
            .collect();
        if c.gate == Gate::ApiserverReady && !self.opts.dry_run {
            let (cluster, wait) = (self.cluster, self.opts.wait);
            let pki = self.pki()?.clone();
            let pki = &pki;
            let r = fan_out(&nodes, self.opts.reach.parallel, |n| async move {
                let url = format!(
                    "https://{}",
                    paths::host_port(n.machine.hostip, cluster.kubernetes.api_port)
                );
                let c = containers::admin_client(pki, &url)?;
                containers::wait_ready(&c, n.host(), wait).await
            })
            .await;
            phase_result("apiserver ready", r).map_err(|f| self.with_rotate_hint(f))?;
        }
        for (host, steps) in walked {
            engine::walked(&mut self.report, &host, steps);
        }
        Ok(())
    }

    /// The etcd gate of the component table, on all nodes at once.
    async fn etcd_health(&mut self) -> Result<(), Failure> {
        if self.rolled.is_some() {
            return Ok(());
        }
        if self.opts.dry_run {
            engine::live_only(&mut self.report);
            return Ok(());
        }
        self.progress("waiting for etcd quorum and healthy members");
        let wait = self.opts.wait;
        let pki = self.pki()?.clone();
        let h = containers::etcd_healthy(self.cluster, &pki, wait, |h| {
            StepError::new(
                "etcd",
                "wait for quorum",
                format!("etcd is not healthy after {:?}: {}", wait, h.problems()),
            )
            .hint(
                "read `docker logs etcd` on the masters named above (also in DIR/.k8s-manage/logs)",
            )
        })
        .await
        .map_err(|e| self.with_rotate_hint(Failure::one("etcd-health", e)))?;
        engine::walked(
            &mut self.report,
            "cluster",
            vec![Step::WaitEtcdHealthy {
                members: self
                    .cluster
                    .masters()
                    .filter_map(|m| m.etcdid.clone())
                    .collect(),
            }],
        );
        self.report.etcd = Some(h);
        Ok(())
    }

    /// The admin client through the API endpoint, once `/readyz` answers there.
    async fn api(&mut self) -> Result<Arc<KubeClient>, Failure> {
        if let Some(c) = &self.api {
            return Ok(c.clone());
        }
        let url = self.cluster.api_url();
        let pki = self.pki()?.clone();
        let api = containers::admin_client(&pki, &url).map_err(|e| Failure::one("addons", e))?;
        containers::wait_ready(&api, &url, self.opts.wait)
            .await
            .map_err(|e| {
                Failure::one(
                    "addons",
                    e.hint("check the load balancer or the proxy node in front of the apiservers"),
                )
            })?;
        let api = Arc::new(api);
        self.api = Some(api.clone());
        Ok(api)
    }

    async fn addons(&mut self) -> Result<(), Failure> {
        if self.opts.dry_run {
            engine::live_only(&mut self.report);
            return Ok(());
        }
        let api = self.api().await?;
        // CoreDNS comes once every node is Ready (`applied_after_nodes_ready`).
        let (early, late): (Vec<RenderedManifest>, Vec<RenderedManifest>) = self
            .manifests
            .iter()
            .cloned()
            .partition(|m| !render_addons::applied_after_nodes_ready(&m.file_name));
        if !early.is_empty() {
            self.progress("cluster add-ons");
        }
        apply_addons(&api, &early, &mut self.report.applied)
            .await
            .map_err(|e| Failure::one("addons", e))?;
        engine::walked(
            &mut self.report,
            "cluster",
            vec![Step::ApplyManifests {
                files: early.iter().map(|m| m.file_name.clone()).collect(),
            }],
        );
        self.applied = self.manifests.clone();
        self.late = late;
        Ok(())
    }

    async fn verify(&mut self) -> Result<(), Failure> {
        if self.opts.dry_run {
            engine::live_only(&mut self.report);
            return Ok(());
        }
        let api = self.api().await?;
        let wait = self.opts.wait;
        self.progress("verifying node registration and health endpoints");
        // repair checks the repaired nodes only (another node may be down for good reason)
        let mut scope = self.cluster.clone();
        if let Some(only) = &self.only {
            scope.machines.retain(|m| only.contains(&m.hostname));
        }
        let verify = |e| Failure::one("verify", e);
        let nodes: Vec<&Node> = self.nodes.iter().collect();
        let registered = super::verify::nodes_registered(&scope, &api, wait, &nodes)
            .await
            .map_err(verify)?;
        super::verify::label_nodes(&scope, &api, &registered)
            .await
            .map_err(verify)?;
        self.progress("waiting for every node to be Ready and the add-ons to roll out");
        if !self.late.is_empty() {
            let early: Vec<RenderedManifest> = self
                .applied
                .iter()
                .filter(|m| !self.late.iter().any(|l| l.file_name == m.file_name))
                .cloned()
                .collect();
            super::addons_ready::wait_ready(&scope, &api, &early, wait)
                .await
                .map_err(verify)?;
            self.progress("cluster DNS, now that every node is Ready");
            let late = std::mem::take(&mut self.late);
            apply_addons(&api, &late, &mut self.report.applied)
                .await
                .map_err(|e| Failure::one("addons", e))?;
        }
        super::addons_ready::wait_ready(&scope, &api, &self.applied, wait)
            .await
            .map_err(verify)?;
        if super::gpu_ready::applies(&scope) {
            self.progress("waiting for every GPU node to offer its SKU's nvidia.com/gpu");
        }
        super::gpu_ready::wait_allocatable(&scope, &api, wait)
            .await
            .map_err(|e| Failure::new("verify", e))?;
        let pki = self.pki()?.clone();
        let kubelet_client = pki.kubelet_api_client().map_err(|e| {
            Failure::one(
                "verify",
                StepError::new("control host", "kubelet client credential", e.to_string()),
            )
        })?;
        let (ca, kc) = (pki.ca_cert_pem().to_string(), &kubelet_client);
        let ca = &ca;
        let parallel = self.opts.reach.parallel;
        let r = fan_out(&self.all(), parallel, |n| {
            super::verify::node_endpoints(ca, kc, n)
        })
        .await;
        phase_result("verify", r)?;
        let cluster = self.cluster;
        let r = fan_out(&self.all(), parallel, |n| {
            super::verify::node_loopback_endpoints(cluster, n)
        })
        .await;
        let w = phase_result("verify", r)?;
        self.report.warnings.extend(w.into_iter().flatten());
        let hosts: Vec<String> = self.nodes.iter().map(|n| n.host().to_string()).collect();
        for h in hosts {
            engine::walked(&mut self.report, &h, Vec::new());
        }
        Ok(())
    }

    async fn state(&mut self) -> Result<(), Failure> {
        if self.opts.dry_run {
            engine::live_only(&mut self.report);
            return Ok(());
        }
        self.progress("writing state and the admin kubeconfig");
        let pki = self.pki()?.clone();
        super::state::write(self.cluster, &pki, &self.nodes)
            .map_err(|e| Failure::one("state", StepError::new("control host", "state", e)))?;
        engine::walked(&mut self.report, "cluster", Vec::new());
        Ok(())
    }

    /// When certificates have expired, a failing container phase says to rotate them.
    fn with_rotate_hint(&self, mut f: Failure) -> Failure {
        if let Some(first) = self.expired.first() {
            let rotate = format!(
                "{} certificate(s) have expired (first: {first}): run `k8s-manage cert rotate -p DIR`",
                self.expired.len(),
            );
            for err in &mut f.errors {
                err.hint = Some(match err.hint.take() {
                    Some(h) => format!("{rotate}; else {h}"),
                    None => rotate.clone(),
                });
            }
        }
        f
    }
}

/// What ensuring a node's containers did, as plan steps (unchanged ones are no step).
fn container_steps(n: &Node, done: &[(String, Action)]) -> Vec<Step> {
    done.iter()
        .filter_map(|(name, action)| {
            let change = match action {
                Action::Unchanged => return None,
                Action::Created => Change::Create,
                Action::Replaced => Change::Replace,
                Action::Recreated | Action::Started => Change::Recreate,
            };
            let image = n
                .artifacts
                .containers
                .iter()
                .find(|c| &c.name == name)
                .map(|c| c.image.clone())
                .unwrap_or_default();
            Some(Step::EnsureContainer {
                name: name.clone(),
                image,
                change,
            })
        })
        .collect()
}

impl Phases for Run<'_> {
    type Log = Report;
    async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure> {
        match phase.id {
            "reissue" => self.reissue(),
            "connect" => self.connect().await,
            "version-skew" => self.version_skew().await,
            "preflight" => self.preflight().await,
            "files" => self.files().await,
            "images" => self.images().await,
            "etcd-health" => self.etcd_health().await,
            "addons" => self.addons().await,
            "verify" => self.verify().await,
            "state" => self.state().await,
            id => match phases::component(id) {
                Some(c) => self.component(c).await,
                None => Err(Failure::one(id, engine::no_runner("deploy", id))),
            },
        }
    }

    fn log(&mut self) -> &mut Report {
        &mut self.report
    }

    fn finish(&mut self) {
        for n in &self.nodes {
            (self.opts.progress.node)(n.host(), "done");
        }
        let Ok(t) = self.tally.lock() else { return };
        for n in &self.nodes {
            let mut r = t.per_node.get(n.host()).cloned().unwrap_or_default();
            r.host = n.host().to_string();
            r.role = n.machine.role.to_string();
            r.result = "ok".into();
            self.report.nodes.push(r);
        }
    }
}

/// Stop on the first phase that fails anywhere; say which nodes and why.
fn phase_result<T>(phase: &str, results: Vec<Result<T, StepError>>) -> Result<Vec<T>, Failure> {
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
        Err(Failure::new(phase, errs))
    }
}

/// Make sure the node has every image it needs (`crate::plan::steps::node_images`: its
/// containers' and the pod sandbox image): pulled, or loaded from the bundle. Returns
/// the images checked.
async fn ensure_images(
    cluster: &Cluster,
    node: &Node,
    bundle: Option<&PathBuf>,
    dry_run: bool,
    tally: &Mutex<Tally>,
) -> Result<Vec<String>, StepError> {
    let needed = crate::plan::steps::node_images(cluster, &node.artifacts.containers);
    // One list call; an image not seen there is checked on its own.
    let listed = images::listed_images(node.docker())
        .await
        .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
    let mut missing = Vec::new();
    for img in needed.iter().filter(|i| !images::image_listed(&listed, i)) {
        let present = images::image_present(node.docker(), img)
            .await
            .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
        if !present {
            missing.push(img.clone());
        }
    }
    record(tally, node.host(), |r| r.images_missing = missing.len());
    if missing.is_empty() || dry_run {
        return Ok(needed);
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
        let loaded = images::load_images(&client, stream).await.map_err(|e| {
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
                && images::image_present(node.docker(), img)
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
        images::ensure_image(node.docker(), img, Duration::from_secs(600))
            .await
            .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
    }
    Ok(needed)
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

/// Apply rendered add-ons (server-side apply, field manager `k8s-manage`) in tiers
/// ([`apply_tiers`]), counting the objects applied into `applied`; a failure names its
/// file.
async fn apply_addons(
    api: &KubeClient,
    list: &[RenderedManifest],
    applied: &mut usize,
) -> Result<(), StepError> {
    let manifests: Vec<(&str, &str)> = list
        .iter()
        .map(|m| (m.file_name.as_str(), m.content.as_str()))
        .collect();
    let done = apply_tiers::apply_manifests(api, &manifests, "k8s-manage")
        .await
        .map_err(|(file, e)| StepError::new("cluster", &format!("apply {file}"), e.to_string()))?;
    *applied += done.len();
    Ok(())
}
