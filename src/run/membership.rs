//! What `add` and `remove` share: their report, the PKI and etcd credentials of the
//! existing cluster, connecting to the nodes that join or leave, and the automatic
//! snapshot taken before etcd membership changes.

use super::deploy::DeployOptions;
use super::engine::{Failure, PhaseLog, Walked};
use super::fleet::{self, Node, StepError, blocking};
use super::report::Report;
use crate::config::write_back::Written;
use crate::model::{Cluster, Machine};
use crate::pki::Pki;
use crate::render::node::{self as render_node, NodeArtifacts};
use crate::ssh::KnownHosts;
use std::time::{Duration, Instant};

/// One machine that joined or left.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MemberChange {
    pub host: String,
    pub role: String,
    /// "joined", "removed", "would join", "would be removed", or "failed".
    pub result: String,
    /// For `remove`: whether the host was cleaned (false when it could not be reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_cleaned: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl MemberChange {
    /// Machine `m` with this result, no notes.
    pub fn of(m: &Machine, result: &str) -> MemberChange {
        MemberChange {
            host: m.hostname.clone(),
            role: m.role.to_string(),
            result: result.into(),
            ..Default::default()
        }
    }
}

/// The report of `add` or `remove`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MembershipReport {
    pub action: String,
    pub cluster: String,
    pub dry_run: bool,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<String>,
    pub errors: Vec<StepError>,
    pub nodes: Vec<MemberChange>,
    /// The automatic snapshot taken before an etcd membership change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// etcd members (name) after the change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub etcd_members: Vec<String>,
    /// Each write-back of `cluster-configuration.yaml` (with its backup).
    pub config_written: Vec<Written>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drained: Vec<super::remove_drain::Drained>,
    /// The deploy that brought the other nodes in line (load balancers, apiservers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Report>,
    /// What would be done (dry run) or what was done, step by step.
    pub steps: Vec<String>,
    pub seconds: f64,
    #[serde(skip)]
    started: Option<Instant>,
}

/// The log `add` and `remove` keep while the runner walks their phases: the membership
/// report, with what each phase walked beside it.
pub struct MembershipLog {
    pub report: MembershipReport,
    walked: Vec<Walked>,
}

impl MembershipLog {
    pub fn new(report: MembershipReport) -> MembershipLog {
        MembershipLog {
            report,
            walked: Vec::new(),
        }
    }
}

impl PhaseLog for MembershipLog {
    fn walked(&mut self) -> &mut Vec<Walked> {
        &mut self.walked
    }
    fn failed(&mut self, f: Failure) {
        self.report.ok = false;
        self.report.failed_phase = Some(f.phase);
        self.report.errors.extend(f.errors);
    }
    fn passed(&mut self, _seconds: f64) {}
    fn timed(&mut self, _times: Vec<super::phase_clock::PhaseTime>) {}
}

/// The etcd credentials a membership run loaded in its checks; a later phase that finds
/// none fails (the checks did not run).
pub fn loaded(
    cred: &Option<crate::etcd::EtcdCredentials>,
) -> Result<&crate::etcd::EtcdCredentials, Failure> {
    cred.as_ref().ok_or_else(|| {
        Failure::one(
            "etcd credentials",
            StepError::new("control host", "etcd credentials", "not loaded"),
        )
    })
}

impl MembershipReport {
    pub fn new(action: &str, cluster: &Cluster, dry_run: bool) -> MembershipReport {
        MembershipReport {
            action: action.into(),
            cluster: cluster.kubernetes.cluster_name.clone(),
            dry_run,
            ok: true,
            failed_phase: None,
            errors: vec![],
            nodes: vec![],
            snapshot: None,
            etcd_members: vec![],
            config_written: vec![],
            drained: vec![],
            deploy: None,
            steps: vec![],
            seconds: 0.0,
            started: Some(Instant::now()),
        }
    }

    /// Record a step (and show it as progress).
    pub fn step(&mut self, opts: &DeployOptions, s: impl Into<String>) {
        let s = s.into();
        (opts.progress.phase)(&s);
        self.steps.push(s);
    }

    pub fn fail(mut self, phase: &str, errors: Vec<StepError>) -> MembershipReport {
        self.ok = false;
        self.failed_phase = Some(phase.into());
        self.errors.extend(errors);
        self.finish()
    }

    pub fn finish(mut self) -> MembershipReport {
        if let Some(s) = self.started {
            self.seconds = s.elapsed().as_secs_f64();
        }
        self
    }

