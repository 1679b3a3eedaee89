//! The service actions (deploy, stop, delete, refresh): each selected service's steps
//! filled in from its templates before anything runs, then run service by service through
//! the step runner, stopping at the first service whose step fails; and the report they
//! make. `commands::service` reads the input and prints; the order of the services comes
//! from `resolve`.

use super::registry::{Registry, ServiceDef};
use super::render::{RenderContext, RenderedFile, fill_step};
use super::run::{StepReport, StepRunner};
use super::steps::{DeleteItem, LocatedStep, Step};
use serde::Serialize;

/// One service ready to run: its name, rendered files and filled-in steps.
pub type ServicePlan = (String, Vec<RenderedFile>, Vec<Step>);

/// The service actions that run a service's own steps (scale has its planners instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Delete,
    Refresh,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Start => "deploy",
            Action::Stop => "stop",
            Action::Delete => "delete",
            Action::Refresh => "refresh",
        }
    }

    /// The service's steps for this action, or the default ones.
    pub fn steps(self, svc: &ServiceDef) -> Vec<LocatedStep> {
        let given = match self {
            Action::Start => &svc.start,
            Action::Stop => &svc.stop,
            Action::Delete => &svc.delete,
            Action::Refresh => &svc.refresh,
        };
        if let Some(s) = given {
            return s.clone();
        }
        let templates: Vec<String> = svc.template_list.iter().map(|t| t.value.clone()).collect();
        let step = match self {
            Action::Start | Action::Refresh => Step::Apply { templates },
            Action::Stop | Action::Delete => Step::Delete {
                items: templates
                    .into_iter()
                    .rev()
                    .map(DeleteItem::Template)
                    .collect(),
            },
        };
        vec![LocatedStep {
            step,
            at: svc.at.clone(),
        }]
    }
}

/// One service in a report: its planned steps and what each did.
#[derive(Serialize)]
pub struct ServiceRun {
    pub name: String,
    pub steps: Vec<String>,
    pub reports: Vec<StepReport>,
    pub ok: bool,
}

/// What a service action did (or, with a dry run, would do): the report `--output json`
/// prints.
#[derive(Serialize)]
pub struct ActionReport {
    pub action: &'static str,
    pub dry_run: bool,
    /// `--server-dry-run`: the apply steps were checked by the server, nothing stored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub server_dry_run: bool,
    pub services: Vec<ServiceRun>,
    /// Built-in databases left out of `-s all` because they are not configured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ActionReport {
    /// The report before anything runs: every service with its planned steps.
    pub fn planned(
        action: Action,
        dry_run: bool,
        server_dry_run: bool,
        plans: &[ServicePlan],
        skipped: Vec<String>,
    ) -> ActionReport {
        ActionReport {
            action: action.name(),
            dry_run,
            server_dry_run,
            services: plans
                .iter()
                .map(|(n, _, steps)| ServiceRun::planned(n, steps))
                .collect(),
            skipped,
            ok: true,
            error: None,
        }
    }
}

impl ServiceRun {
    /// A service with its planned steps, nothing run yet.
    pub fn planned(name: &str, steps: &[Step]) -> ServiceRun {
        ServiceRun {
            name: name.to_string(),
            steps: steps.iter().map(Step::describe).collect(),
            reports: Vec::new(),
            ok: true,
        }
    }
}

/// Fill in every selected service's steps for `action` (in `rendered`'s order) before
/// anything runs; the error names the step whose template failed.
pub fn plan_services(
    action: Action,
    registry: &Registry,
    context: &RenderContext,
    rendered: Vec<(String, Vec<RenderedFile>)>,
) -> Result<Vec<ServicePlan>, String> {
    let mut plans = Vec::new();
    for (name, files) in rendered {
        let Some(svc) = registry.service(&name) else {
            continue;
        };
        let steps = action
            .steps(svc)
            .iter()
            .map(|s| fill_step(s, &name, context))
            .collect::<Result<Vec<_>, _>>()?;
        plans.push((name, files, steps));
    }
    Ok(plans)
}

/// Run the services in order; the first one with a failing step stops the action, and
/// the report says that the services after it were not touched.
pub async fn run_services(
    runner: &StepRunner<'_>,
    action: Action,
    plans: &[ServicePlan],
    report: &mut ActionReport,
) {
    for (i, (name, files, steps)) in plans.iter().enumerate() {
        (runner.progress)(&format!(
            "{} {name} ({} step(s))",
            action.name(),
            steps.len()
        ));
        let (reports, ok) = runner.run(name, files, steps).await;
        report.services[i].reports = reports;
        report.services[i].ok = ok;
        if !ok {
            report.ok = false;
            report.error = Some(format!(
                "{} of service `{name}` stopped at a failing step; services after it were not touched",
                action.name()
            ));
            break;
        }
    }
}
