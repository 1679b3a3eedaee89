//! Server-side apply of many manifests in tiers: what other objects need first
//! (namespaces, CRDs), then the objects workloads refer to (service accounts, config,
//! RBAC, Services), then the workloads, then what can block later requests (admission
//! webhooks, aggregated APIs). Each tier goes to the API at once, at most
//! [`APPLY_AT_ONCE`] requests in flight, and a tier starts when the one before it is done.
//! One request after another cost one round trip per object; a tier costs about one (plus
//! a TLS connection per extra request in flight, kept in the client's pool).

use super::Applied;
use super::client::{ApplyMode, KubeClient, KubeError, parse_manifest};
use super::resources::CustomKinds;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::Value;

/// At most this many applies in flight (each needs its own connection over HTTP/1.1).
pub const APPLY_AT_ONCE: usize = 8;

/// The tier of a kind: lower tiers are applied first.
pub fn tier(kind: &str) -> u8 {
    match kind {
        "Namespace" | "CustomResourceDefinition" | "PriorityClass" | "StorageClass" => 0,
        "DaemonSet"
        | "Deployment"
        | "StatefulSet"
        | "ReplicaSet"
        | "Job"
        | "CronJob"
        | "Pod"
        | "ReplicationController"
        | "HorizontalPodAutoscaler"
        | "PodDisruptionBudget" => 2,
        "ValidatingWebhookConfiguration"
        | "MutatingWebhookConfiguration"
        | "ValidatingAdmissionPolicy"
        | "ValidatingAdmissionPolicyBinding"
        | "APIService" => 3,
        _ => 1,
    }
}

/// One document to apply, with the manifest file it came from (errors name it).
struct Doc<'a> {
    file: &'a str,
    doc: Value,
}

/// Apply every document of `manifests` (file name, text) in tiers; what was applied, in
/// tier order. The first failure stops the run, with the file of the document that
/// failed; the requests still in flight in that tier are dropped.
pub async fn apply_manifests(
    api: &KubeClient,
    manifests: &[(&str, &str)],
    field_manager: &str,
) -> Result<Vec<Applied>, (String, KubeError)> {
    let mut tiers: [Vec<Doc>; 4] = Default::default();
    for (file, text) in manifests {
        let docs = parse_manifest(file, text).map_err(|e| (file.to_string(), e))?;
        for doc in docs {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
            tiers[tier(kind) as usize].push(Doc { file, doc });
        }
    }
    let custom = CustomKinds::default();
    let mut out = Vec::new();
    for docs in &tiers {
        let applied: Vec<Applied> = stream::iter(docs)
            .map(|d| async {
                api.apply_one(d.file, &d.doc, field_manager, &custom, ApplyMode::Persist)
                    .await
                    .map_err(|e| (d.file.to_string(), e))
            })
            .buffered(APPLY_AT_ONCE)
            .try_collect()
            .await?;
        out.extend(applied);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_others_need_comes_first_and_what_can_block_requests_last() {
        assert!(tier("Namespace") < tier("ServiceAccount"));
        assert!(tier("CustomResourceDefinition") < tier("ClusterRole"));
        assert!(tier("ConfigMap") < tier("Deployment"));
        assert!(tier("ServiceAccount") < tier("DaemonSet"));
        assert!(tier("Service") < tier("Deployment"));
        assert!(tier("Deployment") < tier("ValidatingWebhookConfiguration"));
        assert!(tier("DaemonSet") < tier("APIService"));
        // a kind the table does not know goes with the objects workloads refer to
        assert_eq!(tier("FlowSchema"), tier("ConfigMap"));
    }
}
