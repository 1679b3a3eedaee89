//! Node configuration files that are not certificates: the kubelet and scheduler
//! configuration (typed, serialized as YAML) and the haproxy configurations (Tera).

use crate::components::node_agents;
use crate::components::paths::{CRI_DOCKERD_SOCKET, k8s, pki};
use crate::model::{Cluster, Machine, Role};
use serde::Serialize;
use serde_json::json;

const HAPROXY_TEMPLATE: &str = include_str!("../../templates/node/haproxy.cfg");

/// A problem rendering a node file; names the file and the cause.
#[derive(Debug, thiserror::Error)]
#[error("cannot render {file}: {cause}")]
pub struct RenderError {
    pub file: String,
    pub cause: String,
}

fn yaml<T: Serialize>(file: &str, v: &T) -> Result<String, RenderError> {
    serde_saphyr::to_string(v).map_err(|e| RenderError {
        file: file.into(),
        cause: e.to_string(),
    })
}

/// `/etc/kubernetes/kubelet-config.yaml`: everything the kubelet is configured with
/// (flags are kept to the few that are not deprecated), with `kubelet-config` merged over
/// it (a mapping merges field by field; anything else replaces).
pub fn kubelet_config(cluster: &Cluster, _m: &Machine) -> Result<String, RenderError> {
    let k = &cluster.kubernetes;
    let mut v = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "0.0.0.0",
        "port": node_agents::KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node_agents::KUBELET_HEALTHZ_PORT,
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": true},
            "x509": {"clientCAFile": pki("ca.crt")}
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": pki("kubelet.crt"),
        "tlsPrivateKeyFile": pki("kubelet.key"),
        "tlsMinVersion": "VersionTLS12",
        "rotateCertificates": false,
        "serverTLSBootstrap": false,
        "clusterDomain": k.cluster_domain,
        "clusterDNS": [k.dns_service_ip.to_string()],
        "containerRuntimeEndpoint": CRI_DOCKERD_SOCKET,
        "cgroupDriver": k.cgroup_driver,
        "failSwapOn": true,
        "resolvConf": "/etc/resolv.conf",
        "protectKernelDefaults": false,
        "makeIPTablesUtilChains": true,
        "eventRecordQPS": 5,
        "serializeImagePulls": false,
    });
    if k.version.minor >= 36 {
        // cri-dockerd (v0.4.3 and before) answers Exec/Attach/PortForward with a streaming
        // URL that has no scheme. The kubelet's own WebSocket translation (beta and on
        // from 1.36) dials such a URL with TLS and fails ("server gave HTTP response to
        // HTTPS client"); without it the kubelet does not declare the feature, the
        // apiserver translates instead, and the kubelet's proxy reads the URL as http.
        v["featureGates"] = json!({"ExtendWebSocketsToKubelet": false});
    }
    for (field, value) in &k.kubelet_config {
        merge(&mut v[field.as_str()], value);
    }
    yaml(crate::components::paths::KUBELET_CONFIG, &v)
}

/// Merge `overlay` into `base`: mappings field by field, everything else replaced.
fn merge(base: &mut serde_json::Value, overlay: &serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `/etc/kubernetes/scheduler-config.yaml`.
pub fn scheduler_config(_cluster: &Cluster) -> Result<String, RenderError> {
    let v = json!({
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": k8s("scheduler.conf")},
        "leaderElection": {"leaderElect": true},
        "enableProfiling": false,
    });
    yaml(crate::components::paths::SCHEDULER_CONFIG, &v)
}

#[derive(Serialize)]
struct Server {
    name: String,
    address: String,
}

#[derive(Serialize)]
struct HaproxyContext {
    title: String,
    bind: String,
    ca_file: String,
    client_pem: String,
    servers: Vec<Server>,
}

fn haproxy(
    file: &str,
    title: &str,
    bind: String,
    cluster: &Cluster,
) -> Result<String, RenderError> {
    let servers = cluster
        .masters()
        .map(|m| Server {
            name: format!("{}_{}", m.hostname, cluster.kubernetes.api_port),
            address: crate::components::paths::host_port(m.hostip, cluster.kubernetes.api_port),
        })
        .collect();
    let ctx = HaproxyContext {
        title: title.into(),
        bind,
        ca_file: pki("ca.crt"),
        client_pem: pki("lb-healthcheck.pem"),
        servers,
    };
    let err = |e: tera::Error| RenderError {
        file: file.into(),
        cause: e.to_string(),
    };
    let mut t = tera::Tera::new();
    t.add_raw_template("haproxy.cfg", HAPROXY_TEMPLATE)
        .map_err(err)?;
    let context = tera::Context::from_serialize(&ctx).map_err(err)?;
    t.render("haproxy.cfg", &context).map_err(err)
}

/// The local API load balancer of every node: 127.0.0.1:`local-lb-port` → every apiserver.
pub fn local_lb_config(cluster: &Cluster) -> Result<String, RenderError> {
    let bind = format!("127.0.0.1:{}", cluster.kubernetes.local_lb_port);
    haproxy(
        crate::components::paths::LOCAL_LB_CONFIG,
        "local API load balancer",
        bind,
        cluster,
    )
}

/// The proxy node's load balancer: *:`api-servers-port` → every apiserver.
pub fn proxy_lb_config(cluster: &Cluster, m: &Machine) -> Result<String, RenderError> {
    debug_assert_eq!(m.role, Role::Proxy);
    let bind = format!(":{}", cluster.kubernetes.api_port);
    haproxy(
        crate::components::paths::PROXY_LB_CONFIG,
        "proxy-node API load balancer",
        bind,
        cluster,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_config_fields_merge_over_the_rendered_ones() {
        let mut base = json!({"a": 1, "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%"}});
        merge(
            &mut base["evictionHard"],
            &json!({"nodefs.available": "0%"}),
        );
        merge(&mut base["maxPods"], &json!(200));
        assert_eq!(
            base,
            json!({"a": 1, "maxPods": 200, "evictionHard": {"memory.available": "100Mi", "nodefs.available": "0%"}})
        );
    }

    fn cluster(version: &str) -> Cluster {
        crate::model::test_cluster::one_master(&format!("  kubernetes-version: {version}\n"))
    }

    /// A kubelet refuses to start on a feature gate it does not know: the gate that exists
    /// only from 1.36 is never written for 1.35 (`upgrade` from 1.35 runs both).
    #[test]
    fn feature_gates_are_only_those_the_kubelet_version_knows() {
        let old = cluster("v1.35.4");
        let text = kubelet_config(&old, &old.machines[0]).unwrap();
        assert!(!text.contains("featureGates"), "{text}");
        let new = cluster("v1.36.1");
        let text = kubelet_config(&new, &new.machines[0]).unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            v["featureGates"],
            json!({"ExtendWebSocketsToKubelet": false})
        );
    }
}
