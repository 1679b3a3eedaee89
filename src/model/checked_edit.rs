//! Membership edits of `cluster-configuration.yaml` held against the model: the cluster an
//! edit would describe, and the write-back that keeps the new file only when it validates
//! with exactly the expected machines (the text edit itself is `config::write_back`).

use super::{Cluster, build};
use crate::config::write_back::{self, NewEntry, Written};
use crate::diag::Diagnostics;
use std::collections::BTreeSet;
use std::path::Path;

/// The cluster the edited config would describe, validated (nothing is written).
pub fn preview(dir: &Path, add: &[NewEntry], remove: &[String]) -> Result<Cluster, String> {
    let mut diags = Diagnostics::default();
    let raw = write_back::edited_raw(dir, add, remove, &mut diags)?;
    let cluster = build::build(&raw, &mut diags);
    match cluster {
        Some(c) if !diags.has_errors() => Ok(c),
        _ => Err(diags.render_text(false)),
    }
}

/// Apply the change to `DIR/cluster-configuration.yaml`: backup, atomic write, re-load and
/// validate (the machine set must be the old one minus `remove` plus `add`), else the
/// backup is put back and the error says why.
pub fn write_back(dir: &Path, add: &[NewEntry], remove: &[String]) -> Result<Written, String> {
    write_back::write_back_checked(dir, add, remove, machines)
}

/// The hostnames of the config dir's machines, or its diagnostics when it does not validate.
fn machines(dir: &Path) -> Result<BTreeSet<String>, String> {
    build::load(dir)
        .map(|l| {
            l.cluster
                .machines
                .iter()
                .map(|m| m.hostname.clone())
                .collect()
        })
        .map_err(|d| d.render_text(false))
}
