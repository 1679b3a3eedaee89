//! The kube-proxy stand-in: checked kubeconfig (system:kube-proxy), `/healthz` over plain
//! HTTP on `--healthz-bind-address` (10256), and the API loop.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use crate::apiloop;
use crate::checks::Checks;
use crate::client::ApiClient;
use crate::clock;
use crate::compconfig::ComponentConfig;
use crate::flags::Flags;
use crate::http;
use crate::log::log;

pub async fn start(flags: &Flags) -> Result<(), Vec<String>> {
    let mut c = Checks::default();
    let config = flags.get("config").and_then(|path| {
        c.take(ComponentConfig::load(
            path,
            &["kubeproxy.config.k8s.io/v1alpha1"],
            "KubeProxyConfiguration",
        ))
    });
    // A flag overrides the configuration file, as in the real kube-proxy.
    let target = match (
        flags.get("kubeconfig"),
        config
            .as_ref()
            .and_then(|c| c.str_at(&["clientConnection", "kubeconfig"])),
    ) {
        (Some(_), _) => c.kubeconfig(flags, "kubeconfig"),
        (None, Some(path)) => c.take(
            crate::kubeconfig::load(path)
                .map_err(|e| format!("--config clientConnection.kubeconfig: {e}")),
        ),
        (None, None) => {
            c.problem(
                "--kubeconfig (or clientConnection.kubeconfig in --config) is required".into(),
            );
            None
        }
    };
    if let Some(t) = &target {
        c.take(t.expect_user("system:kube-proxy", None));
    }
    c.finish()?;
    let one = |e: String| vec![e];
    let healthz = flags
        .get("healthz-bind-address")
        .or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.str_at(&["healthzBindAddress"]))
        })
        .unwrap_or("0.0.0.0:10256")
        .to_string();
    if healthz.is_empty() {
        log!("healthz server disabled (empty --healthz-bind-address)");
    } else {
        let listener = http::bind_hostport(&healthz, 10256).await.map_err(one)?;
        log!(
            "serving HTTP /healthz on {}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        http::spawn_server(listener, None, |req, peer| async move {
            let path = req.uri().path().to_string();
            let resp = match path.as_str() {
                "/healthz" | "/livez" => http::json(
                    StatusCode::OK,
                    &json!({"lastUpdated": clock::now(), "currentTime": clock::now()}),
                ),
                _ => http::text(StatusCode::NOT_FOUND, "404 page not found"),
            };
            log!("GET {path} from {}: {}", peer.addr, resp.status().as_u16());
            resp
        });
    }
    let client = Arc::new(ApiClient::new(target.expect("checked")).map_err(one)?);
    apiloop::spawn(client, None);
    Ok(())
}