    pub fn render_text(&self) -> String {
        let mut s = format!(
            "{}{} on cluster {}: {} ({:.1} s)\n",
            self.action,
            if self.dry_run { " (dry run)" } else { "" },
            self.cluster,
            if self.ok { "ok" } else { "FAILED" },
            self.seconds
        );
        for st in &self.steps {
            s.push_str(&format!("  - {st}\n"));
        }
        for n in &self.nodes {
            s.push_str(&format!("  {:<16} {:<7} {}", n.host, n.role, n.result));
            if n.host_cleaned == Some(false) {
                s.push_str(" (host not cleaned: it could not be reached)");
            }
            s.push('\n');
            for note in &n.notes {
                s.push_str(&format!("      {note}\n"));
            }
        }
        if let Some(snap) = &self.snapshot {
            s.push_str(&format!("  snapshot before the change: {snap}\n"));
        }
        if !self.etcd_members.is_empty() {
            s.push_str(&format!(
                "  etcd members: {}\n",
                self.etcd_members.join(", ")
            ));
        }
        for w in &self.config_written {
            s.push_str(&format!(
                "  {} updated (backup {})\n",
                w.path.display(),
                w.backup.display()
            ));
        }
        if let Some(p) = &self.failed_phase {
            s.push_str(&format!("failed in phase {p}:\n"));
        }
        for e in &self.errors {
            s.push_str(&format!("  error: {e}\n"));
        }
        s
    }
}

/// The existing PKI (never created here: `add`/`remove` need a deployed cluster). A dry
/// run issues the leaves new machines need in memory only.
pub fn load_pki(cluster: &Cluster, dry_run: bool) -> Result<Pki, StepError> {
    let dir = cluster.state_dir().join("pki");
    if !dir.join("ca.crt").is_file() {
        return Err(StepError::new(
            "control host",
            "pki",
            "no PKI yet: the cluster was never deployed",
        )
        .hint("run `k8s-manage deploy` first"));
    }
    let req = render_node::pki_request(cluster, time::OffsetDateTime::now_utc());
    let r = if dry_run {
        Pki::load_read_only(&dir, &req)
    } else {
        Pki::load_or_create(&dir, &req)
    };
    r.map_err(|e| StepError::new("control host", "pki", e.to_string()))
}

/// The control host's etcd client credential, from the PKI.
pub fn etcd_credentials(pki: &Pki) -> Result<crate::etcd::EtcdCredentials, StepError> {
    pki.etcd_client()
        .map_err(|e| StepError::new("control host", "etcd credentials", e.to_string()))
}

/// An API client with the admin credential for `server` ([`KubeClient::admin`]).
///
/// [`KubeClient::admin`]: crate::kubeapi::KubeClient::admin
pub fn admin_api(pki: &Pki, server: &str) -> Result<crate::kubeapi::KubeClient, StepError> {
    crate::kubeapi::KubeClient::admin(pki, server, Duration::from_secs(10))
        .map_err(|e| StepError::new("control host", "admin API client", e))
}

/// Connect to `machines` (one result each, in order), with the given artifacts.
pub async fn connect_each(
    cluster: &Cluster,
    machines: Vec<(Machine, NodeArtifacts)>,
    opts: &DeployOptions,
    action: &str,
) -> Vec<Result<Node, StepError>> {
    let run_dir = super::logs::run_dir(&cluster.state_dir(), action);
    let known = KnownHosts::in_config_dir(&cluster.config_dir);
    let reach = opts.reach.clone();
    blocking(move || fleet::connect_each(&machines, &known, &reach, &run_dir)).await
}

/// Take the automatic snapshot (from a healthy member, copied to every master of `cluster`).
pub async fn auto_snapshot(
    cluster: &Cluster,
    action: &str,
    opts: &DeployOptions,
) -> Result<String, Vec<StepError>> {
    let name = crate::etcd::snapshot::auto_name(action);
    let r = super::snapshot::save(cluster, &name, &opts.reach).await?;
    Ok(r.snapshot.path.display().to_string())
}

/// The names of the etcd members, from the leader.
pub async fn member_names(
    endpoints: &[String],
    cred: &crate::etcd::EtcdCredentials,
) -> Result<Vec<String>, StepError> {
    let mut leader = crate::etcd::members::connect_leader(endpoints, cred, Duration::from_secs(10))
        .await
        .map_err(|e| StepError::new("etcd", "leader", e))?;
    let ms = leader
        .members()
        .await
        .map_err(|e| StepError::new("etcd", "member list", e))?;
    Ok(ms.into_iter().map(|m| m.name).collect())
}
