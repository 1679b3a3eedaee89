//! Node-list files given with `-f`, in every form the original's users wrote them: the
//! later OpenPAI `machine-list:` list form, the OpenI / early OpenPAI `machinelist:` map
//! form, and the oldest form with `remote_deployment_role: worker` at the top of the file
//! (the default role of its entries).

use super::machines::{read_machine_list, read_machine_map};
use super::raw::RawMachine;
use super::reader::{Located, text};
use super::source::SourceFile;
use crate::diag::{Diagnostic, Diagnostics};
use std::path::Path;

/// The top-level key of the oldest node lists: the role of every entry without its own.
pub const DEFAULT_ROLE_KEY: &str = "remote_deployment_role";

/// A node list, read.
#[derive(Debug, Clone)]
pub struct NodeList {
    pub file: SourceFile,
    pub machines: Vec<RawMachine>,
    /// `remote_deployment_role: worker`, when the file has it (only `worker` is accepted).
    pub default_role: Option<Located<String>>,
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
    let default_role = read_default_role(&file, diags);
    if machines.is_empty() && !diags.has_errors() {
        diags.push(
            Diagnostic::error(file.at_file(), "the node list is empty")
                .fix("add at least one machine"),
        );
    }
    Some(NodeList {
        file,
        machines,
        default_role,
    })
}

/// `remote_deployment_role:` at the top of the file: `worker`, as in the original (which
/// deployed only workers from such a list); anything else is a located error.
fn read_default_role(file: &SourceFile, diags: &mut Diagnostics) -> Option<Located<String>> {
    let node = file.root.get(DEFAULT_ROLE_KEY)?;
    let role = text(file, node, DEFAULT_ROLE_KEY, diags)?;
    if role.value == "worker" {
        return Some(role);
    }
    diags.push(
        Diagnostic::error(
            role.at.clone(),
            format!(
                "`{DEFAULT_ROLE_KEY}: {}`: node lists of this form hold workers only",
                role.value
            ),
        )
        .fix(format!(
            "write `{DEFAULT_ROLE_KEY}: worker`, or delete it and give each entry its own `k8s-role` (`k8s-role: master` with an `etcdid` for a master)"
        )),
    );
    None
}
