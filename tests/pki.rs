//! The PKI against the "Files on a node" contract in docs/ARCHITECTURE.md. Certificates are
//! read back with x509-parser here, independently of the module's own checks.

use k8s_manage::pki::{
    CaKind, KubeconfigUser, Pki, PkiError, PkiFile, PkiHost, PkiRequest, apiserver_sans,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

// ---------------------------------------------------------------- request helpers

fn host(name: &str, ip: &str) -> PkiHost {
    PkiHost {
        hostname: name.to_string(),
        nodename: format!("node-{name}"),
        ip: ip.parse().expect("test IP"),
    }
}

fn masters() -> Vec<PkiHost> {
    vec![
        host("m1", "10.0.0.1"),
        host("m2", "10.0.0.2"),
        host("m3", "10.0.0.3"),
    ]
}

fn workers() -> Vec<PkiHost> {
    vec![host("w1", "10.0.1.1"), host("w2", "10.0.1.2")]
}

fn request_for(masters: Vec<PkiHost>, workers: Vec<PkiHost>) -> PkiRequest {
    let lb: IpAddr = "10.0.0.100".parse().expect("ip");
    let svc: IpAddr = "10.96.0.1".parse().expect("ip");
    PkiRequest {
        cluster_name: "test".into(),
        leaf_validity_days: 365,
        ca_validity_days: 3650,
        not_before: OffsetDateTime::now_utc(),
        apiserver_sans: apiserver_sans(&masters, &[lb], svc, "cluster.local"),
        nodes: masters.iter().chain(workers.iter()).cloned().collect(),
        masters,
    }
}

fn request() -> PkiRequest {
    request_for(masters(), workers())
}

// ---------------------------------------------------------------- x509 helpers

/// What the tests look at in a certificate.
#[derive(Debug)]
struct Facts {
    cn: String,
    orgs: BTreeSet<String>,
    sans: BTreeSet<String>,
    server_auth: bool,
    client_auth: bool,
    is_ca: bool,
    key_cert_sign: bool,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    spki_raw: Vec<u8>,
    public_key_bits: Vec<u8>,
    not_after: OffsetDateTime,
}

fn der_of(pem: &str) -> Vec<u8> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    assert_eq!(block.label, "CERTIFICATE");
    block.contents
}

fn facts(pem: &str) -> Facts {
    let der = der_of(pem);
    let (_, c) = X509Certificate::from_der(&der).expect("X.509");
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        a.as_str().expect("utf8 attribute").to_string()
    };
    let sans = c
        .subject_alternative_name()
        .expect("SAN ext")
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(b) if b.len() == 4 => {
                        format!("IP:{}", IpAddr::from(<[u8; 4]>::try_from(*b).expect("v4")))
                    }
                    GeneralName::IPAddress(b) => {
                        format!("IP:{}", IpAddr::from(<[u8; 16]>::try_from(*b).expect("v6")))
                    }
                    other => format!("OTHER:{other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let (server_auth, client_auth) = match c.extended_key_usage().expect("EKU ext") {
        Some(e) => (e.value.server_auth, e.value.client_auth),
        None => (false, false),
    };
    Facts {
        cn: c
            .subject()
            .iter_common_name()
            .map(text)
            .collect::<Vec<_>>()
            .join(","),
        orgs: c.subject().iter_organization().map(text).collect(),
        sans,
        server_auth,
        client_auth,
        is_ca: matches!(c.basic_constraints(), Ok(Some(b)) if b.value.ca),
        key_cert_sign: matches!(c.key_usage(), Ok(Some(k)) if k.value.key_cert_sign()),
        subject_raw: c.subject().as_raw().to_vec(),
        issuer_raw: c.issuer().as_raw().to_vec(),
        spki_raw: c.public_key().raw.to_vec(),
        public_key_bits: c.public_key().subject_public_key.data.to_vec(),
        not_after: c.validity().not_after.to_datetime(),
    }
}

