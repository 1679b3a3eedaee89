//! Node-list files given with `-f`: the later OpenPAI `machine-list:` list form and the
//! OpenI / early OpenPAI `machinelist:` map form.

use super::machines::{read_machine_list, read_machine_map};
use super::raw::RawMachine;
use super::source::SourceFile;
use crate::diag::{Diagnostic, Diagnostics};
use std::path::Path;

/// A node list, read.
#[derive(Debug, Clone)]
pub struct NodeList {
    pub file: SourceFile,
    pub machines: Vec<RawMachine>,
}

pub fn read(path: &Path, diags: &mut Diagnostics) -> Option<NodeList> {
    let file = SourceFile::read(path, diags)?;
    let machines = if let Some(list) = file.root.get("machine-list") {
        read_machine_list(&file, list, diags)
    } else if let Some(map) = file.root.get("machinelist") {
        read_machine_map(&file, map, diags)
    } else {
        diags.push(
            Diagnostic::error(file.at_file(), "a node list needs `machine-list:` (a list) or `machinelist:` (a map)")
                .fix("write `machine-list:` followed by `- hostname: ... hostip: ... k8s-role: ...` entries"),
        );
        Vec::new()
    };
    if machines.is_empty() && !diags.has_errors() {
        diags.push(
            Diagnostic::error(file.at_file(), "the node list is empty")
                .fix("add at least one machine"),
        );
    }
    Some(NodeList { file, machines })
}
