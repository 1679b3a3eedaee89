//! `k8s-manage init`: a commented config dir to start from, as `k0sctl init` does, from
//! addresses on the command line or from the original's quick-start file. The files are
//! checked with the same validation `validate` runs before any is written, and an existing
//! file is never replaced without `--force`.

pub mod addresses;
pub mod files;
pub mod quick_start;

use crate::config::{CLUSTER_FILE, KUBERNETES_FILE, ROLES_FILE, SERVICES_FILE};
use crate::model::{build, version};
use files::Spec;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// What `init` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub masters: Option<String>,
    pub workers: Option<String>,
    pub proxy: Option<String>,
    pub user: Option<String>,
    pub key: Option<PathBuf>,
    pub kubernetes_version: Option<String>,
    /// The original's quick-start file.
    pub from: Option<PathBuf>,
    pub force: bool,
}

/// Why `init` wrote nothing.
#[derive(Debug)]
pub enum InitError {
    /// Bad input: the message says what and how to fix it.
    Input(String),
    /// A file could not be written.
    Io(String),
}

/// Build the spec from the options (and the quick-start file); the quick-start file's
/// warnings go to `warn`.
fn spec(o: &Options, color: bool, warn: &mut dyn FnMut(&str)) -> Result<Spec, InitError> {
    let bad = |m: String| InitError::Input(m);
    let version = match &o.kubernetes_version {
        None => version::DEFAULT_VERSION,
        Some(v) => version::parse_kube_version(v).map_err(|_| {
            bad(format!(
                "--kubernetes-version {v}: not a supported version; write e.g. {} ({} are supported)",
                version::DEFAULT_VERSION,
                version::supported_range()
            ))
        })?,
    };
    let key = match &o.key {
        None => None,
        Some(k) => {
            let abs =
                std::path::absolute(k).map_err(|e| bad(format!("--key {}: {e}", k.display())))?;
            if !abs.is_file() {
                return Err(bad(format!(
                    "--key {}: no such file; give the SSH private key that logs in to the machines",
                    k.display()
                )));
            }
            Some(abs)
        }
    };
    let mut s = Spec {
        masters: Vec::new(),
        workers: Vec::new(),
        proxy: None,
        user: o.user.clone().unwrap_or_else(|| "root".into()),
        port: 22,
        key,
        password: None,
        version,
        dns: None,
        service_range: None,
        load_balance_ip: None,
        openpai_labels: false,
    };
    if let Some(from) = &o.from {
        let mut diags = crate::diag::Diagnostics::default();
        let Some(q) = quick_start::read(from, &mut diags) else {
            return Err(bad(diags.render_text(color)));
        };
        if !diags.list.is_empty() {
            warn(&diags.render_text(color));
        }
        s.masters = q.machines[..1].to_vec();
        s.workers = q.machines[1..].to_vec();
        if o.user.is_none()
            && let Some(u) = q.username
        {
            s.user = u;
        }
        s.password = q.password;
        s.port = q.port;
        s.dns = q.dns;
        s.service_range = Some(q.service_range);
        s.load_balance_ip = s.masters.first().copied();
        s.openpai_labels = true;
        return Ok(s);
    }
    let masters = o.masters.as_deref().unwrap_or_default();
    s.masters = addresses::parse_list("--masters", masters).map_err(bad)?;
    if s.masters.is_empty() {
        return Err(bad(
            "--masters: give at least one address (1, 3 or 5 masters)".into(),
        ));
    }
    if s.masters.len().is_multiple_of(2) {
        let n = s.masters.len();
        return Err(bad(format!(
            "--masters: {n} masters run {n} etcd members, which tolerate no more failures than {}; give {} or {}",
            n - 1,
            n - 1,
            n + 1
        )));
    }
    if let Some(w) = &o.workers {
        s.workers = addresses::parse_list("--workers", w).map_err(bad)?;
    }
    if let Some(p) = &o.proxy {
        let p = addresses::parse_list("--proxy", p).map_err(bad)?;
        if p.len() != 1 {
            return Err(bad("--proxy: give one address".into()));
        }
        s.proxy = p.first().copied();
    }
    let proxy: Vec<Ipv4Addr> = s.proxy.into_iter().collect();
    addresses::check_disjoint(&[
        ("--masters", &s.masters),
        ("--workers", &s.workers),
        ("--proxy", &proxy),
    ])
    .map_err(bad)?;
    if s.user.is_empty() || s.user.contains(char::is_whitespace) {
        return Err(bad(format!("--user {:?}: not a login name", s.user)));
    }
    Ok(s)
}

