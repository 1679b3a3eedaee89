//! The service actions (deploy, stop, delete, refresh): the services selected by `-s` in
//! their order (from `resolve`), validated and rendered, each one's steps filled in from
//! its templates before anything runs, then run service by service through the step
//! runner, stopping at the first service whose step fails; and the report they make.
//! `commands::service` reads the input and prints.

use super::error::ServiceError;
use super::prepare::{
    Loaded, admin_client, render_selected, runtime, unconfigured_skipped, validate_selected,
};
use super::registry::{Registry, ServiceDef};
use super::render::{RenderContext, RenderedFile, fill_step};
use super::resolve;
use super::run::{RunOptions, StepReport, StepRunner};
use super::steps::{DeleteItem, LocatedStep, Step};
use crate::diag::Diagnostics;
use serde::Serialize;
use std::time::Duration;

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
#[derive(Debug, Serialize)]
pub struct ServiceRun {
    pub name: String,
    pub steps: Vec<String>,
    pub reports: Vec<StepReport>,
    pub ok: bool,
}

/// What a service action did (or, with a dry run, would do): the report `--output json`
/// prints.
#[derive(Debug, Serialize)]
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

/// What a service action is asked: `-s`, `--dry-run`, `--server-dry-run`,
/// `--wait-seconds`.
#[derive(Debug, Clone)]
pub struct ActionOptions {
    pub service: String,
    pub dry_run: bool,
    pub server_dry_run: bool,
    pub wait_seconds: u64,
}

/// `--server-dry-run` is for `service deploy` and `service refresh` only; `command` (the
/// word after `service`) refuses it otherwise, as invalid input.
pub fn check_server_dry_run(command: &str, server_dry_run: bool) -> Result<(), ServiceError> {
    if server_dry_run && !matches!(command, "deploy" | "refresh") {
        return Err(ServiceError::invalid(format!(
            "error: --server-dry-run checks what deploy and refresh would apply; `service {command}` has nothing to check that way\n  fix: leave out --server-dry-run, or use --dry-run to see the steps\n"
        )));
    }
    Ok(())
}

/// Run `action` on the services `o.service` selects: the report of the planned steps (a
/// dry run) or of what they did; a cluster that cannot be reached is a failed report.
/// Progress lines and notes (the services `-s all` skips) go to `progress`.
pub fn perform(
    action: Action,
    l: &Loaded,
    o: &ActionOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ActionReport, ServiceError> {
    check_server_dry_run(action.name(), o.server_dry_run)?;
    let (names, skipped) = select(action, l, &o.service)?;
    if !skipped.is_empty() {
        progress(&format!(
            "note: skipping {} (no section in services-configuration.yaml; name one with -s to see what it needs)",
            skipped.join(", ")
        ));
    }
    validate_selected(l, &names)?;
    let rendered = render_selected(l, &names)?;
    // Fill in every step before anything runs.
    let plans = plan_services(action, &l.registry, &l.context, rendered).map_err(|e| {
        ServiceError::invalid(format!("error: {e}\n  fix: correct the step's template\n"))
    })?;
    let mut report = ActionReport::planned(action, o.dry_run, o.server_dry_run, &plans, skipped);
    if o.dry_run {
        return Ok(report);
    }
    let client = match admin_client(&l.cluster, Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            report.ok = false;
            report.error = Some(e);
            return Ok(report);
        }
    };
    let rt = runtime()?;
    let opts = RunOptions {
        wait: Duration::from_secs(o.wait_seconds.max(1)),
        poll: Duration::from_secs(2),
        server_dry_run: o.server_dry_run,
    };
    let runner = StepRunner {
        client: &client,
        opts: &opts,
        progress,
    };
    rt.block_on(run_services(&runner, action, &plans, &mut report));
    Ok(report)
}

