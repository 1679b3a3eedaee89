//! GPU machines: the `gpu: {type, count}` of each `machine-sku` entry, checked, and the node
//! labels a machine of such a kind carries. A machine is a GPU node when its `machine-type`
//! names a SKU with `gpu` (the original's rule: "presence = GPU machine").

use super::{Cluster, Machine};
use crate::config::raw::{RawGpuSku, RawMachine};
use crate::config::reader::Located;
use crate::diag::{Diagnostic, Diagnostics};
use serde::Serialize;
use std::collections::BTreeMap;

/// Prefix of the node labels k8s-manage owns.
pub const LABEL_PREFIX: &str = "k8s-manage.io/";
/// Node label: the SKU's GPU type (`teslak80`).
pub const LABEL_GPU_TYPE: &str = "k8s-manage.io/gpu-type";
/// Node label: the SKU's GPU count (`"4"`). The device plugin runs on nodes that have it.
pub const LABEL_GPU_COUNT: &str = "k8s-manage.io/gpu-count";
/// The original's label for GPU machines (OpenPAI `node-label.sh`: `machinetype=gpu`).
pub const LABEL_MACHINETYPE: &str = "machinetype";
/// The extended resource NVIDIA's device plugin advertises.
pub const RESOURCE: &str = "nvidia.com/gpu";
/// The most GPUs a machine kind may say it has.
pub const MAX_COUNT: u32 = 64;

/// The GPUs of one hardware kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuSku {
    /// The `machine-sku` name, e.g. `NC24R`.
    pub sku: String,
    /// `gpu.type`, e.g. `teslak80`.
    pub model: String,
    /// `gpu.count`: GPUs per machine.
    pub count: u32,
}

/// The SKUs with a usable `gpu:`; every problem goes to `diags`. Machines whose
/// `machine-type` names no SKU get a warning (a typo there silently makes a GPU server a
/// plain node).
pub fn build(
    raw: &[RawGpuSku],
    sku_names: &[Located<String>],
    machines: &[RawMachine],
    diags: &mut Diagnostics,
) -> BTreeMap<String, GpuSku> {
    let mut out = BTreeMap::new();
    for g in raw {
        let model = match &g.gpu_type {
            None => {
                diags.push(
                    Diagnostic::error(
                        g.at.clone(),
                        format!("`machine-sku.{}.gpu` has no `type`", g.sku.value),
                    )
                    .fix("add `type: <GPU model>` under `gpu:`, e.g. `type: teslak80`"),
                );
                None
            }
            Some(l) => match check_label_value(&l.value) {
                Ok(()) => Some(l.value.clone()),
                Err(why) => {
                    diags.push(
                        Diagnostic::error(
                            l.at.clone(),
                            format!("GPU `type: {}` cannot be a node label value: {why}", l.value),
                        )
                        .fix("write the model in letters, digits, `-`, `_` and `.`, e.g. `type: teslak80` or `type: a100-80gb`"),
                    );
                    None
                }
            },
        };
        let count = match &g.count {
            None => {
                diags.push(
                    Diagnostic::error(
                        g.at.clone(),
                        format!("`machine-sku.{}.gpu` has no `count`", g.sku.value),
                    )
                    .fix("add `count: <GPUs per machine>` under `gpu:`, e.g. `count: 4`"),
                );
                None
            }
            Some(l) => match l.value.parse::<u32>() {
                Ok(n) if (1..=MAX_COUNT).contains(&n) => Some(n),
                _ => {
                    diags.push(
                        Diagnostic::error(
                            l.at.clone(),
                            format!(
                                "GPU `count: {}` must be a whole number from 1 to {MAX_COUNT}",
                                l.value
                            ),
                        )
                        .fix("write how many GPUs each machine of this kind has (`nvidia-smi -L | wc -l`), or delete `gpu:` for machines without one"),
                    );
                    None
                }
            },
        };
        if let (Some(model), Some(count)) = (model, count) {
            out.insert(
                g.sku.value.clone(),
                GpuSku {
                    sku: g.sku.value.clone(),
                    model,
                    count,
                },
            );
        }
    }
    for m in machines {
        let Some(t) = &m.machine_type else { continue };
        if sku_names.iter().any(|s| s.value == t.value) {
            continue;
        }
        let known: Vec<&str> = sku_names.iter().map(|s| s.value.as_str()).collect();
        let fix = if known.is_empty() {
            "add the kind under `machine-sku:` (with `gpu: {type, count}` for a GPU server), or delete `machine-type`".to_string()
        } else {
            format!("write one of: {}", known.join(", "))
        };
        diags.push(
            Diagnostic::warning(
                t.at.clone(),
                format!(
                    "`machine-type: {}` names no entry of `machine-sku`",
                    t.value
                ),
            )
            .fix(fix),
        );
    }
    out
}

