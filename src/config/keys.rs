//! The keys of each config file, with what each holds, its default and a one-line help.
//! Validation takes its lists of known keys from here, `init` writes its commented files
//! from here, and `schema` makes the JSON Schemas from here, so the three cannot disagree.

/// What a key's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// Any single value (text, number).
    Text,
    /// An IPv4 or IPv6 address.
    Ip,
    /// An address, or a list of them.
    IpOrList,
    /// A TCP port 1-65535 (a number, or the same digits as text).
    Port,
    /// An IPv4 range in CIDR form.
    Cidr,
    /// A Kubernetes version `v1.MINOR.PATCH`.
    KubeVersion,
    /// A whole number in the range (a number, or the same digits as text).
    Int(u32, u32),
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `true` or `false` (a boolean, or the same word as text).
    Bool,
    /// Present (any value, even none) or absent.
    Flag,
    /// A mapping of image name (see [`KNOWN_IMAGES`]) to image reference.
    Images,
    /// `component: {flag: value}`.
    ExtraArgs,
    /// Any mapping.
    Mapping,
    /// A list of machine entries (`MACHINE_KEYS`).
    MachineList,
    /// A map of hostname to machine entry (`MACHINE_KEYS`).
    MachineMap,
    /// The mapping `DEFAULT_MACHINE_KEYS`.
    MachineDefaults,
}

/// One key of a config file.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub value: Value,
    /// The default, as it would be written; empty when there is none.
    pub default: &'static str,
    /// What it is, in one line.
    pub help: &'static str,
    /// A key of the original that is accepted but not written by `init`.
    pub legacy: bool,
}

const fn key(name: &'static str, value: Value, default: &'static str, help: &'static str) -> Key {
    Key {
        name,
        value,
        default,
        help,
        legacy: false,
    }
}

const fn legacy(name: &'static str, value: Value, help: &'static str) -> Key {
    Key {
        name,
        value,
        default: "",
        help,
        legacy: true,
    }
}

/// The roles a machine can have.
pub const ROLES: &[&str] = &["master", "worker", "proxy"];

/// Image names the tool knows, with what each is for.
pub const KNOWN_IMAGES: &[(&str, &str)] = &[
    ("etcd", "etcd on masters"),
    ("kube-apiserver", "API server on masters"),
    ("kube-controller-manager", "controller manager on masters"),
    ("kube-scheduler", "scheduler on masters"),
    ("kube-proxy", "kube-proxy on every node"),
    (
        "kubelet",
        "kubelet and cri-dockerd on every node (one image carrying both)",
    ),
    ("pause", "pod sandbox image used by cri-dockerd"),
    (
        "haproxy",
        "local API load balancer on every node and the proxy-node load balancer",
    ),
    ("coredns", "cluster DNS add-on"),
    ("flannel", "flannel CNI daemon"),
    ("flannel-cni-plugin", "flannel CNI plugin installer"),
    ("dashboard", "Kubernetes dashboard"),
    ("dashboard-metrics-scraper", "dashboard metrics scraper"),
    (
        "nvidia-device-plugin",
        "NVIDIA device plugin on GPU nodes (machine-sku with gpu)",
    ),
    (
        "local-path-provisioner",
        "local-path-provisioner (local-path-provisioner: true)",
    ),
    (
        "local-path-helper",
        "busybox the local-path-provisioner's helper pods run to make and remove volume directories",
    ),
];

/// The cri-dockerd release the node-agent image carries unless `cri-dockerd-version` says
/// otherwise (the one the sandbox builds and tests).
/// The newest cri-dockerd release whose checksum a trusted source publishes (the built-in
/// table's newest row), so that `image node-agent` works with an untouched config.
pub const DEFAULT_CRI_DOCKERD_VERSION: &str = "0.3.26";

/// `cluster-configuration.yaml`, top level (other keys are kept and ignored).
pub const CLUSTER_KEYS: &[Key] = &[
    key(
        "default-machine-properties",
        Value::MachineDefaults,
        "",
        "what every machine takes unless its entry says otherwise",
    ),
    key(
        "machine-sku",
        Value::Mapping,
        "",
        "hardware kinds by name (mem, gpu, cpu, os); a kind with `gpu: {type, count}` makes its machines GPU nodes (checked, labelled, device plugin)",
    ),
    key(
        "machine-list",
        Value::MachineList,
        "",
        "every machine of the cluster, one `- hostname: ...` entry each (required)",
    ),
];

/// `default-machine-properties` (unknown keys are warnings).
pub const DEFAULT_MACHINE_KEYS: &[Key] = &[
    key(
        "username",
        Value::Text,
        "root",
        "SSH login; not root: it needs sudo",
    ),
    key(
        "password",
        Value::Text,
        "",
        "SSH and sudo password (prefer keyfile-path); never logged",
    ),
    key("sshport", Value::Port, "22", "SSH port"),
    key(
        "keyfile-path",
        Value::Text,
        "",
        "SSH private key file, absolute or relative to the config dir",
    ),
    key(
        "ssh-agent",
        Value::Bool,
        "false",
        "log in with the keys of the running ssh-agent",
    ),
];

