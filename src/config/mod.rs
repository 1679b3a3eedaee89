//! Reading an OpenPAI-style config dir and node-list files into raw, located values.
//! `services-configuration.yaml` is never read here: service settings must not be able
//! to break a Kubernetes action (they did in the original).

pub mod cluster_file;
pub mod keys;
pub mod kubernetes_file;
pub mod machine_sku;
pub mod machines;
pub mod nesting;
pub mod node_list;
pub mod raw;
pub mod reader;
pub mod roles_file;
pub mod schema;
pub mod source;
pub mod write_back;
pub mod yaml_tree;

use crate::diag::{At, Diagnostic, Diagnostics};
use raw::RawConfig;
use source::SourceFile;
use std::path::Path;
use std::sync::Arc;

pub const CLUSTER_FILE: &str = "cluster-configuration.yaml";
pub const KUBERNETES_FILE: &str = "kubernetes-configuration.yaml";
pub const ROLES_FILE: &str = "k8s-role-definition.yaml";
pub const SERVICES_FILE: &str = "services-configuration.yaml";

/// Read the config dir. Problems are added to `diags`; what could be read is returned.
pub fn read_dir(dir: &Path, diags: &mut Diagnostics) -> RawConfig {
    let mut raw = RawConfig {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    if !dir.is_dir() {
        let name: Arc<str> = Arc::from(dir.display().to_string());
        diags.push(
            Diagnostic::error(At::file(&name), "the config dir does not exist or is not a directory")
                .fix("pass the folder holding cluster-configuration.yaml and kubernetes-configuration.yaml with -p"),
        );
        return raw;
    }
    if let Some(f) = SourceFile::read(&dir.join(CLUSTER_FILE), diags) {
        raw.cluster = cluster_file::read(&f, diags);
        raw.cluster_read = true;
    }
    if let Some(f) = SourceFile::read(&dir.join(KUBERNETES_FILE), diags) {
        raw.kubernetes = kubernetes_file::read(&f, diags);
        raw.kubernetes_read = true;
    }
    let roles = dir.join(ROLES_FILE);
    if roles.exists()
        && let Some(f) = SourceFile::read(&roles, diags)
    {
        raw.roles = Some(roles_file::read(&f, diags));
    }
    raw
}
