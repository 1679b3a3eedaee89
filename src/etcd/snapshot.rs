//! etcd snapshots: streamed from a healthy member over mTLS to the control host
//! (`DIR/.k8s-manage/snapshots/<name>.db`, 0600, with `<name>.db.sha256`), then copied to
//! every master (`/var/lib/k8s-manage/snapshots/<name>.db`) and checked there.

use super::health::EtcdCredentials;
use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where masters keep snapshots.
pub const NODE_SNAPSHOT_DIR: &str = "/var/lib/k8s-manage/snapshots";

/// A snapshot taken.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub from_endpoint: String,
}

/// `20250131T235959Z`: the UTC stamp in the names of moved-aside dirs, automatic snapshots
/// and the run log folders.
pub fn stamp(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A default name: `snapshot-<UTC timestamp>`.
pub fn default_name() -> String {
    format!("snapshot-{}", stamp(time::OffsetDateTime::now_utc()))
}

/// The name of the snapshot taken automatically before `action` changes etcd membership
/// (or restores): `auto-<action>-<UTC timestamp>`.
pub fn auto_name(action: &str) -> String {
    format!("auto-{action}-{}", stamp(time::OffsetDateTime::now_utc()))
}

/// Names are file names: letters, digits, `-`, `_`, `.`.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Stream a snapshot from `endpoint` into `dir/<name>.db` (written to a temp name and
/// renamed once complete), with its sha256 beside it.
pub async fn save(
    endpoint: &str,
    cred: &EtcdCredentials,
    dir: &Path,
    name: &str,
    timeout: Duration,
) -> Result<Snapshot, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(&cred.ca_pem))
        .identity(Identity::from_pem(&cred.cert_pem, &cred.key_pem));
    let opts = ConnectOptions::new()
        .with_tls(tls)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(timeout);
    let mut client = Client::connect([endpoint], Some(opts))
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let mut stream = client
        .snapshot()
        .await
        .map_err(|e| format!("{endpoint}: snapshot: {e}"))?;
    let final_path = dir.join(format!("{name}.db"));
    let tmp = dir.join(format!(".{name}.db.partial"));
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
    }
    .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let msg = tokio::time::timeout(timeout, stream.message())
            .await
            .map_err(|_| format!("{endpoint}: the snapshot stream stalled for {timeout:?}"))?
            .map_err(|e| format!("{endpoint}: snapshot stream: {e}"))?;
        let Some(m) = msg else { break };
        hasher.update(m.blob());
        file.write_all(m.blob())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        bytes += m.blob().len() as u64;
    }
    file.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    drop(file);
    if bytes == 0 {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{endpoint}: the snapshot was empty"));
    }
    std::fs::rename(&tmp, &final_path)
        .map_err(|e| format!("cannot rename to {}: {e}", final_path.display()))?;
    let sha256 = hex::encode(hasher.finalize());
    crate::local_file::write_file(
        &dir.join(format!("{name}.db.sha256")),
        format!("{sha256}  {name}.db\n").as_bytes(),
        0o600,
    )
    .map_err(|e| format!("cannot write the checksum file: {e}"))?;
    Ok(Snapshot {
        name: name.into(),
        path: final_path,
        bytes,
        sha256,
        from_endpoint: endpoint.into(),
    })
}

/// The checksum recorded beside a snapshot, and whether the file still matches it.
pub fn verify(path: &Path) -> Result<String, String> {
    let recorded = std::fs::read_to_string(path.with_extension("db.sha256"))
        .map_err(|e| format!("no checksum beside {}: {e}", path.display()))?;
    let want = recorded
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let got = hex::encode(Sha256::digest(&data));
    if got == want {
        Ok(got)
    } else {
        Err(format!(
            "{}: sha256 {got} does not match the recorded {want}",
            path.display()
        ))
    }
}
