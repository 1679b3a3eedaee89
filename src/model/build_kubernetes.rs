//! Interpreting the `kubernetes:` section: versions (with the legacy per-component keys),
//! ranges, ports, paths, registry and images, each with its documented default.

use super::images;
use super::network::nth_host;
use super::version::{self, KubeVersion, VersionProblem};
use super::{KubernetesSettings, NetworkPlugin};
use crate::config::keys::KNOWN_IMAGES;
use crate::config::raw::RawKubernetes;
use crate::config::reader::Located;
use crate::diag::{Diagnostic, Diagnostics};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Keys of `kubernetes:` this tool reads (the table in `config::keys`, with their defaults).
fn known_keys() -> Vec<&'static str> {
    crate::config::keys::names(crate::config::keys::KUBERNETES_KEYS)
}

const LEGACY_VERSION_KEYS: &[&str] = &[
    "hyperkube-version",
    "apiserver-version",
    "kube-scheduler-version",
    "kube-controller-manager-version",
];

fn version_fix() -> String {
    format!(
        "write `kubernetes-version: {}` (supported: {}) and delete the per-component *-version keys",
        version::DEFAULT_VERSION,
        version::supported_range()
    )
}

fn version_diag(l: &Located<String>, key: &str, p: VersionProblem) -> Diagnostic {
    let msg = match p {
        VersionProblem::Malformed => format!(
            "`{key}: {}` is not a Kubernetes version like v1.36.1",
            l.value
        ),
        VersionProblem::MissingPatch { minor } => {
            format!(
                "`{key}: {}` needs a patch number (image tags are exact), e.g. v1.{minor}.0",
                l.value
            )
        }
        VersionProblem::Unsupported { major, minor } => format!(
            "Kubernetes {major}.{minor} (`{key}: {}`) is not supported; k8s-manage deploys {}",
            l.value,
            version::supported_range()
        ),
    };
    Diagnostic::error(l.at.clone(), msg).fix(version_fix())
}

fn parse_version(raw: &RawKubernetes, diags: &mut Diagnostics) -> KubeVersion {
    let mut chosen: Option<(KubeVersion, Located<String>)> = None;
    if let Some(l) = raw.scalars.get("kubernetes-version") {
        match version::parse_kube_version(&l.value) {
            Ok(v) => chosen = Some((v, l.clone())),
            Err(p) => diags.push(version_diag(l, "kubernetes-version", p)),
        }
    }
    for key in LEGACY_VERSION_KEYS {
        let Some(l) = raw.scalars.get(*key) else {
            continue;
        };
        match version::parse_kube_version(&l.value) {
            Err(p) => diags.push(version_diag(l, key, p)),
            Ok(v) => match &chosen {
                None => chosen = Some((v, l.clone())),
                Some((c, first)) if *c != v => diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`{key}: {}` disagrees with {} set at {}; all components run one version", l.value, c, first.at),
                    )
                    .related(first.at.clone())
                    .fix("set `kubernetes-version` once and delete the per-component *-version keys"),
                ),
                Some(_) => {}
            },
        }
    }
    chosen.map(|(v, _)| v).unwrap_or(version::DEFAULT_VERSION)
}

fn parse_cidr(raw: &RawKubernetes, key: &str, default: &str, diags: &mut Diagnostics) -> Ipv4Net {
    let fallback: Ipv4Net = default.parse().expect("built-in default range is valid");
    let Some(l) = raw.scalars.get(key) else {
        return fallback;
    };
    match l.value.parse::<Ipv4Net>() {
        Ok(n) if n.network() != n.addr() => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`{key}: {}` has host bits set", l.value),
                )
                .fix(format!(
                    "write the range's first address: `{key}: {}`",
                    n.trunc()
                )),
            );
            n.trunc()
        }
        Ok(n) if n.prefix_len() > 28 => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`{key}: {}` is too small (/{})", l.value, n.prefix_len()),
                )
                .fix(format!(
                    "use a /24 or larger range; the default is {default}"
                )),
            );
            n
        }
        Ok(n) => n,
        Err(_) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`{key}: {}` is not an IPv4 range like {default}", l.value),
                )
                .fix(format!(
                    "write an address range in CIDR form, e.g. `{key}: {default}`"
                )),
            );
            fallback
        }
    }
}

