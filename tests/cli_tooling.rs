//! What operators expect around the commands: `init`, shell completions, man pages, help
//! that reads like kubectl's, `--version`, `-v` logging and the editor schemas.

mod common;
use common::*;
use k8s_manage::config::source::SourceFile;
use k8s_manage::diag::Diagnostics;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn k8s_manage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(args)
        .env_remove("K8S_MANAGE_LOG")
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn init_writes_a_config_dir_that_validates() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("cfg");
    let key = t.path().join("id_ed25519");
    std::fs::write(&key, "not checked by init beyond existing").unwrap();
    let d = dir.to_str().unwrap();
    let o = k8s_manage(&[
        "init",
        d,
        "--masters",
        "10.0.0.11,10.0.0.12,10.0.0.13",
        "--workers",
        "10.0.0.21-10.0.0.30",
        "--proxy",
        "10.0.0.5",
        "--user",
        "ops",
        "--key",
        key.to_str().unwrap(),
        "--kubernetes-version",
        "v1.35.4",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (code, stdout, stderr) = run_cli(&["validate", "--color", "never"], &dir);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let c = k8s_manage::model::build::load(&dir).unwrap().cluster;
    assert_eq!(c.masters().count(), 3);
    assert_eq!(c.machines.len(), 3 + 10 + 1);
    assert_eq!(c.kubernetes.version.to_string(), "v1.35.4");
    assert_eq!(c.machines[0].ssh.username, "ops");
    assert_eq!(c.machines[0].ssh.keyfile.as_deref(), Some(key.as_path()));
    assert_eq!(c.api_endpoint().to_string(), "10.0.0.5");
    // the role file is there and read
    assert!(dir.join("k8s-role-definition.yaml").is_file());

    // never replaced without --force
    let before = std::fs::read_to_string(dir.join("cluster-configuration.yaml")).unwrap();
    let o = k8s_manage(&["init", d, "--masters", "10.0.0.99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.join("cluster-configuration.yaml")).unwrap(),
        before
    );
    let o = k8s_manage(&["init", d, "--masters", "10.0.0.99", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        std::fs::read_to_string(dir.join("cluster-configuration.yaml"))
            .unwrap()
            .contains("10.0.0.99")
    );
}

#[test]
fn init_refuses_bad_input_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("cfg");
    let d = dir.to_str().unwrap();
    for (args, needle) in [
        (vec!["--masters", "10.0.0.1,10.0.0.2"], "give 1 or 3"),
        (
            vec!["--masters", "10.0.0.1", "--workers", "10.0.0.1-10.0.0.5"],
            "in both --masters and --workers",
        ),
        (
            vec!["--masters", "10.0.0.1", "--workers", "10.0.0.30-10.0.0.21"],
            "runs backwards",
        ),
        (vec!["--masters", "10.0.0.x"], "not an IPv4 address"),
        (
            vec!["--masters", "10.0.0.1", "--kubernetes-version", "v1.9.4"],
            "not a supported version",
        ),
        (
            vec!["--masters", "10.0.0.1", "--key", "/nonexistent/key"],
            "no such file",
        ),
    ] {
        let mut a = vec!["init", d];
        a.extend(args);
        let o = k8s_manage(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}");
        let e = text(&o.stderr);
        assert!(e.contains(needle), "{a:?}: {e}");
        assert!(!dir.exists(), "{a:?} wrote something");
    }
}

#[test]
fn bash_loads_the_completion_script() {
    let o = k8s_manage(&["completion", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    let t = tempfile::tempdir().unwrap();
    let script = t.path().join("k8s-manage.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    // bash sources it, registers the completion, and completing `k8s-manage ini` offers init
    let probe = format!(
        "set -e; source {}; complete -p k8s-manage; COMP_WORDS=(k8s-manage ini); COMP_CWORD=1; COMP_LINE='k8s-manage ini'; COMP_POINT=${{#COMP_LINE}}; f=$(complete -p k8s-manage | sed -E 's/.* -F ([^ ]+) .*/\\1/'); \"$f\" k8s-manage ini k8s-manage; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("-F _k8s") && stdout.contains(" k8s-manage\n"),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l == "init"), "{stdout}");
    for shell in ["zsh", "fish"] {
        let o = k8s_manage(&["completion", shell]);
        assert_eq!(o.status.code(), Some(0));
        assert!(text(&o.stdout).contains("k8s-manage"));
    }
}

#[test]
fn man_pages_render_with_man() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("man");
    let o = k8s_manage(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for page in [
        "k8s-manage.1",
        "k8s-manage-deploy.1",
        "k8s-manage-init.1",
        "k8s-manage-cert-rotate.1",
        "k8s-manage-etcd-snapshot-restore.1",
    ] {
        assert!(dir.join(page).is_file(), "{page} missing");
    }
    for (page, needle) in [
        ("k8s-manage.1", "deploy"),
        ("k8s-manage-deploy.1", "--dry-run"),
    ] {
        let out = Command::new("man")
            .arg("-l")
            .arg(dir.join(page))
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man (man-db) is installed by scripts/setup.sh");
        let rendered = text(&out.stdout);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(rendered.contains(needle), "{page}: {rendered}");
        assert!(!rendered.contains(".TH"), "roff was rendered: {rendered}");
    }
}

/// Every command and subcommand, with its path.
fn commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands() {
        let p = format!("{path} {}", sub.get_name());
        out.push((p.clone(), sub.clone()));
        commands(sub, p, out);
    }
}

#[test]
fn help_has_one_short_line_per_command_and_every_option_explained() {
    let mut root = k8s_manage::cli::command();
    root.build();
    let mut all = Vec::new();
    commands(&root, "k8s-manage".into(), &mut all);
    assert!(all.len() > 30);
    for (path, cmd) in &all {
        if cmd.get_name() == "help" {
            continue;
        }
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert!(!about.is_empty(), "{path}: no summary");
        assert!(
            !about.contains('\n') && about.len() <= 80,
            "{path}: the summary is not one short line: {about:?}"
        );
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            assert!(
                arg.get_help().is_some(),
                "{path}: option `{id}` has no help text"
            );
        }
    }
    // the detail is in `help CMD`
    let o = k8s_manage(&["help", "etcdfix"]);
    assert!(text(&o.stdout).contains("initial-cluster-state=existing"));
    let o = k8s_manage(&["--help"]);
    let top = text(&o.stdout);
    assert!(
        top.contains("  deploy           Deploy the cluster"),
        "{top}"
    );
    assert!(!top.contains("initial-cluster-state"), "{top}");
}

#[test]
fn version_names_the_kubernetes_versions_and_the_commit() {
    let o = k8s_manage(&["--version"]);
    let v = text(&o.stdout);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    assert!(v.contains("Kubernetes v1.31 to v1.36"), "{v}");
    assert!(v.contains("default v1.36.1"), "{v}");
    let commit = v
        .split("commit ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_default();
    let hex = commit.trim_end_matches("-dirty");
    assert!(
        hex == "unknown" || (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
    // in a git checkout it is the checkout's commit
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        && out.status.success()
        && std::env::var_os("K8S_MANAGE_COMMIT").is_none()
    {
        let head = text(&out.stdout).trim().to_string();
        assert_eq!(hex, head, "{v}");
    }
}

#[test]
fn logging_is_off_by_default_and_never_shows_secrets() {
    // a machine that does not answer: the connect attempts are logged at -vv
    let secret = "pw-never-logged-41";
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("key");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nKEYMATERIALneverlogged\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cluster = format!(
        "default-machine-properties:\n  username: ops\n  password: {secret}\n  keyfile-path: {}\nmachine-list:\n  - hostname: m1\n    hostip: 127.0.0.1\n    sshport: 1\n    k8s-role: master\n    etcdid: e1\n",
        key.display()
    );
    let (_t, dir) = config_dir(&cluster, K8S_OK);
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_k8s-manage"));
        c.args(args)
            .arg("-p")
            .arg(&dir)
            .env_remove("K8S_MANAGE_LOG");
        if let Some(e) = env {
            c.env("K8S_MANAGE_LOG", e);
        }
        c.output().unwrap()
    };
    let quiet = run(&["status", "--output", "json"], None);
    let loud = run(&["-vvv", "status", "--output", "json"], None);
    let env = run(&["status", "--output", "json"], Some("trace"));
    assert!(
        !text(&quiet.stderr).contains("TRACE"),
        "{}",
        text(&quiet.stderr)
    );
    for o in [&loud, &env] {
        let e = text(&o.stderr);
        assert!(
            e.contains("TRACE") || e.contains("DEBUG"),
            "nothing logged: {e}"
        );
        assert!(e.contains("m1"), "{e}");
        // stdout is still the JSON report alone
        serde_json::from_slice::<serde_json::Value>(&o.stdout).expect("JSON on stdout");
        assert_eq!(o.status.code(), quiet.status.code());
    }
    for o in [&quiet, &loud, &env] {
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(!all.contains(secret), "the password leaked: {all}");
        assert!(!all.contains("KEYMATERIAL"), "the key leaked: {all}");
    }
    // a bad filter is named, and the run goes on
    let o = run(&["validate"], Some("k8s_manage=loud"));
    assert!(
        text(&o.stderr).contains("K8S_MANAGE_LOG"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0));
}

/// The config files of the repository's examples, with the schema each must pass.
fn examples() -> Vec<(PathBuf, &'static str)> {
    let root = repo().join("cluster-configuration");
    let mut v = Vec::new();
    for d in ["single-master", "three-masters"] {
        v.push((
            root.join(d).join("cluster-configuration.yaml"),
            "cluster-configuration",
        ));
        v.push((
            root.join(d).join("kubernetes-configuration.yaml"),
            "kubernetes-configuration",
        ));
    }
    v.push((root.join("add-workers.yaml"), "node-list"));
    v.push((
        root.join("services/services-configuration.yaml"),
        "services-configuration",
    ));
    v
}

fn yaml_as_json(path: &Path) -> serde_json::Value {
    let mut d = Diagnostics::default();
    let f = SourceFile::read(path, &mut d).unwrap_or_else(|| panic!("{}", d.render_text(false)));
    f.root.to_json(&f.text)
}

fn schemas() -> std::collections::BTreeMap<String, jsonschema::Validator> {
    let t = tempfile::tempdir().unwrap();
    let o = k8s_manage(&["schema", "--out", t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut m = std::collections::BTreeMap::new();
    for name in [
        "cluster-configuration",
        "kubernetes-configuration",
        "node-list",
        "services-configuration",
    ] {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(t.path().join(format!("{name}.schema.json"))).unwrap(),
        )
        .unwrap();
        let v = jsonschema::options()
            .should_validate_formats(true)
            .build(&s)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        m.insert(name.to_string(), v);
    }
    m
}

#[test]
fn the_schemas_accept_every_example_and_catch_a_wrong_type() {
    let s = schemas();
    for (file, schema) in examples() {
        let doc = yaml_as_json(&file);
        let errors: Vec<String> = s[schema].iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
    // what `init` writes passes too (cluster with a proxy; the quick-start's four files)
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("cfg");
    let o = k8s_manage(&[
        "init",
        dir.to_str().unwrap(),
        "--masters",
        "10.0.0.11",
        "--workers",
        "10.0.0.21-22",
        "--proxy",
        "10.0.0.5",
    ]);
    assert_eq!(o.status.code(), Some(0));
    for (f, schema) in [
        ("cluster-configuration.yaml", "cluster-configuration"),
        ("kubernetes-configuration.yaml", "kubernetes-configuration"),
    ] {
        let doc = yaml_as_json(&dir.join(f));
        assert!(s[schema].is_valid(&doc), "{f}");
    }

    // broken copies: a wrong type in each file is caught
    let three = repo().join("cluster-configuration/three-masters");
    let mut cluster = yaml_as_json(&three.join("cluster-configuration.yaml"));
    cluster["machine-list"][0]["hostip"] = "not-an-address".into();
    assert!(!s["cluster-configuration"].is_valid(&cluster));
    let mut cluster = yaml_as_json(&three.join("cluster-configuration.yaml"));
    cluster["machine-list"] = serde_json::json!({"master-1": {}});
    assert!(!s["cluster-configuration"].is_valid(&cluster));
    let mut k = yaml_as_json(&three.join("kubernetes-configuration.yaml"));
    k["kubernetes"]["api-servers-port"] = serde_json::json!({"port": 6443});
    assert!(!s["kubernetes-configuration"].is_valid(&k));
    let mut k = yaml_as_json(&three.join("kubernetes-configuration.yaml"));
    k["kubernetes"]["network-plugin"] = "calico".into();
    assert!(!s["kubernetes-configuration"].is_valid(&k));
    let mut n = yaml_as_json(&repo().join("cluster-configuration/add-workers.yaml"));
    n["machine-list"][0]["sshport"] = serde_json::json!([22]);
    assert!(!s["node-list"].is_valid(&n));
    let mut svc =
        yaml_as_json(&repo().join("cluster-configuration/services/services-configuration.yaml"));
    svc["iotdb"]["datanode"]["replicas"] = "three".into();
    assert!(!s["services-configuration"].is_valid(&svc));
    let mut svc =
        yaml_as_json(&repo().join("cluster-configuration/services/services-configuration.yaml"));
    svc["tdengine"]["data-size"] = "lots".into();
    assert!(!s["services-configuration"].is_valid(&svc));
    // the node lists written the original's way pass
    for body in [
        "machinelist:\n  master-2:\n    nodename: 10.1.0.12\n    hostip: 10.1.0.12\n    sshport: \"22\"\n    etcdid: etcd2\n",
        "remote_deployment_role: worker\nmachinelist:\n  w:\n    hostip: 10.1.0.9\n",
    ] {
        let p = t.path().join("list.yaml");
        std::fs::write(&p, body).unwrap();
        assert!(s["node-list"].is_valid(&yaml_as_json(&p)), "{body}");
    }
}
