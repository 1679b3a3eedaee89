//! Flags: unknown and deprecated flags are refused, naming the flag; lists follow the version.

use crate::support::proc::run_to_exit;

const COMPONENTS: [&str; 6] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "cri-dockerd",
];

fn refused(component: &str, flag: &str, version: &str) -> String {
    let (ok, log) = run_to_exit(component, &[flag.to_string()], version);
    assert!(!ok, "{component} accepted {flag}:\n{log}");
    let name = flag.split('=').next().unwrap();
    assert!(
        log.contains(name),
        "{component}: message does not name {name}:\n{log}"
    );
    log
}

#[test]
fn unknown_flag_is_refused_by_every_component() {
    for c in COMPONENTS {
        let log = refused(c, "--no-such-flag=1", "1.36");
        assert!(log.contains("unknown flag --no-such-flag"), "{log}");
        assert!(log.contains(&format!("[k8s-standin {c}]")), "{log}");
    }
}

#[test]
fn deprecated_flags_are_refused() {
    for (c, flag) in [
        ("kube-apiserver", "--enable-logs-handler=false"),
        (
            "kube-scheduler",
            "--kubeconfig=/etc/kubernetes/scheduler.conf",
        ),
        // kubelet: deprecated because it belongs in the KubeletConfiguration file ...
        ("kubelet", "--anonymous-auth=false"),
        // ... and deprecated for removal.
        ("kubelet", "--maximum-dead-containers=1"),
    ] {
        let log = refused(c, flag, "1.36");
        assert!(log.contains("deprecated flag"), "{log}");
    }
}

#[test]
fn the_list_follows_the_version() {
    // Only in the 1.36 list.
    let log = refused(
        "kube-apiserver",
        "--service-account-signing-endpoint=/x",
        "1.31",
    );
    assert!(log.contains("kube-apiserver 1.31 flag list"), "{log}");
    let (ok, log) = run_to_exit(
        "kube-apiserver",
        &["--service-account-signing-endpoint=/x".into()],
        "1.36",
    );
    assert!(!ok && !log.contains("unknown flag"), "{log}");
}

#[test]
fn the_nearest_list_is_used_and_said() {
    let log = refused("kube-scheduler", "--no-such-flag", "1.31");
    assert!(
        log.contains("no kube-scheduler flag list for 1.31; using the nearest one, 1.36"),
        "{log}"
    );
    let log = refused("kubelet", "--no-such-flag", "v1.31.2");
    assert!(log.contains("using the nearest one, 1.34"), "{log}");
}

#[test]
fn shorthand_and_forms() {
    let (ok, log) = run_to_exit(
        "kube-proxy",
        &["-v".into(), "2".into(), "--help".into()],
        "1.36",
    );
    assert!(ok, "{log}");
    let (ok, log) = run_to_exit("cri-dockerd", &["--version".into()], "1.36");
    assert!(ok, "{log}");
    let (ok, log) = run_to_exit("kube-proxy", &["-x".into()], "1.36");
    assert!(!ok && log.contains("-x"), "{log}");
}