/// The services `action` touches for `-s which`, in order, and the ones `-s all` skips:
/// start order for deploy and refresh, stop order (dependents first) for stop and delete;
/// refresh of one service is that service alone.
fn select(
    action: Action,
    l: &Loaded,
    which: &str,
) -> Result<(Vec<String>, Vec<String>), ServiceError> {
    let mut diags = Diagnostics::default();
    let order = match action {
        Action::Start | Action::Refresh => resolve::start_order(&l.registry, which, &mut diags),
        Action::Stop | Action::Delete => resolve::stop_order(&l.registry, which, &mut diags),
    };
    let names = order.map_err(|e| ServiceError {
        diagnostics: diags.has_errors().then_some(diags),
        ..ServiceError::invalid(format!("error: {e}\n"))
    })?;
    // Refresh touches only the named service(s), not their prerequisites.
    let names: Vec<String> = if action == Action::Refresh && which != "all" {
        vec![which.to_string()]
    } else {
        names
    };
    // `-s all` means every service this cluster is configured for: a built-in database
    // without its section is skipped (unless a chosen service needs it), and said so.
    Ok(if which == "all" {
        unconfigured_skipped(l, names)
    } else {
        (names, Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::error::ErrorKind;
    use crate::service::prepare::test_support::{IOTDB, WEB, loaded};
    use std::sync::Mutex;

    fn ask(service: &str, dry_run: bool) -> ActionOptions {
        ActionOptions {
            service: service.into(),
            dry_run,
            server_dry_run: false,
            wait_seconds: 1,
        }
    }

    #[test]
    fn server_dry_run_is_for_deploy_and_refresh_only() {
        assert!(check_server_dry_run("deploy", true).is_ok());
        assert!(check_server_dry_run("refresh", true).is_ok());
        assert!(check_server_dry_run("scale", false).is_ok());
        let e = check_server_dry_run("stop", true).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(
            e.message,
            "error: --server-dry-run checks what deploy and refresh would apply; `service stop` has nothing to check that way\n  fix: leave out --server-dry-run, or use --dry-run to see the steps\n"
        );
    }

    #[test]
    fn a_dry_run_plans_every_step_without_a_cluster() {
        let (_dir, l) = loaded(&[("services-configuration.yaml", IOTDB)]);
        let r = perform(Action::Start, &l, &ask("iotdb", true), &|_| {}).unwrap();
        assert!(r.ok && r.dry_run && r.error.is_none());
        assert_eq!(r.action, "deploy");
        assert_eq!(r.services.len(), 1);
        assert_eq!(r.services[0].name, "iotdb");
        assert!(!r.services[0].steps.is_empty());
        assert!(r.services[0].reports.is_empty());
    }

    #[test]
    fn all_skips_the_unconfigured_databases_and_says_so() {
        let (_dir, l) = loaded(&WEB);
        let notes = Mutex::new(Vec::new());
        let progress = |s: &str| notes.lock().unwrap().push(s.to_string());
        let r = perform(Action::Stop, &l, &ask("all", true), &progress).unwrap();
        let names: Vec<&str> = r.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web"]);
        assert_eq!(r.skipped.len(), 4, "{:?}", r.skipped);
        let notes = notes.into_inner().unwrap();
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("note: skipping "), "{notes:?}");
    }

    #[test]
    fn an_unknown_service_is_invalid_input() {
        let (_dir, l) = loaded(&WEB);
        let e = perform(Action::Delete, &l, &ask("wbe", true), &|_| {}).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.diagnostics.is_none());
        assert!(
            e.message.starts_with("error: ") && e.message.contains("wbe"),
            "{e}"
        );
    }

    #[test]
    fn an_undeployed_cluster_is_a_failed_report() {
        let (_dir, l) = loaded(&WEB);
        let r = perform(Action::Start, &l, &ask("web", false), &|_| {}).unwrap();
        assert!(!r.ok);
        let e = r.error.as_deref().unwrap();
        assert!(e.starts_with("no PKI in "), "{e}");
    }
}
