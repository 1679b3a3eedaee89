//! What every service command does before it touches the cluster: the loaded inputs
//! (cluster, services-configuration.yaml, registry, render context), the selected
//! services validated and rendered (any problem is invalid input), the admin client
//! built from the cluster's PKI, and the async runtime the steps run on.

use super::config::registry_settings;
use super::databases;
use super::error::ServiceError;
use super::registry::{self, Registry};
use super::render::{RenderContext, RenderedFile, render_service};
use super::{ServicesConfig, resolve};
use crate::diag::Diagnostics;
use crate::kubeapi::KubeClient;
use crate::model::Cluster;
use crate::pki::Pki;
use crate::render::node::pki_request;
use std::path::Path;
use std::time::Duration;

/// Everything a service command needs, validated.
pub struct Loaded {
    pub cluster: Cluster,
    pub config: ServicesConfig,
    pub registry: Registry,
    pub context: RenderContext,
}

impl Loaded {
    /// Read services-configuration.yaml and the registry of the config dir `dir` for
    /// `cluster`. Every problem (and warning) goes into `diags`; None when there is an
    /// error among them.
    pub fn read(dir: &Path, cluster: Cluster, diags: &mut Diagnostics) -> Option<Loaded> {
        let config = ServicesConfig::read(dir, diags);
        let registry = registry::load(dir, diags);
        resolve::check(&registry, diags);
        let settings = registry_settings(&config, diags);
        if diags.has_errors() {
            return None;
        }
        let context = RenderContext::new(&cluster, &config, &settings, &registry);
        Some(Loaded {
            cluster,
            config,
            registry,
            context,
        })
    }
}

/// Split `names` into (kept, skipped): built-in databases with no section in
/// services-configuration.yaml are skipped, unless a kept service needs them.
pub fn unconfigured_skipped(l: &Loaded, names: Vec<String>) -> (Vec<String>, Vec<String>) {
    let configured =
        |n: &str| !databases::DATABASES.contains(&n) || l.config.values.get(n).is_some();
    let needed = |n: &str| {
        names.iter().any(|other| {
            configured(other)
                && l.registry
                    .service(other)
                    .is_some_and(|s| s.prerequisites.iter().any(|p| p.value == n))
        })
    };
    names
        .iter()
        .cloned()
        .partition(|n| configured(n) || needed(n))
}

/// The databases' own validation of the selected services.
pub fn validate_selected(l: &Loaded, names: &[String]) -> Result<(), ServiceError> {
    let mut diags = Diagnostics::default();
    for n in names {
        databases::validate(n, &l.config, &mut diags);
    }
    if diags.has_errors() {
        return Err(ServiceError::located(diags));
    }
    Ok(())
}

/// Render the given services (names not in the registry are left out); the error names
/// every template that failed.
pub fn render_selected(
    l: &Loaded,
    names: &[String],
) -> Result<Vec<(String, Vec<RenderedFile>)>, ServiceError> {
    let mut all = Vec::new();
    let mut failures = String::new();
    for n in names {
        let Some(svc) = l.registry.service(n) else {
            continue;
        };
        match render_service(svc, &l.context) {
            Ok(files) => all.push((n.clone(), files)),
            Err(e) => failures.push_str(&format!(
                "error: {e}\n  fix: correct the template or the value it reads from services-configuration.yaml\n"
            )),
        }
    }
    if failures.is_empty() {
        Ok(all)
    } else {
        Err(ServiceError::invalid(failures))
    }
}

/// `service render -s which`: the service and its prerequisites in start order,
/// validated and rendered.
pub fn render_in_start_order(
    l: &Loaded,
    which: &str,
) -> Result<Vec<(String, Vec<RenderedFile>)>, ServiceError> {
    let mut diags = Diagnostics::default();
    let names = match resolve::start_order(&l.registry, which, &mut diags) {
        Ok(n) => n,
        Err(e) => {
            return Err(ServiceError {
                diagnostics: Some(diags),
                ..ServiceError::invalid(format!("error: {e}\n"))
            });
        }
    };
    validate_selected(l, &names)?;
    render_selected(l, &names)
}

/// The cluster-admin API client from the PKI that deploy left in the cluster's state
/// dir.
pub fn admin_client(cluster: &Cluster, timeout: Duration) -> Result<KubeClient, String> {
    let dir = cluster.state_dir().join("pki");
    if !dir.join("ca.crt").is_file() {
        return Err(format!(
            "no PKI in {}: the cluster was not deployed from this config dir (run `k8s-manage deploy -p DIR` first)",
            dir.display()
        ));
    }
    let pki = Pki::load_read_only(&dir, &pki_request(cluster, time::OffsetDateTime::now_utc()))
        .map_err(|e| e.to_string())?;
    KubeClient::admin(&pki, &cluster.api_url(), timeout)
}

/// The runtime the steps run on; a runtime that cannot start is a failure with nothing
/// more to say (as the other commands do).
pub fn runtime() -> Result<tokio::runtime::Runtime, ServiceError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|_| ServiceError::failed(""))
}

/// Unit-test support: a [`Loaded`] for the one-master test cluster from config-dir files.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Loaded;
    use crate::diag::Diagnostics;

    /// An `iotdb:` section (datanodes 3, data replication factor 2).
    pub const IOTDB: &str = "iotdb:\n  namespace: iotdb\n  storage-class: local-path\n  data-replication-factor: 2\n  datanode:\n    replicas: 3\n";

    /// A service of the config dir's own, `web` (a ConfigMap), with no scale planner.
    pub const WEB: [(&str, &str); 3] = [
        ("services/service.yaml", "servicelist:\n  - web\n"),
        ("services/web/service.yaml", "template-list: [cm.yaml]\n"),
        (
            "services/web/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\n",
        ),
    ];

    /// The inputs loaded from a config dir holding `files` (relative path, text); panics
    /// on a problem. The config dir has no PKI: the cluster was never deployed.
    pub fn loaded(files: &[(&str, &str)]) -> (tempfile::TempDir, Loaded) {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let cluster = crate::model::test_cluster::one_master("");
        let mut diags = Diagnostics::default();
        let l = Loaded::read(dir.path(), cluster, &mut diags)
            .unwrap_or_else(|| panic!("{}", diags.render_text(false)));
        (dir, l)
    }
}
