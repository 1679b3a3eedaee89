//! Interpreting machine entries: defaults merged in, addresses, ports, roles, SSH
//! credentials, placeholders left from the examples, and duplicates across machines.

use super::{Machine, Role, Secret, SshSettings};
use crate::config::raw::{RawDefaults, RawMachine};
use crate::config::reader::Located;
use crate::diag::{At, Diagnostic, Diagnostics};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Does a value look like a placeholder left from the OpenPAI examples?
pub fn is_placeholder(v: &str) -> bool {
    let t = v.trim();
    let lower = t.to_ascii_lowercase();
    t.contains('`')
        || lower.contains("(echo")
        || (t.starts_with('<') && t.ends_with('>'))
        || matches!(
            lower.as_str(),
            "ip" | "port" | "hostname" | "username" | "password" | "etcdid" | "nodename"
        )
        || lower.contains("(optional)")
}

fn placeholder_diag(l: &Located<String>, key: &str, example: &str) -> Diagnostic {
    Diagnostic::error(
        l.at.clone(),
        format!("`{key}: {}` is still the example's placeholder", l.value),
    )
    .fix(format!(
        "write this machine's real {key}, e.g. `{key}: {example}`"
    ))
}

/// One machine's settings after merging defaults, or `None` when it is unusable.
pub fn build_machine(
    raw: &RawMachine,
    defaults: &RawDefaults,
    config_dir: &Path,
    fallback_at: &At,
    diags: &mut Diagnostics,
) -> Option<Machine> {
    let entry_at = raw.at.clone().unwrap_or_else(|| fallback_at.clone());
    let before = diags.errors().count();

    let hostname = match &raw.hostname {
        None => {
            diags.push(
                Diagnostic::error(entry_at.clone(), "this machine has no `hostname`")
                    .fix("add `hostname: <the output of hostname on that machine>`"),
            );
            None
        }
        Some(l) if is_placeholder(&l.value) => {
            diags.push(placeholder_diag(l, "hostname", "node-01"));
            None
        }
        Some(l) if !valid_hostname(&l.value) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`hostname: {}` is not a valid host name", l.value),
                )
                .fix("use letters, digits, '-' and '.', as `hostname` prints on the machine"),
            );
            None
        }
        Some(l) => Some(l.value.clone()),
    };

    let hostip = match &raw.hostip {
        None => {
            diags.push(
                Diagnostic::error(entry_at.clone(), "this machine has no `hostip`")
                    .fix("add `hostip: <its IPv4 address>`"),
            );
            None
        }
        Some(l) => match l.value.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`hostip: {}` cannot be a machine's address", l.value),
                    )
                    .fix("write the address the machine answers SSH on"),
                );
                None
            }
            Ok(ip) => Some(ip),
            Err(_) if is_placeholder(&l.value) => {
                diags.push(placeholder_diag(l, "hostip", "10.0.0.11"));
                None
            }
            Err(_) => {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`hostip: {}` is not an IP address", l.value),
                    )
                    .fix("write the machine's address, e.g. `hostip: 10.0.0.11`"),
                );
                None
            }
        },
    };

    let role = match &raw.k8s_role {
        None => {
            diags.push(
                Diagnostic::error(entry_at.clone(), "this machine has no `k8s-role`")
                    .fix("add `k8s-role: master`, `worker` or `proxy`"),
            );
            None
        }
        Some(l) => match Role::parse(&l.value) {
            Some(r) => Some(r),
            None => {
                diags.push(
                    Diagnostic::error(l.at.clone(), format!("unknown `k8s-role: {}`", l.value))
                        .fix("write `k8s-role: master`, `worker` or `proxy`"),
                );
                None
            }
        },
    };

    let etcdid = match (&raw.etcdid, role) {
        (Some(l), Some(Role::Master)) if l.value.is_empty() || l.value == "etcdid" => {
            diags.push(placeholder_diag(l, "etcdid", "etcd1"));
            None
        }
        (Some(l), Some(Role::Master)) if !valid_etcd_name(&l.value) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`etcdid: {}` is not a usable etcd member name", l.value),
                )
                .fix("use letters, digits, '-', '_' and '.', e.g. `etcdid: etcd1`"),
            );
            None
        }
        (Some(l), Some(Role::Master)) => Some(l.value.clone()),
        (None, Some(Role::Master)) => {
            diags.push(
                Diagnostic::error(
                    entry_at.clone(),
                    "a master needs an `etcdid` (its etcd member name)",
                )
                .fix("add `etcdid: etcd1` (unique per master)"),
            );
            None
        }
        (Some(l), Some(_)) => {
            diags.push(
                Diagnostic::warning(
                    l.at.clone(),
                    "`etcdid` is ignored on a machine that is not a master",
                )
                .fix("delete it, or make the machine `k8s-role: master`"),
            );
            None
        }
        _ => None,
    };

    let nodename = match &raw.nodename {
        Some(l) if is_placeholder(&l.value) => {
            diags.push(placeholder_diag(l, "nodename", "10.0.0.11"));
            None
        }
        Some(l) if !valid_node_name(&l.value) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!(
                        "`nodename: {}` is not a valid Kubernetes node name",
                        l.value
                    ),
                )
                .fix("use lowercase letters, digits, '-' and '.'"),
            );
            None
        }
        Some(l) => Some(l.value.clone()),
        None => hostip.map(|ip| ip.to_string()),
    };

    let ssh = build_ssh(raw, defaults, config_dir, &entry_at, diags);

    let dashboard = match &raw.dashboard {
        None => false,
        Some(l) => !matches!(l.value.to_ascii_lowercase().as_str(), "false" | "no" | "0"),
    };

    if diags.errors().count() > before {
        return None;
    }
    Some(Machine {
        hostname: hostname?,
        hostip: hostip?,
        nodename: nodename?,
        role: role?,
        etcdid,
        dashboard,
        machine_type: raw.machine_type.as_ref().map(|l| l.value.clone()),
        ssh: ssh?,
        extra: raw.extra.clone(),
        at: raw.at.clone(),
        hostip_at: raw.hostip.as_ref().map(|l| l.at.clone()),
    })
}

