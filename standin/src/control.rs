//! The kube-controller-manager and kube-scheduler stand-ins: checked files, `/healthz` over
//! TLS on 10257 / 10259 (client certificates optional, verified when sent), and the API loop.

use std::sync::Arc;

use hyper::StatusCode;

use crate::apiloop;
use crate::checks::Checks;
use crate::client::ApiClient;
use crate::compconfig::ComponentConfig;
use crate::component::Component;
use crate::flags::Flags;
use crate::http;
use crate::kubeconfig::ApiTarget;
use crate::log::log;
use crate::pki::{self, Usage};
use crate::tls::{self, ClientAuth};

/// Files controller-manager reads that the stand-in only checks for readability.
const CM_OTHER_FILES: [&str; 4] = [
    "cloud-config",
    "leader-migration-config",
    "pv-recycler-pod-template-filepath-hostpath",
    "pv-recycler-pod-template-filepath-nfs",
];

/// Signing CA pairs of kube-controller-manager.
const CM_SIGNING: [(&str, &str); 5] = [
    ("cluster-signing-cert-file", "cluster-signing-key-file"),
    (
        "cluster-signing-kube-apiserver-client-cert-file",
        "cluster-signing-kube-apiserver-client-key-file",
    ),
    (
        "cluster-signing-kubelet-client-cert-file",
        "cluster-signing-kubelet-client-key-file",
    ),
    (
        "cluster-signing-kubelet-serving-cert-file",
        "cluster-signing-kubelet-serving-key-file",
    ),
    (
        "cluster-signing-legacy-unknown-cert-file",
        "cluster-signing-legacy-unknown-key-file",
    ),
];

/// The main kubeconfig: `--kubeconfig` for controller-manager, the `--config` file's
/// clientConnection.kubeconfig for the scheduler (its `--kubeconfig` flag is deprecated).
fn main_kubeconfig(c: &mut Checks, flags: &Flags, component: Component) -> Option<ApiTarget> {
    if component == Component::ControllerManager {
        c.required(
            flags,
            "kubeconfig",
            "the stand-in talks to the API through it",
        );
        return c.kubeconfig(flags, "kubeconfig");
    }
    let path = c.required(
        flags,
        "config",
        "the scheduler's kubeconfig is named in its configuration file",
    )?;
    let config = c.take(ComponentConfig::load(
        path,
        &["kubescheduler.config.k8s.io/v1"],
        "KubeSchedulerConfiguration",
    ))?;
    let kubeconfig = c.take(config.required_str(&["clientConnection", "kubeconfig"]))?;
    c.take(
        crate::kubeconfig::load(kubeconfig)
            .map_err(|e| format!("{path}: clientConnection.kubeconfig: {e}")),
    )
}

pub async fn start(flags: &Flags, component: Component) -> Result<(), Vec<String>> {
    let mut c = Checks::default();
    let (default_port, user) = match component {
        Component::ControllerManager => (10257, "system:kube-controller-manager"),
        _ => (10259, "system:kube-scheduler"),
    };
    let target = main_kubeconfig(&mut c, flags, component);
    if let Some(t) = &target {
        c.take(t.expect_user(user, None));
    }
    c.kubeconfig(flags, "authentication-kubeconfig");
    c.kubeconfig(flags, "authorization-kubeconfig");
    let client_ca = c.ca(flags, "client-ca-file");
    c.ca(flags, "requestheader-client-ca-file");
    c.required(
        flags,
        "tls-cert-file",
        "the stand-in does not generate a serving certificate",
    );
    let serving = c.pair(
        flags,
        "tls-cert-file",
        "tls-private-key-file",
        Usage::Server,
    );
    if component == Component::ControllerManager {
        c.readable(flags, &CM_OTHER_FILES);
        c.ca(flags, "root-ca-file");
        for (cert, key) in CM_SIGNING {
            c.ca_pair(flags, cert, key);
        }
        if let Some(path) = flags.get("service-account-private-key-file") {
            c.take(
                pki::read(path)
                    .and_then(|pem| pki::parse_key(&pem, path))
                    .map(|_| ()),
            );
        }
    }
    let port = c.take(
        flags
            .get_or("secure-port", &default_port.to_string())
            .parse::<u16>()
            .map_err(|_| "--secure-port: not a port number".to_string()),
    );
    c.finish()?;
    let (target, (_, serving), port) = (
        target.expect("checked"),
        serving.expect("checked"),
        port.expect("checked"),
    );

    let one = |e: String| vec![e];
    let auth = match &client_ca {
        Some((_, ca)) => ClientAuth::Optional(ca),
        None => ClientAuth::None,
    };
    let config = tls::server(&serving, auth).map_err(one)?;
    let listener = http::bind_ip(flags.get_or("bind-address", "0.0.0.0"), port)
        .await
        .map_err(one)?;
    log!(
        "serving HTTPS /healthz on {} (client certificates {})",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        client_ca
            .as_ref()
            .map_or("not requested".to_string(), |(f, _)| format!(
                "optional, verified against {f}"
            ))
    );
    http::spawn_server(listener, Some(config), |req, peer| async move {
        let status = match req.uri().path() {
            "/healthz" | "/livez" | "/readyz" => StatusCode::OK,
            _ => StatusCode::NOT_FOUND,
        };
        let who = peer
            .leaf()
            .and_then(|c| pki::identity(c).ok())
            .map_or("anonymous".into(), |(cn, _)| cn);
        log!(
            "GET {} from {} as {who}: {}",
            req.uri().path(),
            peer.addr,
            status.as_u16()
        );
        http::text(
            status,
            if status == StatusCode::OK {
                "ok"
            } else {
                "not found"
            },
        )
    });
    let client = Arc::new(ApiClient::new(target).map_err(one)?);
    apiloop::spawn(client, Some(component.name()));
    Ok(())
}
