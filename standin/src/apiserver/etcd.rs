//! The apiserver's etcd side: mTLS clients from the `--etcd-*` flags, and the once-a-second
//! health poll of every endpoint that drives `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::log::log;

/// PEM texts for the etcd connection (already checked).
pub struct EtcdTls {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

/// A client for `endpoints` (load-balanced when several); connects lazily.
pub async fn connect(endpoints: &[String], tls: &EtcdTls) -> Result<Client, String> {
    let tls_options = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(&tls.ca))
        .identity(Identity::from_pem(&tls.cert, &tls.key))
        .assume_http2(true);
    let options = ConnectOptions::new()
        .with_tls(tls_options)
        .with_connect_timeout(Duration::from_secs(1))
        .with_timeout(Duration::from_secs(3));
    Client::connect(endpoints, Some(options))
        .await
        .map_err(|e| format!("etcd client for {endpoints:?}: {e}"))
}

/// Polls every endpoint once a second; `ready` holds whether any answered in the last round.
/// Each change of an endpoint's state is logged; on becoming ready, `on_ready` runs.
pub fn spawn_health(
    endpoints: Vec<(String, Client)>,
    ready: Arc<AtomicBool>,
    on_ready: impl Fn() + Send + 'static,
) {
    tokio::spawn(async move {
        let mut last: Vec<Option<bool>> = vec![None; endpoints.len()];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            // Every endpoint at once, so that dead ones do not stretch the period.
            let probes: Vec<_> = endpoints
                .iter()
                .map(|(_, client)| {
                    let mut c = client.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(Duration::from_millis(900), c.status()).await {
                            Ok(Ok(s)) => Ok(s.version().to_string()),
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(_) => Err("no answer within 900 ms".to_string()),
                        }
                    })
                })
                .collect();
            let mut any = false;
            for (i, probe) in probes.into_iter().enumerate() {
                let result = probe
                    .await
                    .unwrap_or_else(|e| Err(format!("probe failed: {e}")));
                let ok = result.is_ok();
                if last[i] != Some(ok) {
                    let url = &endpoints[i].0;
                    match result {
                        Ok(version) => log!("etcd {url} healthy (version {version})"),
                        Err(e) => log!("etcd {url} unhealthy: {e}"),
                    }
                    last[i] = Some(ok);
                }
                any |= ok;
            }
            let was = ready.swap(any, Ordering::SeqCst);
            if any && !was {
                log!("ready: etcd answers");
                on_ready();
            } else if !any && was {
                log!("not ready: no etcd endpoint answers");
            }
        }
    });
}