/// Check `default-machine-properties` once (machines that inherit a bad value are then
/// refused without repeating the same diagnostic for each of them).
pub fn check_defaults(d: &RawDefaults, config_dir: &Path, file_at: &At, diags: &mut Diagnostics) {
    let probe = RawMachine::default();
    let mut local = Diagnostics::default();
    let _ = build_ssh_inner(&probe, d, config_dir, file_at, &mut local, false);
    for diag in local.list {
        diags.push(diag);
    }
}

fn build_ssh(
    raw: &RawMachine,
    d: &RawDefaults,
    config_dir: &Path,
    entry_at: &At,
    diags: &mut Diagnostics,
) -> Option<SshSettings> {
    let mut local = Diagnostics::default();
    let r = build_ssh_inner(raw, d, config_dir, entry_at, &mut local, true);
    // Problems of inherited default values were reported once by `check_defaults`.
    let inherited: Vec<&At> = [
        &d.username,
        &d.password,
        &d.sshport,
        &d.keyfile_path,
        &d.ssh_agent,
    ]
    .into_iter()
    .flatten()
    .map(|l| &l.at)
    .collect();
    for diag in local.list {
        if !inherited.contains(&&diag.at) {
            diags.push(diag);
        }
    }
    r
}

fn build_ssh_inner(
    raw: &RawMachine,
    d: &RawDefaults,
    config_dir: &Path,
    entry_at: &At,
    diags: &mut Diagnostics,
    require_credential: bool,
) -> Option<SshSettings> {
    let pick = |own: &Option<Located<String>>, def: &Option<Located<String>>| {
        own.clone().or_else(|| def.clone())
    };
    let mut ok = true;

    let port = match pick(&raw.sshport, &d.sshport) {
        None => 22,
        Some(l) => match l.value.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ if is_placeholder(&l.value) => {
                diags.push(placeholder_diag(&l, "sshport", "22"));
                ok = false;
                22
            }
            _ => {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`sshport: {}` is not a TCP port (1-65535)", l.value),
                    )
                    .fix("write the SSH port, usually `sshport: 22`"),
                );
                ok = false;
                22
            }
        },
    };

    let username = match pick(&raw.username, &d.username) {
        None => "root".to_string(),
        Some(l) if l.value == "username" || l.value.starts_with('<') => {
            diags.push(placeholder_diag(&l, "username", "root"));
            ok = false;
            String::new()
        }
        Some(l) if l.value.is_empty() || l.value.contains(char::is_whitespace) => {
            diags.push(
                Diagnostic::error(l.at.clone(), "`username` must be a login name")
                    .fix("write e.g. `username: root`"),
            );
            ok = false;
            String::new()
        }
        Some(l) => l.value,
    };

    let password = match pick(&raw.password, &d.password) {
        Some(l) if l.value == "password" || l.value.starts_with('<') => {
            diags.push(
                Diagnostic::error(l.at.clone(), "`password` is still the example's placeholder")
                    .fix("write the real password, or better delete it and set `keyfile-path` to an SSH private key"),
            );
            ok = false;
            None
        }
        Some(l) if l.value.is_empty() => None,
        Some(l) => Some(Secret::new(l.value)),
        None => None,
    };

    let keyfile = match pick(&raw.keyfile_path, &d.keyfile_path) {
        None => None,
        Some(l) => {
            let expanded = expand_home(&l.value);
            let path = if expanded.is_absolute() {
                expanded
            } else {
                config_dir.join(expanded)
            };
            match std::fs::metadata(&path) {
                Err(_) => {
                    diags.push(
                        Diagnostic::error(l.at.clone(), format!("the SSH key file {} does not exist", path.display()))
                            .fix("write the path of an existing private key (absolute, or relative to the config dir)"),
                    );
                    ok = false;
                }
                Ok(meta) => {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o077 != 0 {
                        diags.push(
                            Diagnostic::warning(
                                l.at.clone(),
                                format!(
                                    "the SSH key file {} can be read by others",
                                    path.display()
                                ),
                            )
                            .fix(format!("run `chmod 600 {}`", path.display())),
                        );
                    }
                }
            }
            Some(path)
        }
    };

    let agent = match pick(&raw.ssh_agent, &d.ssh_agent) {
        None => false,
        Some(l) => match l.value.as_str() {
            "true" => true,
            "false" => false,
            _ => {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`ssh-agent: {}` must be true or false", l.value),
                    )
                    .fix("write `ssh-agent: true`"),
                );
                ok = false;
                false
            }
        },
    };

    if require_credential && ok && password.is_none() && keyfile.is_none() && !agent {
        diags.push(
            Diagnostic::error(entry_at.clone(), "no SSH credential for this machine")
                .fix("set `keyfile-path` (recommended) or `password` here or in default-machine-properties, or `ssh-agent: true`"),
        );
        ok = false;
    }
    ok.then_some(SshSettings {
        port,
        username,
        password,
        keyfile,
        agent,
    })
}

