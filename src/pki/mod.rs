//! The cluster PKI: three CAs (kubeadm names), the service-account key pair, and every leaf
//! certificate the cluster needs, all ECDSA P-256.
//!
//! On the control host the PKI lives in `DIR/.k8s-manage/pki/` (directories 0700, every file
//! 0600), laid out as:
//!
//! ```text
//! ca.crt ca.key  front-proxy-ca.crt front-proxy-ca.key  etcd/ca.crt etcd/ca.key  sa.key sa.pub
//! apiserver.*  apiserver-kubelet-client.*  apiserver-etcd-client.*  front-proxy-client.*
//! etcd/healthcheck-client.*  lb-healthcheck.*                  (cluster-wide leaves)
//! clients/{admin,kube-controller-manager,kube-scheduler,kube-proxy}.*   (kubeconfig users)
//! hosts/<hostname>/etcd/{server,peer}.*  hosts/<hostname>/{controller-manager,scheduler}.*
//!                                                             (each master)
//! hosts/<hostname>/kubelet.*  hosts/<hostname>/kubelet-client.*  (each node)
//! ```
//!
//! CAs are created once and replaced only by `cert rotate --ca` ([`Pki::rotate`]). A leaf is
//! reissued only when it is missing, unreadable, not signed by its CA, its key does not
//! match, or its subject, SANs or key usage differ from what the request asks; an expired
//! leaf is kept as it is (deploy warns about it): only `cert rotate` reissues valid or
//! expired leaves, because that restarts the containers using them. Files of hosts
//! that left the request stay on disk untouched.
//!
//! Generating a PKI costs two ECDSA key generations and signatures per node; a 1000-node PKI
//! in memory is not required to be fast, and the plan must not need one.

mod catalog;
mod error;
pub mod expiry;
mod inspect;
mod issue;
pub mod kubeconfig;
pub mod rotation;
mod store;

pub use catalog::{CaKind, apiserver_sans};
pub use error::PkiError;
pub use inspect::{CertInfo, key_matches_cert};
pub use kubeconfig::render_kubeconfig;

use catalog::{Source, host_leaf, shared_leaf};
use issue::{KeyedCert, LoadedCa};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use store::{DirStore, MemStore, Store};

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum San {
    Ip(IpAddr),
    Dns(String),
}

impl San {
    /// An IP SAN when `name` parses as an IP address, else a DNS SAN.
    pub fn from_name(name: &str) -> San {
        match name.parse::<IpAddr>() {
            Ok(ip) => San::Ip(ip),
            Err(_) => San::Dns(name.to_string()),
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Dns(name) => write!(f, "DNS:{name}"),
        }
    }
}

/// A machine as the PKI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PkiHost {
    /// The machine's hostname; also the name of its folder under `hosts/`.
    pub hostname: String,
    /// The Kubernetes node name (`system:node:<nodename>`).
    pub nodename: String,
    pub ip: IpAddr,
}

/// Everything the PKI is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiRequest {
    pub cluster_name: String,
    /// Config key `cert-validity-days` (default 365).
    pub leaf_validity_days: u32,
    /// 3650 normally.
    pub ca_validity_days: u32,
    /// Normally now; tests pass a past date to make already-expired certificates.
    pub not_before: time::OffsetDateTime,
    /// Computed by the caller, e.g. with [`apiserver_sans`].
    pub apiserver_sans: Vec<San>,
    /// etcd server/peer and controller-manager/scheduler serving certs.
    pub masters: Vec<PkiHost>,
    /// Every node, masters included: kubelet client and serving certs.
    pub nodes: Vec<PkiHost>,
}

/// One file for `/etc/kubernetes/pki` on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiFile {
    /// Relative to `/etc/kubernetes/pki`, e.g. `etcd/server.crt`.
    pub path: String,
    pub mode: u32,
    pub contents: String,
}

