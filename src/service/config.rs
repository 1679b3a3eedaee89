//! TEMPORARY stand-in (svc owns this file): `services-configuration.yaml`, located and as JSON.

use crate::config::source::SourceFile;

/// `services-configuration.yaml` of a config dir.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// The located tree; `None` when the file is absent.
    pub file: Option<SourceFile>,
    /// The same as JSON, `{}` when absent.
    pub values: serde_json::Value,
}