/// The files to write, name and text.
fn contents(s: &Spec, with_services: bool) -> Vec<(&'static str, String)> {
    let mut v = vec![
        (CLUSTER_FILE, files::cluster(s)),
        (KUBERNETES_FILE, files::kubernetes(s)),
        (ROLES_FILE, files::roles()),
    ];
    if with_services {
        v.push((SERVICES_FILE, files::services()));
    }
    v
}

fn write(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Write the config dir `dir`; returns the files written. Warnings about the input (the
/// quick-start file's) go to `warn` as they are found, before anything is written.
pub fn run(
    dir: &Path,
    o: &Options,
    color: bool,
    warn: &mut dyn FnMut(&str),
) -> Result<Vec<PathBuf>, InitError> {
    let s = spec(o, color, warn)?;
    let files = contents(&s, o.from.is_some());
    if !o.force {
        let existing: Vec<String> = files
            .iter()
            .map(|(n, _)| dir.join(n))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(InitError::Input(format!(
                "{} already exist{}; nothing was written. Pass --force to replace {}, or choose another folder",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" },
                if existing.len() == 1 { "it" } else { "them" }
            )));
        }
    }
    // The same checks `validate` makes, on a copy, before anything is written.
    let scratch =
        tempfile::tempdir().map_err(|e| InitError::Io(format!("a temporary folder: {e}")))?;
    for (name, text) in &files {
        write(&scratch.path().join(name), text, true)
            .map_err(|e| InitError::Io(format!("a temporary file: {e}")))?;
    }
    if let Err(d) = build::load(scratch.path()) {
        return Err(InitError::Input(format!(
            "the generated files would not validate; nothing was written:\n{}",
            d.render_text(color)
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| InitError::Io(format!("{}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for (name, text) in &files {
        let p = dir.join(name);
        write(&p, text, *name == CLUSTER_FILE)
            .map_err(|e| InitError::Io(format!("{}: {e}", p.display())))?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(masters: &str, workers: &str) -> Options {
        Options {
            masters: Some(masters.into()),
            workers: Some(workers.into()),
            ..Default::default()
        }
    }

    #[test]
    fn even_masters_and_overlaps_are_refused() {
        let e = match spec(&opts("10.0.0.1,10.0.0.2", ""), false, &mut |_| {}) {
            Err(InitError::Input(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(e.contains("give 1 or 3"), "{e}");
        let e = match spec(&opts("10.0.0.1", "10.0.0.1-10.0.0.3"), false, &mut |_| {}) {
            Err(InitError::Input(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(e.contains("in both --masters and --workers"), "{e}");
    }

    #[test]
    fn every_written_key_has_a_comment_above_it() {
        let s = spec(
            &opts("10.0.0.11,10.0.0.12,10.0.0.13", "10.0.0.21-10.0.0.22"),
            false,
            &mut |_| {},
        )
        .unwrap();
        let commented = |text: &str, line: &str| {
            let lines: Vec<&str> = text.lines().collect();
            let i = lines
                .iter()
                .position(|l| *l == line)
                .unwrap_or_else(|| panic!("no {line:?} in\n{text}"));
            assert!(
                lines[i - 1].trim_start().starts_with("# "),
                "no comment above {line:?}:\n{text}"
            );
            assert!(
                lines[i - 1].contains("(default: ") || lines[i - 1].contains("(required"),
                "{}",
                lines[i - 1]
            );
        };
        let k = files::kubernetes(&s);
        for l in k.lines().skip_while(|l| *l != "kubernetes:").skip(1) {
            if !l.trim_start().starts_with('#') {
                commented(&k, l);
            }
        }
        let c = files::cluster(&s);
        for l in [
            "  username: root",
            "  sshport: 22",
            "  ssh-agent: \"true\"",
            "  - hostname: master-1",
            "    hostip: 10.0.0.11",
            "    k8s-role: master",
            "    etcdid: etcd1",
            "    dashboard: \"true\"",
            "  - hostname: worker-1",
            "    hostip: 10.0.0.21",
            "machine-list:",
            "default-machine-properties:",
        ] {
            commented(&c, l);
        }
    }
}