/// Who a kubeconfig is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KubeconfigUser {
    /// CN `kubernetes-admin`, O `system:masters`.
    Admin,
    /// CN `system:kube-controller-manager`.
    ControllerManager,
    /// CN `system:kube-scheduler`.
    Scheduler,
    /// CN `system:kube-proxy`.
    KubeProxy,
    /// CN `system:node:<nodename>`, O `system:nodes`.
    Kubelet { nodename: String },
}

impl KubeconfigUser {
    /// The certificate CN, which is also the user name in the kubeconfig.
    pub fn common_name(&self) -> String {
        match self {
            KubeconfigUser::Admin => "kubernetes-admin".into(),
            KubeconfigUser::ControllerManager => "system:kube-controller-manager".into(),
            KubeconfigUser::Scheduler => "system:kube-scheduler".into(),
            KubeconfigUser::KubeProxy => "system:kube-proxy".into(),
            KubeconfigUser::Kubelet { nodename } => catalog::node_user(nodename),
        }
    }
}

/// The three CAs.
struct CaSet {
    kubernetes: LoadedCa,
    front_proxy: LoadedCa,
    etcd: LoadedCa,
}

impl CaSet {
    fn get(&self, kind: CaKind) -> &LoadedCa {
        match kind {
            CaKind::Kubernetes => &self.kubernetes,
            CaKind::FrontProxy => &self.front_proxy,
            CaKind::Etcd => &self.etcd,
        }
    }
}

/// The CA set and every issued leaf, as PEM.
pub struct Pki {
    cas: CaSet,
    sa_key: String,
    sa_pub: String,
    /// By storage stem (`apiserver`, `hosts/m1/etcd/server`, ...).
    leaves: BTreeMap<String, KeyedCert>,
    /// The request's nodes, to find a kubelet's folder by nodename.
    nodes: Vec<PkiHost>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("leaves", &self.leaves.keys().collect::<Vec<_>>())
            .field("keys", &"[elided]")
            .finish()
    }
}

impl Pki {
    /// Create the CA set if missing, (re)issue every leaf that is missing or whose
    /// subject/SANs/issuer no longer match the request, and persist under `dir`
    /// (= `DIR/.k8s-manage/pki`) with files 0600 and dirs 0700. Existing CAs are never
    /// replaced. A second call with the same request writes no file.
    pub fn load_or_create(dir: &Path, req: &PkiRequest) -> Result<Pki, PkiError> {
        catalog::validate(req)?;
        let mut store = DirStore::open(dir)?;
        Ok(Self::build(&mut store, req, &|_| false)?.0)
    }

    /// Rotation: like [`Pki::load_or_create`], but every leaf whose storage stem `reissue`
    /// selects is issued afresh even when it is valid, and with `new_cas` the three CAs are
    /// replaced first (so every leaf is reissued). With `dry_run` nothing is written: the
    /// directory is read into memory and the rotation happens there. Returns the PKI and
    /// the stems of the leaves that were (re)issued. The service-account key pair is kept
    /// (tokens it signed stay valid).
    pub fn rotate(
        dir: &Path,
        req: &PkiRequest,
        reissue: &dyn Fn(&str) -> bool,
        new_cas: bool,
        dry_run: bool,
    ) -> Result<(Pki, Vec<String>), PkiError> {
        catalog::validate(req)?;
        let mut mem;
        let mut disk;
        let store: &mut dyn Store = if dry_run {
            mem = MemStore::copy_of_dir(dir)?;
            &mut mem
        } else {
            disk = DirStore::open(dir)?;
            &mut disk
        };
        if new_cas {
            for kind in CaKind::ALL {
                store.remove(&format!("{}.crt", kind.stem()))?;
                store.remove(&format!("{}.key", kind.stem()))?;
            }
        }
        Self::build(store, req, &|stem| new_cas || reissue(stem))
    }

    /// Like [`Pki::load_or_create`] on an existing PKI directory, but never writes to it:
    /// the directory is read into memory first, so a leaf the request needs and the
    /// directory lacks is issued in memory only (for read-only commands such as `status`).
    pub fn load_read_only(dir: &Path, req: &PkiRequest) -> Result<Pki, PkiError> {
        catalog::validate(req)?;
        let mut store = MemStore::copy_of_dir(dir)?;
        Ok(Self::build(&mut store, req, &|_| false)?.0)
    }

