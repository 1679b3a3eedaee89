//! The run report: per node what changed and how it ended, printed as a table or JSON.

use super::fleet::StepError;
use crate::executor::docker::ensure::Action;
use crate::model::Cluster;
use crate::plan::Step;
use serde::Serialize;
use std::collections::BTreeMap;

/// One node's line in the final table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeReport {
    pub host: String,
    pub role: String,
    pub created: Vec<String>,
    pub replaced: Vec<String>,
    pub started: Vec<String>,
    pub unchanged: Vec<String>,
    pub files_changed: usize,
    pub images_missing: usize,
    pub result: String,
}

impl NodeReport {
    pub fn count(&mut self, name: &str, action: &Action) {
        let list = match action {
            Action::Created => &mut self.created,
            Action::Replaced | Action::Recreated => &mut self.replaced,
            Action::Started => &mut self.started,
            Action::Unchanged => &mut self.unchanged,
        };
        list.push(name.to_string());
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub action: String,
    pub cluster: String,
    pub dry_run: bool,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<String>,
    pub errors: Vec<StepError>,
    pub warnings: Vec<String>,
    pub nodes: Vec<NodeReport>,
    pub applied: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<crate::etcd::EtcdHealth>,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_kubeconfig: Option<String>,
    /// How containers were changed: `all at once` (first deploy, or rolling off) or
    /// `rolling` (masters one at a time, other nodes in batches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<String>,
    /// Wall time per phase, in order (where the time went).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<super::phase_clock::PhaseTime>,
    /// What each phase of the action's list walked through (not printed: the plan shows
    /// the same phases; tests compare the two).
    #[serde(skip)]
    pub walked: Vec<Walked>,
}

/// What one phase walked through: per node (`cluster` for a cluster phase) the steps it
/// took or, in a dry run, would take. `live_only`: the phase only acts on a running
/// cluster, so a dry run passes it by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walked {
    pub phase: String,
    pub nodes: BTreeMap<String, Vec<Step>>,
    pub live_only: bool,
}

impl Report {
    pub fn new(action: &str, cluster: &Cluster, dry_run: bool) -> Report {
        Report {
            action: action.into(),
            cluster: cluster.kubernetes.cluster_name.clone(),
            dry_run,
            ok: true,
            failed_phase: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            nodes: Vec::new(),
            applied: 0,
            etcd: None,
            seconds: 0.0,
            log_dir: None,
            admin_kubeconfig: None,
            update: None,
            phases: Vec::new(),
            walked: Vec::new(),
        }
    }

    /// Mark the run failed in `phase` with these errors.
    pub fn fail(mut self, phase: &str, errors: Vec<StepError>) -> Report {
        self.ok = false;
        self.failed_phase = Some(phase.into());
        self.errors = errors;
        self
    }

    pub fn replaced_total(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.replaced.len() + n.created.len())
            .sum()
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        if !self.nodes.is_empty() {
            s.push_str(&format!(
                "{:<16} {:<7} {:>7} {:>8} {:>9} {:>6}  {}\n",
                "NODE", "ROLE", "CREATED", "REPLACED", "UNCHANGED", "FILES", "RESULT"
            ));
            for n in &self.nodes {
                s.push_str(&format!(
                    "{:<16} {:<7} {:>7} {:>8} {:>9} {:>6}  {}\n",
                    n.host,
                    n.role,
                    n.created.len(),
                    n.replaced.len() + n.started.len(),
                    n.unchanged.len(),
                    n.files_changed,
                    n.result
                ));
            }
        }
        for w in &self.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        if self.ok {
            let what = if self.dry_run {
                "dry run: nothing was changed"
            } else {
                "done"
            };
            s.push_str(&format!(
                "{} of cluster {}: {what} in {:.1}s\n",
                self.action, self.cluster, self.seconds
            ));
            if let Some(k) = &self.admin_kubeconfig {
                s.push_str(&format!("admin kubeconfig: {k}\n"));
            }
        } else {
            s.push_str(&format!(
                "{} of cluster {} FAILED in phase `{}`; what came before is in place, re-run to resume:\n",
                self.action,
                self.cluster,
                self.failed_phase.as_deref().unwrap_or("?")
            ));
            for e in &self.errors {
                s.push_str(&format!("  error: {e}\n"));
            }
        }
        if let Some(l) = &self.log_dir {
            s.push_str(&format!("logs: {l}\n"));
        }
        s
    }
}
