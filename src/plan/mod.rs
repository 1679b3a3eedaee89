//! The plan: for an action, the ordered phases and, per node, the steps each runs. Pure
//! (no I/O): built from the model, the node list and (later) observed state; with no
//! observed state yet, everything is new.

pub mod maintainconf;
pub mod phases;
pub mod steps;
pub mod text;

use crate::model::{Cluster, Machine};
use maintainconf::{Scope, Targets};
use serde::Serialize;
pub use steps::{Change, Step};

/// Steps of one phase on one node (or, with `node: None`, once for the cluster).
#[derive(Debug, Clone, Serialize)]
pub struct NodeSteps {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub id: String,
    pub title: String,
    pub serial: bool,
    pub nodes: Vec<NodeSteps>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub action: String,
    pub summary: String,
    pub cluster: String,
    pub kubernetes_version: String,
    /// What was observed on the nodes before planning.
    pub observed: String,
    pub targets: Vec<String>,
    pub phases: Vec<Phase>,
}

impl Plan {
    pub fn step_count(&self) -> usize {
        self.phases
            .iter()
            .flat_map(|p| &p.nodes)
            .map(|n| n.steps.len())
            .sum()
    }
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NeedsNodeList(String),
    RejectsNodeList(String),
    WrongTargets(String),
    Definition(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::NeedsNodeList(a) => write!(
                f,
                "`{a}` needs the machines to work on: pass a node list with -f NODES.yaml"
            ),
            PlanError::RejectsNodeList(a) => write!(
                f,
                "`{a}` works on every machine of the config dir and takes no -f node list"
            ),
            PlanError::WrongTargets(m) => f.write_str(m),
            PlanError::Definition(m) => write!(f, "internal definition error: {m}"),
        }
    }
}

/// Repair re-creates what it finds missing, stopped, unhealthy or different.
fn repaired(action: &str, step: Step) -> Step {
    match step {
        Step::EnsureContainer { name, image, .. } if action == "repair" => Step::EnsureContainer {
            name,
            image,
            change: Change::Recreate,
        },
        other => other,
    }
}

/// Build the plan of `action`. `listed` are the machines of the -f node list, already
/// validated against the cluster (new ones for add, existing ones otherwise).
pub fn build(
    action: &str,
    cluster: &Cluster,
    listed: Option<&[Machine]>,
) -> Result<Plan, PlanError> {
    let def = phases::action(action)
        .ok_or_else(|| PlanError::Definition(format!("no definition for action `{action}`")))?;
    let targets: Vec<&Machine> = match (def.targets, listed) {
        (Targets::All, None) => cluster.machines.iter().collect(),
        (Targets::All, Some(_)) => return Err(PlanError::RejectsNodeList(action.into())),
        (Targets::Listed, None) => return Err(PlanError::NeedsNodeList(action.into())),
        (Targets::Listed, Some(l)) => l.iter().collect(),
    };
    if def.exactly_one && targets.len() != 1 {
        return Err(PlanError::WrongTargets(format!(
            "`{action}` works on exactly one machine; the node list has {}: fix them one by one",
            targets.len()
        )));
    }
    if !def.roles_allowed.is_empty()
        && let Some(m) = targets
            .iter()
            .find(|m| !def.roles_allowed.contains(&m.role))
    {
        return Err(PlanError::WrongTargets(format!(
            "`{action}` works on {} machines only; {} is a {}",
            def.roles_allowed
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            m.hostname,
            m.role
        )));
    }
    // For add, the planner sees the cluster as it will be (new machines included).
    let grown;
    let view: &Cluster = if action == "add" {
        let mut c = cluster.clone();
        c.machines.extend(targets.iter().map(|m| (*m).clone()));
        grown = c;
        &grown
    } else {
        cluster
    };
    let mut phases = Vec::new();
    for p in def.phases {
        let nodes: Vec<NodeSteps> = match p.scope {
            Scope::Cluster => {
                let steps = p.cluster_steps(action, view, &targets);
                if steps.is_empty() {
                    vec![]
                } else {
                    vec![NodeSteps {
                        node: None,
                        address: None,
                        steps,
                    }]
                }
            }
            Scope::Node => targets
                .iter()
                .filter(|m| p.roles.contains(&m.role))
                .map(|m| NodeSteps {
                    node: Some(m.hostname.clone()),
                    address: Some(m.hostip.to_string()),
                    steps: p
                        .node_steps(view, m)
                        .into_iter()
                        .map(|s| repaired(action, s))
                        .collect(),
                })
                .filter(|n| !n.steps.is_empty())
                .collect(),
        };
        if !nodes.is_empty() {
            phases.push(Phase {
                id: p.id.into(),
                title: p.title.into(),
                serial: p.serial,
                nodes,
            });
        }
    }
    Ok(Plan {
        action: action.into(),
        summary: def.summary.into(),
        cluster: cluster.kubernetes.cluster_name.clone(),
        kubernetes_version: cluster.kubernetes.version.to_string(),
        observed: "nothing observed yet: everything is new".into(),
        targets: targets.iter().map(|m| m.hostname.clone()).collect(),
        phases,
    })
}
