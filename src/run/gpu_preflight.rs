//! Preflight on GPU machines (a `machine-type` whose SKU has `gpu`): the NVIDIA driver
//! answers `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv` with as
//! many GPUs as the SKU's `count`, and Docker runs containers with the NVIDIA runtime by
//! default. cri-dockerd's releases pass no RuntimeClass handler and no CDI device to
//! Docker, so the default runtime is the only way the device plugin and GPU pods get GPUs.
//! Every finding says what was found and the fix; all of a node's findings come at once.

use super::fleet::{Node, StepError, blocking};
use crate::model::gpu::GpuSku;
use crate::ssh::snippets::probes::{self, CDI, GPU_QUERY, RUNTIME_BINARY, SMI_EXIT};
use std::time::Duration;

/// What Docker says about its runtimes (from `docker info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerRuntimes {
    /// Runtime name and its binary (`nvidia` → `nvidia-container-runtime`), sorted by name.
    pub runtimes: Vec<(String, Option<String>)>,
    pub default_runtime: Option<String>,
}

impl DockerRuntimes {
    pub fn from_info(info: &bollard::models::SystemInfo) -> DockerRuntimes {
        let mut runtimes: Vec<(String, Option<String>)> = info
            .runtimes
            .iter()
            .flatten()
            .map(|(name, r)| (name.clone(), r.path.clone()))
            .collect();
        runtimes.sort();
        DockerRuntimes {
            runtimes,
            default_runtime: info.default_runtime.clone(),
        }
    }

    fn nvidia(&self) -> Option<&(String, Option<String>)> {
        self.runtimes.iter().find(|(n, _)| n == "nvidia")
    }
}

/// What the probe printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// nvidia-smi's exit status (127: not installed).
    pub smi_exit: i32,
    /// Its stdout and stderr.
    pub smi_output: String,
    /// CDI spec files that describe `nvidia.com/gpu` devices.
    pub cdi_specs: Vec<String>,
    /// Whether the binary of Docker's `nvidia` runtime is there (`None`: not asked).
    pub runtime_binary: Option<bool>,
}

/// One GPU as nvidia-smi lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRow {
    pub name: String,
    /// `memory.total` with its unit (`16376 MiB`); `None` when nvidia-smi says `[N/A]`.
    pub memory: Option<String>,
    pub driver_version: String,
}

/// Something wrong, and how to put it right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub found: String,
    pub fix: String,
}

const DRIVER_FIX: &str = "install the NVIDIA driver (Debian: `apt-get install nvidia-driver` from non-free; Ubuntu: `ubuntu-drivers install`), reboot, and check that `nvidia-smi` lists the GPUs";
const TOOLKIT_FIX: &str = "install the NVIDIA Container Toolkit (`apt-get install nvidia-container-toolkit` from NVIDIA's repository), then run `nvidia-ctk runtime configure --runtime=docker --set-as-default` (it writes `\"runtimes\": {\"nvidia\": {\"path\": \"nvidia-container-runtime\", \"args\": []}}` and `\"default-runtime\": \"nvidia\"` into /etc/docker/daemon.json) and `systemctl restart docker`";
const DEFAULT_FIX: &str = "make it Docker's default: `\"default-runtime\": \"nvidia\"` in /etc/docker/daemon.json (or `nvidia-ctk runtime configure --runtime=docker --set-as-default`), then `systemctl restart docker`";

/// Read [`probes::gpu`]'s output.
pub fn parse_probe(out: &str) -> Probe {
    let mut p = Probe {
        smi_exit: -1,
        ..Default::default()
    };
    let mut smi = Vec::new();
    for line in out.lines() {
        if let Some(rc) = line.strip_prefix(SMI_EXIT) {
            p.smi_exit = rc.trim().parse().unwrap_or(-1);
        } else if let Some(f) = line.strip_prefix(CDI) {
            p.cdi_specs.push(f.trim().to_string());
        } else if let Some(b) = line.strip_prefix(RUNTIME_BINARY) {
            p.runtime_binary = Some(b.trim() == "yes");
        } else if p.smi_exit == -1 {
            smi.push(line);
        }
    }
    p.smi_output = smi.join("\n");
    p
}

