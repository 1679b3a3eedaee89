//! Cluster add-on manifests: the Kubernetes objects k8s-manage applies through the API once
//! the control plane answers.
//!
//! The manifests are Tera templates under `templates/cluster/`, embedded in the binary. Each
//! file is one add-on and is applied in file-name order:
//!
//! | file | rendered when | what |
//! |---|---|---|
//! | `00-rbac.yaml` | always | lets the apiserver's kubelet client (CN `kube-apiserver-kubelet-client`) use the kubelet API |
//! | `10-coredns.yaml` | always | CoreDNS behind the `kube-dns` Service at `dns_service_ip` |
//! | `20-flannel.yaml` | `network_plugin == "flannel"` | flannel (VXLAN, kube subnet manager) over `pod_cidr` |
//! | `30-dashboard.yaml` | `dashboard_node` is set | Kubernetes Dashboard v2, HTTPS only, pinned to that node |
//! | `40-nvidia-device-plugin.yaml` | `nvidia_device_plugin` | NVIDIA's device plugin on the nodes labelled `k8s-manage.io/gpu-count` |
//! | `50-local-path-provisioner.yaml` | `local_path_provisioner` | rancher's local-path-provisioner and the `local-path` StorageClass, volumes under [`LOCAL_PATH_DIR`] on each node |
//!
//! Every value taken from the [`AddonContext`] is checked before rendering (an error names the
//! template that needs it and what is wrong), and every scalar a template writes from the
//! context goes through `json_encode`, so YAML 1.1 readers never turn a node called `yes` or
//! `0123` into a boolean or a number. Each rendered file is parsed back and every document must
//! carry `apiVersion`, `kind` and `metadata.name`; nothing here panics.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::Serialize;

/// What the add-on templates are rendered from. Built by the caller from the validated model.
#[derive(Debug, Clone, Serialize)]
pub struct AddonContext {
    /// Kubernetes version, `MAJOR.MINOR.PATCH` without a leading `v`, e.g. `1.36.1`.
    pub kubernetes_version: String,
    /// Cluster DNS domain, e.g. `cluster.local`.
    pub cluster_domain: String,
    /// ClusterIP of the `kube-dns` Service (conventionally the 10th address of the service
    /// range, e.g. `10.96.0.10`).
    pub dns_service_ip: String,
    /// Upstream nameservers (`IP` or `IP:port`); empty = the node's `/etc/resolv.conf`.
    pub dns_upstream: Vec<String>,
    /// Pod network, e.g. `10.244.0.0/16`.
    pub pod_cidr: String,
    /// Service network, e.g. `10.96.0.0/12`.
    pub service_cidr: String,
    /// `flannel` or `none`.
    pub network_plugin: String,
    /// Node name the Dashboard is pinned to; `None` = no Dashboard.
    pub dashboard_node: Option<String>,
    /// Number of CoreDNS replicas (at least 1).
    pub coredns_replicas: u32,
    /// Image per add-on component; keys are [`IMAGE_KEYS`]. See [`default_addon_images`](crate::model::images::default_addon_images).
    pub images: BTreeMap<String, String>,
    /// Render NVIDIA's device plugin: the cluster has GPU machines and the user did not
    /// turn it off.
    pub nvidia_device_plugin: bool,
    /// Render rancher's local-path-provisioner and its `local-path` StorageClass
    /// (`local-path-provisioner: true`).
    pub local_path_provisioner: bool,
}

/// One rendered add-on file: a multi-document YAML stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedManifest {
    /// The template's file name, e.g. `10-coredns.yaml`; apply in this order.
    pub file_name: String,
    /// The rendered YAML.
    pub content: String,
}

/// Why the add-ons could not be rendered. Every message names the template and the problem.
#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    /// A context value that a template needs is unusable.
    #[error("cluster add-on template {template}: `{field}` {problem}")]
    InvalidContext {
        template: &'static str,
        field: &'static str,
        problem: String,
    },
    /// `kubernetes_version` is malformed or too old for these manifests.
    #[error("cluster add-on templates: kubernetes_version `{version}` {problem}")]
    UnsupportedVersion { version: String, problem: String },
    /// A template needs an image that the `images` map does not name.
    #[error(
        "cluster add-on template {template}: image `{key}` is missing or empty in `images` \
         (expected keys: {expected})"
    )]
    MissingImage {
        template: &'static str,
        key: &'static str,
        expected: String,
    },
    /// A template failed to parse (a bug in the embedded template).
    #[error("cluster add-on template {template} does not parse: {source}")]
    Template {
        template: &'static str,
        #[source]
        source: tera::Error,
    },
    /// Rendering a template failed.
    #[error("cluster add-on template {template} failed to render: {source}")]
    Render {
        template: &'static str,
        #[source]
        source: tera::Error,
    },
    /// A template rendered something that is not a stream of Kubernetes objects.
    #[error("cluster add-on template {template} rendered invalid YAML: {problem}")]
    InvalidOutput {
        template: &'static str,
        problem: String,
    },
}

