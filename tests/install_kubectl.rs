//! `install-kubectl` without a cluster: the admin kubeconfig is written by hand and the
//! "kubectl" is `/bin/true`, so only the merge into the user's kubeconfig is exercised:
//! names derived from the cluster name, an entry of that name that points at another
//! cluster refused unless `--force`, an unreadable kubeconfig an error.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

const ADMIN: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster: {server: https://10.1.0.11:6443, certificate-authority-data: Y2E=}\nusers:\n- name: kubernetes-admin\n  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}\ncontexts:\n- name: kubernetes-admin@kubernetes\n  context: {cluster: kubernetes, user: kubernetes-admin}\ncurrent-context: kubernetes-admin@kubernetes\n";

fn install(dir: &Path, kubeconfig: &Path, extra: &[&str]) -> (i32, String, String) {
    let dest = dir.join("bin-kubectl");
    let mut args = vec![
        "install-kubectl",
        "--from",
        "/bin/true",
        "--dest",
        dest.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_cli(&args, dir)
}

fn entries(path: &Path, list: &str) -> Vec<Value> {
    let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v[list].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_merge_uses_names_of_its_own_and_refuses_to_repoint_another_clusters_entry() {
    let k8s = format!("{K8S_OK}  cluster-name: rack-a\n");
    let (t, dir) = config_dir(&standard(1, 0, false), &k8s);
    std::fs::create_dir_all(dir.join(".k8s-manage")).unwrap();
    std::fs::write(dir.join(".k8s-manage/admin.kubeconfig"), ADMIN).unwrap();

    // kubeadm's names of another cluster stay as they are
    let kc = t.path().join("config");
    let kubeadm = "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster: {server: https://192.168.5.5:6443}\nusers:\n- name: kubernetes-admin\n  user: {token: theirs}\ncontexts:\n- name: kubernetes-admin@kubernetes\n  context: {cluster: kubernetes, user: kubernetes-admin}\ncurrent-context: kubernetes-admin@kubernetes\n";
    std::fs::write(&kc, kubeadm).unwrap();
    let (code, out, err) = install(&dir, &kc, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("context k8s-manage-rack-a"), "{out}");
    let clusters = entries(&kc, "clusters");
    let server = |name: &str| {
        clusters
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["cluster"]["server"].clone())
    };
    assert_eq!(
        server("kubernetes"),
        Some("https://192.168.5.5:6443".into())
    );
    assert_eq!(
        server("k8s-manage-rack-a"),
        Some("https://10.1.0.11:6443".into())
    );

    // an entry of our name that points at another cluster: refused, file unchanged
    let other = "apiVersion: v1\nkind: Config\nclusters:\n- name: k8s-manage-rack-a\n  cluster: {server: https://172.20.0.9:6443}\ncontexts: []\nusers: []\n";
    std::fs::write(&kc, other).unwrap();
    let (code, _, err) = install(&dir, &kc, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("https://172.20.0.9:6443") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&kc).unwrap(), other);
    let (code, _, err) = install(&dir, &kc, &["--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        entries(&kc, "clusters")[0]["cluster"]["server"],
        "https://10.1.0.11:6443"
    );

    // a kubeconfig that cannot be read is an error, not an empty file to overwrite
    let unreadable = t.path().join("a-directory");
    std::fs::create_dir(&unreadable).unwrap();
    let (code, _, err) = install(&dir, &unreadable, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read"), "{err}");
    let bad_utf8 = t.path().join("binary");
    std::fs::write(&bad_utf8, [0xff, 0xfe, 0x00]).unwrap();
    let (code, _, err) = install(&dir, &bad_utf8, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(std::fs::read(&bad_utf8).unwrap(), [0xff, 0xfe, 0x00]);
}