/// Whether `leaf_pem` carries `ca_pem`'s name as issuer and a signature by its key.
fn signed_by(leaf_pem: &str, ca_pem: &str) -> bool {
    let ca = facts(ca_pem);
    let der = der_of(leaf_pem);
    let (_, leaf) = X509Certificate::from_der(&der).expect("X.509");
    let (_, spki) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&ca.spki_raw).expect("CA SPKI");
    facts(leaf_pem).issuer_raw == ca.subject_raw && leaf.verify_signature(Some(&spki)).is_ok()
}

/// The public key bits of a private key PEM.
fn public_bits_of_key(key_pem: &str) -> Vec<u8> {
    rcgen::KeyPair::from_pem(key_pem)
        .expect("private key")
        .public_key_raw()
        .to_vec()
}

/// `(label, block text)` for every PEM block in `text`.
fn pem_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_string(), format!("{line}\n")));
        } else if let Some((label, mut block)) = current.take() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                out.push((label, block));
            } else {
                current = Some((label, block));
            }
        }
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn by_path(files: &[PkiFile]) -> BTreeMap<String, PkiFile> {
    files.iter().map(|f| (f.path.clone(), f.clone())).collect()
}

fn get<'a>(files: &'a BTreeMap<String, PkiFile>, path: &str) -> &'a str {
    &files
        .get(path)
        .unwrap_or_else(|| panic!("node file {path} missing"))
        .contents
}

// ---------------------------------------------------------------- disk helpers

/// Every file under `dir`: relative path → (bytes, mtime ns, inode).
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, i128, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, i128, u64)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::metadata(&path).expect("metadata");
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("prefix")
                    .display()
                    .to_string();
                let mtime =
                    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
                out.insert(
                    rel,
                    (std::fs::read(&path).expect("read"), mtime, meta.ino()),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn changed(
    before: &BTreeMap<String, (Vec<u8>, i128, u64)>,
    after: &BTreeMap<String, (Vec<u8>, i128, u64)>,
) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

fn pki_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".k8s-manage").join("pki");
    (tmp, dir)
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).expect("read PKI file")
}

// ---------------------------------------------------------------- tests

#[test]
fn every_leaf_chains_to_its_contract_ca() {
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    let m1 = by_path(&pki.node_files(&req.masters[0], true));
    let ca = get(&m1, "ca.crt").to_string();
    let etcd_ca = get(&m1, "etcd/ca.crt").to_string();
    let fp_ca = get(&m1, "front-proxy-ca.crt").to_string();
    assert_eq!(ca, pki.ca_cert_pem());
    assert_eq!(etcd_ca, pki.ca_cert_pem_of(CaKind::Etcd));
    assert_eq!(fp_ca, pki.ca_cert_pem_of(CaKind::FrontProxy));

    let mut checked = 0;
    let nodes: Vec<(PkiHost, bool)> = req
        .nodes
        .iter()
        .map(|n| (n.clone(), req.masters.contains(n)))
        .collect();
    for (node, is_master) in &nodes {
        for f in pki.node_files(node, *is_master) {
            if !(f.path.ends_with(".crt") || f.path.ends_with(".pem")) || f.path.ends_with("ca.crt")
            {
                continue;
            }
            let want = if f.path.starts_with("etcd/") || f.path == "apiserver-etcd-client.crt" {
                &etcd_ca
            } else if f.path == "front-proxy-client.crt" {
                &fp_ca
            } else {
                &ca
            };
            assert!(
                signed_by(&f.contents, want),
                "{} on {} not signed by its CA",
                f.path,
                node.hostname
            );
            for other in [&ca, &etcd_ca, &fp_ca].into_iter().filter(|o| *o != want) {
                assert!(
                    !signed_by(&f.contents, other),
                    "{} verifies against a wrong CA",
                    f.path
                );
            }
            checked += 1;
        }
    }
    for who in users(&req) {
        let (cert, _) = pki.client_credential(&who).expect("credential");
        assert!(signed_by(&cert, &ca), "{who:?} not signed by ca");
        assert!(!signed_by(&cert, &etcd_ca));
        checked += 1;
    }
    // 3 masters x 11 leaf certs + 2 workers x 2 + 4 shared clients + 5 kubelets.
    assert_eq!(checked, 3 * 11 + 2 * 2 + 4 + 5);
    // The CAs are self-signed CAs with KeyCertSign.
    for (pem, cn) in [
        (&ca, "kubernetes"),
        (&etcd_ca, "etcd-ca"),
        (&fp_ca, "front-proxy-ca"),
    ] {
        let f = facts(pem);
        assert_eq!(f.cn, cn);
        assert!(f.is_ca && f.key_cert_sign, "{cn} is not a CA");
        assert!(signed_by(pem, pem));
    }
}