/// The GPUs of `nvidia-smi --query-gpu=...,name,...,driver_version,... --format=csv`. The
/// columns are found by the header's field names (units in brackets are dropped), so their
/// order and any extra column do not matter. Values `[N/A]` / `[Not Supported]` are absent.
pub fn parse_query_csv(text: &str) -> Result<Vec<GpuRow>, String> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Err("no output".into());
    };
    let fields: Vec<String> = header
        .split(',')
        .map(|f| f.split('[').next().unwrap_or("").trim().to_string())
        .collect();
    let col = |name: &str| fields.iter().position(|f| f == name);
    let (Some(name), Some(driver)) = (col("name"), col("driver_version")) else {
        return Err(format!(
            "the first line `{}` is not the CSV header with `name` and `driver_version`",
            header.trim()
        ));
    };
    let memory = col("memory.total");
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let values: Vec<&str> = line.split(',').map(str::trim).collect();
        if values.len() != fields.len() {
            return Err(format!(
                "row {} `{}` has {} values, the header {}",
                i + 1,
                line.trim(),
                values.len(),
                fields.len()
            ));
        }
        let known = |v: &str| (!v.starts_with('[')).then(|| v.to_string());
        out.push(GpuRow {
            name: values[name].to_string(),
            memory: memory.and_then(|m| known(values[m])),
            driver_version: values[driver].to_string(),
        });
    }
    Ok(out)
}

/// nvidia-smi's answer: the GPUs, or what is wrong with the driver.
pub fn interpret_smi(exit: i32, output: &str) -> Result<Vec<GpuRow>, Finding> {
    let first = output
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let finding = |found: String, fix: &str| {
        Err(Finding {
            found,
            fix: fix.to_string(),
        })
    };
    if exit == 127 {
        return finding("nvidia-smi is not installed".into(), DRIVER_FIX);
    }
    if output.contains("communicate with the NVIDIA driver") {
        return finding(
            format!("the NVIDIA driver is not loaded (nvidia-smi: \"{first}\")"),
            "load it (`modprobe nvidia`, or reboot); if that fails, the driver was built for another kernel: reinstall it for `uname -r` (DKMS) and make sure nouveau is blacklisted",
        );
    }
    if output.contains("Driver/library version mismatch") {
        return finding(
            format!(
                "the loaded NVIDIA kernel module and the driver's libraries differ (nvidia-smi: \"{first}\")"
            ),
            "reboot the machine (the driver was upgraded without a reboot)",
        );
    }
    if output.contains("No devices were found") {
        return finding(
            "nvidia-smi finds no GPU (\"No devices were found\")".into(),
            "check `lspci | grep -i nvidia` on the machine and the GPUs' power and seating; a machine without a GPU needs a machine-type without `gpu`",
        );
    }
    if exit != 0 {
        return finding(
            format!("nvidia-smi failed with exit status {exit}: \"{first}\""),
            "run `nvidia-smi` on the machine and fix what it reports (exit statuses: NVIDIA's nvidia-smi documentation)",
        );
    }
    match parse_query_csv(output) {
        Err(e) => finding(
            format!("nvidia-smi answered `{GPU_QUERY}` with something else than CSV: {e}"),
            "run that command on the machine; the driver may be too old for these query fields",
        ),
        Ok(rows) if rows.is_empty() => finding("nvidia-smi lists no GPU".into(), DRIVER_FIX),
        Ok(rows) => Ok(rows),
    }
}