/// A `true`/`false` key; any other value is an error at its line with `fix`, and the
/// default is used.
fn bool_key(
    raw: &RawKubernetes,
    key: &str,
    default: bool,
    fix: &str,
    diags: &mut Diagnostics,
) -> bool {
    match raw.scalars.get(key) {
        None => default,
        Some(l) if l.value == "true" => true,
        Some(l) if l.value == "false" => false,
        Some(l) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`{key}: {}` must be true or false", l.value),
                )
                .fix(fix),
            );
            default
        }
    }
}

fn parse_port(raw: &RawKubernetes, key: &str, default: u16, diags: &mut Diagnostics) -> u16 {
    let Some(l) = raw.scalars.get(key) else {
        return default;
    };
    match l.value.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`{key}: {}` is not a TCP port (1-65535)", l.value),
                )
                .fix(format!("write a port number, e.g. `{key}: {default}`")),
            );
            default
        }
    }
}

fn parse_ip(l: &Located<String>, key: &str, diags: &mut Diagnostics) -> Option<IpAddr> {
    match l.value.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            let hint = if super::build_machines::is_placeholder(&l.value) {
                " (it is still the example's placeholder)"
            } else {
                ""
            };
            diags.push(
                Diagnostic::error(l.at.clone(), format!("`{key}: {}` is not an IP address{hint}", l.value))
                    .fix(format!("write an address such as `{key}: 10.0.0.10`, or delete the key to use the default")),
            );
            None
        }
    }
}

/// Build the settings; every problem is added to `diags`.
/// How many of something old to keep on each master: a whole number from 1 to 100.
fn kept_count(raw: &RawKubernetes, key: &str, default: u32, diags: &mut Diagnostics) -> u32 {
    match raw.scalars.get(key) {
        None => default,
        Some(l) => match l.value.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`{key}: {}` must be a whole number from 1 to 100", l.value),
                    )
                    .fix(format!("write e.g. `{key}: {default}` (the default)")),
                );
                default
            }
        },
    }
}

