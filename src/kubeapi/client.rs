//! A small Kubernetes API client over TLS with a client certificate (rustls, ring): the
//! requests the tool makes and nothing else (listed in `docs/ARCHITECTURE.md`).

use super::resources::{object_path, resource_of};
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
}

/// A registered node, as the API reports it.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub name: String,
    pub ready: bool,
    pub internal_ip: Option<String>,
    pub labels: serde_json::Map<String, Value>,
}

pub struct KubeClient {
    http: reqwest::Client,
    server: String,
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
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .map_err(|e| KubeError::Tls(e.to_string()))?;
        Ok(KubeClient {
            http,
            server: server.trim_end_matches('/').to_string(),
        })
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
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(text).map_err(|e| KubeError::Manifest {
                file: file.into(),
                message: e.to_string(),
            })?;
        let mut out = Vec::new();
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let api_version = doc
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let kind = doc
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let meta = doc.get("metadata").cloned().unwrap_or(Value::Null);
            let name = meta
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let Some((resource, namespaced)) = resource_of(&api_version, &kind) else {
                return Err(KubeError::Manifest {
                    file: file.into(),
                    message: format!(
                        "kind {kind} ({api_version}) is not one the tool knows how to apply"
                    ),
                });
            };
            let namespace = if namespaced {
                Some(
                    meta.get("namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("default")
                        .to_string(),
                )
            } else {
                None
            };
            let path = format!(
                "{}?fieldManager={field_manager}&force=true",
                object_path(&api_version, resource, namespace.as_deref(), &name)
            );
            let body = serde_json::to_vec(&doc).map_err(|e| KubeError::Manifest {
                file: file.into(),
                message: e.to_string(),
            })?;
            let (status, _) = self
                .send(
                    reqwest::Method::PATCH,
                    &path,
                    Some(("application/apply-patch+yaml", body)),
                )
                .await?;
            out.push(Applied {
                kind,
                namespace,
                name,
                created: status == 201,
            });
        }
        Ok(out)
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
                NodeState {
                    name,
                    ready,
                    internal_ip,
                    labels,
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