/// The keys of [`AddonContext::images`].
pub const IMAGE_KEYS: [&str; 8] = [
    "coredns",
    "flannel",
    "flannel-cni-plugin",
    "dashboard",
    "dashboard-metrics-scraper",
    "nvidia-device-plugin",
    "local-path-provisioner",
    "local-path-helper",
];

/// Where the local-path-provisioner keeps each volume on a node's disk
/// (`<dir>/pvc-<uid>_<namespace>_<claim>`): a directory of k8s-manage's own, so `clean`
/// and the operator know whose it is.
pub const LOCAL_PATH_DIR: &str = "/var/lib/k8s-manage/local-path-provisioner";

/// The StorageClass the local-path-provisioner serves (the name the built-in database
/// services ask for).
pub const LOCAL_PATH_STORAGE_CLASS: &str = "local-path";

/// Oldest Kubernetes minor version the manifests are written for.
const MIN_MINOR: u64 = 25;

const RBAC: &str = "00-rbac.yaml";
const COREDNS: &str = "10-coredns.yaml";
const FLANNEL: &str = "20-flannel.yaml";
const DASHBOARD: &str = "30-dashboard.yaml";
const NVIDIA_DEVICE_PLUGIN: &str = "40-nvidia-device-plugin.yaml";
const LOCAL_PATH_PROVISIONER: &str = "50-local-path-provisioner.yaml";

/// Whether a rendered add-on is applied only once every node is Ready: CoreDNS. Applied
/// while the nodes still come up, the first node Ready gets every replica (its
/// anti-affinity is a preference), and losing that one node loses cluster DNS until its
/// pods are evicted, minutes later.
pub fn applied_after_nodes_ready(file_name: &str) -> bool {
    file_name == COREDNS
}

/// The embedded templates, in apply order.
const TEMPLATES: [(&str, &str); 6] = [
    (RBAC, include_str!("../../templates/cluster/00-rbac.yaml")),
    (
        COREDNS,
        include_str!("../../templates/cluster/10-coredns.yaml"),
    ),
    (
        FLANNEL,
        include_str!("../../templates/cluster/20-flannel.yaml"),
    ),
    (
        DASHBOARD,
        include_str!("../../templates/cluster/30-dashboard.yaml"),
    ),
    (
        NVIDIA_DEVICE_PLUGIN,
        include_str!("../../templates/cluster/40-nvidia-device-plugin.yaml"),
    ),
    (
        LOCAL_PATH_PROVISIONER,
        include_str!("../../templates/cluster/50-local-path-provisioner.yaml"),
    ),
];

/// Renders every add-on that applies to `ctx`, in apply order.
pub fn render_addons(ctx: &AddonContext) -> Result<Vec<RenderedManifest>, AddonError> {
    check_version(&ctx.kubernetes_version)?;
    let flannel = match ctx.network_plugin.as_str() {
        "flannel" => true,
        "none" => false,
        other => {
            return Err(AddonError::InvalidContext {
                template: FLANNEL,
                field: "network_plugin",
                problem: format!("is `{other}`; expected `flannel` or `none`"),
            });
        }
    };

    let mut wanted = vec![RBAC, COREDNS];
    check_coredns(ctx)?;
    if flannel {
        check_flannel(ctx)?;
        wanted.push(FLANNEL);
    }
    if let Some(node) = &ctx.dashboard_node {
        check_dashboard(ctx, node)?;
        wanted.push(DASHBOARD);
    }
    if ctx.nvidia_device_plugin {
        check_image(ctx, NVIDIA_DEVICE_PLUGIN, "nvidia-device-plugin")?;
        wanted.push(NVIDIA_DEVICE_PLUGIN);
    }
    if ctx.local_path_provisioner {
        check_image(ctx, LOCAL_PATH_PROVISIONER, "local-path-provisioner")?;
        check_image(ctx, LOCAL_PATH_PROVISIONER, "local-path-helper")?;
        wanted.push(LOCAL_PATH_PROVISIONER);
    }

    let tera = engine()?;
    let mut out = Vec::with_capacity(wanted.len());
    for template in wanted {
        let mut context = tera::Context::from_serialize(ctx)
            .map_err(|source| AddonError::Render { template, source })?;
        context.insert("local_path_dir", LOCAL_PATH_DIR);
        context.insert("local_path_storage_class", LOCAL_PATH_STORAGE_CLASS);
        let content = tera
            .render(template, &context)
            .map_err(|source| AddonError::Render { template, source })?;
        check_output(template, &content)?;
        out.push(RenderedManifest {
            file_name: template.to_string(),
            content,
        });
    }
    Ok(out)
}

