//! Start-up checks shared by the components: collect every problem with the files and flags
//! a component is given, so that all of them are logged before it exits non-zero.

use rustls_pki_types::CertificateDer;

use crate::flags::Flags;
use crate::kubeconfig::{self, ApiTarget};
use crate::pki::{self, Pair, Usage};

/// Problems found so far.
#[derive(Default)]
pub struct Checks {
    problems: Vec<String>,
}

impl Checks {
    /// Keeps the value, or records the problem.
    pub fn take<T>(&mut self, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems.push(e);
                None
            }
        }
    }

    pub fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    /// The value of a flag that must be given.
    pub fn required<'a>(&mut self, flags: &'a Flags, name: &str, why: &str) -> Option<&'a str> {
        match flags.get(name).filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                self.problems.push(format!("--{name} is required ({why})"));
                None
            }
        }
    }

    /// CA certificates named by an optional flag.
    pub fn ca(
        &mut self,
        flags: &Flags,
        name: &str,
    ) -> Option<(String, Vec<CertificateDer<'static>>)> {
        let path = flags.get(name).filter(|v| !v.is_empty())?;
        self.take(pki::load_ca(path).map_err(|e| format!("--{name}: {e}")))
            .map(|c| (path.to_string(), c))
    }

    /// A certificate and key named by two flags; both or neither must be given.
    pub fn pair(
        &mut self,
        flags: &Flags,
        cert: &str,
        key: &str,
        usage: Usage,
    ) -> Option<(String, Pair)> {
        match (flags.get(cert), flags.get(key)) {
            (None, None) => None,
            (Some(c), Some(k)) => self
                .take(pki::load_pair(c, k, usage).map_err(|e| format!("--{cert}/--{key}: {e}")))
                .map(|p| (c.to_string(), p)),
            _ => {
                self.problem(format!("--{cert} and --{key} must be given together"));
                None
            }
        }
    }

    /// A CA certificate and its key (for signing), named by two flags given together.
    pub fn ca_pair(&mut self, flags: &Flags, cert: &str, key: &str) {
        match (flags.get(cert), flags.get(key)) {
            (None, None) => {}
            (Some(c), Some(k)) => {
                let checked = pki::load_ca(c).and_then(|certs| {
                    let pem = pki::read(k)?;
                    let key_der = pki::parse_key(&pem, k)?;
                    pki::key_matches(&certs[0], &key_der).map_err(|e| format!("{k}: {e} ({c})"))
                });
                self.take(checked.map_err(|e| format!("--{cert}/--{key}: {e}")));
            }
            _ => self.problem(format!("--{cert} and --{key} must be given together")),
        }
    }

    /// Checks that `pair` (from file `what`) chains to `ca` (from file `ca_what`).
    pub fn chained(
        &mut self,
        pair: &Pair,
        what: &str,
        ca: &[CertificateDer<'static>],
        ca_what: &str,
        usage: Usage,
    ) {
        if let Err(e) = pki::verify_chain(&pair.chain, ca, usage) {
            self.problem(format!("{what}: {e} (CA {ca_what})"));
        }
    }

    /// A kubeconfig named by an optional flag.
    pub fn kubeconfig(&mut self, flags: &Flags, name: &str) -> Option<ApiTarget> {
        let path = flags.get(name).filter(|v| !v.is_empty())?;
        self.take(kubeconfig::load(path).map_err(|e| format!("--{name}: {e}")))
    }

    /// Every named flag's file must be readable.
    pub fn readable(&mut self, flags: &Flags, names: &[&str]) {
        for name in names {
            if let Some(path) = flags.get(name).filter(|v| !v.is_empty())
                && let Err(e) = pki::read(path)
            {
                self.problem(format!("--{name}: {e}"));
            }
        }
    }

    /// Ok when no problem was found, else every problem.
    pub fn finish(self) -> Result<(), Vec<String>> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }
}
