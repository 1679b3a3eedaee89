//! Reading machine entries, shared by `machine-list` in cluster-configuration.yaml and by
//! node-list files (both the `machine-list:` list form and the OpenI `machinelist:` map form).

use super::raw::{RawDefaults, RawMachine};
use super::reader::{Located, mapping, text};
use super::source::SourceFile;
use super::yaml_tree::Node;
use crate::diag::{Diagnostic, Diagnostics};

/// Read one machine mapping. `name_from_key` is the map key in the OpenI form.
pub fn read_machine(
    file: &SourceFile,
    node: &Node,
    name_from_key: Option<Located<String>>,
    diags: &mut Diagnostics,
) -> Option<RawMachine> {
    let map = mapping(file, node, "a machine entry", diags)?;
    let mut m = RawMachine {
        at: Some(file.at(node.pos)),
        ..Default::default()
    };
    for (k, v) in map.entries() {
        let Some(key) = k.key_text() else {
            diags.push(
                Diagnostic::error(file.at(k.pos), "a machine key must be a plain name")
                    .fix("write `name: value`"),
            );
            continue;
        };
        let slot = match key.as_str() {
            "hostname" => &mut m.hostname,
            "hostip" => &mut m.hostip,
            "nodename" => &mut m.nodename,
            "sshport" => &mut m.sshport,
            "username" => &mut m.username,
            "password" => &mut m.password,
            "keyfile-path" => &mut m.keyfile_path,
            "ssh-agent" => &mut m.ssh_agent,
            "etcdid" => &mut m.etcdid,
            "k8s-role" => &mut m.k8s_role,
            "dashboard" => &mut m.dashboard,
            "machine-type" => &mut m.machine_type,
            "machinetype" => {
                diags.push(
                    Diagnostic::warning(file.at(k.pos), "`machinetype` is a known typo of `machine-type` (OpenPAI #664); read as `machine-type`")
                        .fix("rename the key to `machine-type`"),
                );
                &mut m.machine_type
            }
            _ => {
                m.extra.insert(key, v.to_json(&file.text));
                continue;
            }
        };
        *slot = if key == "dashboard" && v.is_null() {
            // `dashboard:` with no value still marks the node, as in the original.
            Some(Located::new("true".into(), file.at(k.pos)))
        } else {
            text(file, v, &key, diags)
        };
    }
    if m.hostname.is_none()
        && let Some(n) = name_from_key
    {
        m.hostname = Some(n);
        m.hostname_from_key = true;
    }
    Some(m)
}

/// Read `default-machine-properties`.
pub fn read_defaults(file: &SourceFile, node: &Node, diags: &mut Diagnostics) -> RawDefaults {
    let mut d = RawDefaults::default();
    let Some(map) = mapping(file, node, "`default-machine-properties`", diags) else {
        return d;
    };
    for (k, v) in map.entries() {
        let key = k.key_text().unwrap_or_default();
        let slot = match key.as_str() {
            "username" => &mut d.username,
            "password" => &mut d.password,
            "sshport" => &mut d.sshport,
            "keyfile-path" => &mut d.keyfile_path,
            "ssh-agent" => &mut d.ssh_agent,
            _ => {
                diags.push(
                    Diagnostic::warning(
                        file.at(k.pos),
                        format!("unknown key `{key}` in default-machine-properties is ignored"),
                    )
                    .fix(format!(
                        "known keys: {}",
                        super::keys::names(super::keys::DEFAULT_MACHINE_KEYS).join(", ")
                    )),
                );
                continue;
            }
        };
        *slot = text(file, v, &key, diags);
    }
    d
}

/// Read a list of machine entries (`machine-list:` form).
pub fn read_machine_list(
    file: &SourceFile,
    node: &Node,
    diags: &mut Diagnostics,
) -> Vec<RawMachine> {
    let Some(items) = super::reader::list(file, node, "`machine-list`", diags) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|n| read_machine(file, n, None, diags))
        .collect()
}

/// Read the OpenI `machinelist:` map form: `name: {nodename, hostip, ...}`.
pub fn read_machine_map(
    file: &SourceFile,
    node: &Node,
    diags: &mut Diagnostics,
) -> Vec<RawMachine> {
    let Some(map) = mapping(file, node, "`machinelist`", diags) else {
        return Vec::new();
    };
    map.entries()
        .iter()
        .filter_map(|(k, v)| {
            let name = k.key_text().map(|s| Located::new(s, file.at(k.pos)));
            read_machine(file, v, name, diags)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::{DEFAULT_MACHINE_KEYS, MACHINE_KEYS};
    use crate::config::source::SourceFile;

    fn parse(text: &str) -> (SourceFile, Diagnostics) {
        let mut d = Diagnostics::default();
        let f = SourceFile::parse("t.yaml".into(), "t.yaml".into(), text.into(), &mut d).unwrap();
        (f, d)
    }

    #[test]
    fn every_key_of_the_tables_is_read_and_no_other() {
        // each known machine key lands in its field, never in `extra`
        let body: String = MACHINE_KEYS
            .iter()
            .map(|k| format!("{}: \"1\"\n", k.name))
            .collect();
        let (f, mut d) = parse(&body);
        let m = read_machine(&f, &f.root, None, &mut d).unwrap();
        assert!(m.extra.is_empty(), "{:?}", m.extra);
        // and every key the defaults accept is in the table: no warning for them
        let body: String = DEFAULT_MACHINE_KEYS
            .iter()
            .map(|k| format!("{}: \"1\"\n", k.name))
            .collect();
        let (f, mut d) = parse(&body);
        read_defaults(&f, &f.root, &mut d);
        assert!(
            d.list.iter().all(|x| !x.message.contains("unknown key")),
            "{d:?}"
        );
        let (f, mut d) = parse("colour: blue\n");
        read_defaults(&f, &f.root, &mut d);
        assert!(d.list[0].message.contains("unknown key"));
    }
}
