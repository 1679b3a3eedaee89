//! Validation of the databases' sections of services-configuration.yaml before anything is
//! applied: every bad input is an error naming file and line, with a fix.

mod databases;
use databases::*;
use k8s_manage::diag::Severity;

/// The example with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> String {
    let text = example_text();
    assert!(text.contains(from), "the example has no `{from}`");
    text.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}`")) as u32
        + 1
}

/// Validates `service` in `text` and returns the one error, checking file, line and fix.
fn one_error(service: &str, text: &str, line_needle: &str, message_part: &str) {
    let cfg = config_in(&example_dir(), text);
    let d = diagnostics(service, &cfg);
    let errors: Vec<_> = d.errors().collect();
    assert_eq!(errors.len(), 1, "{service}: {}", d.render_text(false));
    let e = errors[0];
    assert_eq!(&*e.at.file, "services-configuration.yaml");
    assert_eq!(e.at.line, Some(line_of(text, line_needle)), "{e}");
    assert!(e.message.contains(message_part), "{e}");
    assert!(e.fix.is_some(), "no fix: {e}");
}

#[test]
fn the_example_is_valid_for_every_database() {
    let cfg = config_in(&example_dir(), &example_text());
    for s in ["iotdb", "tdengine", "dolphindb", "clickhouse"] {
        let d = diagnostics(s, &cfg);
        assert!(d.list.is_empty(), "{s}: {}", d.render_text(false));
    }
}

#[test]
fn replication_factor_larger_than_the_node_count() {
    let t = edited(
        "  schema-replication-factor: 3\n",
        "  schema-replication-factor: 4\n",
    );
    one_error(
        "iotdb",
        &t,
        "schema-replication-factor: 4",
        "larger than `iotdb.datanode.replicas` (3)",
    );
    let t = edited(
        "  database-replica: 3\n  data-size",
        "  database-replica: 3\n  data-size",
    );
    let t = t.replacen(
        "  replicas: 3\n  mnodes: 3\n",
        "  replicas: 1\n  mnodes: 1\n",
        1,
    );
    one_error(
        "tdengine",
        &t,
        "database-replica: 3",
        "larger than `tdengine.replicas` (1)",
    );
    let t = edited("  replication-factor: 2\n", "  replication-factor: 4\n");
    one_error(
        "dolphindb",
        &t,
        "replication-factor: 4",
        "each replica needs its own node",
    );
    let t = edited("  insert-quorum: 1\n", "  insert-quorum: 3\n");
    one_error(
        "clickhouse",
        &t,
        "insert-quorum: 3",
        "larger than `clickhouse.replicas` (2)",
    );
}

#[test]
fn dolphindb_without_a_license() {
    let t = edited("  license-file: dolphindb.lic\n", "");
    one_error(
        "dolphindb",
        &t,
        "dolphindb:",
        "`dolphindb.license-file` is not set",
    );
    let t = edited(
        "  license-file: dolphindb.lic\n",
        "  license-file: missing.lic\n",
    );
    one_error(
        "dolphindb",
        &t,
        "license-file: missing.lic",
        "cannot read the license file",
    );
}

#[test]
fn storage_class_not_set() {
    for s in ["iotdb", "tdengine", "dolphindb", "clickhouse"] {
        // Remove the storage-class line of that section only.
        let text = example_text();
        let start = text.find(&format!("\n{s}:\n")).unwrap();
        let rel = text[start..].find("  storage-class: local-path\n").unwrap();
        let mut t = text.clone();
        t.replace_range(
            start + rel..start + rel + "  storage-class: local-path\n".len(),
            "",
        );
        one_error(s, &t, &format!("{s}:"), "storage-class` is not set");
    }
}

#[test]
fn quorum_groups_are_one_or_three() {
    let t = edited(
        "  confignode:\n    replicas: 3\n",
        "  confignode:\n    replicas: 2\n",
    );
    one_error(
        "iotdb",
        &t,
        "    replicas: 2",
        "1 (no high availability) or 3",
    );
    let t = edited("  mnodes: 3\n", "  mnodes: 2\n");
    one_error("tdengine", &t, "mnodes: 2", "mnodes must be 1");
    let t = edited(
        "  controller:\n    replicas: 3\n",
        "  controller:\n    replicas: 2\n",
    );
    one_error("dolphindb", &t, "    replicas: 2", "controllers (Raft)");
}

