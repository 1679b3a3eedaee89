//! Cluster add-on manifests: structure, values taken from the context, and schema
//! validation with `kubernetes-validate` (PyPI) against the Kubernetes versions we support.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use k8s_manage::model::images::default_addon_images;
use k8s_manage::render::addons::{AddonContext, IMAGE_KEYS, RenderedManifest, render_addons};
use serde_json::Value;

fn context(version: &str, flannel: bool, dashboard_node: Option<&str>) -> AddonContext {
    AddonContext {
        kubernetes_version: version.to_string(),
        cluster_domain: "cluster.local".to_string(),
        dns_service_ip: "10.96.0.10".to_string(),
        dns_upstream: vec![],
        pod_cidr: "10.244.0.0/16".to_string(),
        service_cidr: "10.96.0.0/12".to_string(),
        network_plugin: if flannel { "flannel" } else { "none" }.to_string(),
        dashboard_node: dashboard_node.map(str::to_string),
        coredns_replicas: 2,
        images: default_addon_images(),
        nvidia_device_plugin: false,
        local_path_provisioner: false,
    }
}

/// A context with GPU machines: NVIDIA's device plugin is rendered.
fn gpu_context(version: &str) -> AddonContext {
    let mut c = context(version, true, None);
    c.nvidia_device_plugin = true;
    c
}

fn render(ctx: &AddonContext) -> Vec<RenderedManifest> {
    match render_addons(ctx) {
        Ok(out) => out,
        Err(e) => panic!("rendering failed: {e}"),
    }
}

/// Every YAML document of every rendered file.
fn documents(files: &[RenderedManifest]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for file in files {
        let docs: Vec<Value> = serde_saphyr::from_multiple(&file.content).unwrap_or_else(|e| {
            panic!("{} is not YAML: {e}\n---\n{}", file.file_name, file.content)
        });
        assert!(!docs.is_empty(), "{} has no documents", file.file_name);
        out.extend(docs.into_iter().map(|d| (file.file_name.clone(), d)));
    }
    out
}

fn find<'a>(docs: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// The shapes of add-on set: with and without flannel, with and without the Dashboard,
/// with GPU machines (the device plugin). The Dashboard node names are YAML 1.1 traps on
/// purpose.
fn variants(version: &str) -> Vec<(&'static str, AddonContext)> {
    vec![
        ("bare", context(version, false, None)),
        ("flannel", context(version, true, None)),
        ("dashboard", context(version, false, Some("0123"))),
        ("flannel-dashboard", context(version, true, Some("yes"))),
        ("gpu", gpu_context(version)),
    ]
}

#[test]
fn every_document_is_a_kubernetes_object() {
    for (variant, ctx) in variants("1.36.0") {
        let files = render(&ctx);
        for (file, doc) in documents(&files) {
            for pointer in ["/apiVersion", "/kind", "/metadata/name"] {
                let value = doc.pointer(pointer).and_then(Value::as_str).unwrap_or("");
                assert!(
                    !value.is_empty(),
                    "{variant}: a document in {file} has no {pointer}: {doc}"
                );
            }
        }
    }
}

#[test]
fn every_template_file_is_embedded_and_rendered() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates/cluster");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut all = context("1.36.0", true, Some("node-1"));
    all.nvidia_device_plugin = true;
    all.local_path_provisioner = true;
    let rendered: Vec<String> = render(&all).into_iter().map(|m| m.file_name).collect();
    assert_eq!(rendered, on_disk);
}

#[test]
fn optional_addons_follow_the_context() {
    let names = |ctx: &AddonContext| -> Vec<String> {
        render(ctx).into_iter().map(|m| m.file_name).collect()
    };
    assert_eq!(
        names(&context("1.36.0", false, None)),
        ["00-rbac.yaml", "10-coredns.yaml"]
    );
    assert_eq!(
        names(&context("1.36.0", true, None)),
        ["00-rbac.yaml", "10-coredns.yaml", "20-flannel.yaml"]
    );
    assert_eq!(
        names(&context("1.36.0", false, Some("n1"))),
        ["00-rbac.yaml", "10-coredns.yaml", "30-dashboard.yaml"]
    );
    assert_eq!(
        names(&gpu_context("1.36.0")),
        [
            "00-rbac.yaml",
            "10-coredns.yaml",
            "20-flannel.yaml",
            "40-nvidia-device-plugin.yaml"
        ]
    );
}

