//! The built-in databases' Rust side (owned by the `db` work): validation of their
//! `services-configuration.yaml` sections and their scale planners. This is the stub that
//! fixes the interface of `docs/SERVICES.md` §6: no validator, no planner yet.

use crate::diag::Diagnostics;
use crate::service::config::ServicesConfig;
use crate::service::steps::{ObjectRef, Step};

/// Validate the service's section of services-configuration.yaml (located errors).
pub fn validate(service: &str, cfg: &ServicesConfig, diags: &mut Diagnostics) {
    let _ = (service, cfg, diags);
}

/// The typed, defaulted configuration of a database for its templates (`db` in the
/// render context); `None` for services without one.
pub fn template_values(service: &str, cfg: &ServicesConfig) -> Option<serde_json::Value> {
    let _ = (service, cfg);
    None
}

/// The planner of a service that can be scaled (`None`: `service scale` refuses).
pub fn planner(service: &str) -> Option<&'static dyn ScalePlanner> {
    let _ = service;
    None
}

/// How a database changes its size.
pub trait ScalePlanner: Sync {
    /// The object whose `spec.replicas` is the current size (`component` from
    /// `--component`; `None` = the service's default).
    fn scale_target(
        &self,
        cfg: &ServicesConfig,
        component: Option<&str>,
    ) -> Result<ObjectRef, Refusal>;
    /// The ordered steps from `current` to `target` replicas.
    fn scale_plan(&self, cfg: &ServicesConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal>;
    /// The current size read from the `scale_target` object (default: `spec.replicas`;
    /// custom resources override it).
    fn replicas_of(&self, object: &serde_json::Value) -> Option<u32> {
        object
            .pointer("/spec/replicas")
            .and_then(serde_json::Value::as_u64)
            .map(|n| n as u32)
    }
}

/// What `service scale` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleRequest {
    pub component: Option<String>,
    pub current: u32,
    pub target: u32,
}

/// Why a scale is refused, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub fix: Option<String>,
}
