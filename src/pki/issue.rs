//! Making keys and certificates with rcgen. Every key is ECDSA P-256 (ring cannot generate
//! RSA), written as PKCS#8 PEM; public keys as SubjectPublicKeyInfo PEM.

use super::catalog::{CaKind, LeafSpec};
use super::{PkiError, San, inspect};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A CA ready to sign: its PEMs plus what is needed to check leaves against it.
pub(crate) struct LoadedCa {
    pub kind: CaKind,
    pub pem: KeyedCert,
    pub issuer: Issuer<'static, KeyPair>,
    /// DER of the CA's subject name, which must equal every leaf's issuer name.
    pub subject_der: Vec<u8>,
}

impl LoadedCa {
    /// What checking a leaf against this CA needs.
    pub(crate) fn check(&self) -> inspect::CaCheck<'_> {
        inspect::CaCheck {
            cert_pem: &self.pem.cert_pem,
            subject_der: &self.subject_der,
            common_name: self.kind.common_name(),
        }
    }

    /// Check a stored CA (parses, is a CA, key matches) and prepare it for signing.
    /// The error is the problem in words; the caller adds the file name.
    pub(crate) fn from_pem(kind: CaKind, pem: KeyedCert) -> Result<LoadedCa, String> {
        let facts = inspect::ca_facts(&pem.cert_pem, &pem.key_pem)?;
        let key = KeyPair::from_pem(&pem.key_pem).map_err(|e| format!("unreadable key: {e}"))?;
        let issuer = Issuer::from_ca_cert_pem(&pem.cert_pem, key)
            .map_err(|e| format!("unusable certificate: {e}"))?;
        Ok(LoadedCa {
            kind,
            pem,
            issuer,
            subject_der: facts.subject_der,
        })
    }
}

/// `[not_before, not_before + days]`, whole seconds.
pub(crate) fn validity(
    not_before: OffsetDateTime,
    days: u32,
) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    let start = not_before
        .replace_nanosecond(0)
        .map_err(|e| PkiError::invalid(format!("bad not_before: {e}"), "pass a normal date"))?;
    let end = start
        .checked_add(Duration::days(i64::from(days)))
        .ok_or_else(|| {
            PkiError::invalid(
                format!("{days} days after {start} is not a representable date"),
                "use a shorter certificate validity",
            )
        })?;
    Ok((start, end))
}

fn new_key(file: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Generate {
        file: file.to_string(),
        source,
    })
}

fn gen_err(file: &str) -> impl Fn(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Generate {
        file: file.to_string(),
        source,
    }
}

/// A new self-signed CA (BasicConstraints CA, KeyCertSign + CRLSign + DigitalSignature).
pub(crate) fn new_ca(
    kind: CaKind,
    not_before: OffsetDateTime,
    days: u32,
) -> Result<KeyedCert, PkiError> {
    let file = format!("{}.crt", kind.stem());
    let (start, end) = validity(not_before, days)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, kind.common_name());
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    params.not_before = start;
    params.not_after = end;
    let key = new_key(&file)?;
    let cert = params.self_signed(&key).map_err(gen_err(&file))?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issue the leaf `spec` from `ca` with a fresh key.
pub(crate) fn issue_leaf(
    spec: &LeafSpec,
    ca: &LoadedCa,
    not_before: OffsetDateTime,
    days: u32,
) -> Result<KeyedCert, PkiError> {
    let file = format!("{}.crt", spec.stem);
    let (start, end) = validity(not_before, days)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, spec.common_name.as_str());
    for org in &spec.organizations {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org.as_str());
    }
    params.subject_alt_names = spec
        .sans
        .iter()
        .map(|san| match san {
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            San::Dns(name) => name.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()
        .map_err(gen_err(&file))?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if spec.usage.server_auth() {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if spec.usage.client_auth() {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.use_authority_key_identifier_extension = true;
    params.not_before = start;
    params.not_after = end;
    let key = new_key(&file)?;
    let cert = params.signed_by(&key, &ca.issuer).map_err(gen_err(&file))?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A new service-account key pair: (`sa.key` PKCS#8 PEM, `sa.pub` SPKI PEM).
pub(crate) fn new_sa_key() -> Result<(String, String), PkiError> {
    let key = new_key("sa.key")?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

/// The SubjectPublicKeyInfo PEM of a private key PEM.
pub(crate) fn public_pem_of(key_pem: &str) -> Result<String, String> {
    KeyPair::from_pem(key_pem)
        .map(|k| k.public_key_pem())
        .map_err(|e| format!("unreadable private key: {e}"))
}