    /// Same as [`Pki::load_or_create`], all in memory (for `plan`, benches and tests).
    /// Not meant to be fast for very large clusters.
    pub fn generate_in_memory(req: &PkiRequest) -> Result<Pki, PkiError> {
        catalog::validate(req)?;
        Ok(Self::build(&mut MemStore::default(), req, &|_| false)?.0)
    }

    /// Load or create everything; `force` names leaves to reissue even when they match.
    /// Also returns the stems of the leaves issued by this call.
    fn build(
        store: &mut dyn Store,
        req: &PkiRequest,
        force: &dyn Fn(&str) -> bool,
    ) -> Result<(Pki, Vec<String>), PkiError> {
        let cas = CaSet {
            kubernetes: load_or_create_ca(store, CaKind::Kubernetes, req)?,
            front_proxy: load_or_create_ca(store, CaKind::FrontProxy, req)?,
            etcd: load_or_create_ca(store, CaKind::Etcd, req)?,
        };
        let (sa_key, sa_pub) = load_or_create_sa(store)?;
        let mut leaves = BTreeMap::new();
        let mut issued = Vec::new();
        for spec in catalog::leaf_specs(req) {
            let crt = format!("{}.crt", spec.stem);
            let key = format!("{}.key", spec.stem);
            let ca = cas.get(spec.issuer);
            let kept = match (store.read(&crt)?, store.read(&key)?) {
                _ if force(&spec.stem) => None,
                (Some(cert_pem), Some(key_pem)) => {
                    match inspect::leaf_matches(&spec, &cert_pem, &key_pem, &ca.check()) {
                        Ok(()) => Some(KeyedCert { cert_pem, key_pem }),
                        Err(why) => {
                            tracing::info!("reissuing {}: {why}", store.display(&crt));
                            None
                        }
                    }
                }
                _ => None,
            };
            let pair = match kept {
                Some(pair) => pair,
                None => {
                    let pair =
                        issue::issue_leaf(&spec, ca, req.not_before, req.leaf_validity_days)?;
                    // Key first: a crash in between leaves a mismatch that the next run repairs.
                    store.write(&key, &pair.key_pem)?;
                    store.write(&crt, &pair.cert_pem)?;
                    issued.push(spec.stem.clone());
                    pair
                }
            };
            leaves.insert(spec.stem, pair);
        }
        let pki = Pki {
            cas,
            sa_key,
            sa_pub,
            leaves,
            nodes: req.nodes.clone(),
        };
        Ok((pki, issued))
    }

    /// The PKI files one node receives, paths relative to `/etc/kubernetes/pki`, exactly per
    /// the contract table: a worker never gets any CA key; masters get `ca.key` but never
    /// `etcd/ca.key` or `front-proxy-ca.key`. Files whose certificate was not issued (a host
    /// missing from the request) are left out; [`Pki::try_node_files`] reports them instead.
    pub fn node_files(&self, host: &PkiHost, is_master: bool) -> Vec<PkiFile> {
        catalog::node_layout(host, is_master)
            .into_iter()
            .filter_map(|(path, source)| self.file(path, &source))
            .collect()
    }

    /// Like [`Pki::node_files`], but fails when a file for this host was never issued.
    pub fn try_node_files(
        &self,
        host: &PkiHost,
        is_master: bool,
    ) -> Result<Vec<PkiFile>, PkiError> {
        catalog::node_layout(host, is_master)
            .into_iter()
            .map(|(path, source)| {
                self.file(path.clone(), &source)
                    .ok_or_else(|| PkiError::UnknownHost {
                        who: format!(
                            "{} {}",
                            if is_master { "master" } else { "node" },
                            host.hostname
                        ),
                        file: path,
                    })
            })
            .collect()
    }

