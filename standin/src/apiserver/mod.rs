//! The kube-apiserver stand-in: TLS on `--secure-port` with client-certificate
//! authentication, resources stored as JSON in etcd, `/readyz` following etcd's health.

mod auth;
mod etcd;
mod exec;
mod handlers;
mod merge;
mod objects;
mod path;
mod routes;
mod setup;
mod store;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::flags::Flags;
use crate::http;
use crate::lists::Minor;
use crate::log::log;
use crate::tls::{self, ClientAuth};

pub async fn start(flags: &Flags, version: Minor) -> Result<(), Vec<String>> {
    let s = setup::check(flags)?;
    let one = |e: String| vec![e];

    let client = etcd::connect(&s.etcd_servers, &s.etcd_tls)
        .await
        .map_err(one)?;
    let mut per_endpoint = Vec::new();
    for url in &s.etcd_servers {
        let c = etcd::connect(std::slice::from_ref(url), &s.etcd_tls)
            .await
            .map_err(one)?;
        per_endpoint.push((url.clone(), c));
    }
    let ready = Arc::new(AtomicBool::new(false));
    let api = Arc::new(routes::Api {
        ctx: handlers::Ctx {
            store: store::Store::new(client),
            prefix: s.etcd_prefix.clone(),
        },
        ready: ready.clone(),
        anonymous: s.anonymous,
        client_ca: s.client_ca.clone(),
        version,
    });

    let for_bootstrap = api.clone();
    etcd::spawn_health(per_endpoint, ready, move || {
        let api = for_bootstrap.clone();
        tokio::spawn(async move {
            match handlers::system_namespaces(&api.ctx).await {
                Ok(()) => log!("system namespaces present"),
                Err(e) => log!("creating system namespaces failed: {e}"),
            }
        });
    });

    let config = tls::server(&s.serving, ClientAuth::Deferred(&s.client_ca)).map_err(one)?;
    let listener = http::bind_ip(&s.bind, s.port).await.map_err(one)?;
    log!(
        "serving HTTPS on {} (client CA {}, anonymous {}), etcd {:?} prefix {}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        s.client_ca_file,
        if s.anonymous {
            "allowed for /healthz /livez /readyz /version"
        } else {
            "refused"
        },
        s.etcd_servers,
        s.etcd_prefix
    );
    http::spawn_server(listener, Some(config), move |req, peer| {
        routes::serve(api.clone(), req, peer)
    });
    Ok(())
}