#[test]
fn device_plugin_runs_only_on_labelled_gpu_nodes() {
    let mut ctx = gpu_context("1.36.0");
    ctx.images.insert(
        "nvidia-device-plugin".to_string(),
        "mirror.example/nvidia/k8s-device-plugin:v0.20.0".to_string(),
    );
    let docs = documents(&render(&ctx));
    let ds = find(&docs, "DaemonSet", "nvidia-device-plugin-daemonset");
    assert_eq!(ds["metadata"]["namespace"], "kube-system");
    let pod = &ds["spec"]["template"]["spec"];
    let term = &pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        [0]["matchExpressions"][0];
    assert_eq!(
        term,
        &serde_json::json!({"key": "k8s-manage.io/gpu-count", "operator": "Exists"})
    );
    let tolerations = pod["tolerations"].as_array().expect("tolerations");
    assert!(tolerations.contains(&serde_json::json!(
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    )));
    // Never every taint: a GPU node tainted NoExecute for maintenance empties.
    assert!(tolerations.iter().all(|t| t.get("key").is_some()));
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    let c = &pod["containers"][0];
    assert_eq!(
        c["image"],
        "mirror.example/nvidia/k8s-device-plugin:v0.20.0"
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        c["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert!(c["securityContext"].get("privileged").is_none());
    assert_eq!(
        c["volumeMounts"][0]["mountPath"],
        "/var/lib/kubelet/device-plugins"
    );
    assert_eq!(
        pod["volumes"][0]["hostPath"],
        serde_json::json!({"path": "/var/lib/kubelet/device-plugins", "type": "Directory"})
    );
    // No RuntimeClass: cri-dockerd's releases cannot pass one; the NVIDIA runtime is
    // Docker's default on GPU nodes (preflight checks it).
    assert!(pod.get("runtimeClassName").is_none());
}

#[test]
fn apiserver_may_use_the_kubelet_api() {
    let docs = documents(&render(&context("1.36.0", false, None)));
    let role = find(&docs, "ClusterRole", "system:kube-apiserver-to-kubelet");
    let resources: Vec<&str> = role["rules"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for r in [
        "nodes/proxy",
        "nodes/stats",
        "nodes/log",
        "nodes/spec",
        "nodes/metrics",
    ] {
        assert!(resources.contains(&r), "{r} missing: {resources:?}");
    }
    assert_eq!(role["rules"][0]["verbs"], serde_json::json!(["*"]));
    let binding = docs
        .iter()
        .map(|(_, d)| d)
        .find(|d| {
            d["kind"] == "ClusterRoleBinding"
                && d["roleRef"]["name"] == "system:kube-apiserver-to-kubelet"
        })
        .expect("binding");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "User",
            "name": "kube-apiserver-kubelet-client"
        }])
    );
}

#[test]
fn kube_dns_service_and_coredns_follow_the_context() {
    let mut ctx = context("1.36.0", false, None);
    ctx.service_cidr = "10.43.0.0/16".to_string();
    ctx.dns_service_ip = "10.43.0.10".to_string();
    ctx.coredns_replicas = 3;
    ctx.dns_upstream = vec!["192.0.2.53".to_string(), "198.51.100.53:5353".to_string()];
    ctx.images.insert(
        "coredns".to_string(),
        "mirror.example/coredns:v9".to_string(),
    );
    let docs = documents(&render(&ctx));

    let service = find(&docs, "Service", "kube-dns");
    assert_eq!(service["metadata"]["namespace"], "kube-system");
    assert_eq!(service["spec"]["clusterIP"], "10.43.0.10");

    let deployment = find(&docs, "Deployment", "coredns");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["containers"][0]["image"], "mirror.example/coredns:v9");
    assert_eq!(
        pod["containers"][0]["readinessProbe"]["httpGet"]["path"],
        "/ready"
    );
    assert_eq!(
        pod["containers"][0]["livenessProbe"]["httpGet"]["path"],
        "/health"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(
        pod["tolerations"]
            .as_array()
            .expect("tolerations")
            .iter()
            .any(|t| t["key"] == "node-role.kubernetes.io/control-plane")
    );

    let corefile = find(&docs, "ConfigMap", "coredns")["data"]["Corefile"]
        .as_str()
        .expect("Corefile");
    assert!(
        corefile.contains("forward . 192.0.2.53 198.51.100.53:5353 {"),
        "{corefile}"
    );
    assert!(corefile.contains("kubernetes cluster.local in-addr.arpa ip6.arpa"));
}

#[test]
fn flannel_network_is_the_pod_cidr() {
    let mut ctx = context("1.36.0", true, None);
    ctx.pod_cidr = "172.20.0.0/14".to_string();
    let docs = documents(&render(&ctx));
    let config = find(&docs, "ConfigMap", "kube-flannel-cfg");
    let net_conf: Value = serde_json::from_str(
        config["data"]["net-conf.json"]
            .as_str()
            .expect("net-conf.json"),
    )
    .expect("net-conf.json is JSON");
    assert_eq!(net_conf["Network"], "172.20.0.0/14");
    assert_eq!(net_conf["Backend"]["Type"], "vxlan");
    let cni_conf: Value = serde_json::from_str(
        config["data"]["cni-conf.json"]
            .as_str()
            .expect("cni-conf.json"),
    )
    .expect("cni-conf.json is JSON");
    assert_eq!(cni_conf["plugins"][0]["type"], "flannel");

    let ds = find(&docs, "DaemonSet", "kube-flannel-ds");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(
        pod["initContainers"][0]["image"],
        default_addon_images()["flannel-cni-plugin"]
    );
    assert_eq!(
        pod["containers"][0]["image"],
        default_addon_images()["flannel"]
    );
}

