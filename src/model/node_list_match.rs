//! Node-list entries read the way the original read them.
//!
//! - For actions on machines of the cluster (`repair`, `remove`, `etcdfix`) an entry names
//!   one machine of `cluster-configuration.yaml` by `hostname`, `nodename` or `hostip` (or,
//!   in the `machinelist:` map form, by its key); the keys it leaves out are that machine's,
//!   the keys it gives must agree with it, and the machine used is the cluster's own.
//! - For `add`, an entry without `k8s-role` is a worker (the original's add took only
//!   workers): with `remote_deployment_role: worker` at the top of the file silently, else
//!   with a warning.

use super::{Cluster, Machine, Role};
use crate::config::node_list::{DEFAULT_ROLE_KEY, NodeList};
use crate::config::raw::{RawConfig, RawDefaults, RawMachine};
use crate::config::reader::Located;
use crate::diag::{At, Diagnostic, Diagnostics};
use std::net::IpAddr;

/// Give every entry without `k8s-role` the role `worker`: the file's
/// `remote_deployment_role`, else a warning that says so.
pub fn default_roles_for_add(list: &mut NodeList, diags: &mut Diagnostics) {
    let file_at = list.file.at_file();
    for m in &mut list.machines {
        if m.k8s_role.is_some() {
            continue;
        }
        let at = m.at.clone().unwrap_or_else(|| file_at.clone());
        match &list.default_role {
            Some(role) => m.k8s_role = Some(role.clone()),
            None => {
                let name = m
                    .hostname
                    .as_ref()
                    .map(|h| format!("`{}`", h.value))
                    .unwrap_or_else(|| "this machine".into());
                diags.push(
                    Diagnostic::warning(
                        at.clone(),
                        format!("{name} has no `k8s-role`: it joins as a worker, as in the original's add"),
                    )
                    .fix("write `k8s-role: worker` to say so, or `k8s-role: master` (with an `etcdid`) for a new master"),
                );
                m.k8s_role = Some(Located::new("worker".into(), at));
            }
        }
    }
}

/// One value a node-list entry gives and where.
struct Given<'a> {
    key: &'static str,
    value: &'a Located<String>,
}

/// The cluster's machines matched by the entries of `list`; every problem goes to `diags`.
/// `etcd_member`: each machine must be a master (etcdfix).
pub fn match_existing(
    list: &NodeList,
    raw_cfg: &RawConfig,
    cluster: &Cluster,
    etcd_member: bool,
    diags: &mut Diagnostics,
) -> Vec<Machine> {
    let file_at = list.file.at_file();
    let mut out: Vec<Machine> = Vec::new();
    let mut first_at: Vec<At> = Vec::new();
    for entry in &list.machines {
        let entry_at = entry.at.clone().unwrap_or_else(|| file_at.clone());
        let Some(c) = identify(entry, &entry_at, cluster, raw_cfg, diags) else {
            continue;
        };
        let raw_c = raw_machine(raw_cfg, &c.hostname);
        let before = diags.errors().count();
        check_agreement(entry, list, c, raw_c, &raw_cfg.cluster.defaults, diags);
        if etcd_member && c.role != Role::Master {
            let at = entry
                .k8s_role
                .as_ref()
                .map(|l| l.at.clone())
                .unwrap_or_else(|| entry_at.clone());
            let theirs = cluster_at(raw_c.and_then(|r| r.k8s_role.as_ref()), raw_c, c);
            diags.push(
                Diagnostic::error(
                    at,
                    format!(
                        "{} is a {} (cluster-configuration.yaml at {theirs}): etcdfix rebuilds the etcd member of a master",
                        c.hostname, c.role
                    ),
                )
                .related(theirs)
                .fix("list one master of cluster-configuration.yaml (a worker has no etcd member; use `repair` for it)"),
            );
        }
        if diags.errors().count() > before {
            continue;
        }
        if let Some(i) = out.iter().position(|m| m.hostname == c.hostname) {
            diags.push(
                Diagnostic::error(
                    entry_at.clone(),
                    format!("{} is listed twice in this node list", c.hostname),
                )
                .related(first_at[i].clone())
                .fix("list every machine once"),
            );
            continue;
        }
        first_at.push(entry_at);
        out.push(c.clone());
    }
    out
}

