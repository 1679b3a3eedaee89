//! The text of the files `init` writes, in the OpenPAI format, every key with a one-line
//! comment (what it is, its default) taken from the key tables of `config::keys`.

use crate::config::keys::{self, Key, Value};
use crate::model::KubeVersion;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// What goes into the files.
#[derive(Debug, Clone)]
pub struct Spec {
    pub masters: Vec<Ipv4Addr>,
    pub workers: Vec<Ipv4Addr>,
    pub proxy: Option<Ipv4Addr>,
    pub user: String,
    pub port: u16,
    /// An absolute path to the SSH private key.
    pub key: Option<PathBuf>,
    /// The quick-start's `ssh-password`.
    pub password: Option<String>,
    pub version: KubeVersion,
    pub dns: Option<Ipv4Addr>,
    pub service_range: Option<String>,
    pub load_balance_ip: Option<Ipv4Addr>,
    /// The quick-start's OpenPAI labels (machine-type GENERIC, pai-master, zkid, ...).
    pub openpai_labels: bool,
}

/// A YAML scalar for `s`: bare when plain, else double-quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '~'))
        && !matches!(s, "true" | "false" | "null" | "yes" | "no" | "~")
        && !s.starts_with(['-', '~']);
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

/// `# help (default: X)`.
fn comment(k: &Key) -> String {
    let default = match (k.default, k.value) {
        ("", Value::Flag) => " (default: not set)".to_string(),
        ("", _) if k.help.contains("(required") => String::new(),
        ("", _) => " (default: none)".to_string(),
        (d, _) => format!(" (default: {d})"),
    };
    format!("# {}{default}", k.help)
}

fn table_key(table: &'static [Key], name: &str) -> &'static Key {
    keys::find(table, name).unwrap_or_else(|| panic!("`{name}` is in the key table"))
}

fn line(out: &mut String, indent: &str, table: &'static [Key], name: &str, value: &str) {
    let k = table_key(table, name);
    let _ = writeln!(out, "{indent}{}\n{indent}{name}: {value}", comment(k));
}

const HEADER: &str = "# Written by `k8s-manage init`. Check it with `k8s-manage validate -p <this folder>`;\n# the format is the OpenPAI one (README.md, \"Config dir\").\n";

/// `cluster-configuration.yaml`.
pub fn cluster(spec: &Spec) -> String {
    let mut o = String::from(HEADER);
    o.push('\n');
    let top = |name| comment(table_key(keys::CLUSTER_KEYS, name));
    let d = keys::DEFAULT_MACHINE_KEYS;
    let _ = writeln!(
        o,
        "{}\ndefault-machine-properties:",
        top("default-machine-properties")
    );
    line(&mut o, "  ", d, "username", &scalar(&spec.user));
    line(&mut o, "  ", d, "sshport", &spec.port.to_string());
    match (&spec.key, &spec.password) {
        (Some(k), _) => line(
            &mut o,
            "  ",
            d,
            "keyfile-path",
            &scalar(&k.display().to_string()),
        ),
        (None, None) => line(&mut o, "  ", d, "ssh-agent", "\"true\""),
        (None, Some(_)) => {}
    }
    if let Some(p) = &spec.password {
        line(&mut o, "  ", d, "password", &scalar(p));
    }
    o.push('\n');
    let _ = writeln!(o, "{}", top("machine-sku"));
    if spec.openpai_labels {
        // The original's generator gave every machine one GPU; k8s-manage acts on it.
        o.push_str("machine-sku:\n  GENERIC:\n    mem: 1\n    # The quick-start's GPU: before deploy, every GENERIC machine is checked for 1 NVIDIA\n    # GPU (nvidia-smi, Docker's nvidia runtime) and gets the device plugin. Delete these\n    # three lines if your machines have no GPU.\n    gpu:\n      type: generic\n      count: 1\n    cpu:\n      vcore: 1\n    os: ubuntu16.04\n");
    } else {
        o.push_str("machine-sku: {}\n");
    }
    o.push('\n');
    let _ = writeln!(o, "{}\nmachine-list:", top("machine-list"));
    let single = spec.masters.len() == 1 && spec.workers.is_empty() && spec.proxy.is_none();
    for (i, ip) in spec.masters.iter().enumerate() {
        let mut extra = Vec::new();
        if spec.openpai_labels && i == 0 {
            extra.extend([("zkid", "\"1\""), ("pai-master", "\"true\"")]);
            if single {
                extra.push(("pai-worker", "\"true\""));
            }
        }
        let dashboard = i == 0;
        entry(
            &mut o,
            &format!("master-{}", i + 1),
            *ip,
            "master",
            Some(&format!("etcd{}", i + 1)),
            dashboard,
            i == 0,
            spec,
            &extra,
        );
    }
    for (i, ip) in spec.workers.iter().enumerate() {
        let extra: &[(&str, &str)] = if spec.openpai_labels {
            &[("pai-worker", "\"true\"")]
        } else {
            &[]
        };
        entry(
            &mut o,
            &format!("worker-{}", i + 1),
            *ip,
            "worker",
            None,
            false,
            i == 0,
            spec,
            extra,
        );
    }
    if let Some(ip) = spec.proxy {
        entry(&mut o, "proxy-1", ip, "proxy", None, false, true, spec, &[]);
    }
    o
}

/// One `machine-list` entry; the first of each role has a comment on every key.
#[allow(clippy::too_many_arguments)]
fn entry(
    o: &mut String,
    hostname: &str,
    ip: Ipv4Addr,
    role: &str,
    etcdid: Option<&str>,
    dashboard: bool,
    commented: bool,
    spec: &Spec,
    extra: &[(&str, &str)],
) {
    let m = keys::MACHINE_KEYS;
    let mut fields: Vec<(&str, String)> = vec![
        ("hostname", hostname.to_string()),
        ("hostip", ip.to_string()),
        ("k8s-role", role.to_string()),
    ];
    if let Some(e) = etcdid {
        fields.push(("etcdid", e.to_string()));
    }
    if spec.openpai_labels {
        fields.push(("machine-type", "GENERIC".into()));
    }
    if dashboard {
        fields.push(("dashboard", "\"true\"".into()));
    }
    if commented {
        let _ = writeln!(o, "  # the first {role}: every key explained");
    }
    for (n, (name, value)) in fields.iter().enumerate() {
        let (comment_indent, lead) = if n == 0 {
            ("  ", "  - ")
        } else {
            ("    ", "    ")
        };
        if commented {
            let _ = writeln!(o, "{comment_indent}{}", comment(table_key(m, name)));
        }
        let _ = writeln!(o, "{lead}{name}: {value}");
    }
    for (name, value) in extra {
        if commented {
            let _ = writeln!(
                o,
                "    # an OpenPAI service label, kept as written (default: not set)"
            );
        }
        let _ = writeln!(o, "    {name}: {value}");
    }
}

/// An example value for a key whose default is not a literal value.
fn example(k: &Key, spec: &Spec) -> String {
    match k.name {
        "etcd-version" => crate::model::version::default_etcd_version(spec.version).to_string(),
        "kubelet-image" => format!("registry.example.com/node-agent:{}", spec.version),
        "release-mirror" => "http://10.0.0.5:8080/releases".into(),
        "node-agent-base-image" => "registry.example.com/debian:bookworm-slim".into(),
        "node-agent-checksums" => {
            "{cri-dockerd: {0.4.3: {amd64: <sha256 of cri-dockerd-0.4.3.amd64.tgz>}}}".into()
        }
        "images" => "{coredns: registry.example.com/coredns/coredns:v1.12.0}".into(),
        "cluster-dns" => "10.0.0.2".into(),
        "load-balance-ip" => spec
            .masters
            .first()
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "10.0.0.10".into()),
        "extra-args" => "{kube-apiserver: {audit-log-maxage: \"30\"}}".into(),
        "unavailable-capabilities" => "SYS_RESOURCE".into(),
        _ => String::new(),
    }
}

