//! The service commands without a cluster: `list`, `render --out`, `deploy --dry-run`, and
//! bad input (unknown service, prerequisite cycle, unknown step, a template error) as
//! exit 2 with file:line:column.

mod common;
#[path = "common/services.rs"]
mod services;
use common::*;
use serde_json::Value;
use std::path::Path;

fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = config_dir(&standard(3, 1, false), K8S_OK);
    services::write_services(&dir);
    (t, dir)
}

#[test]
fn list_shows_services_prerequisites_and_images() {
    let (_t, dir) = fixture();
    let (code, out, err) = run_cli(&["service", "list", "--output", "json"], &dir);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let web = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web")
        .unwrap();
    assert_eq!(web["prerequisites"], serde_json::json!(["base"]));
    assert_eq!(
        web["images"],
        serde_json::json!(["registry.example:5000/team/web:v7"])
    );
    let (code, out, _) = run_cli(&["service", "list"], &dir);
    assert_eq!(code, 0);
    assert!(
        out.contains("web") && out.contains("prerequisites: base"),
        "{out}"
    );
}

#[test]
fn render_writes_manifests_filled_from_the_model_and_services_configuration() {
    let (t, dir) = fixture();
    let out_dir = t.path().join("out");
    let (code, out, err) = run_cli(
        &[
            "service",
            "render",
            "-s",
            "web",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rendered 2 service(s), 3 file(s)"), "{out}");
    let settings = std::fs::read_to_string(out_dir.join("base/settings.yaml")).unwrap();
    assert!(
        settings.contains("greeting: \"hello from services-configuration\""),
        "{settings}"
    );
    assert!(
        settings.contains("masters: \"3\"") && settings.contains("domain: \"cluster.local\""),
        "{settings}"
    );
    let sts = std::fs::read_to_string(out_dir.join("web/statefulset.yaml")).unwrap();
    assert!(
        sts.contains("replicas: 2") && sts.contains("namespace: demo"),
        "{sts}"
    );
}

#[test]
fn dry_run_lists_the_filled_steps_in_prerequisite_order_and_touches_nothing() {
    let (_t, dir) = fixture();
    let (code, out, err) = run_cli(
        &[
            "service",
            "deploy",
            "-s",
            "web",
            "--dry-run",
            "--output",
            "json",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base", "web"]);
    assert_eq!(
        v["services"][1]["steps"][1],
        "wait for StatefulSet demo/web: ready"
    );
    // stop: dependents first
    let (code, out, _) = run_cli(
        &[
            "service",
            "stop",
            "-s",
            "base",
            "--dry-run",
            "--output",
            "json",
        ],
        &dir,
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["probe", "web", "base"]);
    assert_eq!(
        v["services"][2]["steps"][0],
        "delete settings.yaml, namespace.yaml"
    );
    // no PKI was created: nothing touched
    assert!(!dir.join(".k8s-manage/pki").exists());
}

#[test]
fn all_skips_unconfigured_databases_but_a_named_one_is_refused() {
    let (_t, dir) = fixture();
    for action in ["deploy", "stop"] {
        let (code, out, err) = run_cli(
            &[
                "service",
                action,
                "-s",
                "all",
                "--dry-run",
                "--output",
                "json",
            ],
            &dir,
        );
        assert_eq!(code, 0, "{action}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let names: Vec<&str> = v["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"web") && names.contains(&"base"),
            "{names:?}"
        );
        for db in ["iotdb", "tdengine", "dolphindb", "clickhouse"] {
            assert!(!names.contains(&db), "{action}: {names:?}");
            assert!(
                v["skipped"].as_array().unwrap().iter().any(|s| s == db),
                "{v}"
            );
        }
        assert!(err.contains("note: skipping"), "{err}");
    }
    // named explicitly, an unconfigured database is still an error that says what it needs
    let (code, _, err) = run_cli(&["service", "deploy", "-s", "iotdb", "--dry-run"], &dir);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("iotdb"), "{err}");
}

#[test]
fn bad_input_is_exit_2_with_a_located_error() {
    let (_t, dir) = fixture();
    let (code, _, err) = run_cli(&["service", "deploy", "-s", "wbe", "--dry-run"], &dir);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown service `wbe` (did you mean `web`?)"),
        "{err}"
    );

    // a cycle: base needs web
    let base = dir.join("services/base/service.yaml");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, format!("prerequisite: [web]\n{text}")).unwrap();
    let (code, _, err) = run_cli(&["service", "list"], &dir);
    assert_eq!(code, 2);
    assert!(
        err.contains("base/service.yaml:1:16") && err.contains("cycle: web → base → web"),
        "{err}"
    );
    std::fs::write(&base, text.replace("- wait:", "- wiat:")).unwrap();
    let (code, _, err) = run_cli(&["service", "list"], &dir);
    assert_eq!(code, 2);
    assert!(
        err.contains("base/service.yaml:4:5") && err.contains("did you mean `wait`"),
        "{err}"
    );
    std::fs::write(&base, text).unwrap();

    // a template reading a value that services-configuration.yaml does not have
    let sts = dir.join("services/web/statefulset.yaml");
    let t = std::fs::read_to_string(&sts).unwrap();
    std::fs::write(&sts, t.replace("config.replicas", "config.replica_count")).unwrap();
    let (code, _, err) = run_cli(
        &[
            "service",
            "render",
            "-s",
            "web",
            "--out",
            "/tmp/never-written-wt-svc",
        ],
        &dir,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("statefulset.yaml") && err.contains("replica_count"),
        "{err}"
    );
    assert!(!Path::new("/tmp/never-written-wt-svc").exists());

    // the shell-script keys of the original are refused with the replacement named
    std::fs::write(
        dir.join("services/web/service.yaml"),
        "template-list: [statefulset.yaml]\nstart-script: start.sh\n",
    )
    .unwrap();
    let (code, _, err) = run_cli(&["service", "list"], &dir);
    assert_eq!(code, 2);
    assert!(
        err.contains("web/service.yaml:2:1") && err.contains("`start:`"),
        "{err}"
    );
}

