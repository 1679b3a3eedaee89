//! The rendered etcd and kube-apiserver specs, run on loopback by the real etcd and the
//! real kube-apiserver (built from their pinned upstream sources into the sandbox cache,
//! as `sandbox up` does): certificates, flags and mTLS all have to fit together. The
//! apiserver must answer `/readyz` (which checks etcd through the apiserver's etcd client
//! certificate), serve the admin, refuse a client without a certificate, and deny a
//! kubelet the Secrets (Node authorizer). Then the add-on manifests are applied through
//! the product's API client, admitted by the real apiserver, and read back from etcd.

mod common;
#[path = "common/procs.rs"]
mod procs;
use common::*;
use k8s_manage::kubeapi::KubeClient;
use k8s_manage::model::build;
use k8s_manage::pki::{KubeconfigUser, Pki};
use k8s_manage::render::{cluster, node};
use k8s_manage::sandbox::upstream::{go_build, modules};
use procs::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KUBERNETES_VERSION: &str = "v1.36.1";

/// The folder holding the real `names` of `program` (the sandbox's pinned version), built
/// from source the first time (`scripts/test.sh` builds them in a stage of its own).
fn upstream_bin(program: modules::Program, version: &str, names: &[&str]) -> PathBuf {
    let module = modules::find(program, version)
        .unwrap_or_else(|| panic!("{program:?} {version} is not pinned in sandbox/upstream"));
    let progress = |s: &str| eprintln!("upstream build: {s}");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(go_build::ensure_built(module, names, &progress))
        .unwrap_or_else(|e| panic!("building {names:?} of {program:?} {version}: {e}"))
}

/// `GET url` over TLS trusting `ca_pem`, with no client certificate: (status, body).
async fn anonymous_get(ca_pem: &str, url: &str) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let resp = http.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

fn localize(args: &[String], root: &Path, ports: &[(u16, u16)]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let mut a = a.replace(
                "/etc/kubernetes",
                &root.join("etc/kubernetes").display().to_string(),
            );
            a = a.replace(
                "/var/lib/etcd",
                &root.join("etcd-data").display().to_string(),
            );
            for (from, to) in ports {
                a = a.replace(&format!(":{from}"), &format!(":{to}"));
                a = a.replace(&format!("secure-port={from}"), &format!("secure-port={to}"));
            }
            // Listen on loopback only, not on every address of the machine.
            a.replace("--bind-address=0.0.0.0", "--bind-address=127.0.0.1")
        })
        .collect()
}

