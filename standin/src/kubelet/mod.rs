//! The kubelet stand-in: checked kubeconfig (system:node:<name>) and KubeletConfiguration,
//! 10250 over TLS requiring client certificates (`/healthz`, `/pods`), 10248 plain `/healthz`
//! on healthzBindAddress, and its Node in the API.

mod config;
mod node;

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use crate::apiloop::hostname;
use crate::checks::Checks;
use crate::client::ApiClient;
use crate::flags::Flags;
use crate::http;
use crate::lists::Minor;
use crate::log::log;
use crate::pki;
use crate::tls::{self, ClientAuth};

pub async fn start(flags: &Flags, version: Minor) -> Result<(), Vec<String>> {
    let mut c = Checks::default();
    let name = flags
        .get("hostname-override")
        .filter(|s| !s.is_empty())
        .map_or_else(hostname, str::to_string)
        .to_lowercase();
    let node_ip = flags.get("node-ip").filter(|s| !s.is_empty());
    c.required(
        flags,
        "kubeconfig",
        "the stand-in registers its Node through it",
    );
    let target = c.kubeconfig(flags, "kubeconfig");
    if let Some(t) = &target {
        c.take(t.expect_user(&format!("system:node:{name}"), Some("system:nodes")));
    }
    let config_path = c.required(
        flags,
        "config",
        "the stand-in reads its settings from KubeletConfiguration",
    );
    let config = config_path.and_then(|p| config::load(&mut c, p, node_ip));
    c.finish()?;
    let (target, config) = (target.expect("checked"), config.expect("checked"));
    let one = |e: String| vec![e];

    if config.anonymous {
        log!(
            "{}: authentication.anonymous.enabled is true; the stand-in still requires client certificates",
            config.path
        );
    }
    let tls_config =
        tls::server(&config.serving, ClientAuth::Required(&config.client_ca)).map_err(one)?;
    let listener = http::bind_ip(&config.address, config.port)
        .await
        .map_err(one)?;
    log!(
        "serving HTTPS on {} (client certificate required, CA {})",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        config.client_ca_file
    );
    http::spawn_server(listener, Some(tls_config), |req, peer| async move {
        let path = req.uri().path().to_string();
        let resp = match path.as_str() {
            "/healthz" => http::text(StatusCode::OK, "ok"),
            "/pods" => http::json(
                StatusCode::OK,
                &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}),
            ),
            _ => http::text(StatusCode::NOT_FOUND, "404 page not found"),
        };
        let who = peer
            .leaf()
            .and_then(|c| pki::identity(c).ok())
            .map_or("?".into(), |(cn, _)| cn);
        log!(
            "GET {path} from {} as {who}: {}",
            peer.addr,
            resp.status().as_u16()
        );
        resp
    });

    if config.healthz_port == 0 {
        log!("healthz server disabled (healthzPort 0)");
    } else {
        let listener = http::bind_ip(&config.healthz_address, config.healthz_port)
            .await
            .map_err(one)?;
        log!(
            "serving HTTP /healthz on {}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        http::spawn_server(listener, None, |req, _| async move {
            match req.uri().path() {
                "/healthz" => http::text(StatusCode::OK, "ok"),
                _ => http::text(StatusCode::NOT_FOUND, "404 page not found"),
            }
        });
    }

    let client = Arc::new(ApiClient::new(target).map_err(one)?);
    log!(
        "API server {} via {} as {}",
        client.server(),
        client.target.file,
        client.target.user
    );
    node::spawn(
        client,
        node::NodeInfo {
            name,
            ip: node_ip.map(str::to_string),
            kubelet_port: config.port,
            runtime_endpoint: config.runtime_endpoint,
            version,
        },
    );
    Ok(())
}
