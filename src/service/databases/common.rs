//! Pieces every database shares: its namespace, storage class, images, the stable DNS name
//! of a StatefulSet member, and the replication-versus-nodes check.

use super::section::Section;
use crate::config::reader::Located;
use crate::diag::{Diagnostic, Diagnostics};
use serde::Serialize;

/// Storage of one kind of volume: class and size.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Volume {
    pub storage_class: String,
    pub size: String,
}

/// CPU and memory of one container (requests = limits, so the pod is Guaranteed).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resources {
    pub cpu: String,
    pub memory: String,
}

/// `namespace` (default: the service's name).
pub fn namespace(s: &Section, service: &str, diags: &mut Diagnostics) -> Located<String> {
    s.name("namespace", service, 63, diags)
}

/// `storage-class`: required, a StorageClass name. There is no default on bare metal: a
/// PVC without a class stays Pending when the cluster has no default class.
pub fn storage_class(s: &Section, diags: &mut Diagnostics) -> Option<Located<String>> {
    let fix = "set `storage-class:` to the StorageClass of the PersistentVolumes the database \
               uses (e.g. `storage-class: local-path`; `kubectl get storageclass` lists them)";
    let class = s.required_text("storage-class", fix, diags)?;
    let ok = class.value.len() <= 253
        && class.value.split('.').all(|l| {
            super::section::is_dns_label(l, 63)
                || l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty()
        });
    if !ok {
        diags.push(
            Diagnostic::error(
                class.at.clone(),
                format!(
                    "`{}.storage-class` is `{}`, not a valid StorageClass name",
                    s.path, class.value
                ),
            )
            .fix("use lower-case letters, digits, `-` and `.`"),
        );
        return None;
    }
    Some(class)
}

/// `cpu` and `memory` of a sub-section.
pub fn resources(s: &Section, cpu: &str, memory: &str, diags: &mut Diagnostics) -> Resources {
    Resources {
        cpu: s.cpu("cpu", cpu, diags).value,
        memory: s.quantity("memory", memory, diags).value,
    }
}

/// An image reference: not empty, no spaces; a tag or digest is required so a deployment
/// never floats on `latest`.
pub fn image(
    s: &Section,
    key: &'static str,
    default: &str,
    diags: &mut Diagnostics,
) -> Located<String> {
    let img = s.text(key, default, diags);
    let last = img.value.rsplit('/').next().unwrap_or("");
    let pinned = last.contains(':') || img.value.contains('@');
    if img.value.is_empty() || img.value.contains(char::is_whitespace) || !pinned {
        diags.push(
            Diagnostic::error(
                img.at.clone(),
                format!(
                    "`{}.{key}` is `{}`: an image needs a tag or digest",
                    s.path, img.value
                ),
            )
            .fix(format!("write e.g. `{key}: {default}`")),
        );
        return Located::new(default.to_string(), img.at);
    }
    if last.ends_with(":latest") {
        diags.push(
            Diagnostic::warning(img.at.clone(), format!("`{}.{key}` floats on `latest`", s.path))
                .fix("pin a version: a database's on-disk format and configuration keys change between versions"),
        );
    }
    img
}

/// `<sts>-<ordinal>.<governing service>.<namespace>.svc.<cluster domain>`, the stable
/// address of a StatefulSet member. The scale planners write the cluster's own domain
/// into the commands they plan, so a plan shows exactly what runs.
pub fn member_fqdn(
    sts: &str,
    ordinal: u32,
    service: &str,
    namespace: &str,
    domain: &str,
) -> String {
    format!("{sts}-{ordinal}.{service}.{namespace}.svc.{domain}")
}

/// An error when a replication factor is larger than the number of nodes that hold replicas.
pub fn replication_fits(
    rf: &Located<u32>,
    rf_key: &str,
    nodes: &Located<u32>,
    nodes_key: &str,
    diags: &mut Diagnostics,
) {
    if rf.value > nodes.value {
        diags.push(
            Diagnostic::error(
                rf.at.clone(),
                format!(
                    "`{rf_key}` is {}, larger than `{nodes_key}` ({}): each replica needs its own node",
                    rf.value, nodes.value
                ),
            )
            .related(nodes.at.clone())
            .fix(format!(
                "lower `{rf_key}` to at most {} or raise `{nodes_key}` to at least {}",
                nodes.value, rf.value
            )),
        );
    }
}

/// An error when a quorum group (Raft, mnodes, Keeper) is not 1 or 3 members. 2 tolerates
/// no failure and more than 3 costs write latency; the databases document 1 or 3.
pub fn quorum_size(n: &Located<u32>, key: &str, what: &str, diags: &mut Diagnostics) {
    if n.value != 1 && n.value != 3 {
        diags.push(
            Diagnostic::error(
                n.at.clone(),
                format!(
                    "`{key}` is {}: {what} must be 1 (no high availability) or 3",
                    n.value
                ),
            )
            .fix(format!("set `{key}: 3` (or 1 for a test installation)")),
        );
    }
}
