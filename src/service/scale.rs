//! `service scale`: one service resized by its database's scale planner. The service is
//! validated and rendered, its current size read from the cluster, and the planner's
//! steps from that size to the asked one run in order (with a dry run, only listed).

use super::actions::{ActionReport, ServiceRun};
use super::databases::{self, Refusal, ScalePlanner, ScaleRequest};
use super::error::ServiceError;
use super::prepare::{Loaded, admin_client, render_selected, runtime, validate_selected};
use super::render::RenderedFile;
use super::run::{RunOptions, StepRunner, ref_path};
use super::steps::{ObjectRef, Step};
use crate::kubeapi::{CustomKinds, KubeClient, parse_manifest};
use std::time::Duration;

/// What `service scale` is asked: `-s`, `--component`, `--replicas`, `--dry-run`,
/// `--wait-seconds`.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub service: String,
    pub component: Option<String>,
    pub replicas: u32,
    pub dry_run: bool,
    pub wait_seconds: u64,
}

/// The service checked and rendered, before the cluster is asked anything.
struct Prepared {
    planner: &'static dyn ScalePlanner,
    files: Vec<RenderedFile>,
    target: ObjectRef,
}

/// Scale `o.service` from its current size to `o.replicas`: the report of the planned
/// steps (a dry run) or of what they did. Progress lines go to `progress`.
pub fn scale(
    l: &Loaded,
    o: &ScaleOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ActionReport, ServiceError> {
    let name = &o.service;
    let p = prepare(l, o)?;
    let client = admin_client(&l.cluster, Duration::from_secs(30))
        .map_err(|e| ServiceError::failed(format!("error: {e}\n")))?;
    let rt = runtime()?;
    let current = rt.block_on(current_replicas(&client, &p, name))?;
    let steps = plan(l, p.planner, o, current)?;
    let mut report = ActionReport {
        action: "scale",
        dry_run: o.dry_run,
        server_dry_run: false,
        services: vec![ServiceRun::planned(name, &steps)],
        skipped: Vec::new(),
        ok: true,
        error: None,
    };
    progress(&format!(
        "scale {name}: {} from {current} to {} ({} step(s))",
        p.target,
        o.replicas,
        steps.len()
    ));
    if o.dry_run {
        return Ok(report);
    }
    let opts = RunOptions {
        wait: Duration::from_secs(o.wait_seconds.max(1)),
        poll: Duration::from_secs(2),
        server_dry_run: false,
    };
    let runner = StepRunner {
        client: &client,
        opts: &opts,
        progress,
    };
    let (reports, ok) = rt.block_on(runner.run(name, &p.files, &steps));
    report.services[0].reports = reports;
    report.services[0].ok = ok;
    report.ok = ok;
    Ok(report)
}

/// The service known, with a planner, valid and rendered, and the object whose size is
/// its size (from `--component`).
fn prepare(l: &Loaded, o: &ScaleOptions) -> Result<Prepared, ServiceError> {
    let name = &o.service;
    let Some(svc) = l.registry.service(name) else {
        return Err(ServiceError::invalid(format!(
            "error: `service scale` needs one service with -s; `{name}` is not a known service{}\n",
            super::suggest::did_you_mean(name, &l.registry.service_names())
        )));
    };
    let Some(planner) = databases::planner(name) else {
        return Err(ServiceError::invalid(format!(
            "error: service `{name}` cannot be scaled: it has no scale planner\n  fix: change its replica counts in services-configuration.yaml and run `service deploy -s {name}`\n"
        )));
    };
    validate_selected(l, std::slice::from_ref(name))?;
    let files = render_selected(l, std::slice::from_ref(&svc.name))?
        .pop()
        .map(|(_, f)| f)
        .unwrap_or_default();
    let target = planner
        .scale_target(&l.config, o.component.as_deref())
        .map_err(|r| refused(name, r))?;
    Ok(Prepared {
        planner,
        files,
        target,
    })
}

/// The size of the service's scale target as the API server has it.
async fn current_replicas(
    client: &KubeClient,
    p: &Prepared,
    name: &str,
) -> Result<u32, ServiceError> {
    let mut docs = Vec::new();
    for f in &p.files {
        if let Ok(d) = parse_manifest(&f.name, &f.text) {
            docs.extend(d);
        }
    }
    let custom = CustomKinds::from_docs(&docs);
    let target = &p.target;
    let path =
        ref_path(target, &custom).map_err(|e| ServiceError::invalid(format!("error: {e}\n")))?;
    match client.get_object(&path).await {
        Ok(Some(obj)) => p.planner.replicas_of(&obj).ok_or_else(|| {
            ServiceError::failed(format!("error: {target} shows no replica count\n"))
        }),
        Ok(None) => Err(ServiceError::failed(format!(
            "error: {target} does not exist\n  fix: deploy the service first (`service deploy -s {name}`)\n"
        ))),
        Err(e) => Err(ServiceError::failed(format!("error: {e}\n"))),
    }
}

/// The planner's steps from `current` to `o.replicas`.
fn plan(
    l: &Loaded,
    planner: &dyn ScalePlanner,
    o: &ScaleOptions,
    current: u32,
) -> Result<Vec<Step>, ServiceError> {
    let req = ScaleRequest {
        component: o.component.clone(),
        current,
        target: o.replicas,
        cluster_domain: l.cluster.kubernetes.cluster_domain.clone(),
    };
    planner
        .scale_plan(&l.config, &req)
        .map_err(|r| refused(&o.service, r))
}

/// A planner's refusal as invalid input.
fn refused(name: &str, r: Refusal) -> ServiceError {
    ServiceError::invalid(format!(
        "error: scale of `{name}` refused: {}{}\n",
        r.reason,
        r.fix.map(|f| format!("\n  fix: {f}")).unwrap_or_default()
    ))
}
