//! The kubelet's `--config` KubeletConfiguration: the fields the stand-in uses, with the
//! upstream defaults, and the certificates it names checked.

use std::path::Path;

use rustls_pki_types::CertificateDer;
use serde_json::Value;

use crate::checks::Checks;
use crate::compconfig::ComponentConfig;
use crate::pki::{self, Pair, Usage};

/// What the kubelet stand-in takes from its configuration file.
pub struct KubeletConfig {
    pub path: String,
    pub client_ca: Vec<CertificateDer<'static>>,
    pub client_ca_file: String,
    pub anonymous: bool,
    pub serving: Pair,
    pub address: String,
    pub port: u16,
    pub healthz_address: String,
    pub healthz_port: u16,
    pub runtime_endpoint: String,
}

/// Resolves a path in the file relative to the file's directory, as the kubelet does.
fn resolve(config: &ComponentConfig, p: &str) -> String {
    Path::new(&config.path)
        .parent()
        .unwrap_or(Path::new("."))
        .join(p)
        .to_string_lossy()
        .into_owned()
}

fn port_at(c: &mut Checks, config: &ComponentConfig, field: &str, default: u16) -> Option<u16> {
    match config.at(&[field]) {
        None | Some(Value::Null) => Some(default),
        Some(v) => c.take(
            v.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("{}: {field} is not a port number", config.path)),
        ),
    }
}

/// Loads and checks the configuration; `node_ip` must be among the serving certificate's IPs.
pub fn load(c: &mut Checks, path: &str, node_ip: Option<&str>) -> Option<KubeletConfig> {
    let config = c.take(ComponentConfig::load(
        path,
        &["kubelet.config.k8s.io/v1beta1"],
        "KubeletConfiguration",
    ))?;
    let ca_file = c.take(config.required_str(&["authentication", "x509", "clientCAFile"]));
    let ca_file = ca_file.map(|f| resolve(&config, f));
    let client_ca = ca_file.as_deref().and_then(|f| {
        c.take(
            pki::load_ca(f).map_err(|e| format!("{path}: authentication.x509.clientCAFile: {e}")),
        )
    });
    let cert = c.take(
        config
            .required_str(&["tlsCertFile"])
            .map_err(|e| format!("{e} (the stand-in does not generate a serving certificate)")),
    );
    let key = c.take(config.required_str(&["tlsPrivateKeyFile"]));
    let serving = match (cert, key) {
        (Some(cert), Some(key)) => {
            let (cert, key) = (resolve(&config, cert), resolve(&config, key));
            c.take(
                pki::load_pair(&cert, &key, Usage::Server)
                    .map_err(|e| format!("{path}: tlsCertFile: {e}")),
            )
        }
        _ => None,
    };
    if let (Some(pair), Some(ip)) = (&serving, node_ip) {
        match (pki::ip_sans(&pair.chain[0]), ip.parse()) {
            (Ok(ips), Ok(ip)) if !ips.contains(&ip) => c.problem(format!(
                "{path}: tlsCertFile has no IP address {ip} (--node-ip) in its subjectAltName ({ips:?}); the apiserver could not verify it"
            )),
            (Err(e), _) => c.problem(format!("{path}: tlsCertFile: {e}")),
            (_, Err(_)) => c.problem(format!("--node-ip {ip:?} is not an IP address")),
            _ => {}
        }
    }
    let anonymous = config
        .at(&["authentication", "anonymous", "enabled"])
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let port = port_at(c, &config, "port", 10250);
    let healthz_port = port_at(c, &config, "healthzPort", 10248);
    Some(KubeletConfig {
        path: path.to_string(),
        client_ca: client_ca?,
        client_ca_file: ca_file?,
        anonymous,
        serving: serving?,
        address: config.str_at(&["address"]).unwrap_or("0.0.0.0").to_string(),
        port: port?,
        healthz_address: config
            .str_at(&["healthzBindAddress"])
            .unwrap_or("127.0.0.1")
            .to_string(),
        healthz_port: healthz_port?,
        runtime_endpoint: config
            .str_at(&["containerRuntimeEndpoint"])
            .unwrap_or("unix:///run/containerd/containerd.sock")
            .to_string(),
    })
}
