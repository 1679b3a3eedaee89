//! The TLS material of a sandbox's registry, made with rcgen: a CA of its own, used once to
//! sign the registry's serving certificate and then dropped (its key is never written
//! anywhere), and that certificate for the registry's host name and address. The nodes'
//! Docker engines trust the CA certificate; nothing else does.

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

use super::error::SandboxError;

/// How long the CA and the serving certificate are valid: a sandbox lives for hours.
const VALID_DAYS: i64 = 30;

/// The CA's common name.
const CA_NAME: &str = "k8s-manage sandbox registry CA";

/// What the registry and its clients need, PEM.
pub struct RegistryTls {
    /// The CA certificate the nodes trust.
    pub ca_cert_pem: String,
    /// The registry's serving certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8); secret: only ever written mode 0600 into the registry.
    pub key_pem: String,
}

impl std::fmt::Debug for RegistryTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryTls")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<secret>")
            .finish()
    }
}

fn tls_error(what: &str) -> impl Fn(rcgen::Error) -> SandboxError + '_ {
    move |e| SandboxError::Registry {
        reason: format!("making the {what}: {e}"),
    }
}

/// A fresh ECDSA P-256 key.
fn new_key(what: &str) -> Result<KeyPair, SandboxError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(tls_error(what))
}

/// Validity from an hour ago (clock skew) to [`VALID_DAYS`] from now, whole seconds.
fn validity() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    (now - Duration::hours(1), now + Duration::days(VALID_DAYS))
}

/// A self-signed CA that may sign serving certificates only.
fn new_ca() -> Result<(String, Issuer<'static, KeyPair>), SandboxError> {
    let (not_before, not_after) = validity();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = not_before;
    params.not_after = not_after;
    let key = new_key("registry CA key")?;
    let cert = params
        .self_signed(&key)
        .map_err(tls_error("registry CA certificate"))?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// Make a CA and, signed by it, a serving certificate for `host` and `address`.
pub fn issue(host: &str, address: Ipv4Addr) -> Result<RegistryTls, SandboxError> {
    let (ca_cert_pem, ca) = new_ca()?;
    let (not_before, not_after) = validity();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, host);
    let dns_name = host
        .to_string()
        .try_into()
        .map_err(tls_error("registry certificate's host name"))?;
    params.subject_alt_names = vec![
        SanType::DnsName(dns_name),
        SanType::IpAddress(IpAddr::V4(address)),
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    let key = new_key("registry key")?;
    let cert = params
        .signed_by(&key, &ca)
        .map_err(tls_error("registry certificate"))?;
    Ok(RegistryTls {
        ca_cert_pem,
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    fn der(pem: &str) -> CertificateDer<'static> {
        rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .expect("one certificate")
            .expect("valid PEM")
    }

    /// Whether a client trusting only `ca_pem` accepts `cert_pem` for `name`, as the
    /// nodes' Docker engines (Go's crypto/tls) check it.
    fn accepted(ca_pem: &str, cert_pem: &str, name: &str) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(ca_pem)).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify_server_cert(&der(cert_pem), &[], &name, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn the_certificate_chains_to_its_ca_for_the_host_and_address_only() {
        let tls = issue("registry.example.test", Ipv4Addr::new(172, 30, 0, 10)).unwrap();
        assert!(accepted(
            &tls.ca_cert_pem,
            &tls.cert_pem,
            "registry.example.test"
        ));
        assert!(accepted(&tls.ca_cert_pem, &tls.cert_pem, "172.30.0.10"));
        assert!(!accepted(&tls.ca_cert_pem, &tls.cert_pem, "other.test"));
        let other = issue("registry.example.test", Ipv4Addr::new(172, 30, 0, 10)).unwrap();
        assert!(!accepted(
            &other.ca_cert_pem,
            &tls.cert_pem,
            "registry.example.test"
        ));
    }

    #[test]
    fn the_key_is_pkcs8_and_kept_out_of_debug_output() {
        let tls = issue("registry.example.test", Ipv4Addr::new(10, 0, 0, 1)).unwrap();
        assert!(tls.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(!format!("{tls:?}").contains(&tls.key_pem));
    }
}