pub fn build(raw: &RawKubernetes, diags: &mut Diagnostics) -> KubernetesSettings {
    for (key, l) in &raw.scalars {
        let known = known_keys();
        if !known.contains(&key.as_str()) {
            let suggestion = known
                .iter()
                .min_by_key(|k| strsim::levenshtein(k, key))
                .map(|k| format!("did you mean `{k}`? Known keys: {}", known.join(", ")))
                .unwrap_or_default();
            diags.push(
                Diagnostic::warning(
                    l.at.clone(),
                    format!("unknown key `{key}` under `kubernetes:` is ignored"),
                )
                .fix(suggestion),
            );
        }
    }
    let version = parse_version(raw, diags);

    let etcd_version = match raw.scalars.get("etcd-version") {
        None => version::default_etcd_version(version).to_string(),
        Some(l) => match version::parse_etcd_minor(&l.value) {
            Some((maj, min)) if version::etcd_supported(maj, min) => l.value.clone(),
            _ => {
                diags.push(
                    Diagnostic::error(l.at.clone(), format!("etcd `{}` is not supported; k8s-manage runs etcd 3.4 to 3.6 with TLS", l.value))
                        .fix(format!(
                            "delete `etcd-version` to use {} (kubeadm's choice for {version}), or write a 3.5/3.6 tag",
                            version::default_etcd_version(version)
                        )),
                );
                version::default_etcd_version(version).to_string()
            }
        },
    };

    if let Some(l) = raw.scalars.get("storage-backend")
        && l.value != "etcd3"
    {
        diags.push(
            Diagnostic::error(
                l.at.clone(),
                format!("`storage-backend: {}` is not supported", l.value),
            )
            .fix("write `storage-backend: etcd3` or delete the key"),
        );
    }
    if let Some(l) = raw.scalars.get("api-servers-http-schema")
        && l.value != "https"
    {
        diags.push(
            Diagnostic::error(
                l.at.clone(),
                format!(
                    "`api-servers-http-schema: {}`: the API is served over TLS only",
                    l.value
                ),
            )
            .fix("write `api-servers-http-schema: https` or delete the key"),
        );
    }
    if let Some(l) = raw.scalars.get("dashboard-version") {
        diags.push(
            Diagnostic::warning(
                l.at.clone(),
                "`dashboard-version` is ignored: the dashboard image is set under `images`",
            )
            .fix("delete it, or set `images: {dashboard: <image>}`"),
        );
    }

    let docker_registry = match raw.scalars.get("docker-registry") {
        None => images::DEFAULT_REGISTRY.to_string(),
        Some(l) if l.value.is_empty() || l.value.contains(char::is_whitespace) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`docker-registry: {}` is not an image prefix", l.value),
                )
                .fix("write a registry prefix such as `registry.k8s.io` or `10.0.0.5:5000/k8s`"),
            );
            images::DEFAULT_REGISTRY.to_string()
        }
        Some(l) => {
            if l.value.starts_with("gcr.io/google_containers") || l.value.starts_with("k8s.gcr.io")
            {
                diags.push(
                    Diagnostic::warning(
                        l.at.clone(),
                        format!("`{}` is frozen and has no images for {}", l.value, version),
                    )
                    .fix("use `docker-registry: registry.k8s.io` or your own mirror"),
                );
            }
            l.value.clone()
        }
    };

    let mut overrides: BTreeMap<String, String> = BTreeMap::new();
    if let Some(l) = raw.scalars.get("kubelet-image") {
        overrides.insert("kubelet".into(), l.value.clone());
    }
    for (name, l) in &raw.images {
        if !KNOWN_IMAGES.iter().any(|(k, _)| k == name) {
            let known: Vec<&str> = KNOWN_IMAGES.iter().map(|(k, _)| *k).collect();
            diags.push(
                Diagnostic::warning(
                    l.at.clone(),
                    format!("unknown image name `{name}` under `images` is ignored"),
                )
                .fix(format!("known names: {}", known.join(", "))),
            );
            continue;
        }
        if l.value.is_empty() || l.value.contains(char::is_whitespace) {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("image `{}` is not an image reference", l.value),
                )
                .fix("write `registry/name:tag`"),
            );
            continue;
        }
        overrides.insert(name.clone(), l.value.clone());
    }
    let images = images::resolve(&docker_registry, version, &etcd_version, &overrides);

    let service_cidr = parse_cidr(raw, "service-cluster-ip-range", "10.96.0.0/12", diags);
    let pod_cidr = parse_cidr(raw, "pod-cluster-ip-range", "10.244.0.0/16", diags);
    if service_cidr.network().is_link_local()
        && let Some(l) = raw.scalars.get("service-cluster-ip-range")
    {
        diags.push(
            Diagnostic::warning(l.at.clone(), format!("`{}` is the link-local range (cloud metadata lives at 169.254.169.254)", l.value))
                .fix("use a private range that no host uses, e.g. `service-cluster-ip-range: 10.96.0.0/12`"),
        );
    }

    let cluster_domain = match raw.scalars.get("cluster-domain") {
        None => "cluster.local".to_string(),
        Some(l) => {
            let ok = !l.value.is_empty()
                && l.value.split('.').all(|p| {
                    !p.is_empty()
                        && p.len() <= 63
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                });
            if !ok {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`cluster-domain: {}` is not a DNS domain", l.value),
                    )
                    .fix("write lowercase labels separated by dots, e.g. `cluster.local`"),
                );
                "cluster.local".to_string()
            } else {
                l.value.clone()
            }
        }
    };

    let cluster_name = match raw.scalars.get("cluster-name") {
        None => "kubernetes".to_string(),
        Some(l)
            if l.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !l.value.is_empty() =>
        {
            l.value.clone()
        }
        Some(l) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!(
                        "`cluster-name: {}` may hold only letters, digits, - and _",
                        l.value
                    ),
                )
                .fix("write e.g. `cluster-name: rack-a`"),
            );
            "kubernetes".to_string()
        }
    };

    let mut dns_upstream = Vec::new();
    for l in &raw.cluster_dns {
        if let Some(ip) = parse_ip(l, "cluster-dns", diags) {
            dns_upstream.push(ip);
        }
    }
    let load_balance_ip = raw
        .scalars
        .get("load-balance-ip")
        .and_then(|l| parse_ip(l, "load-balance-ip", diags));

    let api_port = parse_port(raw, "api-servers-port", 6443, diags);
    let local_lb_port = parse_port(raw, "local-lb-port", 6444, diags);
    if api_port == local_lb_port
        && let Some(l) = raw
            .scalars
            .get("local-lb-port")
            .or(raw.scalars.get("api-servers-port"))
    {
        diags.push(
            Diagnostic::error(
                l.at.clone(),
                "`local-lb-port` and `api-servers-port` must differ (masters run both)",
            )
            .fix("keep the defaults 6443 and 6444"),
        );
    }

    let etcd_data_path = match raw.scalars.get("etcd-data-path") {
        None => "/var/lib/etcd".to_string(),
        Some(l) => match super::host_paths::check_data_dir(&l.value) {
            Ok(p) => p,
            Err(why) => {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`etcd-data-path: {}` {why}", l.value.escape_debug()),
                    )
                    .fix("write a directory of its own for etcd, e.g. `etcd-data-path: /var/lib/etcd` (clean removes it, etcdfix and restore move its contents)"),
                );
                "/var/lib/etcd".to_string()
            }
        },
    };

    let cert_validity_days = match raw.scalars.get("cert-validity-days") {
        None => 365,
        Some(l) => match l.value.parse::<u32>() {
            Ok(d) if (1..=36500).contains(&d) => d,
            _ => {
                diags.push(
                    Diagnostic::error(l.at.clone(), format!("`cert-validity-days: {}` must be a whole number of days from 1 to 36500", l.value))
                        .fix("write e.g. `cert-validity-days: 365`"),
                );
                365
            }
        },
    };

    let etcd_snapshot_copies_kept = kept_count(raw, "etcd-snapshot-copies-kept", 5, diags);
    let etcd_moved_aside_kept = kept_count(raw, "etcd-moved-aside-kept", 2, diags);

    let network_plugin = match raw
        .scalars
        .get("network-plugin")
        .map(|l| (l, l.value.as_str()))
    {
        None | Some((_, "flannel")) => NetworkPlugin::Flannel,
        Some((_, "none")) => NetworkPlugin::None,
        Some((l, other)) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`network-plugin: {other}` is not known"),
                )
                .fix("write `network-plugin: flannel` (default) or `none` to bring your own CNI"),
            );
            NetworkPlugin::Flannel
        }
    };

    let cgroup_driver = match raw.scalars.get("cgroup-driver") {
        None => "systemd".to_string(),
        Some(l) if l.value == "systemd" || l.value == "cgroupfs" => l.value.clone(),
        Some(l) => {
            diags.push(
                Diagnostic::error(l.at.clone(), format!("`cgroup-driver: {}` is not known", l.value))
                    .fix("write `cgroup-driver: systemd` (default) or `cgroupfs`, matching `docker info`'s Cgroup Driver"),
            );
            "systemd".to_string()
        }
    };

    const COMPONENTS: &[&str] = &[
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "cri-dockerd",
    ];
    let mut extra_args: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (comp, flags) in &raw.extra_args {
        if !COMPONENTS.contains(&comp.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    comp.at.clone(),
                    format!("`extra-args` for unknown component `{}`", comp.value),
                )
                .fix(format!("use one of: {}", COMPONENTS.join(", "))),
            );
            continue;
        }
        for (flag, value) in flags {
            let name = flag.value.trim_start_matches('-');
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                diags.push(
                    Diagnostic::error(
                        flag.at.clone(),
                        format!("`{}` is not a flag name", flag.value),
                    )
                    .fix("write the flag without dashes, e.g. `audit-log-maxage: \"30\"`"),
                );
                continue;
            }
            extra_args
                .entry(comp.value.clone())
                .or_default()
                .push((name.to_string(), value.value.clone()));
        }
    }

    let mut unavailable_capabilities = Vec::new();
    if let Some(l) = raw.scalars.get("unavailable-capabilities") {
        for cap in l.value.split([',', ' ']).filter(|c| !c.is_empty()) {
            let cap = cap.trim().trim_start_matches("CAP_").to_ascii_uppercase();
            if cap.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                unavailable_capabilities.push(cap);
            } else {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`{cap}` is not a Linux capability name"),
                    )
                    .fix("write names like `SYS_RESOURCE`, separated by commas"),
                );
            }
        }
    }

    let kubelet_config = kubelet_overlay(raw, diags);
    let nvidia_device_plugin = bool_key(
        raw,
        "nvidia-device-plugin",
        true,
        "write `nvidia-device-plugin: false` to bring your own GPU operator, or delete the key",
        diags,
    );
    let local_path_provisioner = bool_key(
        raw,
        "local-path-provisioner",
        false,
        "write `local-path-provisioner: true` to give PersistentVolumeClaims of the `local-path` StorageClass a directory on their node, or delete the key",
        diags,
    );

    let node_agent = super::node_agent::build(raw, diags);

    let kubernetes_service_ip = nth_host(&service_cidr, 1).unwrap_or(service_cidr.network());
    let dns_service_ip = nth_host(&service_cidr, 10).unwrap_or(service_cidr.network());

    KubernetesSettings {
        cluster_name,
        version,
        etcd_version,
        docker_registry,
        images,
        service_cidr,
        pod_cidr,
        cluster_domain,
        kubernetes_service_ip,
        dns_service_ip,
        dns_upstream,
        load_balance_ip,
        api_port,
        local_lb_port,
        etcd_data_path,
        etcd_snapshot_copies_kept,
        etcd_moved_aside_kept,
        cert_validity_days,
        network_plugin,
        cgroup_driver,
        extra_args,
        kubelet_config,
        unavailable_capabilities,
        nvidia_device_plugin,
        local_path_provisioner,
        node_agent,
    }
}

