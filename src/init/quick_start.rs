//! The original's single-file quick start (MS-0622 `quick-start-example.yaml`): `machines`
//! (the first a master, the rest workers), `ssh-username`, `ssh-password`, optional
//! `ssh-port` (22), `dns` and `service-cluster-ip-range` (10.254.0.0/16, the original's
//! default). Read with located errors, like every other config file.

use crate::config::reader::{Located, list, mapping, text};
use crate::config::source::SourceFile;
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::build_machines::is_placeholder;
use std::net::Ipv4Addr;
use std::path::Path;

/// The original generator's default service range.
pub const DEFAULT_SERVICE_RANGE: &str = "10.254.0.0/16";

const KEYS: &[&str] = &[
    "machines",
    "ssh-username",
    "ssh-password",
    "ssh-port",
    "dns",
    "service-cluster-ip-range",
];

/// What a quick-start file says.
#[derive(Debug, Clone)]
pub struct QuickStart {
    pub machines: Vec<Ipv4Addr>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub port: u16,
    pub dns: Option<Ipv4Addr>,
    pub service_range: String,
}

fn ip(l: &Located<String>, key: &str, diags: &mut Diagnostics) -> Option<Ipv4Addr> {
    match l.value.parse::<Ipv4Addr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            let why = if is_placeholder(&l.value) {
                "is still the example's placeholder"
            } else {
                "is not an IPv4 address"
            };
            diags.push(
                Diagnostic::error(l.at.clone(), format!("`{}` in `{key}` {why}", l.value)).fix(
                    format!("write the machine's address, e.g. `- 10.0.0.11` under `{key}`"),
                ),
            );
            None
        }
    }
}

/// Read `path`; every problem goes to `diags`.
pub fn read(path: &Path, diags: &mut Diagnostics) -> Option<QuickStart> {
    let file = SourceFile::read(path, diags)?;
    mapping(&file, &file.root, "the quick-start file", diags)?;
    for (k, _) in file.root.entries() {
        let name = k.key_text().unwrap_or_default();
        if !KEYS.contains(&name.as_str()) {
            diags.push(
                Diagnostic::warning(
                    file.at(k.pos),
                    format!("unknown key `{name}` in the quick-start file is ignored"),
                )
                .fix(format!("known keys: {}", KEYS.join(", "))),
            );
        }
    }
    let get = |key: &str, diags: &mut Diagnostics| {
        file.root
            .get(key)
            .and_then(|n| text(&file, n, key, diags))
            .filter(|l| !l.value.is_empty())
    };
    let mut machines = Vec::new();
    match file.root.get("machines") {
        None => diags.push(
            Diagnostic::error(file.at_file(), "`machines` is missing")
                .fix("add `machines:` with one `- <address>` line per machine, the master first"),
        ),
        Some(n) => {
            for item in list(&file, n, "`machines`", diags).unwrap_or_default() {
                if let Some(l) = text(&file, item, "machines", diags)
                    && let Some(a) = ip(&l, "machines", diags)
                {
                    if machines.contains(&a) {
                        diags.push(
                            Diagnostic::error(l.at.clone(), format!("{a} is listed twice"))
                                .fix("list every machine once"),
                        );
                    }
                    machines.push(a);
                }
            }
            if machines.is_empty() && !diags.has_errors() {
                diags.push(
                    Diagnostic::error(file.at(n.pos), "`machines` lists no machine")
                        .fix("add one `- <address>` line per machine, the master first"),
                );
            }
        }
    }
    let secret = |key: &str, diags: &mut Diagnostics| {
        let l = get(key, diags)?;
        if l.value.starts_with('<') && l.value.ends_with('>') {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`{key}` is still the example's placeholder"),
                )
                .fix(format!(
                    "write the real value of `{key}`, or delete it and pass --key FILE"
                )),
            );
            return None;
        }
        Some(l.value)
    };
    let username = secret("ssh-username", diags);
    let password = secret("ssh-password", diags);
    let port = match get("ssh-port", diags) {
        None => 22,
        Some(l) => match l.value.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                diags.push(
                    Diagnostic::error(
                        l.at.clone(),
                        format!("`ssh-port: {}` is not a TCP port (1-65535)", l.value),
                    )
                    .fix("write the SSH port, usually `ssh-port: 22`"),
                );
                22
            }
        },
    };
    let dns = get("dns", diags).and_then(|l| ip(&l, "dns", diags));
    let service_range = match get("service-cluster-ip-range", diags) {
        None => DEFAULT_SERVICE_RANGE.to_string(),
        Some(l) if l.value.parse::<ipnet::Ipv4Net>().is_ok() => l.value,
        Some(l) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!(
                        "`service-cluster-ip-range: {}` is not an IPv4 range",
                        l.value
                    ),
                )
                .fix(format!(
                    "write a range in CIDR form that no machine uses, e.g. {DEFAULT_SERVICE_RANGE}"
                )),
            );
            DEFAULT_SERVICE_RANGE.to_string()
        }
    };
    (!diags.has_errors()).then_some(QuickStart {
        machines,
        username,
        password,
        port,
        dns,
        service_range,
    })
}
