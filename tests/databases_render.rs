//! The four databases' manifests: rendered from the example configuration, structure checks
//! (stable addresses, headless services publishing not-ready addresses, real probes, grace
//! periods), `kubernetes-validate --strict` for Kubernetes 1.31 and 1.36, and the operators'
//! custom resources checked against the CRD schemas shipped in `services/<db>/crds/`.

mod databases;
use databases::*;
use serde_json::Value;
use std::process::Command;

const SERVICES: [&str; 4] = ["iotdb", "tdengine", "dolphindb", "clickhouse"];
const CUSTOM_KINDS: [&str; 2] = ["DolphinDB", "ClickHouseInstallation"];

fn example() -> k8s_manage::service::ServicesConfig {
    config_in(&example_dir(), &example_text())
}

fn all_documents(minor: &str) -> Vec<Value> {
    SERVICES
        .iter()
        .flat_map(|s| documents(&render(s, &example(), minor)))
        .collect()
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == name))
        .map(|v| &v["value"])
        .unwrap_or_else(|| panic!("no env {name} in {}", container["name"]))
}

#[test]
fn every_document_is_a_kubernetes_object() {
    let docs = all_documents("1.36");
    assert!(docs.len() >= 18, "only {} documents", docs.len());
    for d in &docs {
        for p in ["/apiVersion", "/kind", "/metadata/name"] {
            assert!(
                d.pointer(p)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty()),
                "{p} missing in {d}"
            );
        }
    }
}

#[test]
fn iotdb_has_one_env_var_per_property_and_stable_addresses() {
    let docs = documents(&render("iotdb", &example(), "1.36"));
    let cn = &find(&docs, "StatefulSet", "iotdb-confignode")["spec"]["template"]["spec"]["containers"]
        [0];
    let dn =
        &find(&docs, "StatefulSet", "iotdb-datanode")["spec"]["template"]["spec"]["containers"][0];
    let seed = "iotdb-confignode-0.iotdb-confignode-headless.iotdb.svc.cluster.local:10710";
    assert_eq!(env(cn, "cn_seed_config_node"), seed);
    assert_eq!(env(dn, "dn_seed_config_node"), seed);
    assert_eq!(
        env(cn, "cn_internal_address"),
        "$(POD_NAME).iotdb-confignode-headless.iotdb.svc.cluster.local"
    );
    assert_eq!(
        env(dn, "dn_internal_address"),
        "$(POD_NAME).iotdb-datanode-headless.iotdb.svc.cluster.local"
    );
    assert_eq!(env(cn, "schema_replication_factor"), "3");
    assert_eq!(env(cn, "data_replication_factor"), "2");
    assert_eq!(env(dn, "enable_rest_service"), "true");
    // replace-conf-from-env.sh applies only lower-case shell identifiers with one-line values.
    for c in [cn, dn] {
        assert!(
            c.get("envFrom").is_none(),
            "envFrom would hide the properties"
        );
        for e in c["env"].as_array().unwrap() {
            let name = e["name"].as_str().unwrap();
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{name} is not a shell identifier"
            );
            if let Some(v) = e["value"].as_str() {
                assert!(!v.contains('\n'), "{name} has a multi-line value");
            }
        }
    }
    assert_eq!(dn["readinessProbe"]["tcpSocket"]["port"], 6667);
}

#[test]
fn tdengine_addresses_follow_the_statefulset() {
    let docs = documents(&render("tdengine", &example(), "1.36"));
    let c = &find(&docs, "StatefulSet", "tdengine")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        env(c, "TAOS_FIRST_EP"),
        "tdengine-0.taosd.tdengine.svc.cluster.local:6030"
    );
    assert_eq!(
        env(c, "TAOS_FQDN"),
        "$(POD_NAME).taosd.tdengine.svc.cluster.local"
    );
    assert_eq!(c["startupProbe"]["failureThreshold"], 360);
}