impl Cluster {
    /// The GPUs of a machine: those of the SKU its `machine-type` names, if that SKU has `gpu`.
    pub fn gpu_of(&self, m: &Machine) -> Option<&GpuSku> {
        self.gpu_skus.get(m.machine_type.as_deref()?)
    }

    /// The GPU machines, in config order.
    pub fn gpu_machines(&self) -> impl Iterator<Item = (&Machine, &GpuSku)> {
        self.machines
            .iter()
            .filter_map(|m| self.gpu_of(m).map(|g| (m, g)))
    }
}

/// The labels a node carries because of its GPUs (none for a machine without).
pub fn node_labels(gpu: Option<&GpuSku>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(g) = gpu {
        out.insert(LABEL_GPU_TYPE.to_string(), g.model.clone());
        out.insert(LABEL_GPU_COUNT.to_string(), g.count.to_string());
        out.insert(LABEL_MACHINETYPE.to_string(), "gpu".to_string());
    }
    out
}

/// Labels of ours that a node should no longer carry (its SKU lost `gpu`, or it names
/// another kind): only our own prefix; `machinetype` may be someone else's and is left.
pub fn stale_labels<'a>(
    wanted: &BTreeMap<String, String>,
    current: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    current
        .filter(|k| k.starts_with(LABEL_PREFIX) && k[LABEL_PREFIX.len()..].starts_with("gpu-"))
        .filter(|k| !wanted.contains_key(*k))
        .cloned()
        .collect()
}

/// A Kubernetes label value: at most 63 letters, digits, `-`, `_` and `.`, beginning and
/// ending with a letter or digit.
fn check_label_value(value: &str) -> Result<(), &'static str> {
    let b = value.as_bytes();
    if b.is_empty() {
        return Err("it is empty");
    }
    if b.len() > 63 {
        return Err("label values are at most 63 characters");
    }
    let edge = |c: u8| c.is_ascii_alphanumeric();
    if !edge(b[0])
        || !edge(b[b.len() - 1])
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err(
            "label values are letters, digits, `-`, `_` and `.`, beginning and ending with a letter or digit",
        );
    }
    Ok(())
}

/// A validated cluster in the OpenI layout for unit tests: master `m1` (D8SV3, no GPU) and
/// `gpu-worker-1` (NC24R: 4 × teslak80, node name 10.0.0.21).
#[cfg(test)]
pub(crate) mod testing {
    use crate::model::Cluster;

