//! Objects in etcd: JSON values under their keys, with create/update guarded by revisions.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp};
use serde_json::Value;

/// One stored object and the etcd revision that last modified it.
pub struct Stored {
    pub value: Value,
    pub mod_revision: i64,
}

/// Why a store call failed.
pub enum StoreError {
    /// etcd did not answer or refused.
    Unavailable(String),
    /// A guarded write lost: the key exists (create) or changed (update).
    Conflict,
}

impl From<etcd_client::Error> for StoreError {
    fn from(e: etcd_client::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// The etcd client shared by all requests.
#[derive(Clone)]
pub struct Store {
    client: Client,
}

const TIMEOUT: Duration = Duration::from_secs(5);

async fn bounded<T>(
    fut: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(TIMEOUT, fut).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => Err(StoreError::Unavailable("etcd request timed out".into())),
    }
}

fn decode(key: &[u8], value: &[u8], mod_revision: i64) -> Result<Stored, StoreError> {
    serde_json::from_slice(value)
        .map(|value| Stored {
            value,
            mod_revision,
        })
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "stored value of {} is not JSON: {e}",
                String::from_utf8_lossy(key)
            ))
        })
}

impl Store {
    pub fn new(client: Client) -> Store {
        Store { client }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let mut c = self.client.clone();
        let resp = bounded(c.get(key, None)).await?;
        resp.kvs()
            .first()
            .map(|kv| decode(kv.key(), kv.value(), kv.mod_revision()))
            .transpose()
    }

    /// Every object under `prefix`, and the store's revision.
    pub async fn list(&self, prefix: &str) -> Result<(Vec<Stored>, i64), StoreError> {
        let mut c = self.client.clone();
        let resp = bounded(c.get(prefix, Some(GetOptions::new().with_prefix()))).await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let items = resp
            .kvs()
            .iter()
            .map(|kv| decode(kv.key(), kv.value(), kv.mod_revision()))
            .collect::<Result<_, _>>()?;
        Ok((items, revision))
    }

    async fn guarded_put(
        &self,
        key: &str,
        value: &Value,
        guard: Compare,
    ) -> Result<i64, StoreError> {
        let mut c = self.client.clone();
        let txn = Txn::new()
            .when([guard])
            .and_then([TxnOp::put(key, value.to_string(), None)]);
        let resp = bounded(c.txn(txn)).await?;
        if !resp.succeeded() {
            return Err(StoreError::Conflict);
        }
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Writes a new key; `Conflict` if it exists. Returns the new revision.
    pub async fn create(&self, key: &str, value: &Value) -> Result<i64, StoreError> {
        self.guarded_put(
            key,
            value,
            Compare::create_revision(key, CompareOp::Equal, 0),
        )
        .await
    }

    /// Replaces a key last modified at `mod_revision`; `Conflict` if it changed since.
    pub async fn update(
        &self,
        key: &str,
        value: &Value,
        mod_revision: i64,
    ) -> Result<i64, StoreError> {
        self.guarded_put(
            key,
            value,
            Compare::mod_revision(key, CompareOp::Equal, mod_revision),
        )
        .await
    }

    /// Deletes a key; returns what it held, if anything.
    pub async fn delete(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let mut c = self.client.clone();
        let resp = bounded(c.delete(key, Some(DeleteOptions::new().with_prev_key()))).await?;
        resp.prev_kvs()
            .first()
            .map(|kv| decode(kv.key(), kv.value(), kv.mod_revision()))
            .transpose()
    }
}