#[test]
fn scale_without_a_planner_is_refused() {
    let (_t, dir) = fixture();
    let (code, _, err) = run_cli(&["service", "scale", "-s", "web", "--replicas", "3"], &dir);
    assert_eq!(code, 2);
    assert!(err.contains("has no scale planner"), "{err}");
}

#[test]
fn kubernetes_actions_never_read_services_configuration() {
    let (_t, dir) = fixture();
    std::fs::write(
        dir.join("services-configuration.yaml"),
        "cluster: [not: valid\n",
    )
    .unwrap();
    let (code, _, err) = run_cli(&["validate"], &dir);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_cli(&["service", "list"], &dir);
    assert_eq!(code, 2);
    assert!(err.contains("services-configuration.yaml:1"), "{err}");
}

/// `render --out` writes every file holding a Secret (database passwords, the DolphinDB
/// license) 0600, the others 0644.
#[test]
fn rendered_secrets_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (t, dir) = config_dir(&standard(3, 1, false), K8S_OK);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-configuration/services");
    for f in ["services-configuration.yaml", "dolphindb.lic"] {
        std::fs::copy(example.join(f), dir.join(f)).unwrap();
    }
    let out_dir = t.path().join("out");
    let (code, out, err) = run_cli(
        &[
            "service",
            "render",
            "-s",
            "all",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(code, 0, "{out}{err}");
    let mode = |p: &str| {
        std::fs::metadata(out_dir.join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    for secret in [
        "tdengine/10-tdengine.yaml",
        "iotdb/20-datanode.yaml",
        "dolphindb/10-license.yaml",
    ] {
        let text = std::fs::read_to_string(out_dir.join(secret)).unwrap();
        assert!(text.contains("kind: Secret"), "{secret}: {text}");
        assert_eq!(mode(secret), 0o600, "{secret}");
    }
    assert_eq!(mode("tdengine/00-namespace.yaml"), 0o644);
}

#[test]
fn server_dry_run_is_only_for_deploy_and_refresh() {
    let (_t, dir) = fixture();
    for action in ["stop", "delete"] {
        let (code, _, err) = run_cli(&["service", action, "-s", "web", "--server-dry-run"], &dir);
        assert_eq!(code, 2, "{action}: {err}");
        assert!(
            err.contains(&format!("`service {action}` has nothing to check that way"))
                && err.contains("fix: leave out --server-dry-run"),
            "{action}: {err}"
        );
    }
    let (code, _, err) = run_cli(
        &[
            "service",
            "scale",
            "-s",
            "web",
            "--replicas",
            "3",
            "--server-dry-run",
        ],
        &dir,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`service scale` has nothing to check"),
        "{err}"
    );
    // the client-side and the server-side dry run exclude each other
    let (code, _, err) = run_cli(
        &[
            "service",
            "deploy",
            "-s",
            "web",
            "--dry-run",
            "--server-dry-run",
        ],
        &dir,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}
