//! Deleting a pod outright (grace period 0): what `remove --force` does instead of an
//! eviction, for a node that is dead and will never confirm a graceful stop.

use super::client::{KubeClient, KubeError};

impl KubeClient {
    /// `DELETE .../pods/<name>?gracePeriodSeconds=0`; absent is fine.
    pub async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        match self
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/namespaces/{namespace}/pods/{name}?gracePeriodSeconds=0"),
                None,
            )
            .await
        {
            Ok(_) | Err(KubeError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
