//! Request paths of the resource API (`/api/v1/...`, `/apis/<group>/<version>/...`) and the
//! etcd keys they map to: `<prefix>/[<group>/]<resource>/[<namespace>/]<name>`.

/// One parsed resource path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'))
}

impl ResourcePath {
    /// Parses a path; `None` when it is not a resource path.
    pub fn parse(path: &str) -> Option<ResourcePath> {
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let (group, version, rest) = match segs.as_slice() {
            ["api", "v1", rest @ ..] => (String::new(), "v1".to_string(), rest),
            ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
            _ => return None,
        };
        if !rest.iter().all(|s| valid_segment(s)) || !valid_segment(&version) {
            return None;
        }
        let (namespace, rest) = match rest {
            ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [r] => (r, None, None),
            [r, n] => (r, Some(n.to_string()), None),
            [r, n, s] => (r, Some(n.to_string()), Some(s.to_string())),
            _ => return None,
        };
        Some(ResourcePath {
            group,
            version,
            namespace,
            resource: resource.to_string(),
            name,
            subresource,
        })
    }

    /// `v1` or `<group>/<version>`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn collection(&self, prefix: &str) -> String {
        let mut k = prefix.trim_end_matches('/').to_string();
        if !self.group.is_empty() {
            k.push('/');
            k.push_str(&self.group);
        }
        k.push('/');
        k.push_str(&self.resource);
        k.push('/');
        if let Some(ns) = &self.namespace {
            k.push_str(ns);
            k.push('/');
        }
        k
    }

    /// The key of the named object.
    pub fn key(&self, prefix: &str) -> String {
        format!(
            "{}{}",
            self.collection(prefix),
            self.name.as_deref().unwrap_or("")
        )
    }

    /// The key prefix of a list (all namespaces when the path has none).
    pub fn list_prefix(&self, prefix: &str) -> String {
        self.collection(prefix)
    }

    /// The key of namespace `ns`.
    pub fn namespace_key(prefix: &str, ns: &str) -> String {
        format!("{}/namespaces/{ns}", prefix.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::ResourcePath;

    fn p(s: &str) -> ResourcePath {
        ResourcePath::parse(s).unwrap()
    }

    #[test]
    fn core_and_group_paths() {
        let cm = p("/api/v1/namespaces/kube-system/configmaps/x");
        assert_eq!(cm.key("/registry"), "/registry/configmaps/kube-system/x");
        assert_eq!(cm.api_version(), "v1");
        let ns = p("/api/v1/namespaces/kube-system");
        assert_eq!(
            (ns.resource.as_str(), ns.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        assert_eq!(ns.key("/registry"), "/registry/namespaces/kube-system");
        let st = p("/api/v1/nodes/n1/status");
        assert_eq!(st.subresource.as_deref(), Some("status"));
        let d = p("/apis/apps/v1/namespaces/a/deployments");
        assert_eq!(d.list_prefix("/registry"), "/registry/apps/deployments/a/");
        assert_eq!(d.api_version(), "apps/v1");
        let cr = p("/apis/rbac.authorization.k8s.io/v1/clusterroles/admin");
        assert_eq!(
            cr.key("/registry/"),
            "/registry/rbac.authorization.k8s.io/clusterroles/admin"
        );
        assert_eq!(
            p("/api/v1/configmaps").list_prefix("/registry"),
            "/registry/configmaps/"
        );
        assert!(ResourcePath::parse("/version").is_none());
        assert!(ResourcePath::parse("/api/v1/namespaces/a/configmaps/x/y/z").is_none());
        assert!(ResourcePath::parse("/api/v1/namespaces/a/configmaps/..").is_none());
    }
}
