//! The apiserver's start-up checks: every certificate, key and file its flags name, and how
//! they relate (leaves chain to their CAs, keys match, service-account keys pair up).

use rustls_pki_types::CertificateDer;

use crate::apiserver::etcd::EtcdTls;
use crate::checks::Checks;
use crate::flags::Flags;
use crate::pki::{self, Pair, Usage};

/// What the apiserver runs with, once checked.
pub struct Setup {
    pub bind: String,
    pub port: u16,
    pub serving: Pair,
    pub client_ca: Vec<CertificateDer<'static>>,
    pub client_ca_file: String,
    pub anonymous: bool,
    pub etcd_servers: Vec<String>,
    pub etcd_tls: EtcdTls,
    pub etcd_prefix: String,
}

/// Files the real apiserver reads at start; the stand-in only checks they are readable.
const OTHER_FILES: [&str; 14] = [
    "admission-control-config-file",
    "audit-policy-file",
    "audit-webhook-config-file",
    "authentication-config",
    "authentication-token-webhook-config-file",
    "authorization-config",
    "authorization-policy-file",
    "authorization-webhook-config-file",
    "egress-selector-config-file",
    "encryption-provider-config",
    "oidc-ca-file",
    "peer-ca-file",
    "token-auth-file",
    "tracing-config-file",
];

pub fn check(flags: &Flags) -> Result<Setup, Vec<String>> {
    let mut c = Checks::default();
    c.readable(flags, &OTHER_FILES);

    let port = c.take(
        flags
            .get_or("secure-port", "6443")
            .parse::<u16>()
            .map_err(|_| "--secure-port: not a port number".to_string()),
    );
    let anonymous = c.take(flags.bool("anonymous-auth", true));

    // Serving and client authentication.
    c.required(
        flags,
        "tls-cert-file",
        "the stand-in does not generate a serving certificate",
    );
    c.required(
        flags,
        "client-ca-file",
        "client certificates are the cluster's authentication",
    );
    let serving = c.pair(
        flags,
        "tls-cert-file",
        "tls-private-key-file",
        Usage::Server,
    );
    let client_ca = c.ca(flags, "client-ca-file");

    // Kubelet client: kubelets trust the cluster CA, which is --client-ca-file.
    c.ca(flags, "kubelet-certificate-authority");
    let kubelet_client = c.pair(
        flags,
        "kubelet-client-certificate",
        "kubelet-client-key",
        Usage::Client,
    );
    if let (Some((what, pair)), Some((ca_what, ca))) = (&kubelet_client, &client_ca) {
        c.chained(pair, what, ca, ca_what, Usage::Client);
    }

    // Front proxy: its client certificate must chain to the requestheader CA.
    let rh_ca = c.ca(flags, "requestheader-client-ca-file");
    let proxy = c.pair(
        flags,
        "proxy-client-cert-file",
        "proxy-client-key-file",
        Usage::Client,
    );
    match (&proxy, &rh_ca) {
        (Some((what, pair)), Some((ca_what, ca))) => {
            c.chained(pair, what, ca, ca_what, Usage::Client)
        }
        (Some(_), None) => {
            c.problem("--proxy-client-cert-file needs --requestheader-client-ca-file".into())
        }
        _ => {}
    }

    // Service accounts.
    c.required(
        flags,
        "service-account-issuer",
        "required by kube-apiserver",
    );
    let signing = c.required(
        flags,
        "service-account-signing-key-file",
        "required by kube-apiserver",
    );
    let verify_file = flags
        .get("service-account-key-file")
        .or_else(|| flags.get("tls-private-key-file"));
    if let (Some(signing), Some(verify_file)) = (signing, verify_file) {
        let signing_pub = pki::read(signing)
            .and_then(|pem| pki::parse_key(&pem, signing))
            .and_then(|k| pki::public_of(&k).map_err(|e| format!("{signing}: {e}")));
        let verify = pki::read(verify_file).and_then(|pem| pki::public_keys(&pem, verify_file));
        if let (Some(public), Some(keys)) = (c.take(signing_pub), c.take(verify))
            && !keys.contains(&public)
        {
            c.problem(format!(
                "--service-account-key-file {verify_file}: does not hold the public key of --service-account-signing-key-file {signing}"
            ));
        }
    }

    // etcd.
    let servers = flags.list("etcd-servers");
    if servers.is_empty() {
        c.problem("--etcd-servers is required".into());
    }
    for s in &servers {
        if !s.starts_with("https://") {
            c.problem(format!(
                "--etcd-servers: {s} is not https:// (etcd requires TLS here)"
            ));
        }
    }
    let etcd_ca = c.required(flags, "etcd-cafile", "etcd is served over TLS");
    let etcd_cert = c.required(flags, "etcd-certfile", "etcd requires client certificates");
    c.required(flags, "etcd-keyfile", "etcd requires client certificates");
    let etcd_ca_certs = c.ca(flags, "etcd-cafile");
    let etcd_pair = c.pair(flags, "etcd-certfile", "etcd-keyfile", Usage::Client);
    if let (Some((what, pair)), Some((ca_what, ca))) = (&etcd_pair, &etcd_ca_certs) {
        c.chained(pair, what, ca, ca_what, Usage::Client);
    }

    c.finish()?;
    let (_, serving) = serving.expect("checked");
    let (client_ca_file, client_ca) = client_ca.expect("checked");
    let read = |p: Option<&str>| pki::read(p.expect("checked")).expect("read during checks");
    Ok(Setup {
        bind: flags.get_or("bind-address", "0.0.0.0").to_string(),
        port: port.expect("checked"),
        serving,
        client_ca,
        client_ca_file,
        anonymous: anonymous.expect("checked"),
        etcd_tls: EtcdTls {
            ca: read(etcd_ca),
            cert: read(etcd_cert),
            key: read(flags.get("etcd-keyfile")),
        },
        etcd_servers: servers,
        etcd_prefix: flags.get_or("etcd-prefix", "/registry").to_string(),
    })
}
