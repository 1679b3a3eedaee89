//! A real etcd (Debian's /usr/bin/etcd) on loopback with TLS and client-certificate auth,
//! and a way to read keys from it.

use std::process::Command;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use super::pki::Dir;
use super::proc::{Proc, free_port};
use super::setups::EtcdPki;

pub const ETCD: &str = "/usr/bin/etcd";

/// A running etcd; killed when dropped.
pub struct Etcd {
    pub proc: Proc,
    pub url: String,
}

/// Starts etcd serving clients on 127.0.0.1:`client_port` (TLS, client certificates
/// required, peers too); waits at most 30 s for it to serve.
pub fn start(dir: &Dir, pki: &EtcdPki, client_port: u16) -> Etcd {
    let url = format!("https://127.0.0.1:{client_port}");
    let peer = format!("https://127.0.0.1:{}", free_port());
    let mut cmd = Command::new(ETCD);
    cmd.args([
        "--name=standin-test",
        &format!("--data-dir={}", dir.path("etcd-data")),
        &format!("--listen-client-urls={url}"),
        &format!("--advertise-client-urls={url}"),
        &format!("--listen-peer-urls={peer}"),
        &format!("--initial-advertise-peer-urls={peer}"),
        &format!("--initial-cluster=standin-test={peer}"),
        "--initial-cluster-state=new",
        &format!("--cert-file={}", pki.server_cert),
        &format!("--key-file={}", pki.server_key),
        &format!("--trusted-ca-file={}", pki.ca_file),
        "--client-cert-auth",
        &format!("--peer-cert-file={}", pki.server_cert),
        &format!("--peer-key-file={}", pki.server_key),
        &format!("--peer-trusted-ca-file={}", pki.ca_file),
        "--peer-client-cert-auth",
        "--logger=zap",
        "--log-outputs=stderr",
    ]);
    let proc = Proc::spawn(cmd);
    assert!(
        proc.wait_log("serving client traffic", Duration::from_secs(30)),
        "etcd did not start:\n{}",
        proc.log()
    );
    Etcd { proc, url }
}

/// Reads `key` from etcd at `url` with a client certificate from its CA; bounded to 10 s.
pub fn get(url: &str, pki: &EtcdPki, key: &str) -> Option<String> {
    let client = pki.ca.client("etcd-test-reader", &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tls = TlsOptions::new()
            .ca_certificate(Certificate::from_pem(&pki.ca.cert_pem))
            .identity(Identity::from_pem(&client.cert_pem, &client.key_pem))
            .assume_http2(true);
        let options = ConnectOptions::new()
            .with_tls(tls)
            .with_timeout(Duration::from_secs(5));
        let read = async {
            let mut c = Client::connect([url], Some(options)).await.unwrap();
            let resp = c.get(key, None).await.unwrap();
            resp.kvs()
                .first()
                .map(|kv| kv.value_str().unwrap().to_string())
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("etcd read timed out")
    })
}
