//! `cluster-configuration.yaml`: default machine properties, SKUs and the machine list.

use super::machines::{read_defaults, read_machine_list};
use super::raw::RawClusterFile;
use super::source::SourceFile;
use crate::diag::{Diagnostic, Diagnostics};

pub fn read(file: &SourceFile, diags: &mut Diagnostics) -> RawClusterFile {
    let mut out = RawClusterFile::default();
    let root = &file.root;
    if root.is_null() {
        diags.push(
            Diagnostic::error(file.at_file(), "the file is empty")
                .fix("add `default-machine-properties:` and `machine-list:` (see cluster-configuration/ examples)"),
        );
        return out;
    }
    if super::reader::mapping(
        file,
        root,
        "the top level of cluster-configuration.yaml",
        diags,
    )
    .is_none()
    {
        return out;
    }
    let mut saw_list = false;
    for (k, v) in root.entries() {
        match k.key_text().as_deref() {
            Some("default-machine-properties") => out.defaults = read_defaults(file, v, diags),
            Some("machine-list") => {
                saw_list = true;
                out.machines = read_machine_list(file, v, diags);
            }
            Some("machine-sku") => {
                out.machine_sku = v.to_json(&file.text);
                (out.sku_names, out.gpu_skus) = super::machine_sku::read(file, v, diags);
            }
            Some(other) => {
                out.extra.insert(other.to_string(), v.to_json(&file.text));
            }
            None => {}
        }
    }
    if !saw_list {
        diags.push(
            Diagnostic::error(file.at_file(), "`machine-list` is missing")
                .fix("add `machine-list:` with one `- hostname: ... hostip: ... k8s-role: ...` entry per machine"),
        );
    }
    out
}
