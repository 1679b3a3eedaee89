//! `cert check`: every certificate of the PKI on the control host, soonest expiry first
//! (reads only). `cert rotate`: reissue certificates, then deploy's machinery pushes them
//! and restarts exactly the containers that use them.

use super::exit;
use super::output::{err, json, out};
use crate::cli::{CertCommand, OutputFormat};
use crate::pki::expiry::{CertExpiry, expiry};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
struct CheckReport {
    pki_dir: String,
    warn_days: u32,
    ok: bool,
    expired: usize,
    expiring: usize,
    certificates: Vec<CertExpiry>,
}

/// `DIR/.k8s-manage/pki`, as deploy and render use it.
pub fn pki_dir(config_dir: &Path) -> PathBuf {
    config_dir.join(".k8s-manage").join("pki")
}

pub fn run(cmd: CertCommand, color: bool) -> i32 {
    match cmd {
        CertCommand::Check {
            path,
            warn_days,
            output,
        } => check(&path, warn_days, output),
        CertCommand::Rotate {
            path,
            service,
            ca,
            run,
            roll,
            dry_run,
        } => rotate(&path, &service, ca, &run, &roll, dry_run, color),
    }
}

fn rotate(
    dir: &Path,
    services: &[String],
    ca: bool,
    a: &crate::cli::RunArgs,
    roll: &crate::cli::RollArgs,
    dry_run: bool,
    color: bool,
) -> i32 {
    let unknown = crate::pki::rotation::unknown_services(services);
    if !unknown.is_empty() {
        err(&format!(
            "error: unknown --service {}\n  fix: use one of {}\n",
            unknown.join(", "),
            crate::pki::rotation::SERVICES.join(", ")
        ));
        return exit::INVALID;
    }
    let mode = super::deploy::Mode {
        roll: Some(roll),
        reissue: Some(crate::run::deploy::Reissue {
            services: services.to_vec(),
            new_cas: ca,
        }),
        ..super::deploy::Mode::plain("cert rotate")
    };
    super::deploy::run_deploy(dir, a, dry_run, None, mode, color)
}

fn check(dir: &Path, warn_days: u32, output: OutputFormat) -> i32 {
    let pki = pki_dir(dir);
    if !pki.join("ca.crt").is_file() {
        err(&format!(
            "no PKI yet: run deploy or render first ({} does not exist)\n",
            pki.join("ca.crt").display()
        ));
        return exit::INVALID;
    }
    let infos = match crate::pki::certificates_in(&pki) {
        Ok(i) => i,
        Err(e) => {
            err(&format!("error: {e}\n"));
            return exit::FAILED;
        }
    };
    let list = expiry(&infos, time::OffsetDateTime::now_utc(), warn_days);
    let expired = list.iter().filter(|c| c.status == "EXPIRED").count();
    let expiring = list.iter().filter(|c| c.status == "expiring").count();
    let report = CheckReport {
        pki_dir: pki.display().to_string(),
        warn_days,
        ok: expired + expiring == 0,
        expired,
        expiring,
        certificates: list,
    };
    match output {
        OutputFormat::Json => json(&report),
        OutputFormat::Text => out(&render_text(&report)),
    }
    if report.ok { exit::OK } else { exit::FAILED }
}

fn render_text(r: &CheckReport) -> String {
    let mut s = format!(
        "{:<40} {:<36} {:<24} {:<20} {:>9}  {}\n",
        "CERTIFICATE", "SUBJECT CN", "ISSUER", "NOT AFTER", "DAYS LEFT", "STATUS"
    );
    for c in &r.certificates {
        s.push_str(&format!(
            "{:<40} {:<36} {:<24} {:<20} {:>9}  {}\n",
            c.name, c.subject_cn, c.issuer_cn, c.not_after, c.days_left, c.status
        ));
    }
    if r.ok {
        s.push_str(&format!(
            "{} certificates in {}: none expires within {} days\n",
            r.certificates.len(),
            r.pki_dir,
            r.warn_days
        ));
    } else {
        s.push_str(&format!(
            "{} certificates in {}: {} EXPIRED, {} expiring within {} days\n",
            r.certificates.len(),
            r.pki_dir,
            r.expired,
            r.expiring,
            r.warn_days
        ));
    }
    s
}
