//! `service scale`: one service resized by its database's scale planner. The service is
//! validated and rendered, its current size read from the cluster, and the planner's
//! steps from that size to the asked one run in order (with a dry run, only listed).

use super::actions::{ActionReport, ServiceRun};
use super::databases::{self, Refusal, ScalePlanner, ScaleRequest};
use super::error::ServiceError;
use super::prepare::{Loaded, admin_client, render_selected, runtime, validate_selected};
use super::render::RenderedFile;
use super::run::{RunOptions, StepRunner, custom_kinds, ref_path};
use super::steps::{ObjectRef, Step};
use crate::kubeapi::{KubeClient, parse_manifest};
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
    // A custom resource's kind may come from an operator's CRD on the cluster.
    let custom = custom_kinds(client, &docs).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::error::ErrorKind;
    use crate::service::prepare::test_support::{IOTDB, WEB, loaded};

    fn ask(service: &str, component: Option<&str>, replicas: u32) -> ScaleOptions {
        ScaleOptions {
            service: service.into(),
            component: component.map(String::from),
            replicas,
            dry_run: true,
            wait_seconds: 1,
        }
    }

    fn refusal(files: &[(&str, &str)], o: &ScaleOptions) -> ServiceError {
        let (_dir, l) = loaded(files);
        match scale(&l, o, &|_| {}) {
            Ok(_) => panic!("scale of {} was not refused", o.service),
            Err(e) => e,
        }
    }

    #[test]
    fn an_unknown_service_is_invalid_input_with_a_suggestion() {
        let e = refusal(&[], &ask("iotbd", None, 3));
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.message.starts_with(
                "error: `service scale` needs one service with -s; `iotbd` is not a known service"
            ) && e.message.contains("iotdb")
                && e.message.ends_with('\n'),
            "{e}"
        );
    }

    #[test]
    fn a_service_without_a_planner_is_invalid_input_with_the_fix() {
        let e = refusal(&WEB, &ask("web", None, 3));
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(
            e.message,
            "error: service `web` cannot be scaled: it has no scale planner\n  fix: change its replica counts in services-configuration.yaml and run `service deploy -s web`\n"
        );
    }

    #[test]
    fn an_invalid_section_is_located_invalid_input() {
        let files = [(
            "services-configuration.yaml",
            "iotdb:\n  namespace: iotdb\n  datanode:\n    replicas: many\n",
        )];
        let e = refusal(&files, &ask("iotdb", None, 3));
        assert_eq!(e.kind, ErrorKind::Invalid);
        let d = e.diagnostics.as_ref().expect("located problems");
        assert!(d.has_errors() && e.message.is_empty(), "{e}");
        assert!(
            e.render(false).contains("services-configuration.yaml:4:"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_component_is_refused_before_the_cluster_is_asked() {
        let files = [("services-configuration.yaml", IOTDB)];
        let e = refusal(&files, &ask("iotdb", Some("broker"), 3));
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(
            e.message,
            "error: scale of `iotdb` refused: `iotdb` has no component `broker`\n  fix: use --component datanode or --component confignode\n"
        );
    }

    #[test]
    fn an_undeployed_cluster_is_a_failure() {
        let files = [("services-configuration.yaml", IOTDB)];
        let e = refusal(&files, &ask("iotdb", None, 4));
        assert_eq!(e.kind, ErrorKind::Failed);
        assert!(
            e.message.starts_with("error: no PKI in ")
                && e.message
                    .ends_with("(run `k8s-manage deploy -p DIR` first)\n"),
            "{e}"
        );
    }

    #[test]
    fn a_refused_count_is_invalid_input_with_the_planners_fix() {
        let files = [("services-configuration.yaml", IOTDB)];
        let (_dir, l) = loaded(&files);
        let o = ask("iotdb", None, 5000);
        let p = prepare(&l, &o).expect("iotdb is scalable");
        assert_eq!(p.target.name, "iotdb-datanode");
        let e = plan(&l, p.planner, &o, 3).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(
            e.message,
            "error: scale of `iotdb` refused: refusing to scale iotdb: the target is 5000, more than the 1000 members k8s-manage plans for\n  fix: give --replicas from 0 to 1000\n"
        );
        // Below the data replication factor: refused with the planner's own reason.
        let e = plan(&l, p.planner, &ask("iotdb", None, 1), 3).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.message.starts_with("error: scale of `iotdb` refused: "),
            "{e}"
        );
        // An allowed count is planned.
        let steps = plan(&l, p.planner, &ask("iotdb", None, 4), 3).unwrap();
        assert!(!steps.is_empty());
    }
}
