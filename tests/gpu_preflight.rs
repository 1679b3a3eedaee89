//! The GPU preflight's reading of nvidia-smi, against the outputs in
//! `tests/data/nvidia-smi/` (recorded ones and hand-written ones, each said in its README),
//! and the refusals a GPU machine gets from them.

use k8s_manage::model::gpu::GpuSku;
use k8s_manage::run::gpu_preflight::{
    DockerRuntimes, GpuRow, evaluate, interpret_smi, parse_probe, parse_query_csv, refusal,
};
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nvidia-smi")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sku(model: &str, count: u32) -> GpuSku {
    GpuSku {
        sku: "NC24R".into(),
        model: model.into(),
        count,
    }
}

/// Docker as `nvidia-ctk runtime configure --runtime=docker --set-as-default` leaves it.
fn nvidia_default() -> DockerRuntimes {
    DockerRuntimes {
        runtimes: vec![
            ("nvidia".into(), Some("nvidia-container-runtime".into())),
            ("runc".into(), Some("runc".into())),
        ],
        default_runtime: Some("nvidia".into()),
    }
}

/// The probe's stdout for nvidia-smi printing `output` and exiting `exit`.
fn probe_out(output: &str, exit: i32) -> String {
    format!("{}\nk8s-manage-smi-exit={exit}\n", output.trim_end())
}

#[test]
fn recorded_single_gpu_answer_of_the_exact_query() {
    let rows = parse_query_csv(&fixture("recorded-1x-rtx4070tisuper.csv")).unwrap();
    assert_eq!(
        rows,
        [GpuRow {
            name: "NVIDIA GeForce RTX 4070 Ti SUPER".into(),
            memory: Some("16376 MiB".into()),
            driver_version: "560.35.03".into(),
        }]
    );
    let probe = parse_probe(&probe_out(&fixture("recorded-1x-rtx4070tisuper.csv"), 0));
    let (findings, warnings) = evaluate(
        "gpu-worker-1",
        &sku("rtx4070ti", 1),
        &probe,
        Some(&nvidia_default()),
    );
    assert!(
        findings.is_empty() && warnings.is_empty(),
        "{findings:?} {warnings:?}"
    );
}

#[test]
fn recorded_two_gpus_with_other_columns_and_a_count_mismatch_naming_both_numbers() {
    let text = fixture("recorded-2x-rtx3090-index-compute-cap.csv");
    let rows = parse_query_csv(&text).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.name == "NVIDIA GeForce RTX 3090"
        && r.driver_version == "580.126.09"
        && r.memory.as_deref() == Some("24576 MiB")));
    let probe = parse_probe(&probe_out(&text, 0));
    let (findings, warnings) = evaluate(
        "gpu-worker-1",
        &sku("teslak80", 4),
        &probe,
        Some(&nvidia_default()),
    );
    let e = refusal("gpu-worker-1", &sku("teslak80", 4), &findings);
    assert_eq!(
        e.to_string().lines().next().unwrap(),
        "gpu-worker-1: preflight: GPU: machine-sku NC24R says 4 GPU(s) (teslak80), but nvidia-smi lists 2 GPU(s), not 4: NVIDIA GeForce RTX 3090, NVIDIA GeForce RTX 3090"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("give it a machine-type whose `gpu.count` is 2"),
        "{e}"
    );
    // The model differs from the SKU's type: said, but not a refusal by itself.
    assert_eq!(
        warnings,
        [
            "gpu-worker-1: machine-sku NC24R says GPU type teslak80, nvidia-smi reports NVIDIA GeForce RTX 3090"
        ]
    );
    let (findings, warnings) = evaluate(
        "gpu-worker-1",
        &sku("rtx3090", 2),
        &probe,
        Some(&nvidia_default()),
    );
    assert!(
        findings.is_empty() && warnings.is_empty(),
        "{findings:?} {warnings:?}"
    );
}

#[test]
fn recorded_no_driver_and_version_mismatch() {
    for exit in [9, 255] {
        let f = interpret_smi(exit, &fixture("recorded-no-driver.txt")).unwrap_err();
        assert_eq!(
            f.found,
            "the NVIDIA driver is not loaded (nvidia-smi: \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\")"
        );
        assert!(f.fix.contains("modprobe nvidia"), "{}", f.fix);
    }
    let f = interpret_smi(18, &fixture("recorded-version-mismatch.txt")).unwrap_err();
    assert!(
        f.found
            .starts_with("the loaded NVIDIA kernel module and the driver's libraries differ"),
        "{}",
        f.found
    );
    assert!(f.fix.starts_with("reboot"), "{}", f.fix);
}

#[test]
fn constructed_openi_sku_output_and_missing_values() {
    // Hand-written from the documented format (see the fixtures' README).
    let text = fixture("constructed-4x-teslak80.csv");
    let rows = parse_query_csv(&text).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3].memory, None);
    let probe = parse_probe(&probe_out(&text, 0));
    let (findings, warnings) = evaluate(
        "gpu-worker-1",
        &sku("teslak80", 4),
        &probe,
        Some(&nvidia_default()),
    );
    assert!(
        findings.is_empty() && warnings.is_empty(),
        "{findings:?} {warnings:?}"
    );
    let f = interpret_smi(6, &fixture("constructed-no-devices.txt")).unwrap_err();
    assert_eq!(
        f.found,
        "nvidia-smi finds no GPU (\"No devices were found\")"
    );
}

/// The original's example cluster file, placeholders filled in: its three `NC24R` workers
/// (the last one written with the `machinetype` typo) are the GPU machines, 4 × teslak80.
#[test]
fn the_original_example_config_has_three_gpu_workers() {
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("id_ed25519");
    std::fs::write(&key, "not read here").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let original = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/openpai/cluster-configuration-46b6ad6.yaml"),
    )
    .unwrap();
    let mut n = 0;
    let filled: String = original
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("- hostname:") {
                n += 1;
                format!("    - hostname: node-{n}")
            } else if l.trim() == "hostip: IP" {
                format!("      hostip: 10.0.0.{}", 10 + n)
            } else {
                l.replace("username: username", "username: root")
                    .replace(
                        "password: password",
                        &format!("keyfile-path: {}", key.display()),
                    )
                    .replace("sshport: port", "sshport: 22")
                    .replace("etcdid: etcdid", "etcdid: etcd")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(t.path().join("cluster-configuration.yaml"), filled).unwrap();
    std::fs::write(
        t.path().join("kubernetes-configuration.yaml"),
        "kubernetes:\n  kubelet-image: r.example/node-agent:v1.36.1\n",
    )
    .unwrap();
    let loaded = k8s_manage::model::build::load(t.path())
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)));
    let c = loaded.cluster;
    let gpus: Vec<(String, String, u32)> = c
        .gpu_machines()
        .map(|(m, g)| (m.hostname.clone(), g.model.clone(), g.count))
        .collect();
    assert_eq!(
        gpus,
        [4, 5, 6].map(|i| (format!("node-{i}"), "teslak80".to_string(), 4))
    );
    // The device plugin is rendered for them, on the image of the default registry.
    let names: Vec<String> = k8s_manage::render::cluster::manifests(&c)
        .unwrap()
        .into_iter()
        .map(|m| m.file_name)
        .collect();
    assert!(
        names.contains(&"40-nvidia-device-plugin.yaml".to_string()),
        "{names:?}"
    );
    assert_eq!(
        c.kubernetes.images["nvidia-device-plugin"],
        "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
    );
}