#[test]
fn clickhouse_keeper_members_and_chi_layout() {
    let docs = documents(&render("clickhouse", &example(), "1.36"));
    let cm = find(&docs, "ConfigMap", "clickhouse-keeper")["data"]["keeper.xml"]
        .as_str()
        .unwrap();
    for i in 0..3 {
        assert!(cm.contains(&format!(
            "<server><id>{}</id><hostname>clickhouse-keeper-{i}.clickhouse-keepers.clickhouse.svc.cluster.local</hostname>",
            i + 1
        )), "{cm}");
    }
    assert!(!cm.contains("<id>4</id>"));
    let chi = find(&docs, "ClickHouseInstallation", "ch");
    assert_eq!(
        chi["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"],
        2
    );
    assert_eq!(
        chi["spec"]["configuration"]["zookeeper"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // External ZooKeeper: no Keeper objects at all.
    let ext = example_text().replace(
        "  keeper:\n    replicas: 3\n    image: clickhouse/clickhouse-keeper:25.3\n",
        "  zookeeper-hosts: [zk-0.zk.example:2181, zk-1.zk.example:2181]\n",
    );
    let docs = documents(&render(
        "clickhouse",
        &config_in(&example_dir(), &ext),
        "1.36",
    ));
    assert!(
        docs.iter().all(|d| d["kind"] != "StatefulSet"),
        "keeper rendered with external ZooKeeper"
    );
    let nodes =
        &find(&docs, "ClickHouseInstallation", "ch")["spec"]["configuration"]["zookeeper"]["nodes"];
    assert_eq!(
        nodes[1],
        serde_json::json!({"host": "zk-1.zk.example", "port": 2181})
    );
}

/// Every StatefulSet: a headless governing Service that publishes not-ready addresses, a
/// readiness probe on every container, a graceful shutdown period, a storage class.
#[test]
fn statefulsets_are_stable_probed_and_shut_down_gracefully() {
    let docs = all_documents("1.36");
    let sts: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "StatefulSet").collect();
    assert_eq!(sts.len(), 4, "iotdb x2, tdengine, clickhouse keeper");
    for s in sts {
        let name = s["metadata"]["name"].as_str().unwrap();
        let svc_name = s["spec"]["serviceName"].as_str().unwrap();
        let svc = find(&docs, "Service", svc_name);
        assert_eq!(
            svc["spec"]["clusterIP"], "None",
            "{name}: {svc_name} not headless"
        );
        assert_eq!(
            svc["spec"]["publishNotReadyAddresses"], true,
            "{name}: {svc_name}"
        );
        let pod = &s["spec"]["template"]["spec"];
        assert!(
            pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 60,
            "{name}"
        );
        for c in pod["containers"].as_array().unwrap() {
            assert!(
                c.get("readinessProbe").is_some(),
                "{name}: no readiness probe"
            );
            assert!(
                c.get("livenessProbe").is_some(),
                "{name}: no liveness probe"
            );
        }
        for t in s["spec"]["volumeClaimTemplates"].as_array().unwrap() {
            assert_eq!(t["spec"]["storageClassName"], "local-path", "{name}");
        }
    }
}

fn crd_schema(service: &str, file: &str) -> Value {
    let text = std::fs::read_to_string(services_dir().join(service).join("crds").join(file))
        .expect("CRD file");
    let crd: Value = serde_saphyr::from_str(&text).expect("CRD is YAML");
    assert_eq!(crd["kind"], "CustomResourceDefinition");
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    unknown_fields_are_errors(&mut schema);
    schema
}

/// A structural schema as a JSON Schema in which a field the server would prune (one an
/// object with `properties` does not list, unless it preserves unknown fields) is an error.
fn unknown_fields_are_errors(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let preserves = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if obj.contains_key("properties") && !obj.contains_key("additionalProperties") && !preserves {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (_, v) in obj.iter_mut() {
        match v {
            Value::Object(_) => unknown_fields_are_errors(v),
            Value::Array(items) => items.iter_mut().for_each(unknown_fields_are_errors),
            _ => {}
        }
    }
}

/// The apiextensions server's rule (apiextensions-apiserver validation.go, "additionalProperties
/// and properties are mutual exclusive"): an object schema has `properties` or a restricting
/// `additionalProperties`, never both. The e2e applies the CRDs to a real apiserver too.
fn properties_beside_additional_properties(schema: &Value, at: &str, out: &mut Vec<String>) {
    match schema {
        Value::Object(obj) => {
            if obj.contains_key("properties")
                && obj
                    .get("additionalProperties")
                    .is_some_and(|a| a != &Value::Bool(true))
            {
                out.push(at.to_string());
            }
            for (k, v) in obj {
                properties_beside_additional_properties(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                properties_beside_additional_properties(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn shipped_crds_are_structural_as_the_apiextensions_server_requires() {
    for (service, file) in [
        ("dolphindb", "dolphindb.yaml"),
        ("clickhouse", "clickhouseinstallation.yaml"),
    ] {
        let text = std::fs::read_to_string(services_dir().join(service).join("crds").join(file))
            .expect("CRD file");
        let crd: Value = serde_saphyr::from_str(&text).expect("CRD is YAML");
        let mut found = Vec::new();
        properties_beside_additional_properties(&crd, "", &mut found);
        assert!(found.is_empty(), "{service}/{file}: {found:?}");
    }
    // The check can fail.
    let bad = serde_json::json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false});
    let mut found = Vec::new();
    properties_beside_additional_properties(&bad, "", &mut found);
    assert_eq!(found, [""]);
}

fn schema_errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the CRD schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn custom_resources_match_the_shipped_crd_schemas() {
    let cases = [
        ("dolphindb", "dolphindb.yaml", "DolphinDB", "ddb"),
        (
            "clickhouse",
            "clickhouseinstallation.yaml",
            "ClickHouseInstallation",
            "ch",
        ),
    ];
    for (service, file, kind, name) in cases {
        let schema = crd_schema(service, file);
        let docs = documents(&render(service, &example(), "1.36"));
        let cr = find(&docs, kind, name);
        let errors = schema_errors(&schema, cr);
        assert!(errors.is_empty(), "{kind}: {errors:#?}");
        // The check can fail: a misspelt field and a zero replica count are rejected.
        let mut bad = cr.clone();
        bad["spec"]["replicaz"] = Value::from(1);
        assert!(
            !schema_errors(&schema, &bad).is_empty(),
            "{kind}: unknown field accepted"
        );
    }
    let schema = crd_schema("clickhouse", "clickhouseinstallation.yaml");
    let docs = documents(&render("clickhouse", &example(), "1.36"));
    let mut bad = find(&docs, "ClickHouseInstallation", "ch").clone();
    bad["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] = Value::from(0);
    assert!(!schema_errors(&schema, &bad).is_empty());
    let schema = crd_schema("dolphindb", "dolphindb.yaml");
    let docs = documents(&render("dolphindb", &example(), "1.36"));
    let mut bad = find(&docs, "DolphinDB", "ddb").clone();
    bad["spec"]["mode"] = Value::from("cluser");
    assert!(!schema_errors(&schema, &bad).is_empty());
}

/// `kubernetes-validate --strict -k VERSION` over every rendered object of a built-in kind
/// and over the shipped CRDs (custom resources are checked above against those CRDs).
fn kubernetes_validate(version: &str) {
    let minor = version.rsplit_once('.').map(|(m, _)| m).unwrap_or(version);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    let mut count = 0;
    for service in SERVICES {
        for (i, doc) in documents(&render(service, &example(), minor))
            .into_iter()
            .enumerate()
        {
            if CUSTOM_KINDS.contains(&doc["kind"].as_str().unwrap_or("")) {
                continue;
            }
            let p = dir.path().join(format!("{service}-{i}.yaml"));
            std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
            paths.push(p);
            count += 1;
        }
        let crds = services_dir().join(service).join("crds");
        if let Ok(rd) = std::fs::read_dir(&crds) {
            for e in rd {
                paths.push(e.unwrap().path());
                count += 1;
            }
        }
    }
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg("-k")
        .arg(version)
        .args(&paths)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kubernetes-validate ({e}): pip install kubernetes-validate")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stdout.contains("ERROR") && !stderr.contains("ERROR"),
        "kubernetes-validate -k {version}:\n{stdout}\n{stderr}"
    );
    let passed = stdout.lines().filter(|l| l.contains(" passed ")).count();
    assert_eq!(
        passed, count,
        "{passed} of {count} passed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn manifests_validate_against_kubernetes_1_31() {
    kubernetes_validate("1.31.0");
}

#[test]
fn manifests_validate_against_kubernetes_1_36() {
    kubernetes_validate("1.36.0");
}
