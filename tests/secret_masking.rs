//! No diagnostic shows a secret: every kind the commands print (YAML syntax errors,
//! duplicate keys, wrong types, placeholders, unknown keys, the key-file warning, node
//! lists, services-configuration.yaml errors) with a password on the line next to the
//! problem, or on the problem's own line. The diagnostic is shown (file:line and the
//! source lines around it) and the password is not.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Every secret used below; none may appear in any output.
const SECRETS: &[&str] = &[
    "S3cret-Sudo-Pw",
    "s3cret-pass",
    "Unclosed-Pw",
    "Machine-Pw-9",
    "Flow-Pw-7",
    "Block-Pw-5",
    "List-Pw-3",
    "Docker-Pw-1",
    "Root-Pw-2",
    "Admin-Pw-4",
];

fn cluster_with(defaults: &str, extra_machine: &str) -> String {
    format!(
        "default-machine-properties:\n  username: root\n{defaults}machine-list:\n  - hostname: master-1\n    hostip: 10.1.0.11\n    k8s-role: master\n    etcdid: etcd1\n{extra_machine}"
    )
}

/// Run the CLI; stdout and stderr together.
fn shown(args: &[&str], dir: &Path) -> String {
    let (_, out, err) = run_cli(args, dir);
    format!("{out}{err}")
}

fn assert_masked(text: &str, must_show: &[&str]) {
    for s in SECRETS {
        assert!(!text.contains(s), "secret {s:?} shown:\n{text}");
    }
    for m in must_show {
        assert!(text.contains(m), "expected {m:?} in:\n{text}");
    }
}

#[test]
fn cluster_file_diagnostics_never_show_a_password() {
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "a warning on keyfile-path (readable by others) next to the password",
            cluster_with(
                "  password: \"S3cret-Sudo-Pw\"\n  keyfile-path: id_test\n",
                "",
            ),
            vec!["keyfile-path", "password: ****"],
        ),
        (
            "a YAML error (duplicate mapping key) next to the password",
            cluster_with("  username: again\n  password: s3cret-pass\n", ""),
            vec!["not valid YAML", "cluster-configuration.yaml:"],
        ),
        (
            "a YAML error on the password's own line (unclosed quote)",
            cluster_with("  password: \"Unclosed-Pw\n  sshport: 22\n", ""),
            vec!["not valid YAML"],
        ),
        (
            "a wrong type next to a machine's password",
            cluster_with(
                "  ssh-agent: \"true\"\n",
                "  - hostname: worker-1\n    hostip: 10.1.0.21\n    k8s-role: worker\n    password: Machine-Pw-9\n    sshport: not-a-port\n",
            ),
            vec!["sshport", "password: ***"],
        ),
        (
            "a placeholder next to a password in flow style",
            cluster_with(
                "  ssh-agent: \"true\"\n",
                "  - {hostname: worker-1, hostip: IP, k8s-role: worker, password: Flow-Pw-7}\n",
            ),
            vec!["placeholder"],
        ),
        (
            "an unknown role next to a block-scalar password",
            cluster_with(
                "  ssh-agent: \"true\"\n",
                "  - hostname: worker-1\n    hostip: 10.1.0.21\n    password: |\n      Block-Pw-5\n    k8s-role: wroker\n",
            ),
            vec!["wroker"],
        ),
    ];
    for (what, cluster, expect) in cases {
        let (_t, dir) = config_dir(&cluster, K8S_OK);
        let key = dir.join("id_test");
        std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = shown(&["validate"], &dir);
        eprintln!("--- {what}\n{text}");
        assert_masked(&text, &expect);
        // the JSON form names no secret either
        assert_masked(&shown(&["validate", "--output", "json"], &dir), &[]);
    }
}

#[test]
fn node_list_diagnostics_never_show_a_password() {
    let (t, dir) = config_dir(&standard(1, 0, false), K8S_OK);
    let list = t.path().join("new.yaml");
    std::fs::write(
        &list,
        "machine-list:\n  - hostname: worker-9\n    hostip: 10.1.0.300\n    password: List-Pw-3\n    k8s-role: worker\n",
    )
    .unwrap();
    let text = shown(&["validate", "-f", list.to_str().unwrap()], &dir);
    assert_masked(&text, &["new.yaml:", "10.1.0.300"]);
    let text = shown(&["plan", "add", "-f", list.to_str().unwrap()], &dir);
    assert_masked(&text, &["new.yaml:"]);
}

#[test]
fn services_configuration_diagnostics_never_show_a_password() {
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "a wrong value next to docker-password",
            "cluster:\n  docker-registry-info:\n    docker-username: ops\n    docker-password: Docker-Pw-1\n    docker-tag: [a, b]\n",
            vec!["docker-tag", "docker-password: ***"],
        ),
        (
            "a YAML error next to a database root password",
            "tdengine:\n  storage-class: local\n  root-password: Root-Pw-2\n  root-password: Root-Pw-2\n",
            vec!["not valid YAML"],
        ),
        (
            "a database value error next to the admin password",
            "dolphindb:\n  storage-class: local\n  license-file: none.lic\n  admin-password: Admin-Pw-4\n  replication-factor: many\n",
            vec!["replication-factor"],
        ),
    ];
    for (what, services, expect) in cases {
        let (t, dir) = config_dir(&standard(3, 1, false), K8S_OK);
        std::fs::write(dir.join("services-configuration.yaml"), services).unwrap();
        let out_dir = t.path().join("out");
        let all = format!(
            "{}{}",
            shown(&["service", "list"], &dir),
            shown(
                &[
                    "service",
                    "render",
                    "-s",
                    "all",
                    "--out",
                    out_dir.to_str().unwrap()
                ],
                &dir
            )
        );
        eprintln!("--- {what}\n{all}");
        assert_masked(&all, &expect);
    }
}
