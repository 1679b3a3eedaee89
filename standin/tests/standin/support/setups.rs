//! Complete, valid start-up setups (files and flags) for each component; tests break one
//! piece at a time.

use super::pki::{Ca, Dir, Kind};
use super::proc::free_port;

/// Files and flags for one component.
pub struct Setup {
    pub dir: Dir,
    pub ca: Ca,
    pub args: Vec<String>,
    /// The main serving port.
    pub port: u16,
    /// A second port (kubelet's healthz).
    pub port2: u16,
}

impl Setup {
    fn new() -> Setup {
        Setup::with_ca(Ca::new("kubernetes-ca"))
    }

    fn with_ca(ca: Ca) -> Setup {
        Setup {
            dir: Dir::new(),
            ca,
            args: Vec::new(),
            port: free_port(),
            port2: free_port(),
        }
    }

    /// Sets `--name=value`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: &str) {
        let prefix = format!("--{name}=");
        self.args.retain(|a| !a.starts_with(&prefix));
        self.args.push(format!("{prefix}{value}"));
    }

    fn flags(&mut self, pairs: &[(&str, String)]) {
        for (k, v) in pairs {
            self.set(k, v);
        }
    }
}

/// The etcd side of an apiserver setup.
pub struct EtcdPki {
    pub ca: Ca,
    pub ca_file: String,
    pub server_cert: String,
    pub server_key: String,
}

/// kube-apiserver with anonymous auth off, talking to `etcd_url` with certificates from a
/// new etcd CA (returned, with etcd's own serving files).
pub fn apiserver(etcd_url: &str) -> (Setup, EtcdPki) {
    let mut s = Setup::new();
    let d = &s.dir;
    let etcd_ca = Ca::new("etcd-ca");
    let ca_file = d.ca("pki/ca.crt", &s.ca);
    let etcd_ca_file = d.ca("pki/etcd/ca.crt", &etcd_ca);
    let (server_cert, server_key) = d.leaf(
        "pki/etcd/server",
        &etcd_ca.leaf("etcd", &[], &["127.0.0.1", "localhost"], Kind::Both),
    );
    let (etcd_cert, etcd_key) = d.leaf(
        "pki/apiserver-etcd-client",
        &etcd_ca.client("kube-apiserver-etcd-client", &[]),
    );
    let (tls_cert, tls_key) = d.leaf("pki/apiserver", &s.ca.server("kube-apiserver"));
    let (kc_cert, kc_key) = d.leaf(
        "pki/apiserver-kubelet-client",
        &s.ca
            .client("kube-apiserver-kubelet-client", &["kubeadm:cluster-admins"]),
    );
    let sa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let sa_key = d.write("pki/sa.key", &sa.serialize_pem());
    let sa_pub = d.write("pki/sa.pub", &sa.public_key_pem());
    let port = s.port.to_string();
    s.flags(&[
        ("bind-address", "127.0.0.1".into()),
        ("secure-port", port),
        ("tls-cert-file", tls_cert),
        ("tls-private-key-file", tls_key),
        ("client-ca-file", ca_file.clone()),
        ("anonymous-auth", "false".into()),
        ("authorization-mode", "Node,RBAC".into()),
        ("etcd-servers", etcd_url.into()),
        ("etcd-cafile", etcd_ca_file.clone()),
        ("etcd-certfile", etcd_cert),
        ("etcd-keyfile", etcd_key),
        ("kubelet-certificate-authority", ca_file),
        ("kubelet-client-certificate", kc_cert),
        ("kubelet-client-key", kc_key),
        (
            "service-account-issuer",
            "https://kubernetes.default.svc".into(),
        ),
        ("service-account-key-file", sa_pub),
        ("service-account-signing-key-file", sa_key),
        ("service-cluster-ip-range", "10.43.0.0/16".into()),
        ("allow-privileged", "true".into()),
    ]);
    let etcd = EtcdPki {
        ca: etcd_ca,
        ca_file: etcd_ca_file,
        server_cert,
        server_key,
    };
    (s, etcd)
}

/// kube-controller-manager or kube-scheduler (`component`), its kubeconfig pointing at
/// `api_port`; the CA of the returned setup signs everything.
pub fn control(component: &str, api_port: u16) -> Setup {
    control_ca(component, api_port, Ca::new("kubernetes-ca"))
}