fn engine() -> Result<tera::Tera, AddonError> {
    let mut tera = tera::Tera::default();
    // YAML, not HTML: nothing is ever HTML-escaped.
    tera.autoescape_on(Vec::<&'static str>::new());
    tera.register_filter("json_encode", tera_contrib::json::json_encode);
    for (template, source) in TEMPLATES {
        tera.add_raw_template(template, source)
            .map_err(|source| AddonError::Template { template, source })?;
    }
    Ok(tera)
}

fn check_version(version: &str) -> Result<(), AddonError> {
    let bad = |problem: &str| AddonError::UnsupportedVersion {
        version: version.to_string(),
        problem: problem.to_string(),
    };
    // Pre-release or build suffixes (`1.36.0-rc.1`) are allowed after the patch number.
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let numbers: Option<Vec<u64>> = parts
        .iter()
        .map(|p| {
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect();
    match numbers.as_deref() {
        Some([1, minor, _patch]) if *minor >= MIN_MINOR => Ok(()),
        Some([1, _, _]) => Err(bad(&format!(
            "is too old; the add-on manifests need Kubernetes 1.{MIN_MINOR} or newer"
        ))),
        _ => Err(bad(
            "is not a version like `1.36.1` (MAJOR.MINOR.PATCH, no leading `v`)",
        )),
    }
}

fn check_coredns(ctx: &AddonContext) -> Result<(), AddonError> {
    let bad = |field, problem: String| AddonError::InvalidContext {
        template: COREDNS,
        field,
        problem,
    };
    if let Err(problem) = check_dns_name(&ctx.cluster_domain) {
        return Err(bad(
            "cluster_domain",
            format!("`{}` {problem}", ctx.cluster_domain),
        ));
    }
    let service_net: IpNet = ctx.service_cidr.parse().map_err(|_| {
        bad(
            "service_cidr",
            format!("`{}` is not a CIDR like `10.96.0.0/12`", ctx.service_cidr),
        )
    })?;
    let dns_ip: IpAddr = ctx.dns_service_ip.parse().map_err(|_| {
        bad(
            "dns_service_ip",
            format!("`{}` is not an IP address", ctx.dns_service_ip),
        )
    })?;
    if !service_net.contains(&dns_ip) || dns_ip == service_net.network() {
        return Err(bad(
            "dns_service_ip",
            format!(
                "`{dns_ip}` is not a usable address of service_cidr `{service_net}`; \
                 the kube-dns Service must get a ClusterIP from the service range"
            ),
        ));
    }
    // CoreDNS' forward plugin takes at most 15 upstreams.
    if ctx.dns_upstream.len() > 15 {
        return Err(bad(
            "dns_upstream",
            format!(
                "lists {} nameservers; CoreDNS forwards to at most 15",
                ctx.dns_upstream.len()
            ),
        ));
    }
    for upstream in &ctx.dns_upstream {
        if upstream.parse::<IpAddr>().is_err() && upstream.parse::<SocketAddr>().is_err() {
            return Err(bad(
                "dns_upstream",
                format!(
                    "entry `{upstream}` is not a nameserver address like `1.1.1.1`, \
                     `1.1.1.1:53` or `[2606:4700::1111]:53`"
                ),
            ));
        }
    }
    if ctx.coredns_replicas == 0 {
        return Err(bad(
            "coredns_replicas",
            "is 0; the cluster needs at least one CoreDNS replica".to_string(),
        ));
    }
    check_image(ctx, COREDNS, "coredns")
}

fn check_flannel(ctx: &AddonContext) -> Result<(), AddonError> {
    let bad = |field, problem: String| AddonError::InvalidContext {
        template: FLANNEL,
        field,
        problem,
    };
    let pod_net: IpNet = ctx.pod_cidr.parse().map_err(|_| {
        bad(
            "pod_cidr",
            format!("`{}` is not a CIDR like `10.244.0.0/16`", ctx.pod_cidr),
        )
    })?;
    let IpNet::V4(pod_v4) = pod_net else {
        return Err(bad(
            "pod_cidr",
            format!("`{pod_net}` is IPv6; the flannel add-on is rendered for an IPv4 pod network"),
        ));
    };
    // flannel hands every node a /24 out of the pod network by default.
    if pod_v4.prefix_len() > 23 {
        return Err(bad(
            "pod_cidr",
            format!(
                "`{pod_net}` is too small for flannel, which gives each node a /24; use /23 or larger"
            ),
        ));
    }
    if let Ok(service_net) = ctx.service_cidr.parse::<IpNet>()
        && (pod_net.contains(&service_net.network()) || service_net.contains(&pod_net.network()))
    {
        return Err(bad(
            "pod_cidr",
            format!("`{pod_net}` overlaps service_cidr `{service_net}`"),
        ));
    }
    check_image(ctx, FLANNEL, "flannel")?;
    check_image(ctx, FLANNEL, "flannel-cni-plugin")
}

fn check_dashboard(ctx: &AddonContext, node: &str) -> Result<(), AddonError> {
    // The node is selected through its `kubernetes.io/hostname` label, so the name must
    // be a valid label value.
    if let Err(problem) = check_label_value(node) {
        return Err(AddonError::InvalidContext {
            template: DASHBOARD,
            field: "dashboard_node",
            problem: format!(
                "`{node}` cannot be matched by the kubernetes.io/hostname node label: {problem}"
            ),
        });
    }
    check_image(ctx, DASHBOARD, "dashboard")?;
    check_image(ctx, DASHBOARD, "dashboard-metrics-scraper")
}

fn check_image(
    ctx: &AddonContext,
    template: &'static str,
    key: &'static str,
) -> Result<(), AddonError> {
    match ctx.images.get(key) {
        Some(image) if !image.is_empty() => {
            if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(AddonError::InvalidContext {
                    template,
                    field: "images",
                    problem: format!("entry `{key}` = {image:?} contains whitespace"),
                })
            } else {
                Ok(())
            }
        }
        _ => Err(AddonError::MissingImage {
            template,
            key,
            expected: IMAGE_KEYS.join(", "),
        }),
    }
}

/// A DNS-1123 subdomain: lowercase labels of letters, digits and `-`, 1–63 characters each,
/// 253 in all.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_string());
    }
    if name.len() > 253 {
        return Err("is longer than 253 characters".to_string());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "is not a DNS domain: label `{label}` must be 1-63 lowercase letters, digits \
                 or `-`, not starting or ending with `-`"
            ));
        }
    }
    Ok(())
}

