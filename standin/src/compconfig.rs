//! Component configuration files (KubeletConfiguration, KubeSchedulerConfiguration,
//! KubeProxyConfiguration): loaded as YAML, checked for apiVersion and kind.

use serde_json::Value;

use crate::pki;

/// A loaded configuration file.
pub struct ComponentConfig {
    pub path: String,
    pub value: Value,
}

impl ComponentConfig {
    /// Loads `path`; its apiVersion must be one of `api_versions` and its kind `kind`.
    pub fn load(path: &str, api_versions: &[&str], kind: &str) -> Result<ComponentConfig, String> {
        let bytes = pki::read(path)?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8"))?;
        let value: Value =
            serde_saphyr::from_str(&text).map_err(|e| format!("{path}: invalid YAML: {e}"))?;
        let got_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !api_versions.contains(&got_version) {
            return Err(format!(
                "{path}: apiVersion {got_version:?}, expected one of {api_versions:?}"
            ));
        }
        let got_kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if got_kind != kind {
            return Err(format!("{path}: kind {got_kind:?}, expected {kind:?}"));
        }
        Ok(ComponentConfig {
            path: path.to_string(),
            value,
        })
    }

    /// The value at a path of field names.
    pub fn at(&self, fields: &[&str]) -> Option<&Value> {
        fields.iter().try_fold(&self.value, |v, f| v.get(f))
    }

    /// A string at a path of field names; empty strings count as absent.
    pub fn str_at(&self, fields: &[&str]) -> Option<&str> {
        self.at(fields)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A string field that must be set, naming the file and field otherwise.
    pub fn required_str(&self, fields: &[&str]) -> Result<&str, String> {
        self.str_at(fields)
            .ok_or_else(|| format!("{}: {} is not set", self.path, fields.join(".")))
    }
}