/// `kubernetes-configuration.yaml`: every key of the table (legacy keys left out); keys
/// with a literal default are written with it, the others as commented examples.
pub fn kubernetes(spec: &Spec) -> String {
    let mut o = String::from(HEADER);
    o.push_str("\nkubernetes:\n");
    for k in keys::KUBERNETES_KEYS.iter().filter(|k| !k.legacy) {
        let set: Option<String> = match k.name {
            "kubernetes-version" => Some(spec.version.to_string()),
            "cluster-dns" => spec.dns.map(|d| d.to_string()),
            "service-cluster-ip-range" => spec.service_range.clone(),
            "load-balance-ip" => spec.load_balance_ip.map(|d| d.to_string()),
            _ => None,
        };
        let literal =
            !k.default.is_empty() && !k.default.contains([' ', '<', '\'']) && k.default != "hostip";
        let _ = writeln!(o, "  {}", comment(k));
        match set {
            Some(v) => {
                let _ = writeln!(o, "  {}: {}", k.name, scalar(&v));
            }
            None if literal => {
                let _ = writeln!(o, "  {}: {}", k.name, scalar(k.default));
            }
            None => {
                let _ = writeln!(o, "  # {}: {}", k.name, example(k, spec));
            }
        }
    }
    o
}

/// `k8s-role-definition.yaml`: the three roles (only their names are read).
pub fn roles() -> String {
    let mut o = String::from(HEADER);
    o.push_str(
        "# Optional: only the role names are read; k8s-manage knows what each role runs.\n\
k8s-role:\n\
\x20 # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and what every node runs\n\
\x20 master:\n\
\x20   component:\n\
\x20   - name: apiserver\n\
\x20   - name: controller-manager\n\
\x20   - name: etcd\n\
\x20   - name: scheduler\n\
\x20   - name: kubelet\n\
\x20 # every node: cri-dockerd, kubelet, kube-proxy and the local API load balancer\n\
\x20 worker:\n\
\x20   component:\n\
\x20   - name: kubelet\n\
\x20 # haproxy in front of every apiserver, plus what every node runs\n\
\x20 proxy:\n\
\x20   component:\n\
\x20   - name: kubelet\n\
\x20   - name: haproxy\n",
    );
    o
}

/// `services-configuration.yaml` as the original's quick-start wrote its `cluster:` part
/// (the OpenPAI services themselves are not part of k8s-manage).
pub fn services() -> String {
    let mut o = String::from(HEADER);
    o.push_str(
        "# Read only by `k8s-manage service` and `image`; add one section per service\n\
# (see cluster-configuration/services/ and README.md, \"Database services\").\n\
cluster:\n\
\x20 # the cluster's name for the services (default: none)\n\
\x20 clusterid: pai-example\n\
\x20 # where the imagelist's images are pushed and pulled from\n\
\x20 docker-registry-info:\n\
\x20   # namespace (Docker Hub: your user name) (default: none)\n\
\x20   docker-namespace: openpai\n\
\x20   # host[:port] of the registry, or `public` for Docker Hub (default: public)\n\
\x20   docker-registry-domain: docker.io\n\
\x20   # tag of the built images (default: latest)\n\
\x20   docker-tag: latest\n\
\x20   # the image pull Secret made in the cluster (default: none)\n\
\x20   secret-name: pai-secret\n\
\x20   # registry login, both or neither (default: no login)\n\
\x20   # docker-username: <username>\n\
\x20   # docker-password: <password>\n",
    );
    o
}