/// A GPU model's name reduced to lowercase letters and digits (`Tesla K80` → `teslak80`).
fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Everything wrong on a GPU machine (empty: fine), and warnings that do not stop it.
pub fn evaluate(
    host: &str,
    gpu: &GpuSku,
    probe: &Probe,
    docker: Option<&DockerRuntimes>,
) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    match interpret_smi(probe.smi_exit, &probe.smi_output) {
        Err(f) => findings.push(f),
        Ok(rows) => {
            if rows.len() != gpu.count as usize {
                let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
                findings.push(Finding {
                    found: format!(
                        "nvidia-smi lists {} GPU(s), not {}: {}",
                        rows.len(),
                        gpu.count,
                        names.join(", ")
                    ),
                    fix: format!(
                        "if a GPU is missing, look at `nvidia-smi -L` and `dmesg` (Xid, fallen off the bus) on the machine; if the machine has {} GPU(s), give it a machine-type whose `gpu.count` is {}",
                        rows.len(),
                        rows.len()
                    ),
                });
            }
            let want = squash(&gpu.model);
            if let Some(r) = rows.iter().find(|r| !squash(&r.name).contains(&want)) {
                warnings.push(format!(
                    "{host}: machine-sku {} says GPU type {}, nvidia-smi reports {}",
                    gpu.sku, gpu.model, r.name
                ));
            }
        }
    }
    if let Some(d) = docker {
        let names: Vec<&str> = d.runtimes.iter().map(|(n, _)| n.as_str()).collect();
        let default = d.default_runtime.as_deref().unwrap_or("runc");
        match d.nvidia() {
            None => {
                let cdi = if probe.cdi_specs.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; CDI specs for nvidia.com/gpu exist ({}), but cri-dockerd's releases pass no CDI device to Docker",
                        probe.cdi_specs.join(", ")
                    )
                };
                findings.push(Finding {
                    found: format!(
                        "Docker has no `nvidia` runtime (its runtimes: {}; default: {default}){cdi}",
                        names.join(", ")
                    ),
                    fix: TOOLKIT_FIX.into(),
                });
            }
            Some((_, path)) => {
                if probe.runtime_binary == Some(false) {
                    findings.push(Finding {
                        found: format!(
                            "Docker's `nvidia` runtime runs {}, which is not installed",
                            path.as_deref().unwrap_or("nvidia-container-runtime")
                        ),
                        fix: TOOLKIT_FIX.into(),
                    });
                } else if default != "nvidia" {
                    findings.push(Finding {
                        found: format!(
                            "Docker's default runtime is {default}, not nvidia: cri-dockerd cannot ask for another runtime per pod, so pods (the device plugin too) would not see the GPUs"
                        ),
                        fix: DEFAULT_FIX.into(),
                    });
                }
            }
        }
    }
    (findings, warnings)
}

/// All of a node's findings as one preflight error.
pub fn refusal(host: &str, gpu: &GpuSku, findings: &[Finding]) -> StepError {
    let found: Vec<&str> = findings.iter().map(|f| f.found.as_str()).collect();
    let mut fixes: Vec<&str> = Vec::new();
    for f in findings {
        if !fixes.contains(&f.fix.as_str()) {
            fixes.push(&f.fix);
        }
    }
    StepError::new(
        host,
        "preflight: GPU",
        format!(
            "machine-sku {} says {} GPU(s) ({}), but {}",
            gpu.sku,
            gpu.count,
            gpu.model,
            found.join("; ")
        ),
    )
    .hint(format!(
        "{}. If this machine has no NVIDIA GPU, give it a machine-type whose machine-sku entry has no `gpu` (cluster-configuration.yaml)",
        fixes.join("; then ")
    ))
}