/// KubeletConfiguration fields that decide who may reach the kubelet: a `kubelet-config`
/// that sets one is warned about.
const KUBELET_SECURITY_FIELDS: &[&str] = &[
    "authentication",
    "authorization",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsMinVersion",
    "address",
];

/// Fields the tool owns: the file's type and how the kubelet reaches the runtime and API.
const KUBELET_OWNED_FIELDS: &[&str] = &["apiVersion", "kind", "containerRuntimeEndpoint"];

/// `kubelet-config`, checked: the tool's own fields are refused, security fields warned.
fn kubelet_overlay(
    raw: &RawKubernetes,
    diags: &mut Diagnostics,
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Some(fields) = &raw.kubelet_config else {
        return out;
    };
    for (field, value) in fields {
        if KUBELET_OWNED_FIELDS.contains(&field.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    field.at.clone(),
                    format!(
                        "`kubelet-config.{}` is set by k8s-manage itself",
                        field.value
                    ),
                )
                .fix("remove it: the tool writes it from the rest of the config"),
            );
            continue;
        }
        if KUBELET_SECURITY_FIELDS.contains(&field.value.as_str()) {
            diags.push(
                Diagnostic::warning(
                    field.at.clone(),
                    format!(
                        "`kubelet-config.{}` replaces the tool's setting, which keeps the kubelet \
                         API behind TLS and client-certificate authentication",
                        field.value
                    ),
                )
                .fix("make sure this is meant; the default needs no override"),
            );
        }
        out.insert(field.value.clone(), value.clone());
    }
    out
}
