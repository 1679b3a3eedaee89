//! A small Kubernetes API client over TLS with a client certificate (rustls, ring): the
//! requests the tool makes and nothing else (listed in `docs/ARCHITECTURE.md`).

use super::resources::{CustomKinds, object_path, resource_of};
use serde_json::Value;
use std::time::Duration;

/// A failed API request: names the request, the status and the server's message.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot set up TLS for the API client: {0}")]
    Tls(String),
    #[error("{method} {path}: cannot reach the API at {server}: {cause}")]
    Unreachable {
        method: String,
        path: String,
        server: String,
        cause: String,
    },
    #[error("{method} {path}: HTTP {status}: {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("manifest {file}: {message}")]
    Manifest { file: String, message: String },
}

/// One object applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub created: bool,
    /// Fields the request set that the object sent back lacks (JSON pointers), for custom
    /// resources: what the server pruned as unknown to the CRD's schema. Only looked at in
    /// a dry run ([`ApplyMode::ServerDryRun`]); empty otherwise.
    pub lost_fields: Vec<String>,
}

/// How a server-side apply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApplyMode {
    /// Stored: the cluster changes.
    #[default]
    Persist,
    /// `dryRun=All` with `fieldValidation=Strict`: the object goes through defaulting,
    /// admission and schema validation (an unknown field is an error), and nothing is
    /// stored. The object that comes back is compared with the one sent for custom
    /// resources ([`Applied::lost_fields`]).
    ServerDryRun,
}

impl ApplyMode {
    /// The query parameters after `fieldManager` (`&force=true...`).
    fn query(self) -> &'static str {
        match self {
            ApplyMode::Persist => "&force=true",
            ApplyMode::ServerDryRun => "&force=true&dryRun=All&fieldValidation=Strict",
        }
    }
}