#[test]
fn bad_values_are_located() {
    let t = edited("    storage-size: 200Gi\n", "    storage-size: 200 gigs\n");
    one_error("iotdb", &t, "200 gigs", "not a size");
    let t = edited(
        "  image: tdengine/tdengine:3.3.6.13\n",
        "  image: tdengine/tdengine\n",
    );
    one_error("tdengine", &t, "image: tdengine/tdengine", "needs a tag");
    // Both images too old: one error each, at each image's line.
    let t = example_text().replace("apache/iotdb:2.0.5-", "apache/iotdb:1.2.3-");
    let d = diagnostics("iotdb", &config_in(&example_dir(), &t));
    let lines: Vec<_> = d
        .errors()
        .map(|e| (e.at.line, e.message.contains("need 1.3 or later")))
        .collect();
    assert_eq!(
        lines,
        [
            (Some(line_of(&t, "1.2.3-confignode")), true),
            (Some(line_of(&t, "1.2.3-datanode")), true)
        ],
        "{}",
        d.render_text(false)
    );
    // Different versions for the two node kinds.
    let t = edited(
        "    image: apache/iotdb:2.0.5-datanode\n",
        "    image: apache/iotdb:1.3.2-datanode\n",
    );
    one_error("iotdb", &t, "1.3.2-datanode", "different IoTDB versions");
    let t = edited(
        "  replicas: 2\n  insert-quorum",
        "  replicas: many\n  insert-quorum",
    );
    one_error("clickhouse", &t, "replicas: many", "must be a whole number");
    let t = edited("  namespace: clickhouse\n", "  namespace: Click_House\n");
    one_error(
        "clickhouse",
        &t,
        "Click_House",
        "not a valid Kubernetes name",
    );
}

#[test]
fn unknown_keys_are_warnings_with_a_hint() {
    let t = edited("  mnodes: 3\n", "  mnodes: 3\n  mnode: 3\n");
    let d = diagnostics("tdengine", &config_in(&example_dir(), &t));
    assert!(!d.has_errors(), "{}", d.render_text(false));
    let w: Vec<_> = d
        .list
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].at.line, Some(line_of(&t, "  mnode: 3")));
    assert_eq!(w[0].fix.as_deref(), Some("did you mean `mnodes`?"));
}

#[test]
fn a_missing_section_or_file_is_an_error() {
    let d = diagnostics("iotdb", &config("cluster: {}\n"));
    assert!(
        d.errors()
            .next()
            .unwrap()
            .message
            .contains("no `iotdb:` section")
    );
    let cfg = k8s_manage::service::ServicesConfig {
        file: None,
        values: serde_json::json!({}),
    };
    let d = diagnostics("clickhouse", &cfg);
    assert!(d.has_errors());
    // A service that is not a database is left alone.
    assert!(
        diagnostics("webportal", &config("cluster: {}\n"))
            .list
            .is_empty()
    );
}

/// The original OpenPAI services-configuration.yaml still parses; it has no database
/// sections, which is an error only when a database is asked for.
#[test]
fn openpai_example_services_file_still_parses() {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "tests/data/openpai-examples/microsoft-pai-46b6ad6/cluster-configuration/services-configuration.yaml",
    );
    let text = std::fs::read_to_string(&p).expect("the OpenPAI example in tests/data");
    let cfg = config(&text);
    assert!(cfg.values.get("hadoop").is_some());
    let d = diagnostics("iotdb", &cfg);
    assert_eq!(d.errors().count(), 1);
}

#[test]
fn iotdb_rest_service_is_a_boolean_that_reaches_the_datanodes() {
    let text = edited(
        "  data-replication-factor: 2\n",
        "  data-replication-factor: 2\n  rest-service: maybe\n",
    );
    one_error(
        "iotdb",
        &text,
        "rest-service: maybe",
        "`iotdb.rest-service: maybe` must be true or false",
    );
    for (value, env) in [("false", "\"false\""), ("true", "\"true\"")] {
        let text = edited(
            "  data-replication-factor: 2\n",
            &format!("  data-replication-factor: 2\n  rest-service: {value}\n"),
        );
        let cfg = config_in(&example_dir(), &text);
        let out: String = render("iotdb", &cfg, "1.36")
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert!(
            out.contains(&format!("name: enable_rest_service, value: {env}}}")),
            "{value}"
        );
    }
}

#[test]
fn iotdb_cli_class_is_a_java_class_name_that_scale_runs() {
    use k8s_manage::service::databases::{ScaleRequest, planner};
    use k8s_manage::service::steps::Step;
    let text = edited(
        "  data-replication-factor: 2\n",
        "  data-replication-factor: 2\n  cli-class: \"Cli; rm -rf /tmp/x\"\n",
    );
    one_error("iotdb", &text, "cli-class:", "is not a Java class name");
    let first_script = |text: &str| {
        let cfg = config_in(&example_dir(), text);
        let req = ScaleRequest {
            component: Some("datanode".into()),
            current: 4,
            target: 3,
            cluster_domain: "rack.internal".into(),
        };
        let steps = planner("iotdb").unwrap().scale_plan(&cfg, &req).unwrap();
        match &steps[0] {
            Step::Exec(e) => e.command[2].clone(),
            other => panic!("the first step removes the DataNode: {other:?}"),
        }
    };
    let host = "-h iotdb-datanode-0.iotdb-datanode-headless.iotdb.svc.rack.internal";
    assert!(
        first_script(&example_text()).contains(&format!("org.apache.iotdb.cli.Cli {host}")),
        "IoTDB's own CLI by default"
    );
    let text = edited(
        "  data-replication-factor: 2\n",
        "  data-replication-factor: 2\n  cli-class: k8smanage.sandbox.IotdbSql\n",
    );
    assert!(first_script(&text).contains(&format!("k8smanage.sandbox.IotdbSql {host}")));
}
