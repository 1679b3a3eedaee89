//! The four built-in databases (IoTDB, TDengine, DolphinDB, ClickHouse): their typed
//! configuration read from `services-configuration.yaml` with located errors, the checks
//! made before anything is applied, the values their templates are rendered from (`db.*`),
//! and their scale planners. Pure: nothing here talks to a cluster.

pub mod clickhouse;
pub mod common;
pub mod dolphindb;
pub mod iotdb;
pub mod section;
pub mod steps;
pub mod tdengine;

use crate::diag::{Diagnostic, Diagnostics};
use crate::service::ServicesConfig;
use crate::service::steps::{ObjectRef, Step};

/// The services this module knows.
pub const DATABASES: [&str; 4] = ["iotdb", "tdengine", "dolphindb", "clickhouse"];

/// Validate the service's section of services-configuration.yaml (located errors).
/// Services that are not databases are left alone.
pub fn validate(service: &str, cfg: &ServicesConfig, diags: &mut Diagnostics) {
    let _ = template_values_into(service, cfg, diags);
}

/// The typed, defaulted configuration of a database as template values (`db.*`), or `None`
/// when `service` is not one of ours or its section has errors (they are in `diags`).
pub fn template_values_into(
    service: &str,
    cfg: &ServicesConfig,
    diags: &mut Diagnostics,
) -> Option<serde_json::Value> {
    if !DATABASES.contains(&service) {
        return None;
    }
    let Some(file) = cfg.file.as_ref() else {
        diags.push(
            Diagnostic::error(
                crate::diag::At::file(&std::sync::Arc::from(crate::config::SERVICES_FILE)),
                format!("the service `{service}` needs services-configuration.yaml in the config dir"),
            )
            .fix(format!(
                "create services-configuration.yaml with a `{service}:` section (see cluster-configuration/services/)"
            )),
        );
        return None;
    };
    let mut local = Diagnostics::default();
    let value = match service {
        "iotdb" => iotdb::read(file, &mut local).map(serde_json::to_value),
        "tdengine" => tdengine::read(file, &mut local).map(serde_json::to_value),
        "dolphindb" => dolphindb::read(file, &mut local).map(serde_json::to_value),
        "clickhouse" => clickhouse::read(file, &mut local).map(serde_json::to_value),
        _ => None,
    };
    let failed = local.has_errors();
    diags.list.extend(local.list);
    for (k, v) in local.sources {
        diags.sources.insert(k, v);
    }
    if failed {
        return None;
    }
    value.and_then(Result::ok)
}

/// `template_values_into` without the diagnostics (the renderer validated first).
pub fn template_values(service: &str, cfg: &ServicesConfig) -> Option<serde_json::Value> {
    template_values_into(service, cfg, &mut Diagnostics::default())
}

/// The planner of a service that can be scaled (None = `service scale` refuses).
pub fn planner(service: &str) -> Option<&'static dyn ScalePlanner> {
    match service {
        "iotdb" => Some(&iotdb::PLANNER),
        "tdengine" => Some(&tdengine::PLANNER),
        "dolphindb" => Some(&dolphindb::PLANNER),
        "clickhouse" => Some(&clickhouse::PLANNER),
        _ => None,
    }
}

pub trait ScalePlanner: Sync {
    /// The object whose size is the current size (`component` from `--component`,
    /// None = the service's default, e.g. IoTDB datanodes).
    fn scale_target(
        &self,
        cfg: &ServicesConfig,
        component: Option<&str>,
    ) -> Result<ObjectRef, Refusal>;
    /// The ordered steps from `current` to `target` replicas (the command runs them in order).
    fn scale_plan(&self, cfg: &ServicesConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal>;
    /// The current size read from the `scale_target` object (default: `spec.replicas`;
    /// custom resources override it).
    fn replicas_of(&self, object: &serde_json::Value) -> Option<u32> {
        object
            .pointer("/spec/replicas")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleRequest {
    pub component: Option<String>,
    pub current: u32,
    pub target: u32,
    /// The cluster's DNS domain (`cluster-domain`), for members' stable addresses.
    pub cluster_domain: String,
}

/// Why a scale request is refused, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub fix: Option<String>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

/// The most members a scale plans for: each member is a step (or several), so a size such
/// as `--replicas 4000000000` must be refused, not planned.
pub const MAX_SCALE_REPLICAS: u32 = 1000;

/// Refuse a current or target size beyond [`MAX_SCALE_REPLICAS`].
fn check_size(service: &str, req: &ScaleRequest) -> Result<(), Refusal> {
    for (what, n) in [
        ("the target", req.target),
        ("the current size", req.current),
    ] {
        if n > MAX_SCALE_REPLICAS {
            return Err(steps::refuse(
                format!(
                    "refusing to scale {service}: {what} is {n}, more than the {MAX_SCALE_REPLICAS} members k8s-manage plans for"
                ),
                format!("give --replicas from 0 to {MAX_SCALE_REPLICAS}"),
            ));
        }
    }
    Ok(())
}

/// Read a database's configuration for a planner: configuration errors refuse the scale.
fn config_for_plan<T>(
    service: &str,
    cfg: &ServicesConfig,
    read: fn(&crate::config::source::SourceFile, &mut Diagnostics) -> Option<T>,
) -> Result<T, Refusal> {
    let Some(file) = cfg.file.as_ref() else {
        return Err(steps::refuse(
            format!("`{service}` has no configuration: services-configuration.yaml is missing"),
            format!("add a `{service}:` section to services-configuration.yaml"),
        ));
    };
    let mut diags = Diagnostics::default();
    match read(file, &mut diags) {
        Some(c) if !diags.has_errors() => Ok(c),
        _ => {
            let first = diags
                .errors()
                .next()
                .map(|d| d.to_string())
                .unwrap_or_else(|| format!("the `{service}:` section is invalid"));
            Err(steps::refuse(
                format!("the configuration of `{service}` has errors: {first}"),
                "run `k8s-manage service render` and fix what it reports",
            ))
        }
    }
}

/// Refuse a component name the service does not have.
fn unknown_component(service: &str, name: &str, known: &[&str]) -> Refusal {
    steps::refuse(
        format!("`{service}` has no component `{name}`"),
        format!("use --component {}", known.join(" or --component ")),
    )
}

/// Nothing to do when the size does not change.
fn same_size(req: &ScaleRequest) -> bool {
    req.current == req.target
}