/// The JSON pointers of every field `sent` sets (leaves, and empty mappings or lists)
/// that `returned` does not have: what the server dropped. Values are not compared (the
/// server may normalise them); the server's own fields (`metadata.uid`, `status`, ...)
/// are extra in `returned` and never counted.
pub fn lost_fields(sent: &Value, returned: &Value) -> Vec<String> {
    fn walk(sent: &Value, returned: Option<&Value>, path: &str, out: &mut Vec<String>) {
        let Some(returned) = returned else {
            out.push(if path.is_empty() {
                "/".into()
            } else {
                path.into()
            });
            return;
        };
        match (sent, returned) {
            (Value::Object(s), Value::Object(r)) => {
                for (k, v) in s {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(v, r.get(k), &format!("{path}/{key}"), out);
                }
            }
            (Value::Array(s), Value::Array(r)) => {
                for (i, v) in s.iter().enumerate() {
                    walk(v, r.get(i), &format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(sent, Some(returned), "", &mut out);
    out
}

/// A registered node, as the API reports it.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub name: String,
    pub ready: bool,
    pub internal_ip: Option<String>,
    pub labels: serde_json::Map<String, Value>,
    /// `status.allocatable`: resource name to quantity (`"4"`, `"15Gi"`).
    pub allocatable: serde_json::Map<String, Value>,
}

pub struct KubeClient {
    http: reqwest::Client,
    server: String,
    tls: std::sync::Arc<rustls::ClientConfig>,
}

/// Parse a multi-document YAML manifest; empty documents are dropped.
pub fn parse_manifest(file: &str, text: &str) -> Result<Vec<Value>, KubeError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| KubeError::Manifest {
        file: file.into(),
        message: e.to_string(),
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Where one document of a manifest lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTarget {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub path: String,
}

/// The REST path of a manifest document (namespace `default` when a namespaced object
/// names none).
pub fn object_of(file: &str, doc: &Value, custom: &CustomKinds) -> Result<ObjectTarget, KubeError> {
    let s = |p: &str| {
        doc.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
    let Some((resource, namespaced)) = resource_of(&api_version, &kind)
        .map(|(r, n)| (r.to_string(), n))
        .or_else(|| custom.lookup(&api_version, &kind))
    else {
        return Err(KubeError::Manifest {
            file: file.into(),
            message: format!(
                "kind {kind} ({api_version}) is not one the tool knows how to apply (ship its CustomResourceDefinition in the same service, or install the operator that defines it first)"
            ),
        });
    };
    let namespace = namespaced.then(|| {
        let ns = s("/metadata/namespace");
        if ns.is_empty() {
            "default".to_string()
        } else {
            ns
        }
    });
    let path = object_path(&api_version, &resource, namespace.as_deref(), &name);
    Ok(ObjectTarget {
        kind,
        namespace,
        name,
        path,
    })
}

/// Percent-encode a query value (selectors hold `=` and `,`).
fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<rustls::ClientConfig, KubeError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        let c = c.map_err(|e| KubeError::Tls(format!("CA certificate: {e}")))?;
        roots
            .add(c)
            .map_err(|e| KubeError::Tls(format!("CA certificate: {e}")))?;
    }
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| KubeError::Tls(format!("client certificate: {e}")))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| KubeError::Tls(format!("client key: {e}")))?
        .ok_or_else(|| KubeError::Tls("client key: no private key in the PEM".into()))?;
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| KubeError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| KubeError::Tls(format!("client certificate and key: {e}")))
}

impl KubeClient {
    /// `server` like `https://10.0.0.11:6443`; the server certificate must chain to `ca_pem`.
    pub fn new(
        server: &str,
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
        timeout: Duration,
    ) -> Result<KubeClient, KubeError> {
        let tls = tls_config(ca_pem, cert_pem, key_pem)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls.clone())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .map_err(|e| KubeError::Tls(e.to_string()))?;
        Ok(KubeClient {
            http,
            server: server.trim_end_matches('/').to_string(),
            tls: std::sync::Arc::new(tls),
        })
    }

    /// The one admin client constructor: the admin credential of the PKI (CN
    /// `kubernetes-admin`, O `system:masters`) and its CA, for `server`. The error says
    /// what failed, for a step error to carry.
    pub fn admin(
        pki: &crate::pki::Pki,
        server: &str,
        timeout: Duration,
    ) -> Result<KubeClient, String> {
        let (cert, key) = pki
            .client_credential(&crate::pki::KubeconfigUser::Admin)
            .map_err(|e| format!("admin credential: {e}"))?;
        KubeClient::new(server, pki.ca_cert_pem(), &cert, &key, timeout)
            .map_err(|e| format!("API client for {server}: {e}"))
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Value), KubeError> {
        let url = format!("{}{path}", self.server);
        let mut req = self.http.request(method.clone(), &url);
        if let Some((ct, b)) = body {
            req = req.header("Content-Type", ct).body(b);
        }
        let resp = req.send().await.map_err(|e| KubeError::Unreachable {
            method: method.to_string(),
            path: path.to_string(),
            server: self.server.clone(),
            cause: error_chain(&e),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let message = v
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            return Err(KubeError::Status {
                method: method.to_string(),
                path: path.to_string(),
                status,
                message,
            });
        }
        Ok((status, v))
    }

    /// `GET /readyz`: true when 200.
    pub async fn readyz(&self) -> Result<bool, KubeError> {
        match self.send(reqwest::Method::GET, "/readyz", None).await {
            Ok(_) => Ok(true),
            Err(KubeError::Status {
                status: 500..=599, ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Server-side apply every document of a multi-document YAML manifest, in order.
    pub async fn apply_manifest(
        &self,
        file: &str,
        text: &str,
        field_manager: &str,
    ) -> Result<Vec<Applied>, KubeError> {
        let docs = parse_manifest(file, text)?;
        self.apply_docs(file, &docs, field_manager, &CustomKinds::default())
            .await
    }

    /// Server-side apply of parsed documents, in order; kinds not in the fixed table are
    /// looked up in `custom` (custom resources whose CRD the caller knows).
    pub async fn apply_docs(
        &self,
        file: &str,
        docs: &[Value],
        field_manager: &str,
        custom: &CustomKinds,
    ) -> Result<Vec<Applied>, KubeError> {
        self.apply_docs_mode(file, docs, field_manager, custom, ApplyMode::Persist)
            .await
    }

    /// [`apply_docs`](Self::apply_docs), stored or as a server dry run.
    pub async fn apply_docs_mode(
        &self,
        file: &str,
        docs: &[Value],
        field_manager: &str,
        custom: &CustomKinds,
        mode: ApplyMode,
    ) -> Result<Vec<Applied>, KubeError> {
        let mut out = Vec::new();
        for doc in docs {
            out.push(
                self.apply_one(file, doc, field_manager, custom, mode)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Server-side apply of one document of `file`.
    pub(super) async fn apply_one(
        &self,
        file: &str,
        doc: &Value,
        field_manager: &str,
        custom: &CustomKinds,
        mode: ApplyMode,
    ) -> Result<Applied, KubeError> {
        let target = object_of(file, doc, custom)?;
        let path = format!(
            "{}?fieldManager={field_manager}{}",
            target.path,
            mode.query()
        );
        let body = serde_json::to_vec(doc).map_err(|e| KubeError::Manifest {
            file: file.into(),
            message: e.to_string(),
        })?;
        let (status, returned) = self
            .send(
                reqwest::Method::PATCH,
                &path,
                Some(("application/apply-patch+yaml", body)),
            )
            .await?;
        let custom_kind = resource_of(
            doc.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            &target.kind,
        )
        .is_none();
        let lost = if mode == ApplyMode::ServerDryRun && custom_kind {
            lost_fields(doc, &returned)
        } else {
            Vec::new()
        };
        Ok(Applied {
            kind: target.kind,
            namespace: target.namespace,
            name: target.name,
            created: status == 201,
            lost_fields: lost,
        })
    }

    /// Every CustomResourceDefinition the cluster has (for kinds a service applies whose
    /// CRD an operator installed).
    pub async fn custom_resource_definitions(&self) -> Result<Vec<Value>, KubeError> {
        let (_, v) = self
            .send(
                reqwest::Method::GET,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                None,
            )
            .await?;
        // The items of a list carry no kind of their own: give them theirs, as a
        // manifest has it.
        let mut items = v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in &mut items {
            if let Some(o) = item.as_object_mut() {
                o.entry("apiVersion")
                    .or_insert_with(|| Value::from("apiextensions.k8s.io/v1"));
                o.entry("kind")
                    .or_insert_with(|| Value::from("CustomResourceDefinition"));
            }
        }
        Ok(items)
    }

    /// `GET` one object by its path; `None` when it does not exist.
    pub async fn get_object(&self, path: &str) -> Result<Option<Value>, KubeError> {
        match self.send(reqwest::Method::GET, path, None).await {
            Ok((_, v)) => Ok(Some(v)),
            Err(KubeError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE` one object by its path (background propagation); `false` when it was absent.
    pub async fn delete_object(&self, path: &str) -> Result<bool, KubeError> {
        let body = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        match self
            .send(
                reqwest::Method::DELETE,
                path,
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(KubeError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// JSON merge patch of one object (e.g. `{"spec":{"replicas":3}}`).
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, KubeError> {
        self.send(
            reqwest::Method::PATCH,
            path,
            Some((
                "application/merge-patch+json",
                patch.to_string().into_bytes(),
            )),
        )
        .await
        .map(|(_, v)| v)
    }

    /// Pods of a namespace matching an equality label selector (`k=v,k2=v2`), by name.
    pub async fn list_pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<Value>, KubeError> {
        let path = format!(
            "/api/v1/namespaces/{namespace}/pods?labelSelector={}",
            encode_query(selector)
        );
        let (_, v) = self.send(reqwest::Method::GET, &path, None).await?;
        let mut items = v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        items.sort_by(|a, b| {
            let n = |x: &Value| {
                x.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            n(a).cmp(&n(b))
        });
        Ok(items)
    }

    /// The client's TLS settings and server, for the exec websocket.
    pub fn tls_parts(&self) -> (&str, std::sync::Arc<rustls::ClientConfig>) {
        (&self.server, self.tls.clone())
    }

    /// Every registered node.
    pub async fn nodes(&self) -> Result<Vec<NodeState>, KubeError> {
        let (_, v) = self
            .send(reqwest::Method::GET, "/api/v1/nodes", None)
            .await?;
        let items = v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(items
            .iter()
            .map(|n| {
                let name = n
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let conditions = n
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let ready = conditions.iter().any(|c| {
                    c.get("type") == Some(&Value::from("Ready"))
                        && c.get("status") == Some(&Value::from("True"))
                });
                let internal_ip = n
                    .pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|x| x.get("type") == Some(&Value::from("InternalIP")))
                    })
                    .and_then(|x| x.get("address"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let labels = n
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let allocatable = n
                    .pointer("/status/allocatable")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                NodeState {
                    name,
                    ready,
                    internal_ip,
                    labels,
                    allocatable,
                }
            })
            .collect())
    }

    /// Set labels on a node (JSON merge patch).
    pub async fn label_node(
        &self,
        name: &str,
        labels: &serde_json::Map<String, Value>,
    ) -> Result<(), KubeError> {
        let body = serde_json::json!({"metadata": {"labels": labels}});
        self.send(
            reqwest::Method::PATCH,
            &format!("/api/v1/nodes/{name}"),
            Some((
                "application/merge-patch+json",
                body.to_string().into_bytes(),
            )),
        )
        .await
        .map(|_| ())
    }

    /// Delete a node object; absent is fine.
    pub async fn delete_node(&self, name: &str) -> Result<bool, KubeError> {
        match self
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/nodes/{name}"),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(KubeError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The error and its causes on one line (reqwest hides the TLS reason in the chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl KubeClient {
    /// `GET path`, success when 2xx (health endpoints).
    pub async fn get_ok(&self, path: &str) -> Result<(), KubeError> {
        self.send(reqwest::Method::GET, path, None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dry_run_asks_for_strict_validation_and_stores_nothing() {
        assert_eq!(ApplyMode::Persist.query(), "&force=true");
        let q = ApplyMode::ServerDryRun.query();
        assert!(
            q.contains("dryRun=All") && q.contains("fieldValidation=Strict"),
            "{q}"
        );
    }

    #[test]
    fn lost_fields_are_what_the_server_dropped() {
        let sent = json!({
            "apiVersion": "example.io/v1",
            "kind": "Thing",
            "metadata": {"name": "t", "labels": {"a/b": "1"}},
            "spec": {"size": 3, "extra": {"x": 1}, "list": [{"k": 1, "gone": true}], "empty": {}}
        });
        // What a server sends back after pruning `extra` and `list[0].gone`, with its own
        // fields added and a value normalised.
        let returned = json!({
            "apiVersion": "example.io/v1",
            "kind": "Thing",
            "metadata": {"name": "t", "uid": "u", "labels": {"a/b": "1"}},
            "spec": {"size": "3", "list": [{"k": 1}], "empty": {}, "defaulted": true},
            "status": {}
        });
        assert_eq!(
            lost_fields(&sent, &returned),
            vec!["/spec/extra".to_string(), "/spec/list/0/gone".to_string()]
        );
        assert!(lost_fields(&sent, &sent).is_empty());
        let escaped = json!({"metadata": {"labels": {}}});
        assert_eq!(
            lost_fields(&sent, &escaped).len(),
            5,
            "{:?}",
            lost_fields(&sent, &escaped)
        );
        assert!(
            lost_fields(&sent, &escaped).contains(&"/metadata/labels/a~1b".to_string()),
            "{:?}",
            lost_fields(&sent, &escaped)
        );
    }
}
