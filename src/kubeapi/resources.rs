//! Which REST path each kind the tool applies lives at. A fixed table: the tool applies
//! its own manifests, so discovery is not needed; an unknown kind is a clear error.

/// Plural resource name and whether the kind is namespaced.
pub fn resource_of(api_version: &str, kind: &str) -> Option<(&'static str, bool)> {
    let r = match (api_version, kind) {
        ("v1", "Namespace") => ("namespaces", false),
        ("v1", "Node") => ("nodes", false),
        ("v1", "PersistentVolume") => ("persistentvolumes", false),
        ("v1", "ServiceAccount") => ("serviceaccounts", true),
        ("v1", "ConfigMap") => ("configmaps", true),
        ("v1", "Secret") => ("secrets", true),
        ("v1", "Service") => ("services", true),
        ("v1", "Endpoints") => ("endpoints", true),
        ("v1", "PersistentVolumeClaim") => ("persistentvolumeclaims", true),
        ("v1", "Pod") => ("pods", true),
        ("apps/v1", "Deployment") => ("deployments", true),
        ("apps/v1", "DaemonSet") => ("daemonsets", true),
        ("apps/v1", "StatefulSet") => ("statefulsets", true),
        ("batch/v1", "Job") => ("jobs", true),
        ("policy/v1", "PodDisruptionBudget") => ("poddisruptionbudgets", true),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => ("clusterroles", false),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => ("clusterrolebindings", false),
        ("rbac.authorization.k8s.io/v1", "Role") => ("roles", true),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => ("rolebindings", true),
        ("scheduling.k8s.io/v1", "PriorityClass") => ("priorityclasses", false),
        ("storage.k8s.io/v1", "StorageClass") => ("storageclasses", false),
        ("coordination.k8s.io/v1", "Lease") => ("leases", true),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            ("customresourcedefinitions", false)
        }
        _ => return None,
    };
    Some(r)
}

/// Custom resources a caller knows from their CustomResourceDefinitions:
/// (group, kind) → (plural, namespaced).
#[derive(Debug, Clone, Default)]
pub struct CustomKinds(Vec<(String, String, String, bool)>);

impl CustomKinds {
    /// Every CustomResourceDefinition among `docs`.
    pub fn from_docs<'a>(docs: impl IntoIterator<Item = &'a serde_json::Value>) -> CustomKinds {
        let mut out = CustomKinds::default();
        for d in docs {
            if d.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
                continue;
            }
            let s = |p: &str| d.pointer(p).and_then(|v| v.as_str()).map(str::to_string);
            if let (Some(group), Some(kind), Some(plural)) = (
                s("/spec/group"),
                s("/spec/names/kind"),
                s("/spec/names/plural"),
            ) {
                let namespaced = s("/spec/scope").as_deref() != Some("Cluster");
                out.0.push((group, kind, plural, namespaced));
            }
        }
        out
    }

    /// Plural and scope of a custom kind.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<(String, bool)> {
        let group = api_version.split_once('/').map(|(g, _)| g)?;
        self.0
            .iter()
            .find(|(g, k, _, _)| g == group && k == kind)
            .map(|(_, _, p, n)| (p.clone(), *n))
    }
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn api_prefix(api_version: &str) -> String {
    if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    }
}

/// The path of one object.
pub fn object_path(
    api_version: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> String {
    match namespace {
        Some(ns) => format!(
            "{}/namespaces/{ns}/{resource}/{name}",
            api_prefix(api_version)
        ),
        None => format!("{}/{resource}/{name}", api_prefix(api_version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            resource_of("apps/v1", "Deployment"),
            Some(("deployments", true))
        );
        assert_eq!(
            object_path("v1", "configmaps", Some("kube-system"), "x"),
            "/api/v1/namespaces/kube-system/configmaps/x"
        );
        assert_eq!(
            object_path("rbac.authorization.k8s.io/v1", "clusterroles", None, "y"),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/y"
        );
        assert_eq!(resource_of("example.com/v1", "Thing"), None);
    }

    #[test]
    fn custom_kinds_from_their_crds() {
        let crd = serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "clickhouseinstallations.clickhouse.altinity.com"},
            "spec": {"group": "clickhouse.altinity.com", "scope": "Namespaced",
                     "names": {"kind": "ClickHouseInstallation", "plural": "clickhouseinstallations"}}
        });
        let k = CustomKinds::from_docs([&crd]);
        assert_eq!(
            k.lookup("clickhouse.altinity.com/v1", "ClickHouseInstallation"),
            Some(("clickhouseinstallations".to_string(), true))
        );
        assert_eq!(k.lookup("other.io/v1", "ClickHouseInstallation"), None);
        let cr = serde_json::json!({"apiVersion": "clickhouse.altinity.com/v1", "kind": "ClickHouseInstallation", "metadata": {"name": "ch", "namespace": "db"}});
        let t = crate::kubeapi::object_of("ch.yaml", &cr, &k).unwrap();
        assert_eq!(
            t.path,
            "/apis/clickhouse.altinity.com/v1/namespaces/db/clickhouseinstallations/ch"
        );
        assert!(crate::kubeapi::object_of("ch.yaml", &cr, &CustomKinds::default()).is_err());
    }
}