fn users(req: &PkiRequest) -> Vec<KubeconfigUser> {
    let mut out = vec![
        KubeconfigUser::Admin,
        KubeconfigUser::ControllerManager,
        KubeconfigUser::Scheduler,
        KubeconfigUser::KubeProxy,
    ];
    out.extend(req.nodes.iter().map(|n| KubeconfigUser::Kubelet {
        nodename: n.nodename.clone(),
    }));
    out
}

/// (path, CN, O, SANs, server auth, client auth) of one node file.
type Expectation = (
    &'static str,
    &'static str,
    Vec<&'static str>,
    Vec<&'static str>,
    bool,
    bool,
);

/// What master m1 (10.0.0.1) must receive.
fn master_expectations() -> Vec<Expectation> {
    let local = vec!["IP:10.0.0.1", "DNS:m1", "IP:127.0.0.1", "DNS:localhost"];
    vec![
        (
            "apiserver.crt",
            "kube-apiserver",
            vec![],
            vec![
                "IP:10.0.0.1",
                "DNS:m1",
                "IP:10.0.0.2",
                "DNS:m2",
                "IP:10.0.0.3",
                "DNS:m3",
                "IP:10.0.0.100",
                "IP:10.96.0.1",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
                "IP:127.0.0.1",
                "DNS:localhost",
            ],
            true,
            false,
        ),
        (
            "apiserver-kubelet-client.crt",
            "kube-apiserver-kubelet-client",
            vec![],
            vec![],
            false,
            true,
        ),
        (
            "apiserver-etcd-client.crt",
            "kube-apiserver-etcd-client",
            vec![],
            vec![],
            false,
            true,
        ),
        (
            "front-proxy-client.crt",
            "front-proxy-client",
            vec![],
            vec![],
            false,
            true,
        ),
        ("etcd/server.crt", "m1", vec![], local.clone(), true, true),
        ("etcd/peer.crt", "m1", vec![], local.clone(), true, true),
        (
            "etcd/healthcheck-client.crt",
            "kube-etcd-healthcheck-client",
            vec![],
            vec![],
            false,
            true,
        ),
        (
            "controller-manager.crt",
            "kube-controller-manager",
            vec![],
            local.clone(),
            true,
            false,
        ),
        (
            "scheduler.crt",
            "kube-scheduler",
            vec![],
            local,
            true,
            false,
        ),
        (
            "kubelet.crt",
            "system:node:node-m1",
            vec!["system:nodes"],
            vec!["IP:10.0.0.1", "DNS:m1", "DNS:node-m1"],
            true,
            false,
        ),
        (
            "lb-healthcheck.pem",
            "k8s-manage:lb-healthcheck",
            vec![],
            vec![],
            false,
            true,
        ),
    ]
}