/// The machine an entry names. Explicit `hostname`, then `nodename`, then `hostip`, then
/// the map key decide; every other identifier given must name the same machine.
fn identify<'c>(
    entry: &RawMachine,
    entry_at: &At,
    cluster: &'c Cluster,
    raw_cfg: &RawConfig,
    diags: &mut Diagnostics,
) -> Option<&'c Machine> {
    let mut ids: Vec<(&'static str, &Located<String>, Option<&'c Machine>)> = Vec::new();
    let by_host = |v: &str| {
        cluster
            .machines
            .iter()
            .find(|c| c.hostname.eq_ignore_ascii_case(v))
    };
    if let Some(h) = entry.hostname.as_ref().filter(|_| !entry.hostname_from_key) {
        ids.push(("hostname", h, by_host(&h.value)));
    }
    if let Some(n) = &entry.nodename {
        ids.push((
            "nodename",
            n,
            cluster.machines.iter().find(|c| c.nodename == n.value),
        ));
    }
    if let Some(ip) = &entry.hostip {
        match ip.value.parse::<IpAddr>() {
            Ok(addr) => ids.push((
                "hostip",
                ip,
                cluster.machines.iter().find(|c| c.hostip == addr),
            )),
            Err(_) => {
                diags.push(
                    Diagnostic::error(ip.at.clone(), format!("`hostip: {}` is not an IP address", ip.value))
                        .fix("write the machine's address as cluster-configuration.yaml has it, or delete the key (the entry's hostname or nodename is enough)"),
                );
                return None;
            }
        }
    }
    let key_name = entry.hostname.as_ref().filter(|_| entry.hostname_from_key);
    let by_key = key_name.and_then(|k| by_host(&k.value));
    if ids.is_empty() && key_name.is_none() {
        diags.push(
            Diagnostic::error(entry_at.clone(), "this entry names no machine")
                .fix("give the machine's `hostname`, `nodename` or `hostip` as cluster-configuration.yaml has them"),
        );
        return None;
    }
    let chosen = ids.iter().find_map(|(_, _, m)| *m).or(by_key);
    let Some(c) = chosen else {
        let mut all: Vec<(&str, &Located<String>)> = ids.iter().map(|(k, v, _)| (*k, *v)).collect();
        if let Some(k) = key_name {
            all.push(("hostname", k));
        }
        diags.push(no_such_machine(&all, entry_at, cluster));
        return None;
    };
    let mut ok = true;
    for (key, given, found) in &ids {
        if found.is_some_and(|m| m.hostname == c.hostname) {
            continue;
        }
        ok = false;
        let raw_c = raw_machine(raw_cfg, &c.hostname);
        let (theirs_value, theirs_at) = match *key {
            "hostname" => (
                c.hostname.clone(),
                cluster_at(raw_c.and_then(|r| r.hostname.as_ref()), raw_c, c),
            ),
            "nodename" => (
                c.nodename.clone(),
                cluster_at(
                    raw_c.and_then(|r| r.nodename.as_ref().or(r.hostip.as_ref())),
                    raw_c,
                    c,
                ),
            ),
            _ => (
                c.hostip.to_string(),
                cluster_at(raw_c.and_then(|r| r.hostip.as_ref()), raw_c, c),
            ),
        };
        let other = match found {
            Some(m) => format!(", which is {}'s,", m.hostname),
            None => String::new(),
        };
        diags.push(
            Diagnostic::error(
                given.at.clone(),
                format!(
                    "`{key}: {}`{other} does not match {}: cluster-configuration.yaml has `{key}: {theirs_value}` for it at {theirs_at}",
                    given.value, c.hostname
                ),
            )
            .related(theirs_at)
            .fix(format!(
                "write `{key}: {theirs_value}` or delete the key (the keys an entry leaves out are taken from the cluster's entry)"
            )),
        );
    }
    if let Some(k) = key_name
        && by_key.is_none_or(|m| m.hostname != c.hostname)
    {
        diags.push(
            Diagnostic::warning(
                k.at.clone(),
                format!(
                    "the entry's key `{}` is not a hostname of the cluster; read as {} by its {}",
                    k.value,
                    c.hostname,
                    ids.first().map(|(key, _, _)| *key).unwrap_or("hostname")
                ),
            )
            .fix(format!("use the hostname as the key: `{}:`", c.hostname)),
        );
    }
    ok.then_some(c)
}