/// One machine entry (of `machine-list`, or of a node list). Other keys (`zkid`,
/// `pai-master`, ...) are kept as written.
pub const MACHINE_KEYS: &[Key] = &[
    key(
        "hostname",
        Value::Text,
        "",
        "the machine's name in reports and logs (required; `hostname` on the machine is a good choice)",
    ),
    key(
        "hostip",
        Value::Ip,
        "",
        "the address SSH and the cluster use (required)",
    ),
    key(
        "nodename",
        Value::Text,
        "hostip",
        "the Kubernetes node name (kubelet --hostname-override)",
    ),
    key(
        "k8s-role",
        Value::Choice(ROLES),
        "",
        "master, worker or proxy (required)",
    ),
    key(
        "etcdid",
        Value::Text,
        "",
        "the etcd member name of a master (required on masters, unique)",
    ),
    key(
        "sshport",
        Value::Port,
        "default-machine-properties",
        "SSH port",
    ),
    key(
        "username",
        Value::Text,
        "default-machine-properties",
        "SSH login",
    ),
    key(
        "password",
        Value::Text,
        "default-machine-properties",
        "SSH and sudo password",
    ),
    key(
        "keyfile-path",
        Value::Text,
        "default-machine-properties",
        "SSH private key file",
    ),
    key(
        "ssh-agent",
        Value::Bool,
        "default-machine-properties",
        "log in with the keys of the running ssh-agent",
    ),
    key(
        "dashboard",
        Value::Flag,
        "",
        "the node that runs the Kubernetes dashboard (one machine)",
    ),
    key("machine-type", Value::Text, "", "a name of machine-sku"),
    legacy(
        "machinetype",
        Value::Text,
        "a known typo of machine-type (OpenPAI #664)",
    ),
];

/// The `gpu:` mapping of a `machine-sku` entry (other keys are warnings). Machines whose
/// `machine-type` names that entry are GPU nodes.
pub const GPU_SKU_KEYS: &[Key] = &[
    key(
        "type",
        Value::Text,
        "",
        "the GPU model, e.g. teslak80; becomes the node label k8s-manage.io/gpu-type (required)",
    ),
    key(
        "count",
        Value::Int(1, 64),
        "",
        "GPUs per machine: nvidia-smi must list this many, and the node must offer as many nvidia.com/gpu (required)",
    ),
];