    fn file(&self, path: String, source: &Source) -> Option<PkiFile> {
        let contents = match source {
            Source::CaCert(kind) => self.cas.get(*kind).pem.cert_pem.clone(),
            Source::CaKey(kind) => self.cas.get(*kind).pem.key_pem.clone(),
            Source::SaKey => self.sa_key.clone(),
            Source::SaPub => self.sa_pub.clone(),
            Source::LeafCert(stem) => self.leaves.get(stem)?.cert_pem.clone(),
            Source::LeafKey(stem) => self.leaves.get(stem)?.key_pem.clone(),
            Source::LeafBundle(stem) => {
                let pair = self.leaves.get(stem)?;
                format!("{}{}", pair.cert_pem, pair.key_pem)
            }
        };
        Some(PkiFile {
            mode: catalog::node_mode(&path),
            path,
            contents,
        })
    }

    /// Client certificate and key PEM for a kubeconfig user.
    pub fn client_credential(&self, who: &KubeconfigUser) -> Result<(String, String), PkiError> {
        let stem = match who {
            KubeconfigUser::Admin => shared_leaf::ADMIN.to_string(),
            KubeconfigUser::ControllerManager => shared_leaf::CONTROLLER_MANAGER_CLIENT.to_string(),
            KubeconfigUser::Scheduler => shared_leaf::SCHEDULER_CLIENT.to_string(),
            KubeconfigUser::KubeProxy => shared_leaf::KUBE_PROXY_CLIENT.to_string(),
            KubeconfigUser::Kubelet { nodename } => {
                let host = self
                    .nodes
                    .iter()
                    .find(|n| &n.nodename == nodename)
                    .ok_or_else(|| PkiError::UnknownHost {
                        who: format!("node {nodename}"),
                        file: format!("hosts/<hostname>/{}.crt", host_leaf::KUBELET_CLIENT),
                    })?;
                catalog::host_stem(&host.hostname, host_leaf::KUBELET_CLIENT)
            }
        };
        let pair = self
            .leaves
            .get(&stem)
            .ok_or_else(|| PkiError::UnknownHost {
                who: who.common_name(),
                file: format!("{stem}.crt"),
            })?;
        Ok((pair.cert_pem.clone(), pair.key_pem.clone()))
    }

    /// The client credential of etcd's health checks (CN `kube-etcd-healthcheck-client`)
    /// with the etcd CA: what the control host talks to etcd with.
    pub fn etcd_client(&self) -> Result<crate::etcd::EtcdCredentials, PkiError> {
        let (cert_pem, key_pem) = self.shared_leaf(shared_leaf::ETCD_HEALTHCHECK_CLIENT)?;
        Ok(crate::etcd::EtcdCredentials {
            ca_pem: self.cas.etcd.pem.cert_pem.clone(),
            cert_pem,
            key_pem,
        })
    }

    /// The apiserver's kubelet client credential (CN `kube-apiserver-kubelet-client`,
    /// bound by RBAC to the kubelet API): certificate and key PEM.
    pub fn kubelet_api_client(&self) -> Result<(String, String), PkiError> {
        self.shared_leaf(shared_leaf::APISERVER_KUBELET_CLIENT)
    }

    fn shared_leaf(&self, stem: &str) -> Result<(String, String), PkiError> {
        let pair = self.leaves.get(stem).ok_or_else(|| PkiError::UnknownHost {
            who: stem.to_string(),
            file: format!("{stem}.crt"),
        })?;
        Ok((pair.cert_pem.clone(), pair.key_pem.clone()))
    }

    /// The cluster CA certificate (`ca.crt`).
    pub fn ca_cert_pem(&self) -> &str {
        &self.cas.kubernetes.pem.cert_pem
    }

    /// The certificate of any of the three CAs.
    pub fn ca_cert_pem_of(&self, kind: CaKind) -> &str {
        &self.cas.get(kind).pem.cert_pem
    }

