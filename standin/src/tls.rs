//! rustls configurations: servers with their serving certificate and client-certificate
//! policy, and clients that trust one CA and present one certificate.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::pki::{self, Pair};

/// Whether a server asks for client certificates, and which CA they must chain to.
pub enum ClientAuth<'a> {
    /// Do not ask.
    None,
    /// Ask; a certificate that is sent must chain to these CAs.
    Optional(&'a [CertificateDer<'static>]),
    /// Refuse the handshake without a certificate chaining to these CAs.
    Required(&'a [CertificateDer<'static>]),
    /// Ask, hinting these CAs; accept any certificate whose key the client proves to hold,
    /// and leave the chain check to the request handler (as kube-apiserver does, answering
    /// 401 rather than failing the handshake).
    Deferred(&'a [CertificateDer<'static>]),
}

/// Accepts any client certificate at the TLS layer, but checks the handshake signature.
#[derive(Debug)]
struct DeferredVerifier {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for DeferredVerifier {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn deferred(cas: &[CertificateDer<'static>]) -> Result<Arc<DeferredVerifier>, String> {
    let hints = cas
        .iter()
        .map(|ca| pki::parse(ca).map(|c| DistinguishedName::from(c.subject().as_raw().to_vec())))
        .collect::<Result<_, _>>()?;
    let algorithms = CryptoProvider::get_default()
        .map(|p| p.signature_verification_algorithms)
        .unwrap_or_else(|| {
            rustls::crypto::ring::default_provider().signature_verification_algorithms
        });
    Ok(Arc::new(DeferredVerifier { hints, algorithms }))
}

fn roots(cas: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    for ca in cas {
        store
            .add(ca.clone())
            .map_err(|e| format!("CA certificate not usable: {e}"))?;
    }
    Ok(Arc::new(store))
}

/// A TLS server configuration offering HTTP/1.1.
pub fn server(pair: &Pair, auth: ClientAuth<'_>) -> Result<Arc<ServerConfig>, String> {
    let builder = ServerConfig::builder();
    let builder = match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Deferred(cas) => builder.with_client_cert_verifier(deferred(cas)?),
        ClientAuth::Optional(cas) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(roots(cas)?)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("client verifier: {e}"))?,
        ),
        ClientAuth::Required(cas) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(roots(cas)?)
                .build()
                .map_err(|e| format!("client verifier: {e}"))?,
        ),
    };
    let mut config = builder
        .with_single_cert(pair.chain.clone(), pair.key.clone_key())
        .map_err(|e| format!("serving certificate not usable: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS client configuration trusting `cas` and presenting `identity`.
pub fn client(
    cas: &[CertificateDer<'static>],
    identity: &Pair,
) -> Result<Arc<ClientConfig>, String> {
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots(cas)?)
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| format!("client certificate not usable: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
