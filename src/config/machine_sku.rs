//! `machine-sku` in cluster-configuration.yaml: the names of the hardware kinds, and each
//! kind's `gpu: {type, count}` as located values. Everything else of an entry (`mem`, `cpu`,
//! `os`, `dataFolder`) is kept as written for the services and not read here.

use super::keys::{GPU_SKU_KEYS, names};
use super::raw::RawGpuSku;
use super::reader::{Located, mapping, text};
use super::source::SourceFile;
use super::yaml_tree::Node;
use crate::diag::{Diagnostic, Diagnostics};

/// The SKU names, and the `gpu:` mapping of each SKU that has one.
pub fn read(
    file: &SourceFile,
    node: &Node,
    diags: &mut Diagnostics,
) -> (Vec<Located<String>>, Vec<RawGpuSku>) {
    let mut skus = Vec::new();
    let mut gpus = Vec::new();
    let Some(map) = mapping(file, node, "`machine-sku`", diags) else {
        return (skus, gpus);
    };
    for (k, v) in map.entries() {
        let Some(name) = k.key_text() else { continue };
        let sku = Located::new(name, file.at(k.pos));
        skus.push(sku.clone());
        let Some((gk, gv)) = v.get_entry("gpu") else {
            continue;
        };
        let at = file.at(gk.pos);
        if gv.is_null() {
            // `gpu:` with nothing under it: no GPU said, as in the original.
            continue;
        }
        let Some(gmap) = mapping(file, gv, &format!("`machine-sku.{}.gpu`", sku.value), diags)
        else {
            continue;
        };
        let mut gpu = RawGpuSku {
            sku: sku.clone(),
            at,
            gpu_type: None,
            count: None,
        };
        for (fk, fv) in gmap.entries() {
            let field = fk.key_text().unwrap_or_default();
            match field.as_str() {
                "type" => gpu.gpu_type = text(file, fv, "type", diags),
                "count" => gpu.count = text(file, fv, "count", diags),
                _ => diags.push(
                    Diagnostic::warning(
                        file.at(fk.pos),
                        format!(
                            "unknown key `{field}` under `machine-sku.{}.gpu` is ignored",
                            sku.value
                        ),
                    )
                    .fix(format!("known keys: {}", names(GPU_SKU_KEYS).join(", "))),
                ),
            }
        }
        gpus.push(gpu);
    }
    (skus, gpus)
}