/// `kubernetes-configuration.yaml`: the keys under `kubernetes:` (unknown keys are
/// warnings).
pub const KUBERNETES_KEYS: &[Key] = &[
    key(
        "kubernetes-version",
        Value::KubeVersion,
        "v1.36.1",
        "the Kubernetes version of every component (v1.31 to v1.36)",
    ),
    key(
        "etcd-version",
        Value::Text,
        "kubeadm's pairing, e.g. 3.6.5-0",
        "the etcd image tag (3.4 to 3.6)",
    ),
    key(
        "docker-registry",
        Value::Text,
        "registry.k8s.io",
        "image prefix; point it at your mirror in an offline rack",
    ),
    key(
        "kubelet-image",
        Value::Text,
        "<docker-registry>/node-agent:<version> (k8s-manage.local/node-agent:<version> with registry.k8s.io)",
        "an image carrying kubelet and cri-dockerd; `k8s-manage image node-agent` makes it",
    ),
    key(
        "release-mirror",
        Value::Text,
        "the official sites (dl.k8s.io, github.com)",
        "where `image node-agent` fetches the kubelet and cri-dockerd: an http(s) URL or a folder laid out as <mirror>/dl.k8s.io/release/... and <mirror>/github.com/Mirantis/cri-dockerd/releases/download/...",
    ),
    key(
        "cri-dockerd-version",
        Value::Text,
        DEFAULT_CRI_DOCKERD_VERSION,
        "the cri-dockerd release in the node-agent image (0.3.16 or later)",
    ),
    key(
        "node-agent-base-image",
        Value::Text,
        "docker.io/library/debian:bookworm-slim (pulled if missing)",
        "the Debian image `image node-agent` builds on; an offline site names a local image or one of its mirror",
    ),
    key(
        "node-agent-checksums",
        Value::Mapping,
        "",
        "SHA-256 pins for the node-agent image's files, over the built-in table: {kubelet: {v1.36.1: {amd64: <sha256>}}, cri-dockerd: {0.4.3: {amd64: <sha256>}}}",
    ),
    key(
        "images",
        Value::Images,
        "",
        "per-image overrides: etcd, kube-apiserver, kube-proxy, pause, haproxy, coredns, nvidia-device-plugin, ...",
    ),
    key(
        "service-cluster-ip-range",
        Value::Cidr,
        "10.96.0.0/12",
        "Service addresses; no machine may use them",
    ),
    key(
        "pod-cluster-ip-range",
        Value::Cidr,
        "10.244.0.0/16",
        "pod addresses (flannel's network); no machine may use them",
    ),
    key(
        "cluster-domain",
        Value::Text,
        "cluster.local",
        "the cluster's DNS domain",
    ),
    key(
        "cluster-dns",
        Value::IpOrList,
        "the nodes' /etc/resolv.conf",
        "upstream nameserver(s) cluster DNS forwards to",
    ),
    key(
        "load-balance-ip",
        Value::Ip,
        "first proxy node, else first master",
        "the API address for clients: an external load balancer or VIP",
    ),
    key(
        "api-servers-port",
        Value::Port,
        "6443",
        "apiserver and proxy-node haproxy port",
    ),
    key(
        "local-lb-port",
        Value::Port,
        "6444",
        "the local API load balancer on 127.0.0.1 of every node",
    ),
    key(
        "etcd-data-path",
        Value::Text,
        "/var/lib/etcd",
        "etcd's data directory on masters",
    ),
    key(
        "etcd-snapshot-copies-kept",
        Value::Int(1, 1000),
        "5",
        "automatic snapshot copies kept on each master (older ones are pruned)",
    ),
    key(
        "etcd-moved-aside-kept",
        Value::Int(1, 1000),
        "2",
        "etcd data dirs moved aside by etcdfix/restore kept on each master",
    ),
    key(
        "cert-validity-days",
        Value::Int(1, 36500),
        "365",
        "lifetime of leaf certificates (CAs: 10 years)",
    ),
    key(
        "cluster-name",
        Value::Text,
        "kubernetes",
        "the name in kubeconfigs",
    ),
    key(
        "network-plugin",
        Value::Choice(&["flannel", "none"]),
        "flannel",
        "the pod network; none to bring your own CNI",
    ),
    key(
        "storage-backend",
        Value::Choice(&["etcd3"]),
        "etcd3",
        "the apiserver's storage backend",
    ),
    key(
        "cgroup-driver",
        Value::Choice(&["systemd", "cgroupfs"]),
        "systemd",
        "must match `docker info`'s Cgroup Driver",
    ),
    key(
        "nvidia-device-plugin",
        Value::Bool,
        "true",
        "run NVIDIA's device plugin on GPU nodes; false when you bring your own (GPU Operator)",
    ),
    key(
        "local-path-provisioner",
        Value::Bool,
        "false",
        "run rancher's local-path-provisioner: the `local-path` StorageClass (what the database services ask for), volumes in /var/lib/k8s-manage/local-path-provisioner on each node",
    ),
    key(
        "extra-args",
        Value::ExtraArgs,
        "",
        "extra flags per component, e.g. {kube-apiserver: {audit-log-maxage: \"30\"}}",
    ),
    key(
        "kubelet-config",
        Value::Mapping,
        "",
        "KubeletConfiguration fields merged over the rendered ones, e.g. {maxPods: 200}",
    ),
    key(
        "unavailable-capabilities",
        Value::Text,
        "",
        "capabilities the nodes cannot grant (containers as nodes), comma-separated",
    ),
    legacy(
        "hyperkube-version",
        Value::KubeVersion,
        "the original's per-component version; must agree with kubernetes-version",
    ),
    legacy(
        "apiserver-version",
        Value::KubeVersion,
        "the original's per-component version; must agree with kubernetes-version",
    ),
    legacy(
        "kube-scheduler-version",
        Value::KubeVersion,
        "the original's per-component version; must agree with kubernetes-version",
    ),
    legacy(
        "kube-controller-manager-version",
        Value::KubeVersion,
        "the original's per-component version; must agree with kubernetes-version",
    ),
    legacy(
        "dashboard-version",
        Value::Text,
        "ignored: the dashboard image is set under images",
    ),
    legacy(
        "api-servers-http-schema",
        Value::Choice(&["https"]),
        "the API is served over TLS only",
    ),
    legacy("qos-switch", Value::Text, "accepted and ignored"),
];

/// A node list (`-f`): one of the two machine forms, and the oldest form's default role.
pub const NODE_LIST_KEYS: &[Key] = &[
    key(
        "machine-list",
        Value::MachineList,
        "",
        "the machines, entries as in cluster-configuration.yaml",
    ),
    key(
        "machinelist",
        Value::MachineMap,
        "",
        "the OpenI / early OpenPAI form: a map of hostname to entry",
    ),
    key(
        "remote_deployment_role",
        Value::Choice(&["worker"]),
        "",
        "the oldest form: the role of entries without k8s-role",
    ),
];

/// The names of `keys`.
pub fn names(keys: &[Key]) -> Vec<&'static str> {
    keys.iter().map(|k| k.name).collect()
}

/// The key called `name`.
pub fn find(keys: &'static [Key], name: &str) -> Option<&'static Key> {
    keys.iter().find(|k| k.name == name)
}
