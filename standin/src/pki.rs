//! PEM certificates and keys: loading them and checking that a key matches its certificate,
//! that a leaf chains to its CA for the right usage, and that it is within its validity.

use std::net::IpAddr;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer, UnixTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate chain (leaf first) and the private key of its leaf.
#[derive(Debug)]
pub struct Pair {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Pair {
    fn clone(&self) -> Self {
        Pair {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// What a leaf is used for (checked against its extended key usage, when it has one).
#[derive(Clone, Copy, Debug)]
pub enum Usage {
    Server,
    Client,
}

/// Reads a file, naming it in the error.
pub fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: cannot read: {e}"))
}

/// Every certificate in a PEM text; at least one.
pub fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: bad PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no CERTIFICATE block"));
    }
    for c in &certs {
        parse(c).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(certs)
}

/// The private key in a PEM text (PKCS#8, PKCS#1 or SEC1).
pub fn parse_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("{what}: no usable private key: {e}"))
}

/// Parses a DER certificate.
pub fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, String> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| format!("not an X.509 certificate: {e}"))
}

/// CA certificates from PEM: each must be a CA and within its validity.
pub fn ca_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = parse_certs(pem, what)?;
    for der in &certs {
        let c = parse(der)?;
        if !c.is_ca() {
            return Err(format!(
                "{what}: {} is not a CA certificate (basicConstraints CA:TRUE missing)",
                c.subject()
            ));
        }
        check_validity(&c).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(certs)
}

/// Loads CA certificates from a file.
pub fn load_ca(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    ca_from_pem(&read(path)?, path)
}

/// A certificate and key from PEM: the key must match the leaf, which must be valid now and
/// carry `usage` if it lists extended key usages.
pub fn pair_from_pem(
    cert_pem: &[u8],
    cert_what: &str,
    key_pem: &[u8],
    key_what: &str,
    usage: Usage,
) -> Result<Pair, String> {
    let chain = parse_certs(cert_pem, cert_what)?;
    let key = parse_key(key_pem, key_what)?;
    let leaf = parse(&chain[0])?;
    check_validity(&leaf).map_err(|e| format!("{cert_what}: {e}"))?;
    check_usage(&leaf, usage).map_err(|e| format!("{cert_what}: {e}"))?;
    key_matches(&chain[0], &key)
        .map_err(|e| format!("{key_what}: {e} (certificate {cert_what})"))?;
    Ok(Pair { chain, key })
}

/// Loads a certificate file and its key file (see [`pair_from_pem`]).
pub fn load_pair(cert_path: &str, key_path: &str, usage: Usage) -> Result<Pair, String> {
    pair_from_pem(
        &read(cert_path)?,
        cert_path,
        &read(key_path)?,
        key_path,
        usage,
    )
}

fn check_validity(c: &X509Certificate<'_>) -> Result<(), String> {
    let v = c.validity();
    if v.is_valid() {
        Ok(())
    } else {
        Err(format!(
            "certificate {} is outside its validity ({} .. {})",
            c.subject(),
            v.not_before,
            v.not_after
        ))
    }
}

fn check_usage(c: &X509Certificate<'_>, usage: Usage) -> Result<(), String> {
    let eku = c
        .extended_key_usage()
        .map_err(|e| format!("bad extendedKeyUsage: {e}"))?;
    let Some(eku) = eku else { return Ok(()) };
    let ok = match usage {
        Usage::Server => eku.value.server_auth,
        Usage::Client => eku.value.client_auth,
    };
    if ok || eku.value.any {
        Ok(())
    } else {
        Err(format!(
            "certificate {} lacks the {} extended key usage",
            c.subject(),
            match usage {
                Usage::Server => "serverAuth",
                Usage::Client => "clientAuth",
            }
        ))
    }
}

fn provider() -> std::sync::Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()))
}

/// The public key (SubjectPublicKeyInfo DER) of a private key.
pub fn public_of(key: &PrivateKeyDer<'_>) -> Result<Vec<u8>, String> {
    let signer = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("unsupported private key: {e}"))?;
    signer
        .public_key()
        .map(|spki| spki.as_ref().to_vec())
        .ok_or_else(|| "cannot derive the public key of this private key".to_string())
}

/// Checks that `key` is the private key of `cert`.
pub fn key_matches(cert: &CertificateDer<'_>, key: &PrivateKeyDer<'_>) -> Result<(), String> {
    let c = parse(cert)?;
    if public_of(key)? == c.public_key().raw {
        Ok(())
    } else {
        Err(format!(
            "private key does not match certificate {}",
            c.subject()
        ))
    }
}

/// Checks that the leaf of `chain` chains to one of `roots` for `usage`, now.
pub fn verify_chain(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    usage: Usage,
) -> Result<(), String> {
    let anchors = roots
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA certificate unusable as trust anchor: {e:?}"))?;
    let leaf = chain.first().ok_or("empty certificate chain")?;
    let ee = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("leaf certificate unusable: {e:?}"))?;
    let eku = match usage {
        Usage::Server => webpki::KeyUsage::server_auth(),
        Usage::Client => webpki::KeyUsage::client_auth(),
    };
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &chain[1..],
        UnixTime::now(),
        eku,
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| {
        let subject = parse(leaf)
            .map(|c| c.subject().to_string())
            .unwrap_or_default();
        match e {
            webpki::Error::UnknownIssuer => {
                format!("certificate {subject} is not signed by the given CA")
            }
            other => {
                format!("certificate {subject} does not verify against the given CA: {other:?}")
            }
        }
    })
}

/// Subject common name and organizations of a certificate.
pub fn identity(cert: &CertificateDer<'_>) -> Result<(String, Vec<String>), String> {
    let c = parse(cert)?;
    let cn = c
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .next()
        .unwrap_or("")
        .to_string();
    let orgs = c
        .subject()
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(String::from))
        .collect();
    Ok((cn, orgs))
}

/// IP addresses in a certificate's subjectAltName.
pub fn ip_sans(cert: &CertificateDer<'_>) -> Result<Vec<IpAddr>, String> {
    let c = parse(cert)?;
    let san = c
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?;
    let mut ips = Vec::new();
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        if let GeneralName::IPAddress(bytes) = name {
            match bytes.len() {
                4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes"))),
                16 => ips.push(IpAddr::from(
                    <[u8; 16]>::try_from(*bytes).expect("16 bytes"),
                )),
                _ => {}
            }
        }
    }
    Ok(ips)
}

/// Public keys (SubjectPublicKeyInfo DER) in a PEM text: PUBLIC KEY blocks, certificates'
/// keys and private keys' public halves, as kube-apiserver's `--service-account-key-file` takes.
pub fn public_keys(pem: &[u8], what: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut keys: Vec<Vec<u8>> = SubjectPublicKeyInfoDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .map(|k| k.as_ref().to_vec())
        .collect();
    for cert in CertificateDer::pem_slice_iter(pem).filter_map(Result::ok) {
        keys.push(parse(&cert)?.public_key().raw.to_vec());
    }
    if let Ok(key) = PrivateKeyDer::from_pem_slice(pem) {
        keys.push(public_of(&key).map_err(|e| format!("{what}: {e}"))?);
    }
    if keys.is_empty() {
        return Err(format!(
            "{what}: no public key, certificate or private key found"
        ));
    }
    Ok(keys)
}