/// "X is not a machine of this cluster", naming the closest machine.
fn no_such_machine(
    ids: &[(&str, &Located<String>)],
    entry_at: &At,
    cluster: &Cluster,
) -> Diagnostic {
    let shown: Vec<String> = ids
        .iter()
        .map(|(k, v)| format!("{k} {}", v.value))
        .collect();
    let at = ids
        .first()
        .map(|(_, v)| v.at.clone())
        .unwrap_or_else(|| entry_at.clone());
    // Names: edit distance; addresses: how far apart they are (10.1.0.103 is nearer to
    // 10.1.0.102 than to 10.1.0.13).
    let likeness = |m: &Machine| {
        ids.iter()
            .map(|(k, v)| match *k {
                "hostip" => match (v.value.parse::<IpAddr>(), m.hostip) {
                    (Ok(IpAddr::V4(a)), IpAddr::V4(b)) => {
                        let d = u32::from(a).abs_diff(u32::from(b)).min(256);
                        1.0 - f64::from(d) / 256.0
                    }
                    _ => strsim::normalized_levenshtein(&v.value, &m.hostip.to_string()),
                },
                "nodename" => strsim::normalized_levenshtein(&v.value, &m.nodename),
                _ => strsim::normalized_levenshtein(
                    &v.value.to_ascii_lowercase(),
                    &m.hostname.to_ascii_lowercase(),
                ),
            })
            .fold(0.0, f64::max)
    };
    let closest = cluster
        .machines
        .iter()
        .max_by(|a, b| likeness(a).total_cmp(&likeness(b)));
    let mut d = Diagnostic::error(
        at,
        format!("{} is not a machine of this cluster", shown.join(", ")),
    );
    match closest {
        Some(m) => {
            let place =
                m.at.as_ref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default();
            d.message.push_str(&format!(
                "; the closest is {} (hostip {}, nodename {}){place}",
                m.hostname, m.hostip, m.nodename
            ));
            if let Some(a) = &m.at {
                d = d.related(a.clone());
            }
            d.fix(format!(
                "name a machine of cluster-configuration.yaml by its hostname, nodename or hostip (e.g. `hostname: {}`); new machines join with `add`",
                m.hostname
            ))
        }
        None => d.fix("list machines of cluster-configuration.yaml; new machines join with `add`"),
    }
}

/// The raw entry of a machine of the cluster file.
fn raw_machine<'r>(raw_cfg: &'r RawConfig, hostname: &str) -> Option<&'r RawMachine> {
    raw_cfg.cluster.machines.iter().find(|r| {
        r.hostname
            .as_ref()
            .is_some_and(|h| h.value.eq_ignore_ascii_case(hostname))
    })
}

/// Where the cluster file says something about a machine: the key, else the entry.
fn cluster_at(key: Option<&Located<String>>, raw: Option<&RawMachine>, c: &Machine) -> At {
    key.map(|l| l.at.clone())
        .or_else(|| raw.and_then(|r| r.at.clone()))
        .or_else(|| c.at.clone())
        .unwrap_or_else(|| At::file(&std::sync::Arc::from(crate::config::CLUSTER_FILE)))
}