#[test]
fn dashboard_is_pinned_and_https_only() {
    let docs = documents(&render(&context("1.36.0", false, Some("worker-7"))));
    for name in ["kubernetes-dashboard", "dashboard-metrics-scraper"] {
        let deployment = find(&docs, "Deployment", name);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"],
            "worker-7",
            "{name}"
        );
    }
    let dashboard = &find(&docs, "Deployment", "kubernetes-dashboard")["spec"]["template"]["spec"]
        ["containers"][0];
    let args: Vec<&str> = dashboard["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--auto-generate-certificates"), "{args:?}");
    assert!(
        !args
            .iter()
            .any(|a| a.contains("insecure") || a.contains("enable-skip-login")),
        "{args:?}"
    );
    assert_eq!(
        dashboard["ports"],
        serde_json::json!([{"name": "https", "containerPort": 8443, "protocol": "TCP"}])
    );
}

/// YAML 1.1 readers (PyYAML, and so kubernetes-validate) read plain `yes`/`on` as booleans
/// and `0123` as an octal number; YAML 1.2 reads `0123` as 123. Values from the context
/// must come out quoted, as the same string.
#[test]
fn yaml_lookalike_values_stay_strings() {
    for value in ["yes", "on", "no", "0123", "1e3", "null", "true"] {
        let mut ctx = context("1.36.0", true, Some(value));
        ctx.nvidia_device_plugin = true;
        for key in IMAGE_KEYS {
            ctx.images.insert(key.to_string(), value.to_string());
        }
        let files = render(&ctx);
        let docs = documents(&files);
        let selector = &find(&docs, "Deployment", "kubernetes-dashboard")["spec"]["template"]["spec"]
            ["nodeSelector"]["kubernetes.io/hostname"];
        assert_eq!(selector, &Value::String(value.to_string()), "{value}");
        let coredns = &find(&docs, "Deployment", "coredns")["spec"]["template"]["spec"];
        assert_eq!(
            coredns["containers"][0]["image"],
            Value::String(value.to_string())
        );
        // The text itself carries the quotes, so a YAML 1.1 reader agrees.
        let dashboard = files
            .iter()
            .find(|f| f.file_name == "30-dashboard.yaml")
            .expect("dashboard");
        assert!(
            dashboard
                .content
                .contains(&format!("kubernetes.io/hostname: \"{value}\"")),
            "{value} is not quoted in:\n{}",
            dashboard.content
        );
        // `true` also appears as a literal in the templates (hostNetwork: true).
        for file in files.iter().filter(|_| value != "true") {
            for line in file.content.lines() {
                let trimmed = line.trim_end();
                assert!(
                    !trimmed.ends_with(&format!(": {value}"))
                        && !trimmed.ends_with(&format!("- {value}")),
                    "{}: unquoted context value in `{trimmed}`",
                    file.file_name
                );
            }
        }
    }
}

/// Runs `kubernetes-validate --strict` on every manifest of every variant. A missing
/// validator is a failure, not a skip.
fn validate_with_kubernetes_validate(version: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (variant, ctx) in variants(version) {
        let sub = dir.path().join(variant);
        std::fs::create_dir_all(&sub).expect("mkdir");
        for file in render(&ctx) {
            let path = sub.join(&file.file_name);
            std::fs::write(&path, &file.content).expect("write manifest");
            paths.push(path);
        }
    }
    let output = match Command::new("kubernetes-validate")
        .arg("--strict")
        .arg("-k")
        .arg(version)
        .args(&paths)
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run `kubernetes-validate` ({e}); it is required for these tests: \
             pip install kubernetes-validate"
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && !stdout.contains("ERROR") && !stderr.contains("ERROR"),
        "kubernetes-validate --strict -k {version} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Every object must actually have been checked against a schema.
    let documents: usize = variants(version)
        .iter()
        .map(|(_, ctx)| documents(&render(ctx)).len())
        .sum();
    let passed = stdout.lines().filter(|l| l.contains(" passed ")).count();
    assert_eq!(
        passed, documents,
        "kubernetes-validate -k {version} passed {passed} of {documents} objects:\n{stdout}\n{stderr}"
    );
}

#[test]
fn manifests_validate_against_kubernetes_1_31() {
    validate_with_kubernetes_validate("1.31.0");
}

#[test]
fn manifests_validate_against_kubernetes_1_36() {
    validate_with_kubernetes_validate("1.36.0");
}

#[test]
fn images_can_be_overridden_per_key() {
    let mut ctx = context("1.36.0", true, Some("n1"));
    let mut images = BTreeMap::new();
    for key in IMAGE_KEYS {
        images.insert(key.to_string(), format!("registry.example/{key}:1.0"));
    }
    ctx.images = images;
    let docs = documents(&render(&ctx));
    let scraper = find(&docs, "Deployment", "dashboard-metrics-scraper");
    assert_eq!(
        scraper["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/dashboard-metrics-scraper:1.0"
    );
}
