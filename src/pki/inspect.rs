//! Reading PEM certificates back with x509-parser: the facts a later `cert check` shows
//! ([`CertInfo`]) and the checks that decide whether a stored certificate can be reused.

use super::San;
use super::catalog::LeafSpec;
use rcgen::KeyPair;
use std::collections::BTreeSet;
use std::net::IpAddr;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Storage name relative to the PKI directory, without extension: `ca`, `etcd/ca`,
    /// `apiserver`, `clients/admin`, `hosts/<hostname>/etcd/server`, ...
    pub name: String,
    pub subject_cn: String,
    pub subject_orgs: Vec<String>,
    pub sans: Vec<San>,
    pub issuer_cn: String,
    pub is_ca: bool,
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Decode the first PEM block of `pem` if it is a certificate.
pub(crate) fn cert_der(pem: &str) -> Result<Vec<u8>, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM file: {e}"))?;
    if block.label != "CERTIFICATE" {
        return Err(format!("PEM block is {:?}, not CERTIFICATE", block.label));
    }
    Ok(block.contents)
}

/// Run `f` on the parsed certificate in `pem`.
fn with_cert<T>(
    pem: &str,
    f: impl FnOnce(&X509Certificate<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let der = cert_der(pem)?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    f(&cert)
}

fn first_cn(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn sans_of(cert: &X509Certificate<'_>) -> Result<Vec<San>, String> {
    let ext = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?;
    let mut out = Vec::new();
    for name in ext.iter().flat_map(|e| e.value.general_names.iter()) {
        out.push(match name {
            GeneralName::DNSName(d) => San::Dns((*d).to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => San::Ip(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
                16 => San::Ip(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
                n => return Err(format!("IP SAN of {n} bytes")),
            },
            other => return Err(format!("unexpected SAN {other}")),
        });
    }
    Ok(out)
}

fn is_ca(cert: &X509Certificate<'_>) -> bool {
    matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
}

/// Facts about a certificate PEM, for `cert check`.
pub(crate) fn cert_info(name: &str, pem: &str) -> Result<CertInfo, String> {
    with_cert(pem, |c| {
        Ok(CertInfo {
            name: name.to_string(),
            subject_cn: first_cn(c.subject()),
            subject_orgs: c
                .subject()
                .iter_organization()
                .filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect(),
            sans: sans_of(c)?,
            issuer_cn: first_cn(c.issuer()),
            is_ca: is_ca(c),
            serial_hex: hex::encode(c.raw_serial()),
            not_before: c.validity().not_before.to_datetime(),
            not_after: c.validity().not_after.to_datetime(),
        })
    })
}

/// Whether the private key PEM belongs to the certificate PEM.
pub(crate) fn key_matches(cert: &X509Certificate<'_>, key_pem: &str) -> Result<bool, String> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| format!("unreadable private key: {e}"))?;
    Ok(key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref())
}

/// Whether the private key PEM belongs to the certificate PEM (PEM-level convenience).
pub fn key_matches_cert(cert_pem: &str, key_pem: &str) -> Result<bool, String> {
    with_cert(cert_pem, |c| key_matches(c, key_pem))
}

/// What `issue::LoadedCa` needs from a stored CA certificate.
pub(crate) struct CaFacts {
    pub subject_der: Vec<u8>,
}

/// Check that a stored CA is a self-consistent CA: parses, has BasicConstraints CA, its
/// key matches, and it is self-signed.
pub(crate) fn ca_facts(cert_pem: &str, key_pem: &str) -> Result<CaFacts, String> {
    with_cert(cert_pem, |c| {
        if !is_ca(c) {
            return Err("the certificate is not a CA (BasicConstraints CA missing)".into());
        }
        if !key_matches(c, key_pem)? {
            return Err("the key does not belong to the certificate".into());
        }
        c.verify_signature(None)
            .map_err(|e| format!("the certificate is not self-signed by its key: {e}"))?;
        Ok(CaFacts {
            subject_der: c.subject().as_raw().to_vec(),
        })
    })
}

/// What checking a leaf needs of its CA (`issue::LoadedCa` gives it; this module does not
/// depend on `issue`).
pub(crate) struct CaCheck<'a> {
    pub cert_pem: &'a str,
    /// DER of the CA's subject name, which must equal the leaf's issuer name.
    pub subject_der: &'a [u8],
    pub common_name: &'a str,
}

/// Check that a stored leaf can be kept for `spec`: parses, signed by `ca`, key matches,
/// and subject, SANs and extended key usage are exactly what the spec asks. Validity dates
/// are not checked here (expiry is the job of cert rotation). `Err` says why not.
pub(crate) fn leaf_matches(
    spec: &LeafSpec,
    cert_pem: &str,
    key_pem: &str,
    ca: &CaCheck<'_>,
) -> Result<(), String> {
    let ca_spki = with_cert(ca.cert_pem, |c| Ok(c.public_key().raw.to_vec()))?;
    with_cert(cert_pem, |c| {
        if c.issuer().as_raw() != ca.subject_der {
            return Err(format!("issuer is not {}", ca.common_name));
        }
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&ca_spki)
            .map_err(|e| e.to_string())?;
        c.verify_signature(Some(&spki))
            .map_err(|e| format!("not signed by the current {}: {e}", ca.common_name))?;
        if !key_matches(c, key_pem)? {
            return Err("key does not belong to the certificate".into());
        }
        let cn = first_cn(c.subject());
        if cn != spec.common_name {
            return Err(format!("CN is {cn:?}, want {:?}", spec.common_name));
        }
        let orgs: BTreeSet<String> = c
            .subject()
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
        let want_orgs: BTreeSet<String> = spec.organizations.iter().cloned().collect();
        if orgs != want_orgs {
            return Err(format!("O is {orgs:?}, want {want_orgs:?}"));
        }
        let sans: BTreeSet<San> = sans_of(c)?.into_iter().collect();
        let want_sans: BTreeSet<San> = spec.sans.iter().cloned().collect();
        if sans != want_sans {
            return Err(format!("SANs are {sans:?}, want {want_sans:?}"));
        }
        let (server, client) = match c.extended_key_usage() {
            Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
            Ok(None) => (false, false),
            Err(e) => return Err(format!("bad extendedKeyUsage: {e}")),
        };
        if (server, client) != (spec.usage.server_auth(), spec.usage.client_auth()) {
            return Err(format!(
                "usage is server={server} client={client}, want {:?}",
                spec.usage
            ));
        }
        Ok(())
    })
}
