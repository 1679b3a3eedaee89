//! `k8s-role-definition.yaml` (optional): only the role names matter, as in the original
//! of this era; the component lists are accepted and not used.

use super::raw::RawRoles;
use super::reader::{Located, mapping};
use super::source::SourceFile;
use crate::diag::{Diagnostic, Diagnostics};

pub fn read(file: &SourceFile, diags: &mut Diagnostics) -> RawRoles {
    let mut out = RawRoles::default();
    let Some(roles) = file.root.get("k8s-role") else {
        diags.push(
            Diagnostic::warning(
                file.at_file(),
                "no `k8s-role:` section; the default roles master, worker and proxy are used",
            )
            .fix("delete the file, or define `k8s-role:` with master, worker and proxy"),
        );
        return out;
    };
    if let Some(map) = mapping(file, roles, "`k8s-role`", diags) {
        for (k, _) in map.entries() {
            if let Some(name) = k.key_text() {
                out.roles.push(Located::new(name, file.at(k.pos)));
            }
        }
    }
    out
}
