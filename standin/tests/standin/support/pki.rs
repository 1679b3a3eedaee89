//! Test PKIs made with rcgen (ECDSA P-256) in a temporary directory.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// A certificate authority.
pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What a leaf is for.
#[derive(Clone, Copy)]
pub enum Kind {
    Server,
    Client,
    Both,
}

impl Clone for Ca {
    fn clone(&self) -> Ca {
        let key = KeyPair::from_pem(&self.key_pem).unwrap();
        Ca {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
            issuer: Issuer::from_ca_cert_pem(&self.cert_pem, key).unwrap(),
        }
    }
}

impl Ca {
    pub fn new(cn: &str) -> Ca {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf with common name `cn`, organizations `orgs` and subjectAltNames `sans`.
    pub fn leaf(&self, cn: &str, orgs: &[&str], sans: &[&str], kind: Kind) -> Leaf {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        for o in orgs {
            params.distinguished_name.push(DnType::OrganizationName, *o);
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = match kind {
            Kind::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Kind::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Kind::Both => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A loopback serving certificate (127.0.0.1, localhost).
    pub fn server(&self, cn: &str) -> Leaf {
        self.leaf(cn, &[], &["127.0.0.1", "localhost"], Kind::Server)
    }

    /// A client certificate.
    pub fn client(&self, cn: &str, orgs: &[&str]) -> Leaf {
        self.leaf(cn, orgs, &[], Kind::Client)
    }
}

/// A temporary directory of test files.
pub struct Dir {
    pub tmp: TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.tmp.path().join(name).to_string_lossy().into_owned()
    }

    /// Writes `content` to `name` and returns its path.
    pub fn write(&self, name: &str, content: &str) -> String {
        let path = self.path(name);
        if let Some(parent) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn ca(&self, name: &str, ca: &Ca) -> String {
        self.write(name, &ca.cert_pem)
    }

    /// Writes `<base>.crt` and `<base>.key`; returns both paths.
    pub fn leaf(&self, base: &str, leaf: &Leaf) -> (String, String) {
        (
            self.write(&format!("{base}.crt"), &leaf.cert_pem),
            self.write(&format!("{base}.key"), &leaf.key_pem),
        )
    }

    /// Writes a kubeconfig with embedded CA, client certificate and key.
    pub fn kubeconfig(&self, name: &str, server: &str, ca: &Ca, client: &Leaf) -> String {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
            b(&ca.cert_pem),
            b(&client.cert_pem),
            b(&client.key_pem)
        );
        self.write(name, &text)
    }
}