    pub fn openi_cluster() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "k").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(
            dir.path().join("cluster-configuration.yaml"),
            format!(
                "default-machine-properties:\n  keyfile-path: {}\nmachine-sku:\n  NC24R:\n    gpu:\n      type: teslak80\n      count: 4\n  D8SV3:\n    mem: 32\nmachine-list:\n  - hostname: m1\n    hostip: 10.0.0.11\n    k8s-role: master\n    etcdid: etcd1\n    machine-type: D8SV3\n  - hostname: gpu-worker-1\n    hostip: 10.0.0.21\n    k8s-role: worker\n    machine-type: NC24R\n",
                key.display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("kubernetes-configuration.yaml"),
            "kubernetes:\n  kubelet-image: r.example/hyperkube:v1.36.1\n",
        )
        .unwrap();
        let loaded = crate::model::build::load(dir.path())
            .unwrap_or_else(|d| panic!("{}", d.render_text(false)));
        loaded.cluster
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::At;
    use std::sync::Arc;

    fn loc(v: &str, line: u32) -> Located<String> {
        let file: Arc<str> = Arc::from("cluster-configuration.yaml");
        let mut at = At::file(&file);
        at.line = Some(line);
        at.column = Some(7);
        Located::new(v.to_string(), at)
    }

    fn raw(sku: &str, t: Option<&str>, count: Option<&str>) -> RawGpuSku {
        RawGpuSku {
            sku: loc(sku, 1),
            at: loc("gpu", 2).at,
            gpu_type: t.map(|t| loc(t, 3)),
            count: count.map(|c| loc(c, 4)),
        }
    }

    #[test]
    fn the_openi_example_sku_is_a_gpu_kind() {
        let mut d = Diagnostics::default();
        let skus = build(
            &[raw("NC24R", Some("teslak80"), Some("4"))],
            &[loc("NC24R", 1), loc("D8SV3", 9)],
            &[],
            &mut d,
        );
        assert!(!d.has_errors());
        assert_eq!(
            skus["NC24R"],
            GpuSku {
                sku: "NC24R".into(),
                model: "teslak80".into(),
                count: 4
            }
        );
        assert!(!skus.contains_key("D8SV3"));
    }

    #[test]
    fn bad_gpu_entries_are_located_errors() {
        let mut d = Diagnostics::default();
        let skus = build(
            &[
                raw("A", None, Some("2")),
                raw("B", Some("tesla k80"), Some("2")),
                raw("C", Some("v100"), Some("0")),
                raw("D", Some("v100"), Some("four")),
                raw("E", Some("v100"), None),
            ],
            &[],
            &[],
            &mut d,
        );
        assert!(skus.is_empty());
        let msgs: Vec<String> = d
            .errors()
            .map(|e| format!("{}: {}", e.at, e.message))
            .collect();
        assert_eq!(msgs.len(), 5, "{msgs:?}");
        assert!(
            msgs[0].contains("`machine-sku.A.gpu` has no `type`"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains(
                "cluster-configuration.yaml:3:7: GPU `type: tesla k80` cannot be a node label value"
            ),
            "{msgs:?}"
        );
        assert!(
            msgs[2].contains(":4:7: GPU `count: 0` must be a whole number from 1 to 64"),
            "{msgs:?}"
        );
        assert!(msgs[3].contains("`count: four`"), "{msgs:?}");
        assert!(
            msgs[4].contains("`machine-sku.E.gpu` has no `count`"),
            "{msgs:?}"
        );
    }

    #[test]
    fn a_machine_type_naming_no_sku_is_a_warning() {
        let mut d = Diagnostics::default();
        let m = RawMachine {
            machine_type: Some(loc("NC42R", 30)),
            ..Default::default()
        };
        build(&[], &[loc("NC24R", 1)], &[m], &mut d);
        let w: Vec<_> = d.warnings().collect();
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].message,
            "`machine-type: NC42R` names no entry of `machine-sku`"
        );
        assert_eq!(w[0].fix.as_deref(), Some("write one of: NC24R"));
    }

    #[test]
    fn labels_of_a_gpu_node_and_the_stale_ones() {
        let g = GpuSku {
            sku: "NC24R".into(),
            model: "teslak80".into(),
            count: 4,
        };
        let l = node_labels(Some(&g));
        assert_eq!(l[LABEL_GPU_TYPE], "teslak80");
        assert_eq!(l[LABEL_GPU_COUNT], "4");
        assert_eq!(l[LABEL_MACHINETYPE], "gpu");
        assert!(node_labels(None).is_empty());
        let current = [
            LABEL_GPU_TYPE.to_string(),
            LABEL_GPU_COUNT.to_string(),
            "machinetype".to_string(),
            "k8s-manage.io/other".to_string(),
            "node-role.kubernetes.io/worker".to_string(),
        ];
        assert_eq!(
            stale_labels(&node_labels(None), current.iter()),
            [LABEL_GPU_TYPE, LABEL_GPU_COUNT]
        );
        assert!(stale_labels(&l, current.iter()).is_empty());
    }
}