fn expand_home(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    PathBuf::from(p)
}

fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.len() <= 63
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn valid_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn valid_etcd_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Report values that must be unique across machines (hostname, hostip, nodename, etcdid).
pub fn check_duplicates(raws: &[&RawMachine], diags: &mut Diagnostics) {
    type Getter = fn(&RawMachine) -> Option<&Located<String>>;
    let fields: [(&str, Getter); 3] = [
        ("hostname", |m| m.hostname.as_ref()),
        ("hostip", |m| m.hostip.as_ref()),
        ("etcdid", |m| m.etcdid.as_ref()),
    ];
    for (name, get) in fields {
        let mut seen: HashMap<String, At> = HashMap::new();
        for m in raws {
            let Some(l) = get(m) else { continue };
            if is_placeholder(&l.value) {
                continue; // already reported as a placeholder
            }
            let key = if name == "hostname" {
                l.value.to_ascii_lowercase()
            } else {
                l.value.clone()
            };
            if let Some(first) = seen.get(&key) {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!(
                            "duplicate {name} `{}`: another machine already uses it",
                            l.value
                        ),
                    )
                    .related(first.clone())
                    .fix(format!("give every machine its own {name}")),
                );
            } else {
                seen.insert(key, l.at.clone());
            }
        }
    }
    // nodename defaults to hostip, so compare the effective names.
    let mut names: HashMap<String, At> = HashMap::new();
    for m in raws {
        let (val, at) = match (&m.nodename, &m.hostip) {
            (Some(l), _) => (l.value.clone(), l.at.clone()),
            (None, Some(ip)) => (ip.value.clone(), ip.at.clone()),
            _ => continue,
        };
        if is_placeholder(&val) {
            continue;
        }
        if let Some(first) = names.get(&val) {
            let msg = if m.nodename.is_none() {
                format!(
                    "this machine's node name defaults to its hostip `{val}`, which another machine already uses as node name"
                )
            } else {
                format!("duplicate nodename `{val}`: another machine already uses it")
            };
            diags.push(
                Diagnostic::error(at, msg)
                    .related(first.clone())
                    .fix("give every machine its own `nodename`"),
            );
        } else {
            names.insert(val, at);
        }
    }
}