/// A Kubernetes label value: at most 63 characters of letters, digits, `-`, `_` and `.`,
/// beginning and ending with a letter or digit. (Empty is a valid label value but not a
/// node name.)
fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_string());
    }
    if value.len() > 63 {
        return Err("label values are at most 63 characters".to_string());
    }
    let bytes = value.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_alphanumeric();
    let inner_ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let first_last_ok =
        bytes.first().copied().is_some_and(edge_ok) && bytes.last().copied().is_some_and(edge_ok);
    if !first_last_ok || !bytes.iter().all(inner_ok) {
        return Err(
            "label values are letters, digits, `-`, `_` and `.`, beginning and ending with a \
             letter or digit"
                .to_string(),
        );
    }
    Ok(())
}

/// Every rendered document must be a Kubernetes object: a mapping with `apiVersion`, `kind`
/// and `metadata.name` strings.
fn check_output(template: &'static str, content: &str) -> Result<(), AddonError> {
    let bad = |problem: String| AddonError::InvalidOutput { template, problem };
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(content).map_err(|e| bad(e.to_string()))?;
    if docs.is_empty() {
        return Err(bad("no documents".to_string()));
    }
    for (i, doc) in docs.iter().enumerate() {
        let has = |pointer: &str| doc.pointer(pointer).is_some_and(|v| v.is_string());
        for pointer in ["/apiVersion", "/kind", "/metadata/name"] {
            if !has(pointer) {
                return Err(bad(format!(
                    "document {} has no string at {pointer}",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::images::default_addon_images;

    fn ctx() -> AddonContext {
        AddonContext {
            kubernetes_version: "1.36.1".to_string(),
            cluster_domain: "cluster.local".to_string(),
            dns_service_ip: "10.96.0.10".to_string(),
            dns_upstream: vec![],
            pod_cidr: "10.244.0.0/16".to_string(),
            service_cidr: "10.96.0.0/12".to_string(),
            network_plugin: "flannel".to_string(),
            dashboard_node: Some("node-1".to_string()),
            coredns_replicas: 2,
            images: default_addon_images(),
            nvidia_device_plugin: false,
            local_path_provisioner: false,
        }
    }

    fn err(c: &AddonContext) -> String {
        match render_addons(c) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_template_parses() {
        assert!(engine().is_ok());
    }

    #[test]
    fn default_images_cover_every_key_and_are_pinned() {
        let images = default_addon_images();
        let keys: Vec<&str> = images.keys().map(String::as_str).collect();
        let mut expected = IMAGE_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        for (key, image) in &images {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest" && !tag.contains('/'),
                "{key}: {image} is not pinned to a version"
            );
        }
    }

    #[test]
    fn files_follow_plugin_and_dashboard() {
        let names = |c: &AddonContext| -> Vec<String> {
            render_addons(c)
                .expect("renders")
                .into_iter()
                .map(|m| m.file_name)
                .collect()
        };
        let mut c = ctx();
        assert_eq!(
            names(&c),
            [RBAC, COREDNS, FLANNEL, DASHBOARD].map(String::from)
        );
        c.network_plugin = "none".to_string();
        c.dashboard_node = None;
        assert_eq!(names(&c), [RBAC, COREDNS].map(String::from));
        c.nvidia_device_plugin = true;
        assert_eq!(
            names(&c),
            [RBAC, COREDNS, NVIDIA_DEVICE_PLUGIN].map(String::from)
        );
        c.images.remove("nvidia-device-plugin");
        let e = err(&c);
        assert!(
            e.contains("40-nvidia-device-plugin.yaml") && e.contains("`nvidia-device-plugin`"),
            "{e}"
        );
    }

    #[test]
    fn local_path_provisioner_renders_its_class_dir_and_images() {
        let mut c = ctx();
        assert!(
            !render_addons(&c)
                .unwrap()
                .iter()
                .any(|m| m.file_name == LOCAL_PATH_PROVISIONER),
            "rendered without local_path_provisioner"
        );
        c.local_path_provisioner = true;
        c.images.insert(
            "local-path-helper".into(),
            "registry.example:5000/busybox:1.37.0".into(),
        );
        let out = render_addons(&c).unwrap();
        let m = out.last().unwrap();
        assert_eq!(m.file_name, LOCAL_PATH_PROVISIONER);
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&m.content).expect("yaml");
        let of = |kind: &str| {
            docs.iter()
                .find(|d| d["kind"] == kind)
                .unwrap_or_else(|| panic!("no {kind}"))
        };
        let class = of("StorageClass");
        assert_eq!(class["metadata"]["name"], "local-path");
        assert_eq!(class["provisioner"], "rancher.io/local-path");
        assert_eq!(class["volumeBindingMode"], "WaitForFirstConsumer");
        let deploy = of("Deployment");
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["image"],
            "docker.io/rancher/local-path-provisioner:v0.0.30"
        );
        let data = &of("ConfigMap")["data"];
        let config: serde_json::Value =
            serde_json::from_str(data["config.json"].as_str().unwrap()).expect("config.json");
        assert_eq!(
            config["nodePathMap"][0]["paths"],
            serde_json::json!(["/var/lib/k8s-manage/local-path-provisioner"])
        );
        assert_eq!(
            config["nodePathMap"][0]["node"],
            "DEFAULT_PATH_FOR_NON_LISTED_NODES"
        );
        let helper: serde_json::Value =
            serde_saphyr::from_str(data["helperPod.yaml"].as_str().unwrap()).expect("helper");
        assert_eq!(
            helper["spec"]["containers"][0]["image"],
            "registry.example:5000/busybox:1.37.0"
        );
        assert!(
            data["teardown"]
                .as_str()
                .unwrap()
                .contains("rm -rf \"$VOL_DIR\"")
        );
        c.images.remove("local-path-helper");
        let e = err(&c);
        assert!(
            e.contains("50-local-path-provisioner.yaml") && e.contains("`local-path-helper`"),
            "{e}"
        );
    }

    #[test]
    fn upstreams_or_resolv_conf_in_corefile() {
        let corefile = |c: &AddonContext| -> String {
            let out = render_addons(c).expect("renders");
            let coredns = out
                .iter()
                .find(|m| m.file_name == COREDNS)
                .expect("coredns");
            let docs: Vec<serde_json::Value> =
                serde_saphyr::from_multiple(&coredns.content).expect("yaml");
            docs.iter()
                .find(|d| d["kind"] == "ConfigMap")
                .and_then(|d| d["data"]["Corefile"].as_str())
                .expect("Corefile")
                .to_string()
        };
        let mut c = ctx();
        let text = corefile(&c);
        assert!(text.contains("forward . /etc/resolv.conf {"), "{text}");
        assert!(text.contains("kubernetes cluster.local in-addr.arpa ip6.arpa {"));
        for plugin in ["cache 30", "loop", "reload", "health {", "ready"] {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(plugin)),
                "{plugin}"
            );
        }
        c.dns_upstream = vec!["1.1.1.1".to_string(), "[2001:db8::53]:5353".to_string()];
        c.cluster_domain = "k8s.example".to_string();
        let text = corefile(&c);
        assert!(
            text.contains("forward . 1.1.1.1 [2001:db8::53]:5353 {"),
            "{text}"
        );
        assert!(
            text.contains("kubernetes k8s.example in-addr.arpa"),
            "{text}"
        );
        assert!(!text.contains("resolv.conf"));
    }

    #[test]
    fn context_errors_name_template_and_problem() {
        let mut c = ctx();
        c.network_plugin = "calico".to_string();
        let e = err(&c);
        assert!(e.contains("20-flannel.yaml") && e.contains("calico"), "{e}");

        let mut c = ctx();
        c.dns_service_ip = "10.112.0.10".to_string();
        let e = err(&c);
        assert!(
            e.contains("10-coredns.yaml") && e.contains("service_cidr"),
            "{e}"
        );

        let mut c = ctx();
        c.dns_upstream = vec!["dns.google".to_string()];
        let e = err(&c);
        assert!(
            e.contains("10-coredns.yaml") && e.contains("dns.google"),
            "{e}"
        );

        let mut c = ctx();
        c.cluster_domain = "cluster.local\n    }".to_string();
        assert!(err(&c).contains("cluster_domain"));

        let mut c = ctx();
        c.coredns_replicas = 0;
        assert!(err(&c).contains("coredns_replicas"));

        let mut c = ctx();
        c.pod_cidr = "10.96.0.0/16".to_string();
        let e = err(&c);
        assert!(
            e.contains("20-flannel.yaml") && e.contains("overlaps"),
            "{e}"
        );

        let mut c = ctx();
        c.pod_cidr = "fd00::/48".to_string();
        assert!(err(&c).contains("IPv6"));

        let mut c = ctx();
        c.dashboard_node = Some("node one".to_string());
        let e = err(&c);
        assert!(
            e.contains("30-dashboard.yaml") && e.contains("node one"),
            "{e}"
        );

        let mut c = ctx();
        c.images.remove("flannel-cni-plugin");
        let e = err(&c);
        assert!(
            e.contains("20-flannel.yaml") && e.contains("flannel-cni-plugin"),
            "{e}"
        );

        // An image only the dashboard needs is not required without the dashboard.
        let mut c = ctx();
        c.images.remove("dashboard");
        assert!(err(&c).contains("`dashboard`"));
        c.dashboard_node = None;
        assert!(render_addons(&c).is_ok());
    }

    #[test]
    fn versions() {
        for ok in ["1.25.0", "1.31.0", "1.36.1", "1.37.0-rc.1"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["v1.36.1", "1.36", "1.24.9", "2.0.0", "", "1.36.x"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        let mut c = ctx();
        c.kubernetes_version = "v1.36.1".to_string();
        assert!(err(&c).contains("v1.36.1"));
    }

    #[test]
    fn output_check_rejects_non_objects() {
        assert!(
            check_output(
                RBAC,
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
            )
            .is_ok()
        );
        assert!(check_output(RBAC, "apiVersion: v1\nkind: ConfigMap\n").is_err());
        assert!(check_output(RBAC, "a: [").is_err());
        assert!(check_output(RBAC, "# nothing\n").is_err());
    }
}
