//! Everything that can go wrong while creating, loading or handing out the PKI. Each message
//! names the file involved (relative to the PKI directory, `pki/...` when in memory) and
//! says how to fix it.

use std::path::PathBuf;

/// An error from the `pki` module.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(
        "cannot {action} {}: {source}; fix: make sure the control host's pki directory is \
         readable and writable by the user running k8s-manage and that the disk is not full",
        path.display()
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{present} exists but {missing} does not; a CA is never replaced automatically. \
         fix: restore {missing} from a backup, or delete {present} as well to create a new CA \
         (every certificate it signed is then reissued and must be redeployed)"
    )]
    HalfCa { present: String, missing: String },

    #[error(
        "cannot use CA {file}: {problem}; fix: restore the CA certificate and key from a \
         backup, or delete both files to create a new CA (every certificate it signed is then \
         reissued and must be redeployed)"
    )]
    BadCa { file: String, problem: String },

    #[error(
        "cannot use {file}: {problem}; fix: restore sa.key and sa.pub from a backup, or delete \
         both to create a new service-account key pair (existing service-account tokens then \
         stop working)"
    )]
    BadServiceAccountKey { file: String, problem: String },

    #[error(
        "cannot generate {file}: {source}; fix: check that every hostname and SAN is plain \
         ASCII (a DNS name or an IP address)"
    )]
    Generate {
        file: String,
        #[source]
        source: rcgen::Error,
    },

    #[error(
        "cannot read certificate {file}: {problem}; fix: restore it from a backup, or delete \
         it (and its key) so the next deploy or render issues it again"
    )]
    BadCertificate { file: String, problem: String },

    #[error("invalid PKI request: {problem}; fix: {fix}")]
    InvalidRequest { problem: String, fix: String },

    #[error(
        "no certificate {file} for {who}; fix: add {who} to the nodes (and masters) of the \
         PKI request and run again so its certificates are issued"
    )]
    UnknownHost { who: String, file: String },
}

impl PkiError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PkiError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        PkiError::InvalidRequest {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}