#[test]
fn subjects_sans_and_usages_match_the_contract() {
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    let m1 = by_path(&pki.node_files(&req.masters[0], true));
    for (path, cn, orgs, sans, server, client) in master_expectations() {
        let f = facts(get(&m1, path));
        assert_eq!(f.cn, cn, "{path} CN");
        assert_eq!(f.orgs, set(&orgs), "{path} O");
        assert_eq!(f.sans, set(&sans), "{path} SANs");
        assert_eq!(
            (f.server_auth, f.client_auth),
            (server, client),
            "{path} EKU"
        );
        assert!(!f.is_ca, "{path} must not be a CA");
    }
    // A worker's kubelet serving cert: its own IP, hostname and nodename.
    let w2 = by_path(&pki.node_files(&req.nodes[4], false));
    let f = facts(get(&w2, "kubelet.crt"));
    assert_eq!(f.cn, "system:node:node-w2");
    assert_eq!(f.orgs, set(&["system:nodes"]));
    assert_eq!(f.sans, set(&["IP:10.0.1.2", "DNS:w2", "DNS:node-w2"]));
    // m2's etcd certs carry m2's name and address, not m1's.
    let m2 = by_path(&pki.node_files(&req.masters[1], true));
    let f = facts(get(&m2, "etcd/peer.crt"));
    assert_eq!(f.cn, "m2");
    assert_eq!(
        f.sans,
        set(&["IP:10.0.0.2", "DNS:m2", "IP:127.0.0.1", "DNS:localhost"])
    );
}

#[test]
fn client_credentials_have_contract_subjects() {
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    let cases = [
        (
            KubeconfigUser::Admin,
            "kubernetes-admin",
            vec!["system:masters"],
        ),
        (
            KubeconfigUser::ControllerManager,
            "system:kube-controller-manager",
            vec![],
        ),
        (KubeconfigUser::Scheduler, "system:kube-scheduler", vec![]),
        (KubeconfigUser::KubeProxy, "system:kube-proxy", vec![]),
        (
            KubeconfigUser::Kubelet {
                nodename: "node-w1".into(),
            },
            "system:node:node-w1",
            vec!["system:nodes"],
        ),
    ];
    for (who, cn, orgs) in cases {
        let (cert, key) = pki.client_credential(&who).expect("credential");
        let f = facts(&cert);
        assert_eq!(f.cn, cn);
        assert_eq!(who.common_name(), cn);
        assert_eq!(f.orgs, set(&orgs), "{cn} O");
        assert!(f.sans.is_empty(), "{cn} has SANs");
        assert_eq!((f.server_auth, f.client_auth), (false, true), "{cn} EKU");
        assert_eq!(
            public_bits_of_key(&key),
            f.public_key_bits,
            "{cn} key mismatch"
        );
    }
    let err = pki
        .client_credential(&KubeconfigUser::Kubelet {
            nodename: "ghost".into(),
        })
        .expect_err("unknown node");
    assert!(matches!(err, PkiError::UnknownHost { .. }), "{err}");
    assert!(err.to_string().contains("ghost"), "{err}");
}

#[test]
fn every_key_matches_its_certificate() {
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    let m1 = by_path(&pki.node_files(&req.masters[0], true));
    let mut pairs = 0;
    for path in m1.keys().filter(|p| p.ends_with(".crt")) {
        let key_path = path.replace(".crt", ".key");
        let Some(key) = m1.get(&key_path) else {
            continue;
        };
        let cert = facts(&m1[path].contents);
        assert_eq!(
            public_bits_of_key(&key.contents),
            cert.public_key_bits,
            "{path} vs {key_path}"
        );
        pairs += 1;
    }
    // ca + apiserver, kubelet-client, etcd-client, front-proxy-client, etcd server/peer/
    // healthcheck, controller-manager, scheduler, kubelet.
    assert_eq!(pairs, 11);
    // sa.key / sa.pub: PKCS#8 private key and SubjectPublicKeyInfo public key of one pair.
    let sa_key = get(&m1, "sa.key");
    let sa_pub = get(&m1, "sa.pub");
    assert!(
        sa_key.starts_with("-----BEGIN PRIVATE KEY-----"),
        "{sa_key}"
    );
    assert!(sa_pub.starts_with("-----BEGIN PUBLIC KEY-----"), "{sa_pub}");
    assert_eq!(sa_pub, pki.service_account_public_pem());
    let derived = rcgen::KeyPair::from_pem(sa_key)
        .expect("sa key")
        .public_key_pem();
    assert_eq!(derived.trim(), sa_pub.trim());
    // The LB bundle is the certificate followed by its key.
    let blocks = pem_blocks(get(&m1, "lb-healthcheck.pem"));
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].0, "CERTIFICATE");
    assert_eq!(blocks[1].0, "PRIVATE KEY");
    assert_eq!(
        public_bits_of_key(&blocks[1].1),
        facts(&blocks[0].1).public_key_bits
    );
    // The check itself can fail: a key from another pair does not match.
    assert_ne!(
        public_bits_of_key(get(&m1, "apiserver.key")),
        facts(get(&m1, "etcd/server.crt")).public_key_bits
    );
}

