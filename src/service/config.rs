//! `services-configuration.yaml`: read only by the `service` and `image` commands (never by
//! a Kubernetes action). Kept as a located tree for the databases' validators and as JSON
//! for the templates; the docker registry settings (`cluster.docker-registry-info`, as in
//! the original) are read from it with the password kept secret.

use crate::config::SERVICES_FILE;
use crate::config::reader::{Located, text};
use crate::config::source::SourceFile;
use crate::config::yaml_tree::Node;
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::Secret;
use serde::Serialize;
use std::path::Path;

/// The whole file: located tree (`None` when the file does not exist) and JSON view.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    pub file: Option<SourceFile>,
    pub values: serde_json::Value,
}

impl ServicesConfig {
    /// Reads `DIR/services-configuration.yaml`; an absent file is an empty config.
    pub fn read(dir: &Path, diags: &mut Diagnostics) -> ServicesConfig {
        let path = dir.join(SERVICES_FILE);
        if !path.exists() {
            return ServicesConfig::empty();
        }
        match SourceFile::read(&path, diags) {
            Some(f) => {
                let values = match f.root.to_json(&f.text) {
                    serde_json::Value::Null => serde_json::json!({}),
                    v => v,
                };
                if !values.is_object() {
                    diags.push(
                        Diagnostic::error(
                            f.at(f.root.pos),
                            format!(
                                "services-configuration.yaml must be a mapping of sections, found {}",
                                f.root.kind.type_name()
                            ),
                        )
                        .fix("write top-level sections like `cluster:` and one per service"),
                    );
                }
                ServicesConfig {
                    file: Some(f),
                    values,
                }
            }
            None => ServicesConfig::empty(),
        }
    }

    pub fn empty() -> ServicesConfig {
        ServicesConfig {
            file: None,
            values: serde_json::json!({}),
        }
    }

    /// The located node at a path of keys, when present.
    pub fn node(&self, path: &[&str]) -> Option<(&SourceFile, &Node)> {
        let f = self.file.as_ref()?;
        let mut n = &f.root;
        for k in path {
            n = n.get(k)?;
        }
        Some((f, n))
    }
}

/// Where images are pushed and pulled from. Never printed with the password.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrySettings {
    /// `docker-registry-domain`; empty when `public` (Docker Hub) or unset.
    pub domain: String,
    pub namespace: String,
    pub tag: String,
    pub secret_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

impl RegistrySettings {
    /// `<domain>/<namespace>/`, or `<namespace>/` for Docker Hub, or empty.
    pub fn prefix(&self) -> String {
        let mut p = String::new();
        if !self.domain.is_empty() {
            p.push_str(&self.domain);
            p.push('/');
        }
        if !self.namespace.is_empty() {
            p.push_str(&self.namespace);
            p.push('/');
        }
        p
    }

    /// The full reference of an image of the imagelist.
    pub fn reference(&self, image: &str) -> String {
        format!("{}{image}:{}", self.prefix(), self.tag)
    }

    /// The repository part (without the tag).
    pub fn repository(&self, image: &str) -> String {
        format!("{}{image}", self.prefix())
    }

    /// The server address for credentials (`docker.io` for Docker Hub).
    pub fn server(&self) -> String {
        if self.domain.is_empty() {
            "https://index.docker.io/v1/".into()
        } else {
            self.domain.clone()
        }
    }
}

/// The keys of `cluster.docker-registry-info`, with what each is (the schema's source).
pub const REGISTRY_KEYS: &[(&str, &str)] = &[
    (
        "docker-registry-domain",
        "host[:port] of the registry, or `public` for Docker Hub",
    ),
    (
        "docker-namespace",
        "namespace of the images (Docker Hub: the user name)",
    ),
    ("docker-tag", "tag of the built images (default: latest)"),
    ("secret-name", "the image pull Secret made in the cluster"),
    ("docker-username", "registry login (with docker-password)"),
    (
        "docker-password",
        "registry password (with docker-username); never printed",
    ),
];

/// Reads `cluster.docker-registry-info` (the original's key; `cluster.docker-registry` is
/// accepted too). Absent: no prefix, tag `latest`.
pub fn registry_settings(cfg: &ServicesConfig, diags: &mut Diagnostics) -> RegistrySettings {
    let mut r = RegistrySettings {
        domain: String::new(),
        namespace: String::new(),
        tag: "latest".into(),
        secret_name: None,
        username: None,
        password: None,
    };
    let node = cfg
        .node(&["cluster", "docker-registry-info"])
        .or_else(|| cfg.node(&["cluster", "docker-registry"]));
    let Some((f, node)) = node else {
        return r;
    };
    let Some(map) = crate::config::reader::mapping(f, node, "docker-registry-info", diags) else {
        return r;
    };
    let get = |key: &str, diags: &mut Diagnostics| -> Option<Located<String>> {
        map.get(key)
            .and_then(|v| text(f, v, key, diags))
            .filter(|v| !v.value.is_empty() && v.value != "None")
    };
    if let Some(d) = get("docker-registry-domain", diags) {
        if d.value.contains("://") || d.value.ends_with('/') {
            diags.push(
                Diagnostic::error(d.at.clone(), format!("`docker-registry-domain: {}` must be a host[:port], without scheme or slash", d.value))
                    .fix("write e.g. `docker-registry-domain: registry.example.com:5000`"),
            );
        } else if d.value != "public" {
            r.domain = d.value;
        }
    }
    if let Some(n) = get("docker-namespace", diags) {
        r.namespace = n.value;
    }
    if let Some(t) = get("docker-tag", diags) {
        r.tag = t.value;
    }
    r.secret_name = get("secret-name", diags).map(|v| v.value);
    r.username = get("docker-username", diags).map(|v| v.value);
    r.password = get("docker-password", diags).map(|v| Secret::new(v.value));
    if r.username.is_some() != r.password.is_some() {
        diags.push(
            Diagnostic::error(
                crate::config::reader::key_at(f, map, "docker-username"),
                "docker-username and docker-password must be set together",
            )
            .fix("set both (registry login) or leave both empty (no login)"),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> (ServicesConfig, Diagnostics) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SERVICES_FILE), text).unwrap();
        let mut d = Diagnostics::default();
        (ServicesConfig::read(dir.path(), &mut d), d)
    }

    #[test]
    fn registry_from_the_original_keys() {
        let (c, mut d) = cfg(
            "cluster:\n  docker-registry-info:\n    docker-namespace: team\n    docker-registry-domain: 127.0.0.1:5000\n    docker-username: u\n    docker-password: s3cret\n    docker-tag: v1\n    secret-name: regsecret\n",
        );
        let r = registry_settings(&c, &mut d);
        assert!(!d.has_errors());
        assert_eq!(r.reference("base"), "127.0.0.1:5000/team/base:v1");
        assert_eq!(r.password.as_ref().unwrap().expose(), "s3cret");
        let shown = format!("{r:?} {}", serde_json::to_string(&r).unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn public_domain_and_defaults() {
        let (c, mut d) = cfg(
            "cluster:\n  docker-registry-info:\n    docker-namespace: me\n    docker-registry-domain: public\n",
        );
        let r = registry_settings(&c, &mut d);
        assert_eq!(r.reference("x"), "me/x:latest");
        let (c, mut d) = cfg("cluster:\n  docker-registry-info:\n    docker-username: u\n");
        registry_settings(&c, &mut d);
        let e = d.errors().next().unwrap().to_string();
        assert!(e.contains(":3:5") && e.contains("together"), "{e}");
    }
}