    /// The service-account public key (`sa.pub`, SubjectPublicKeyInfo PEM).
    pub fn service_account_public_pem(&self) -> &str {
        &self.sa_pub
    }

    /// Every certificate (CAs first, then leaves by storage name) with subject, SANs,
    /// issuer, serial and validity, for `cert check`.
    pub fn certificates(&self) -> Vec<CertInfo> {
        let cas = CaKind::ALL
            .iter()
            .map(|k| (k.stem(), &self.cas.get(*k).pem.cert_pem));
        let leaves = self.leaves.iter().map(|(s, p)| (s.as_str(), &p.cert_pem));
        // Every PEM here was generated or checked on load, so parsing cannot fail.
        cas.chain(leaves)
            .filter_map(|(name, pem)| inspect::cert_info(name, pem).ok())
            .collect()
    }
}

/// Every certificate stored under `dir` (`*.crt`, the CAs and every leaf, hosts that
/// left the config included), read without writing anything. Names are storage names
/// (`ca`, `etcd/ca`, `hosts/m1/kubelet`); a file that does not parse is an error naming it.
pub fn certificates_in(dir: &Path) -> Result<Vec<CertInfo>, PkiError> {
    let store = MemStore::copy_of_dir(dir)?;
    let mut out = Vec::new();
    for (rel, text) in store.files() {
        let Some(name) = rel.strip_suffix(".crt") else {
            continue;
        };
        let info = inspect::cert_info(name, text).map_err(|problem| PkiError::BadCertificate {
            file: dir.join(rel).display().to_string(),
            problem,
        })?;
        out.push(info);
    }
    Ok(out)
}

fn load_or_create_ca(
    store: &mut dyn Store,
    kind: CaKind,
    req: &PkiRequest,
) -> Result<LoadedCa, PkiError> {
    let crt = format!("{}.crt", kind.stem());
    let key = format!("{}.key", kind.stem());
    let pem = match (store.read(&crt)?, store.read(&key)?) {
        (Some(cert_pem), Some(key_pem)) => KeyedCert { cert_pem, key_pem },
        (None, None) => {
            let pem = issue::new_ca(kind, req.not_before, req.ca_validity_days)?;
            store.write(&key, &pem.key_pem)?;
            store.write(&crt, &pem.cert_pem)?;
            pem
        }
        (Some(_), None) => {
            return Err(PkiError::HalfCa {
                present: store.display(&crt),
                missing: store.display(&key),
            });
        }
        (None, Some(_)) => {
            return Err(PkiError::HalfCa {
                present: store.display(&key),
                missing: store.display(&crt),
            });
        }
    };
    LoadedCa::from_pem(kind, pem).map_err(|problem| PkiError::BadCa {
        file: store.display(&crt),
        problem,
    })
}

fn load_or_create_sa(store: &mut dyn Store) -> Result<(String, String), PkiError> {
    let bad = |store: &dyn Store, file: &str, problem: String| PkiError::BadServiceAccountKey {
        file: store.display(file),
        problem,
    };
    match (store.read("sa.key")?, store.read("sa.pub")?) {
        (Some(key), stored_pub) => {
            let derived = issue::public_pem_of(&key).map_err(|p| bad(store, "sa.key", p))?;
            match stored_pub {
                Some(public) if same_pem_body(&public, &derived) => Ok((key, public)),
                Some(_) => Err(bad(store, "sa.pub", "it does not match sa.key".into())),
                None => {
                    store.write("sa.pub", &derived)?;
                    Ok((key, derived))
                }
            }
        }
        (None, Some(_)) => Err(bad(store, "sa.pub", "sa.key is missing".into())),
        (None, None) => {
            let (key, public) = issue::new_sa_key()?;
            store.write("sa.key", &key)?;
            store.write("sa.pub", &public)?;
            Ok((key, public))
        }
    }
}

/// Compare two PEM texts by their base64 body, ignoring line wrapping and line endings.
fn same_pem_body(a: &str, b: &str) -> bool {
    let body = |s: &str| -> String {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect()
    };
    body(a) == body(b)
}