#[test]
fn worker_gets_no_ca_key_and_exactly_its_files() {
    let (_tmp, dir) = pki_dir();
    let req = request();
    let pki = Pki::load_or_create(&dir, &req).expect("pki");
    let ca_keys: Vec<String> = ["ca.key", "front-proxy-ca.key", "etcd/ca.key"]
        .iter()
        .map(|k| read(&dir, k))
        .collect();
    let ca_public: Vec<Vec<u8>> = ca_keys.iter().map(|k| public_bits_of_key(k)).collect();
    for worker in &req.nodes[3..] {
        let files = pki.node_files(worker, false);
        let paths: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            paths,
            set(&["ca.crt", "kubelet.crt", "kubelet.key", "lb-healthcheck.pem"])
        );
        for f in &files {
            for ca_key in &ca_keys {
                assert!(
                    !f.contents.contains(ca_key.trim()),
                    "{} holds a CA key",
                    f.path
                );
            }
            for (label, block) in pem_blocks(&f.contents) {
                if label.contains("PRIVATE KEY") {
                    assert!(
                        !ca_public.contains(&public_bits_of_key(&block)),
                        "{} holds a CA key",
                        f.path
                    );
                }
            }
        }
        let kubelet = by_path(&files);
        assert_eq!(
            facts(get(&kubelet, "kubelet.crt")).cn,
            format!("system:node:{}", worker.nodename)
        );
    }
}

#[test]
fn master_gets_ca_key_but_not_etcd_or_front_proxy_ca_key() {
    let (_tmp, dir) = pki_dir();
    let req = request();
    let pki = Pki::load_or_create(&dir, &req).expect("pki");
    let files = pki.node_files(&req.masters[1], true);
    let paths: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let expected = set(&[
        "ca.crt",
        "ca.key",
        "apiserver.crt",
        "apiserver.key",
        "apiserver-kubelet-client.crt",
        "apiserver-kubelet-client.key",
        "apiserver-etcd-client.crt",
        "apiserver-etcd-client.key",
        "front-proxy-ca.crt",
        "front-proxy-client.crt",
        "front-proxy-client.key",
        "sa.key",
        "sa.pub",
        "etcd/ca.crt",
        "etcd/server.crt",
        "etcd/server.key",
        "etcd/peer.crt",
        "etcd/peer.key",
        "etcd/healthcheck-client.crt",
        "etcd/healthcheck-client.key",
        "kubelet.crt",
        "kubelet.key",
        "controller-manager.crt",
        "controller-manager.key",
        "scheduler.crt",
        "scheduler.key",
        "lb-healthcheck.pem",
    ]);
    assert_eq!(paths, expected);
    let files = by_path(&files);
    assert_eq!(get(&files, "ca.key"), read(&dir, "ca.key"));
    let forbidden: Vec<Vec<u8>> = ["front-proxy-ca.key", "etcd/ca.key"]
        .iter()
        .map(|k| public_bits_of_key(&read(&dir, k)))
        .collect();
    for f in files.values() {
        for (label, block) in pem_blocks(&f.contents) {
            if label.contains("PRIVATE KEY") {
                assert!(
                    !forbidden.contains(&public_bits_of_key(&block)),
                    "{} holds a forbidden CA key",
                    f.path
                );
            }
        }
    }
}

#[test]
fn node_file_modes_follow_the_contract() {
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    for f in pki.node_files(&req.masters[0], true) {
        let secret = f.path.ends_with(".key") || f.path == "lb-healthcheck.pem";
        assert_eq!(f.mode, if secret { 0o600 } else { 0o644 }, "{}", f.path);
    }
}

