//! Kubeconfig files: the current context's server, CA and client certificate, checked
//! (client certificate chains to the CA in the file and matches its key).

use std::path::Path;

use base64::Engine;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use crate::pki::{self, Pair, Usage};

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(rename = "current-context", default)]
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority")]
    ca_file: Option<String>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    insecure: bool,
}

#[derive(Deserialize)]
struct User {
    #[serde(rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(rename = "client-key-data")]
    key_data: Option<String>,
    #[serde(rename = "client-certificate")]
    cert_file: Option<String>,
    #[serde(rename = "client-key")]
    key_file: Option<String>,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    user: String,
}

/// Where and how to reach the API server, from a checked kubeconfig.
#[derive(Clone, Debug)]
pub struct ApiTarget {
    pub file: String,
    pub host: String,
    pub port: u16,
    pub ca: Vec<CertificateDer<'static>>,
    pub client: Pair,
    /// Common name of the client certificate (the Kubernetes user).
    pub user: String,
    /// Organizations of the client certificate (the Kubernetes groups).
    pub groups: Vec<String>,
}

/// Splits `https://host:port[/]` into host and port (default 443); `[v6]` hosts allowed.
pub fn parse_server(server: &str) -> Result<(String, u16), String> {
    let rest = server
        .strip_prefix("https://")
        .ok_or_else(|| format!("server {server:?} is not https://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if let Some(path) = rest
        .strip_prefix(authority)
        .filter(|p| !p.is_empty() && *p != "/")
    {
        return Err(format!(
            "server {server:?} has a path {path:?} (not supported)"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("server {server:?}: bad IPv6 address"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("server {server:?}: bad port {p:?}"))?,
        None => 443,
    };
    if host.is_empty() {
        return Err(format!("server {server:?} has no host"));
    }
    Ok((host, port))
}

fn data_or_file(
    data: &Option<String>,
    file: &Option<String>,
    base: &Path,
    what: &str,
) -> Result<(Vec<u8>, String), String> {
    if let Some(d) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map_err(|e| format!("{what}-data is not base64: {e}"))?;
        return Ok((bytes, format!("{what}-data")));
    }
    if let Some(f) = file {
        let path = base.join(f);
        let path = path.to_string_lossy().to_string();
        return Ok((pki::read(&path)?, path));
    }
    Err(format!("no {what} or {what}-data"))
}

fn pick<'a, T>(items: &'a [Named<T>], name: &str, kind: &str) -> Result<&'a T, String> {
    items
        .iter()
        .find(|n| n.name == name)
        .map(|n| &n.value)
        .ok_or_else(|| format!("no {kind} named {name:?}"))
}

/// Loads and checks a kubeconfig; every error names the file.
pub fn load(path: &str) -> Result<ApiTarget, String> {
    let text = String::from_utf8(pki::read(path)?).map_err(|_| format!("{path}: not UTF-8"))?;
    load_text(&text, path).map_err(|e| format!("{path}: {e}"))
}

fn load_text(text: &str, path: &str) -> Result<ApiTarget, String> {
    let file: File = serde_saphyr::from_str(text).map_err(|e| format!("not a kubeconfig: {e}"))?;
    let base = Path::new(path).parent().unwrap_or(Path::new("."));
    let ctx_name = if file.current_context.is_empty() {
        match file.contexts.as_slice() {
            [only] => only.name.clone(),
            _ => return Err("current-context is not set".into()),
        }
    } else {
        file.current_context.clone()
    };
    let ctx = pick(&file.contexts, &ctx_name, "context")?;
    let cluster = pick(&file.clusters, &ctx.cluster, "cluster")?;
    let user = pick(&file.users, &ctx.user, "user")?;
    if cluster.insecure {
        return Err("insecure-skip-tls-verify is set".into());
    }
    let (host, port) = parse_server(&cluster.server)?;
    let (ca_pem, ca_what) = data_or_file(
        &cluster.ca_data,
        &cluster.ca_file,
        base,
        "certificate-authority",
    )?;
    let ca = pki::ca_from_pem(&ca_pem, &ca_what)?;
    let (cert_pem, cert_what) =
        data_or_file(&user.cert_data, &user.cert_file, base, "client-certificate").map_err(
            |e| {
                format!(
                    "user {:?}: {e} (client-certificate authentication is required)",
                    ctx.user
                )
            },
        )?;
    let (key_pem, key_what) = data_or_file(&user.key_data, &user.key_file, base, "client-key")
        .map_err(|e| format!("user {:?}: {e}", ctx.user))?;
    let client = pki::pair_from_pem(&cert_pem, &cert_what, &key_pem, &key_what, Usage::Client)?;
    pki::verify_chain(&client.chain, &ca, Usage::Client)
        .map_err(|e| format!("{cert_what}: {e} ({ca_what})"))?;
    let (user_cn, groups) = pki::identity(&client.chain[0])?;
    Ok(ApiTarget {
        file: path.to_string(),
        host,
        port,
        ca,
        client,
        user: user_cn,
        groups,
    })
}

impl ApiTarget {
    /// Checks the client identity a component must have for the real cluster's RBAC.
    pub fn expect_user(&self, user: &str, group: Option<&str>) -> Result<(), String> {
        if self.user != user {
            return Err(format!(
                "{}: client certificate CN is {:?}, expected {user:?}",
                self.file, self.user
            ));
        }
        if let Some(g) = group
            && !self.groups.iter().any(|x| x == g)
        {
            return Err(format!(
                "{}: client certificate organizations {:?} lack {g:?}",
                self.file, self.groups
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_server;

    #[test]
    fn servers() {
        assert_eq!(
            parse_server("https://127.0.0.1:6444").unwrap(),
            ("127.0.0.1".into(), 6444)
        );
        assert_eq!(
            parse_server("https://[::1]:6443/").unwrap(),
            ("::1".into(), 6443)
        );
        assert_eq!(
            parse_server("https://api.example").unwrap(),
            ("api.example".into(), 443)
        );
        assert!(parse_server("http://127.0.0.1:8080").is_err());
        assert!(parse_server("https://h:1/prefix").is_err());
    }
}
