//! Fetching a release file from an http(s) URL or a folder into a work folder, hashing it
//! (SHA-256) on the way; an error names the location, what went wrong and the fix.

use super::sources::Location;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest release file accepted (the kubelet is about 80 MB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// The largest checksum file accepted.
pub const MAX_CHECKSUM_FILE_BYTES: u64 = 4096;
/// How long a connection may take to open, and a transfer may stall.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A file that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub location: String,
    pub problem: String,
    /// The HTTP status, when the server answered with an error.
    pub status: Option<u16>,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot fetch {}: {}", self.location, self.problem)
    }
}

impl FetchError {
    fn new(location: &Location, problem: impl Into<String>) -> FetchError {
        FetchError {
            location: location.to_string(),
            problem: problem.into(),
            status: None,
        }
    }

    /// The file does not exist there (HTTP 404 or no such file).
    pub fn is_missing(&self) -> bool {
        self.status == Some(404) || self.problem.starts_with("no such file")
    }
}

/// A fetched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub sha256: String,
    pub bytes: u64,
}

/// Reads release files over http(s) (the system's CA certificates; `HTTPS_PROXY` and
/// friends are honoured) or from folders.
pub struct Fetcher {
    http: reqwest::Client,
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

impl Fetcher {
    pub fn new() -> Result<Fetcher, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("k8s-manage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client setup: {}", error_chain(&e)))?;
        Ok(Fetcher { http })
    }

    /// Fetch `from` into `dest` (created), at most `max` bytes.
    pub async fn to_file(
        &self,
        from: &Location,
        dest: &Path,
        max: u64,
    ) -> Result<Fetched, FetchError> {
        let mut out = tokio::fs::File::create(dest)
            .await
            .map_err(|e| FetchError::new(from, format!("cannot create {}: {e}", dest.display())))?;
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        let mut sink = |chunk: &[u8], bytes: &mut u64| -> Result<(), FetchError> {
            *bytes += chunk.len() as u64;
            if *bytes > max {
                return Err(FetchError::new(from, format!("larger than {max} bytes")));
            }
            hash.update(chunk);
            Ok(())
        };
        match from {
            Location::Url(url) => {
                let mut resp = self.get(from, url).await?;
                while let Some(chunk) = resp.chunk().await.map_err(|e| {
                    FetchError::new(from, format!("transfer broke off: {}", error_chain(&e)))
                })? {
                    sink(&chunk, &mut bytes)?;
                    out.write_all(&chunk).await.map_err(|e| {
                        FetchError::new(from, format!("cannot write {}: {e}", dest.display()))
                    })?;
                }
            }
            Location::File(path) => {
                let mut f = open(from, path).await?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f
                        .read(&mut buf)
                        .await
                        .map_err(|e| FetchError::new(from, format!("cannot read: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    sink(&buf[..n], &mut bytes)?;
                    out.write_all(&buf[..n]).await.map_err(|e| {
                        FetchError::new(from, format!("cannot write {}: {e}", dest.display()))
                    })?;
                }
            }
        }
        out.flush()
            .await
            .map_err(|e| FetchError::new(from, format!("cannot write {}: {e}", dest.display())))?;
        Ok(Fetched {
            sha256: hex::encode(hash.finalize()),
            bytes,
        })
    }

    /// A small text file (a checksum file), at most `max` bytes.
    pub async fn text(&self, from: &Location, max: u64) -> Result<String, FetchError> {
        let mut data = Vec::new();
        match from {
            Location::Url(url) => {
                let mut resp = self.get(from, url).await?;
                while let Some(chunk) = resp.chunk().await.map_err(|e| {
                    FetchError::new(from, format!("transfer broke off: {}", error_chain(&e)))
                })? {
                    data.extend_from_slice(&chunk);
                    if data.len() as u64 > max {
                        return Err(FetchError::new(from, format!("larger than {max} bytes")));
                    }
                }
            }
            Location::File(path) => {
                let f = open(from, path).await?;
                f.take(max + 1)
                    .read_to_end(&mut data)
                    .await
                    .map_err(|e| FetchError::new(from, format!("cannot read: {e}")))?;
                if data.len() as u64 > max {
                    return Err(FetchError::new(from, format!("larger than {max} bytes")));
                }
            }
        }
        String::from_utf8(data).map_err(|_| FetchError::new(from, "not text"))
    }

    async fn get(&self, from: &Location, url: &str) -> Result<reqwest::Response, FetchError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| FetchError::new(from, format!("no answer: {}", error_chain(&e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError {
                location: from.to_string(),
                problem: format!("the server answered HTTP {status}"),
                status: Some(status.as_u16()),
            });
        }
        Ok(resp)
    }
}

async fn open(from: &Location, path: &Path) -> Result<tokio::fs::File, FetchError> {
    tokio::fs::File::open(path).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            FetchError::new(from, "no such file")
        } else {
            FetchError::new(from, format!("cannot open: {e}"))
        }
    })
}

/// The digest of a published `.sha256` file: its first word, 64 hex digits (the file
/// holds the digest alone, or `digest  name`).
pub fn parse_checksum_file(text: &str) -> Option<String> {
    text.split_whitespace()
        .next()
        .and_then(crate::model::node_agent::sha256_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files_hold_the_digest_first() {
        let h = "7efa1780c73d9fb3a464002864e582eb2d15aa691e475eaae323093d08feae14";
        assert_eq!(parse_checksum_file(h).as_deref(), Some(h));
        assert_eq!(
            parse_checksum_file(&format!("{}  kubelet\n", h.to_uppercase())).as_deref(),
            Some(h)
        );
        assert_eq!(parse_checksum_file("<html>not found</html>"), None);
        assert_eq!(parse_checksum_file(""), None);
    }

    #[tokio::test]
    async fn a_folder_is_read_and_hashed_and_a_missing_file_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("kubelet");
        std::fs::write(&src, b"hello").unwrap();
        let f = Fetcher::new().unwrap();
        let got = f
            .to_file(&Location::File(src.clone()), &tmp.path().join("out"), 100)
            .await
            .unwrap();
        assert_eq!(got.bytes, 5);
        assert_eq!(
            got.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(std::fs::read(tmp.path().join("out")).unwrap(), b"hello");
        let e = f
            .to_file(&Location::File(src.clone()), &tmp.path().join("out2"), 3)
            .await
            .unwrap_err();
        assert!(e.problem.contains("larger than 3"), "{e}");
        let e = f
            .text(&Location::File(tmp.path().join("nope")), 10)
            .await
            .unwrap_err();
        assert!(e.is_missing(), "{e}");
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