/// Every key the entry gives (besides the identifiers) must agree with the machine.
fn check_agreement(
    entry: &RawMachine,
    list: &NodeList,
    c: &Machine,
    raw_c: Option<&RawMachine>,
    defaults: &RawDefaults,
    diags: &mut Diagnostics,
) {
    let own_or_default = |own: Option<&Located<String>>, def: Option<&Located<String>>| {
        cluster_at(own.or(def), raw_c, c)
    };
    let mut given: Vec<Given> = Vec::new();
    if let Some(l) = &entry.etcdid {
        given.push(Given {
            key: "etcdid",
            value: l,
        });
    }
    if let Some(l) = &entry.sshport {
        given.push(Given {
            key: "sshport",
            value: l,
        });
    }
    if let Some(l) = &entry.username {
        given.push(Given {
            key: "username",
            value: l,
        });
    }
    if let Some(l) = entry.k8s_role.as_ref().or(list.default_role.as_ref()) {
        given.push(Given {
            key: "k8s-role",
            value: l,
        });
    }
    for g in given {
        let (agrees, theirs, theirs_at) = match g.key {
            "etcdid" => (
                c.etcdid.as_deref() == Some(g.value.value.as_str()),
                c.etcdid
                    .clone()
                    .unwrap_or_else(|| "(none: not a master)".into()),
                cluster_at(raw_c.and_then(|r| r.etcdid.as_ref()), raw_c, c),
            ),
            "sshport" => match g.value.value.trim().parse::<u16>() {
                Ok(p) => (
                    p == c.ssh.port,
                    c.ssh.port.to_string(),
                    own_or_default(
                        raw_c.and_then(|r| r.sshport.as_ref()),
                        defaults.sshport.as_ref(),
                    ),
                ),
                Err(_) => {
                    diags.push(
                        Diagnostic::error(
                            g.value.at.clone(),
                            format!("`sshport: {}` is not a TCP port (1-65535)", g.value.value),
                        )
                        .fix(format!(
                            "write `sshport: {}` as the cluster has it, or delete the key",
                            c.ssh.port
                        )),
                    );
                    continue;
                }
            },
            "username" => (
                g.value.value == c.ssh.username,
                c.ssh.username.clone(),
                own_or_default(
                    raw_c.and_then(|r| r.username.as_ref()),
                    defaults.username.as_ref(),
                ),
            ),
            _ => (
                Role::parse(&g.value.value) == Some(c.role),
                c.role.to_string(),
                cluster_at(raw_c.and_then(|r| r.k8s_role.as_ref()), raw_c, c),
            ),
        };
        if agrees {
            continue;
        }
        let written = if g.key == "k8s-role" && entry.k8s_role.is_none() {
            format!("`{DEFAULT_ROLE_KEY}: {}`", g.value.value)
        } else {
            format!("`{}: {}`", g.key, g.value.value)
        };
        diags.push(
            Diagnostic::error(
                g.value.at.clone(),
                format!(
                    "{written} does not match {}: cluster-configuration.yaml has `{}: {theirs}` for it at {theirs_at}",
                    c.hostname, g.key
                ),
            )
            .related(theirs_at)
            .fix(format!(
                "write `{}: {theirs}` or delete the key (the keys an entry leaves out are taken from the cluster's entry)",
                g.key
            )),
        );
    }
    // The password is compared, never shown.
    if let Some(l) = &entry.password
        && !l.value.is_empty()
        && c.ssh.password.as_ref().map(|p| p.expose()) != Some(l.value.as_str())
    {
        let theirs_at = own_or_default(
            raw_c.and_then(|r| r.password.as_ref()),
            defaults.password.as_ref(),
        );
        diags.push(
            Diagnostic::error(
                l.at.clone(),
                format!(
                    "`password` differs from the one cluster-configuration.yaml gives {} (at {theirs_at})",
                    c.hostname
                ),
            )
            .related(theirs_at)
            .fix("delete `password` from the node list (the cluster's is used), or change it in cluster-configuration.yaml first"),
        );
    }
}