#[test]
fn rendered_etcd_and_apiserver_work_together_and_addons_apply() {
    let cluster_yaml = cluster_yaml(&[machine("master-1", "127.0.0.1", "master", Some("etcd1"))])
        .replace(
            "    k8s-role: master\n",
            "    k8s-role: master\n    dashboard: \"true\"\n",
        );
    let k8s = format!(
        "kubernetes:\n  kubernetes-version: {KUBERNETES_VERSION}\n  etcd-version: {}\n  \
         service-cluster-ip-range: 10.96.0.0/12\n",
        k8s_manage::sandbox::upstream::ETCD_VERSION
    );
    let etcd_bin = upstream_bin(modules::Program::Etcd, "v3.6.8", &["etcd", "etcdctl"]);
    let kube_bin = upstream_bin(
        modules::Program::Kubernetes,
        KUBERNETES_VERSION,
        &["kube-apiserver"],
    );
    let (t, dir) = config_dir(&cluster_yaml, &k8s);
    let c = build::load(&dir)
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster;
    let pki = Pki::load_or_create(
        &c.state_dir().join("pki"),
        &node::pki_request(&c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    let master = node::render_node(&c, &pki, &c.machines[0]).unwrap();
    let root = t.path().join("node");
    for f in &master.files {
        k8s_manage::local_file::write_file(
            &root.join(f.path.trim_start_matches('/')),
            f.contents.as_bytes(),
            f.mode,
        )
        .unwrap();
    }
    let (p_client, p_peer, p_api) = (free_port(), free_port(), free_port());
    let ports = [(2379, p_client), (2380, p_peer), (6443, p_api)];

    let etcd_spec = master.containers.iter().find(|x| x.name == "etcd").unwrap();
    let etcd = spawn(
        "etcd",
        &etcd_bin.join("etcd"),
        &localize(&etcd_spec.args, &root, &ports),
        &[],
        &t.path().join("etcd.log"),
    );
    let api_spec = master
        .containers
        .iter()
        .find(|x| x.name == "kube-apiserver")
        .unwrap();
    let api = spawn(
        "kube-apiserver",
        &kube_bin.join("kube-apiserver"),
        &localize(&api_spec.args, &root, &ports),
        &[],
        &t.path().join("api.log"),
    );

    let (cert, key) = pki.client_credential(&KubeconfigUser::Admin).unwrap();
    let server = format!("https://127.0.0.1:{p_api}");
    let client = KubeClient::new(
        &server,
        pki.ca_cert_pem(),
        &cert,
        &key,
        Duration::from_secs(5),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
    // The real apiserver takes a few seconds to start (longer on a busy machine); its
    // /readyz includes etcd, reached with the apiserver's etcd client certificate.
    let started = Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(90) {
        if rt.block_on(client.readyz()).unwrap_or(false) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        ready,
        "apiserver never became ready\n--- etcd\n{}\n--- api\n{}",
        log("etcd.log"),
        log("api.log")
    );
    eprintln!(
        "measured: the real kube-apiserver was ready after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // Each check /readyz runs passes, etcd's among them.
    let verbose = rt
        .block_on(client.get_object("/readyz?verbose"))
        .unwrap()
        .unwrap();
    let verbose = verbose.as_str().unwrap_or_default().to_string();
    assert!(verbose.contains("[+]etcd ok"), "{verbose}");
    assert!(verbose.contains("readyz check passed"), "{verbose}");

    // The admin certificate is authenticated and authorized (system:masters): the real
    // server reports its real version and serves the namespaces it made itself.
    let version = rt.block_on(client.get_object("/version")).unwrap().unwrap();
    assert_eq!(version["gitVersion"], KUBERNETES_VERSION, "{version}");
    let kube_system = rt
        .block_on(client.get_object("/api/v1/namespaces/kube-system"))
        .unwrap()
        .expect("kube-system exists");
    assert_eq!(kube_system["status"]["phase"], "Active", "{kube_system}");

    // No client certificate: 401 (anonymous-auth=false), though TLS itself succeeds.
    let (status, body) = rt.block_on(anonymous_get(
        pki.ca_cert_pem(),
        &format!("{server}/api/v1/namespaces"),
    ));
    assert_eq!(status, 401, "{body}");

    // A kubelet's certificate authenticates, but the Node authorizer denies it the list of
    // Secrets (it may read only those of pods bound to its node).
    let (kcert, kkey) = pki
        .client_credential(&KubeconfigUser::Kubelet {
            nodename: c.machines[0].nodename.clone(),
        })
        .unwrap();
    let kubelet = KubeClient::new(
        &server,
        pki.ca_cert_pem(),
        &kcert,
        &kkey,
        Duration::from_secs(5),
    )
    .unwrap();
    let denied = rt
        .block_on(kubelet.get_object("/api/v1/namespaces/kube-system/secrets"))
        .expect_err("a kubelet listed the Secrets")
        .to_string();
    assert!(denied.contains("HTTP 403"), "{denied}");
    assert!(
        denied.contains(&format!("system:node:{}", c.machines[0].nodename)),
        "{denied}"
    );

    // etcd is healthy, seen through the product's etcd client with the healthcheck cert
    let (hc_cert, hc_key) = {
        let f = |p: &str| {
            master
                .files
                .iter()
                .find(|f| f.path == p)
                .unwrap()
                .contents
                .clone()
        };
        (
            f("/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
            f("/etc/kubernetes/pki/etcd/healthcheck-client.key"),
        )
    };
    let etcd_ca = master
        .files
        .iter()
        .find(|f| f.path == "/etc/kubernetes/pki/etcd/ca.crt")
        .unwrap()
        .contents
        .clone();
    let cred = k8s_manage::etcd::EtcdCredentials {
        ca_pem: etcd_ca,
        cert_pem: hc_cert,
        key_pem: hc_key,
    };
    let endpoints = vec![format!("https://127.0.0.1:{p_client}")];
    let health = rt
        .block_on(k8s_manage::etcd::wait_healthy(
            &endpoints,
            &cred,
            Duration::from_secs(20),
        ))
        .expect("etcd healthy");
    assert_eq!(health.member_names, vec!["etcd1".to_string()]);
    assert!(health.leader.is_some());

    // the add-ons go in through server-side apply
    let manifests = cluster::manifests(&c).unwrap();
    let mut applied = 0;
    for m in &manifests {
        let a = rt
            .block_on(client.apply_manifest(&m.file_name, &m.content, "k8s-manage"))
            .unwrap_or_else(|e| panic!("{e}\n{}", log("api.log")));
        applied += a.len();
    }
    assert!(applied > 20, "{applied}");
    // a second apply changes nothing but still succeeds (idempotent)
    for m in &manifests {
        let again = rt
            .block_on(client.apply_manifest(&m.file_name, &m.content, "k8s-manage"))
            .unwrap();
        assert!(again.iter().all(|a| !a.created), "{:?}", again);
    }

    // The optional add-ons this cluster has none of (the NVIDIA device plugin of GPU
    // machines, the dashboard) pass the real apiserver's admission and strict schema
    // validation (an unknown field is an error), stored nowhere.
    let mut optional = cluster::addon_context(&c);
    optional.nvidia_device_plugin = true;
    optional.dashboard_node = Some("node-1".into());
    let optional_files = k8s_manage::render::addons::render_addons(&optional).unwrap();
    let mut checked = Vec::new();
    for m in optional_files
        .iter()
        .filter(|m| m.file_name.contains("nvidia") || m.file_name.contains("dashboard"))
    {
        let docs = k8s_manage::kubeapi::client::parse_manifest(&m.file_name, &m.content).unwrap();
        let dry = rt
            .block_on(client.apply_docs_mode(
                &m.file_name,
                &docs,
                "k8s-manage",
                &k8s_manage::kubeapi::CustomKinds::default(),
                k8s_manage::kubeapi::client::ApplyMode::ServerDryRun,
            ))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", m.file_name, log("api.log")));
        assert!(!dry.is_empty(), "{}", m.file_name);
        checked.push(m.file_name.clone());
    }
    assert_eq!(checked.len(), 2, "{checked:?}");

    // read back from the real etcd with the healthcheck client certificate
    let pki_dir = root.join("etc/kubernetes/pki/etcd");
    let etcdctl = etcd_bin.join("etcdctl");
    let out = std::process::Command::new(&etcdctl)
        .args([
            &format!("--endpoints=https://127.0.0.1:{p_client}"),
            &format!("--cacert={}", pki_dir.join("ca.crt").display()),
            &format!(
                "--cert={}",
                pki_dir.join("healthcheck-client.crt").display()
            ),
            &format!("--key={}", pki_dir.join("healthcheck-client.key").display()),
            "get",
            "/registry/configmaps/kube-system/coredns",
            "--print-value-only",
        ])
        .output()
        .expect("etcdctl");
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(
        v.contains("Corefile") && v.contains("cluster.local"),
        "{v}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // etcd refuses a client without a certificate
    let out = std::process::Command::new(&etcdctl)
        .args([
            &format!("--endpoints=https://127.0.0.1:{p_client}"),
            &format!("--cacert={}", pki_dir.join("ca.crt").display()),
            "--dial-timeout=2s",
            "get",
            "x",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "etcd answered without a client certificate"
    );
    drop(api);
    drop(etcd);
}