#[test]
fn files_on_disk_are_0600_and_dirs_0700() {
    let (_tmp, dir) = pki_dir();
    Pki::load_or_create(&dir, &request()).expect("pki");
    let mut files = 0;
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        assert_eq!(
            std::fs::metadata(&d).expect("meta").permissions().mode() & 0o777,
            0o700,
            "{}",
            d.display()
        );
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::metadata(&path).expect("meta");
            if meta.is_dir() {
                stack.push(path);
            } else {
                assert_eq!(
                    meta.permissions().mode() & 0o777,
                    0o600,
                    "{}",
                    path.display()
                );
                files += 1;
            }
        }
    }
    // 3 CAs + sa pair, 10 shared leaves, 4 per master, 2 per node: each .crt + .key.
    assert_eq!(files, 3 * 2 + 2 + (10 + 4 * 3 + 2 * 5) * 2);
    assert!(dir.join("hosts/m1/etcd/server.key").is_file());
    assert!(dir.join("hosts/w2/kubelet-client.crt").is_file());
}

#[test]
fn loose_permissions_are_tightened_without_rewriting() {
    let (_tmp, dir) = pki_dir();
    let req = request();
    Pki::load_or_create(&dir, &req).expect("pki");
    std::fs::set_permissions(dir.join("ca.key"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    std::fs::set_permissions(dir.join("hosts"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let before = snapshot(&dir);
    Pki::load_or_create(&dir, &req).expect("pki");
    assert_eq!(changed(&before, &snapshot(&dir)), BTreeSet::new());
    let mode = |p: &str| {
        std::fs::metadata(dir.join(p))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca.key"), 0o600);
    assert_eq!(mode("hosts"), 0o700);
}

#[test]
fn second_load_or_create_rewrites_nothing() {
    let (_tmp, dir) = pki_dir();
    let req = request();
    let first = Pki::load_or_create(&dir, &req).expect("first");
    let before = snapshot(&dir);
    let mut later = req.clone();
    later.not_before += Duration::minutes(5);
    let second = Pki::load_or_create(&dir, &later).expect("second");
    assert_eq!(changed(&before, &snapshot(&dir)), BTreeSet::new());
    assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
    assert_eq!(
        first.node_files(&req.masters[0], true),
        second.node_files(&req.masters[0], true)
    );
}

#[test]
fn adding_a_node_issues_only_its_leaves_and_keeps_the_ca() {
    let (_tmp, dir) = pki_dir();
    let req = request();
    Pki::load_or_create(&dir, &req).expect("first");
    let before = snapshot(&dir);
    let mut bigger = workers();
    bigger.push(host("w3", "10.0.1.3"));
    let req2 = request_for(masters(), bigger);
    let pki = Pki::load_or_create(&dir, &req2).expect("second");
    let after = snapshot(&dir);
    assert_eq!(
        changed(&before, &after),
        set(&[
            "hosts/w3/kubelet.crt",
            "hosts/w3/kubelet.key",
            "hosts/w3/kubelet-client.crt",
            "hosts/w3/kubelet-client.key",
        ])
    );
    let w3 = by_path(&pki.node_files(&req2.nodes[5], false));
    assert_eq!(get(&w3, "ca.crt"), read(&dir, "ca.crt"));
    assert!(signed_by(get(&w3, "kubelet.crt"), &read(&dir, "ca.crt")));
    let (cert, _) = pki
        .client_credential(&KubeconfigUser::Kubelet {
            nodename: "node-w3".into(),
        })
        .expect("w3 credential");
    assert!(signed_by(&cert, &read(&dir, "ca.crt")));
}

#[test]
fn changing_a_master_ip_reissues_apiserver_and_that_masters_certs() {
    let (_tmp, dir) = pki_dir();
    Pki::load_or_create(&dir, &request()).expect("first");
    let before = snapshot(&dir);
    let mut ms = masters();
    ms[1].ip = "10.0.0.22".parse().expect("ip");
    let req2 = request_for(ms, workers());
    let pki = Pki::load_or_create(&dir, &req2).expect("second");
    let mut expected = BTreeSet::new();
    for stem in [
        "apiserver",
        "hosts/m2/etcd/server",
        "hosts/m2/etcd/peer",
        "hosts/m2/controller-manager",
        "hosts/m2/scheduler",
        "hosts/m2/kubelet",
    ] {
        expected.insert(format!("{stem}.crt"));
        expected.insert(format!("{stem}.key"));
    }
    assert_eq!(changed(&before, &snapshot(&dir)), expected);
    let m2 = by_path(&pki.node_files(&req2.masters[1], true));
    let api = facts(get(&m2, "apiserver.crt"));
    assert!(
        api.sans.contains("IP:10.0.0.22") && !api.sans.contains("IP:10.0.0.2"),
        "{:?}",
        api.sans
    );
    let etcd = facts(get(&m2, "etcd/server.crt"));
    assert!(etcd.sans.contains("IP:10.0.0.22"));
    assert!(signed_by(
        get(&m2, "etcd/server.crt"),
        &read(&dir, "etcd/ca.crt")
    ));
}

#[test]
fn past_not_before_gives_already_expired_leaves() {
    let now = OffsetDateTime::now_utc();
    let mut req = request();
    req.not_before = now - Duration::days(730);
    req.leaf_validity_days = 1;
    let (_tmp, dir) = pki_dir();
    let pki = Pki::load_or_create(&dir, &req).expect("pki");
    let infos = pki.certificates();
    assert_eq!(infos.len(), 3 + 10 + 4 * 3 + 2 * 5);
    for info in &infos {
        if info.is_ca {
            assert!(info.not_after > now, "CA {} expired", info.name);
        } else {
            assert!(
                info.not_after < now,
                "{} not expired: {}",
                info.name,
                info.not_after
            );
            assert_eq!(
                info.not_after - info.not_before,
                Duration::days(1),
                "{}",
                info.name
            );
        }
    }
    let m1 = by_path(&pki.node_files(&req.masters[0], true));
    assert!(facts(get(&m1, "apiserver.crt")).not_after < now);
    // Expiry alone does not reissue: that is cert rotation's decision.
    let before = snapshot(&dir);
    let mut today = request();
    today.not_before = now;
    Pki::load_or_create(&dir, &today).expect("again");
    assert_eq!(changed(&before, &snapshot(&dir)), BTreeSet::new());
}

#[test]
fn certificates_lists_names_subjects_and_issuers() {
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    let infos = pki.certificates();
    let names: BTreeSet<&str> = infos.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names.len(), infos.len(), "names are unique");
    let find = |n: &str| {
        infos
            .iter()
            .find(|i| i.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(find("ca").issuer_cn, "kubernetes");
    assert_eq!(find("etcd/ca").subject_cn, "etcd-ca");
    assert_eq!(find("hosts/m3/etcd/peer").issuer_cn, "etcd-ca");
    assert_eq!(find("front-proxy-client").issuer_cn, "front-proxy-ca");
    let admin = find("clients/admin");
    assert_eq!(admin.subject_cn, "kubernetes-admin");
    assert_eq!(admin.subject_orgs, vec!["system:masters".to_string()]);
    let api = find("apiserver");
    assert_eq!(api.sans.len(), 14);
    assert_eq!(api.issuer_cn, "kubernetes");
}

#[test]
fn corrupt_leaf_is_reissued_and_ca_kept() {
    let (_tmp, dir) = pki_dir();
    let req = request();
    Pki::load_or_create(&dir, &req).expect("first");
    std::fs::write(dir.join("apiserver.crt"), "garbage").expect("write");
    // A leaf signed by the wrong CA is reissued too.
    let foreign = read(&dir, "hosts/m1/etcd/peer.crt");
    std::fs::write(dir.join("front-proxy-client.crt"), foreign).expect("write");
    let before = snapshot(&dir);
    let pki = Pki::load_or_create(&dir, &req).expect("second");
    assert_eq!(
        changed(&before, &snapshot(&dir)),
        set(&[
            "apiserver.crt",
            "apiserver.key",
            "front-proxy-client.crt",
            "front-proxy-client.key"
        ])
    );
    let m1 = by_path(&pki.node_files(&req.masters[0], true));
    assert!(signed_by(get(&m1, "apiserver.crt"), &read(&dir, "ca.crt")));
    assert!(signed_by(
        get(&m1, "front-proxy-client.crt"),
        &read(&dir, "front-proxy-ca.crt")
    ));
}

#[test]
fn half_a_ca_is_an_error_naming_the_file_and_a_fix() {
    let (_tmp, dir) = pki_dir();
    let req = request();
    Pki::load_or_create(&dir, &req).expect("first");
    std::fs::remove_file(dir.join("etcd/ca.key")).expect("rm");
    let err = Pki::load_or_create(&dir, &req).expect_err("half CA");
    let msg = err.to_string();
    assert!(matches!(err, PkiError::HalfCa { .. }), "{msg}");
    assert!(msg.contains("etcd/ca.key") && msg.contains("fix"), "{msg}");
    // Nothing was replaced.
    assert!(dir.join("etcd/ca.crt").is_file());

    std::fs::write(dir.join("etcd/ca.key"), read(&dir, "ca.key")).expect("write");
    let err = Pki::load_or_create(&dir, &req).expect_err("mismatched CA key");
    assert!(matches!(err, PkiError::BadCa { .. }), "{err}");
    assert!(err.to_string().contains("etcd/ca.crt"), "{err}");
}

#[test]
fn invalid_requests_are_rejected_with_a_fix() {
    let mut req = request();
    req.nodes.remove(0);
    let err = Pki::generate_in_memory(&req).expect_err("master not a node");
    assert!(
        err.to_string().contains("m1") && err.to_string().contains("fix"),
        "{err}"
    );

    let mut req = request();
    req.nodes[4].hostname = "w1".into();
    let err = Pki::generate_in_memory(&req).expect_err("duplicate hostname");
    assert!(err.to_string().contains("w1"), "{err}");

    let mut req = request();
    req.nodes[4].hostname = "../evil".into();
    let err = Pki::generate_in_memory(&req).expect_err("path in hostname");
    assert!(matches!(err, PkiError::InvalidRequest { .. }), "{err}");

    let mut req = request();
    req.leaf_validity_days = 0;
    assert!(Pki::generate_in_memory(&req).is_err());
}

#[test]
fn try_node_files_reports_a_host_missing_from_the_request() {
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    let stranger = host("x9", "10.9.9.9");
    let err = pki
        .try_node_files(&stranger, false)
        .expect_err("unknown host");
    assert!(err.to_string().contains("x9"), "{err}");
    // A worker promoted without a new request lacks its master certificates.
    assert!(pki.try_node_files(&req.nodes[3], true).is_err());
    assert_eq!(
        pki.try_node_files(&req.nodes[3], false)
            .expect("worker")
            .len(),
        4
    );
    assert_eq!(
        pki.node_files(&stranger, false).len(),
        2,
        "ca.crt and lb-healthcheck.pem only"
    );
}

#[test]
fn kubeconfig_embeds_the_credential() {
    use base64::prelude::{BASE64_STANDARD, Engine as _};
    let req = request();
    let pki = Pki::generate_in_memory(&req).expect("pki");
    let who = KubeconfigUser::Kubelet {
        nodename: "node-w1".into(),
    };
    let (cert, key) = pki.client_credential(&who).expect("credential");
    let text = k8s_manage::pki::render_kubeconfig(
        &req.cluster_name,
        "https://127.0.0.1:6444",
        pki.ca_cert_pem(),
        &cert,
        &key,
        &who.common_name(),
    );
    let v: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    let data = v["users"][0]["user"]["client-certificate-data"]
        .as_str()
        .expect("cert data");
    assert_eq!(
        BASE64_STANDARD.decode(data).expect("base64"),
        cert.as_bytes()
    );
    assert_eq!(v["current-context"], "system:node:node-w1@test");
}