/// Run the probe on a node.
pub async fn probe(node: &Node, docker: Option<&DockerRuntimes>) -> Result<Probe, StepError> {
    let bin = docker.and_then(|d| d.nvidia()).map(|(_, p)| {
        p.clone()
            .unwrap_or_else(|| "nvidia-container-runtime".into())
    });
    let script = probes::gpu(bin.as_deref());
    let session = node.session.clone();
    let out = blocking(move || session.run_root("gpu probe", &script, Duration::from_secs(60)))
        .await
        .map_err(|e| StepError::from_ssh(node.host(), "preflight: GPU probe", &e))?;
    let p = parse_probe(&out.stdout_str());
    node.log.line(&format!("gpu probe: {p:?}"));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(count: u32) -> GpuSku {
        GpuSku {
            sku: "NC24R".into(),
            model: "teslak80".into(),
            count,
        }
    }

    #[test]
    fn the_probe_output_is_read_back() {
        let p = parse_probe(
            "name, memory.total [MiB], driver_version\nTesla K80, 11441 MiB, 470.82.01\nk8s-manage-smi-exit=0\nk8s-manage-cdi=/etc/cdi/nvidia.yaml\nk8s-manage-runtime-binary=no\n",
        );
        assert_eq!(p.smi_exit, 0);
        assert_eq!(
            p.smi_output,
            "name, memory.total [MiB], driver_version\nTesla K80, 11441 MiB, 470.82.01"
        );
        assert_eq!(p.cdi_specs, ["/etc/cdi/nvidia.yaml"]);
        assert_eq!(p.runtime_binary, Some(false));
        let none = parse_probe("k8s-manage-smi-exit=127\n");
        assert_eq!((none.smi_exit, none.smi_output.as_str()), (127, ""));
        assert_eq!(none.runtime_binary, None);
    }

    #[test]
    fn the_probe_runs_in_sh_and_its_output_is_read_back() {
        let s = probes::gpu(Some("/opt/it's/nvidia-container-runtime"));
        // On this machine (no driver): nvidia-smi is missing, the runtime binary too.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&s)
            .output()
            .unwrap();
        assert!(out.status.success());
        let p = parse_probe(&String::from_utf8_lossy(&out.stdout));
        if p.smi_exit == 127 {
            assert_eq!(p.runtime_binary, Some(false));
        }
        assert!(p.smi_exit != -1, "{p:?}");
    }

    #[test]
    fn a_gpu_machine_without_anything_gets_every_finding_at_once() {
        let docker = DockerRuntimes {
            runtimes: vec![("runc".into(), Some("runc".into()))],
            default_runtime: Some("runc".into()),
        };
        let probe = parse_probe("k8s-manage-smi-exit=127\n");
        let (f, w) = evaluate("gpu-worker-1", &sku(4), &probe, Some(&docker));
        assert!(w.is_empty());
        let e = refusal("gpu-worker-1", &sku(4), &f);
        assert_eq!(
            e.message,
            "machine-sku NC24R says 4 GPU(s) (teslak80), but nvidia-smi is not installed; Docker has no `nvidia` runtime (its runtimes: runc; default: runc)"
        );
        let hint = e.hint.unwrap();
        assert!(hint.starts_with("install the NVIDIA driver"), "{hint}");
        assert!(
            hint.contains("; then install the NVIDIA Container Toolkit"),
            "{hint}"
        );
        assert!(hint.contains("\"default-runtime\": \"nvidia\""), "{hint}");
    }

    #[test]
    fn runtime_present_but_not_default_or_its_binary_missing() {
        let smi = "name, memory.total [MiB], driver_version\nTesla K80, 11441 MiB, 470.82.01\nk8s-manage-smi-exit=0\n";
        let mut docker = DockerRuntimes {
            runtimes: vec![
                ("nvidia".into(), Some("nvidia-container-runtime".into())),
                ("runc".into(), Some("runc".into())),
            ],
            default_runtime: Some("runc".into()),
        };
        let (f, _) = evaluate("n", &sku(1), &parse_probe(smi), Some(&docker));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].found
                .starts_with("Docker's default runtime is runc, not nvidia"),
            "{f:?}"
        );
        docker.default_runtime = Some("nvidia".into());
        let (f, w) = evaluate("n", &sku(1), &parse_probe(smi), Some(&docker));
        assert!(f.is_empty() && w.is_empty(), "{f:?} {w:?}");
        let missing = format!("{smi}k8s-manage-runtime-binary=no\n");
        let (f, _) = evaluate("n", &sku(1), &parse_probe(&missing), Some(&docker));
        assert_eq!(
            f[0].found,
            "Docker's `nvidia` runtime runs nvidia-container-runtime, which is not installed"
        );
    }

    #[test]
    fn cdi_specs_alone_are_named_but_not_enough() {
        let docker = DockerRuntimes {
            runtimes: vec![("runc".into(), None)],
            default_runtime: None,
        };
        let probe = parse_probe(
            "name, memory.total [MiB], driver_version\nTesla K80, 11441 MiB, 470.82.01\nk8s-manage-smi-exit=0\nk8s-manage-cdi=/var/run/cdi/nvidia.yaml\n",
        );
        let (f, _) = evaluate("n", &sku(1), &probe, Some(&docker));
        assert_eq!(
            f[0].found,
            "Docker has no `nvidia` runtime (its runtimes: runc; default: runc); CDI specs for nvidia.com/gpu exist (/var/run/cdi/nvidia.yaml), but cri-dockerd's releases pass no CDI device to Docker"
        );
    }

    #[test]
    fn header_columns_are_found_by_name() {
        let rows = parse_query_csv(
            "driver_version, name, memory.total [MiB]\n470.82.01, Tesla K80, [N/A]\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            [GpuRow {
                name: "Tesla K80".into(),
                memory: None,
                driver_version: "470.82.01".into()
            }]
        );
        assert!(
            parse_query_csv("Tesla K80, 11441 MiB, 470.82.01\n")
                .unwrap_err()
                .contains("is not the CSV header")
        );
        assert!(
            parse_query_csv("name, driver_version\nTesla K80\n")
                .unwrap_err()
                .contains("row 1 `Tesla K80` has 1 values, the header 2")
        );
        assert_eq!(parse_query_csv("").unwrap_err(), "no output");
    }
}