/// [`control`] with a given cluster CA.
pub fn control_ca(component: &str, api_port: u16, ca: Ca) -> Setup {
    let mut s = Setup::with_ca(ca);
    let d = &s.dir;
    let ca_file = d.ca("pki/ca.crt", &s.ca);
    let ca_key = d.write("pki/ca.key", &s.ca.key_pem);
    let server = format!("https://127.0.0.1:{api_port}");
    let user = format!("system:{component}");
    let kubeconfig = d.kubeconfig(
        &format!("{component}.conf"),
        &server,
        &s.ca,
        &s.ca.client(&user, &[]),
    );
    let (cert, key) = d.leaf(&format!("pki/{component}"), &s.ca.server(component));
    let port = s.port.to_string();
    s.flags(&[
        ("bind-address", "127.0.0.1".into()),
        ("secure-port", port),
        ("tls-cert-file", cert),
        ("tls-private-key-file", key),
        ("client-ca-file", ca_file.clone()),
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
    ]);
    if component == "kube-controller-manager" {
        let sa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let sa_key = s.dir.write("pki/sa.key", &sa.serialize_pem());
        s.flags(&[
            ("kubeconfig", kubeconfig),
            ("cluster-signing-cert-file", ca_file.clone()),
            ("cluster-signing-key-file", ca_key),
            ("root-ca-file", ca_file),
            ("service-account-private-key-file", sa_key),
            ("use-service-account-credentials", "true".into()),
            ("leader-elect", "true".into()),
        ]);
    } else {
        let config = s.dir.write(
            "scheduler-config.yaml",
            &format!(
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: {kubeconfig}\nleaderElection:\n  leaderElect: true\n"
            ),
        );
        s.set("config", &config);
    }
    s
}

/// kubelet "node1" (node IP 127.0.0.1), kubeconfig pointing at `api_port`; `port` is
/// 10250's stand-in, `port2` the healthz port; the CRI socket is `<dir>/cri.sock`.
pub fn kubelet(api_port: u16) -> Setup {
    kubelet_ca(api_port, Ca::new("kubernetes-ca"))
}

/// [`kubelet`] with a given cluster CA.
pub fn kubelet_ca(api_port: u16, ca: Ca) -> Setup {
    let mut s = Setup::with_ca(ca);
    let d = &s.dir;
    let ca_file = d.ca("pki/ca.crt", &s.ca);
    let server = format!("https://127.0.0.1:{api_port}");
    let kubeconfig = d.kubeconfig(
        "kubelet.conf",
        &server,
        &s.ca,
        &s.ca.client("system:node:node1", &["system:nodes"]),
    );
    let (cert, key) = d.leaf(
        "pki/kubelet",
        &s.ca
            .leaf("node1", &[], &["127.0.0.1", "node1"], Kind::Server),
    );
    let config = d.write(
        "kubelet-config.yaml",
        &format!(
            "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {}
healthzBindAddress: 127.0.0.1
healthzPort: {}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {ca_file}
authorization:
  mode: Webhook
tlsCertFile: {cert}
tlsPrivateKeyFile: {key}
containerRuntimeEndpoint: unix://{}
",
            s.port,
            s.port2,
            d.path("cri.sock")
        ),
    );
    let root = d.path("root");
    s.flags(&[
        ("config", config),
        ("kubeconfig", kubeconfig),
        ("hostname-override", "node1".into()),
        ("node-ip", "127.0.0.1".into()),
        ("root-dir", root),
        ("v", "2".into()),
    ]);
    s
}

/// kube-proxy, kubeconfig pointing at `api_port`, healthz on `port`.
pub fn proxy(api_port: u16) -> Setup {
    let mut s = Setup::new();
    let server = format!("https://127.0.0.1:{api_port}");
    let kubeconfig = s.dir.kubeconfig(
        "kube-proxy.conf",
        &server,
        &s.ca,
        &s.ca.client("system:kube-proxy", &[]),
    );
    let healthz = format!("127.0.0.1:{}", s.port);
    let metrics = format!("127.0.0.1:{}", s.port2);
    s.flags(&[
        ("kubeconfig", kubeconfig),
        ("healthz-bind-address", healthz),
        ("metrics-bind-address", metrics),
        ("hostname-override", "node1".into()),
        ("proxy-mode", "iptables".into()),
    ]);
    s
}

/// cri-dockerd with its socket at `<dir>/cri-dockerd.sock`.
pub fn cri_dockerd() -> Setup {
    let mut s = Setup::new();
    let sock = format!("unix://{}", s.dir.path("cri-dockerd.sock"));
    s.flags(&[
        ("container-runtime-endpoint", sock),
        ("network-plugin", "cni".into()),
        (
            "pod-infra-container-image",
            "registry.example/pause:3.10".into(),
        ),
        ("cni-bin-dir", "/opt/cni/bin".into()),
        ("cni-conf-dir", "/etc/cni/net.d".into()),
    ]);
    s
}
