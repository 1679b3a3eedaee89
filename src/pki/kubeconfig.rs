//! Rendering a kubeconfig (one cluster, one user, one context) with embedded, base64
//! encoded CA, client certificate and key.

use base64::prelude::{BASE64_STANDARD, Engine as _};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: Vec<Named<ClusterEntry>>,
    users: Vec<Named<UserEntry>>,
    contexts: Vec<Named<ContextEntry>>,
    current_context: String,
    preferences: Preferences,
}

#[derive(Serialize)]
struct Preferences {}

#[derive(Serialize)]
struct Named<T> {
    name: String,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct ClusterEntry {
    cluster: Cluster,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority_data: String,
}

#[derive(Serialize)]
struct UserEntry {
    user: User,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    client_certificate_data: String,
    client_key_data: String,
}

#[derive(Serialize)]
struct ContextEntry {
    context: Context,
}

#[derive(Serialize)]
struct Context {
    cluster: String,
    user: String,
}

/// A kubeconfig for `user` talking to `server_url` of cluster `cluster_name`. The context is
/// named `<user>@<cluster_name>` and is the current context. Output is YAML (serde-saphyr);
/// should that serializer ever fail, the same document is emitted as JSON, which is YAML too.
pub fn render_kubeconfig(
    cluster_name: &str,
    server_url: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    user: &str,
) -> String {
    let context = format!("{user}@{cluster_name}");
    let config = Kubeconfig {
        api_version: "v1",
        kind: "Config",
        clusters: vec![Named {
            name: cluster_name.to_string(),
            body: ClusterEntry {
                cluster: Cluster {
                    server: server_url.to_string(),
                    certificate_authority_data: BASE64_STANDARD.encode(ca_pem),
                },
            },
        }],
        users: vec![Named {
            name: user.to_string(),
            body: UserEntry {
                user: User {
                    client_certificate_data: BASE64_STANDARD.encode(cert_pem),
                    client_key_data: BASE64_STANDARD.encode(key_pem),
                },
            },
        }],
        contexts: vec![Named {
            name: context.clone(),
            body: ContextEntry {
                context: Context {
                    cluster: cluster_name.to_string(),
                    user: user.to_string(),
                },
            },
        }],
        current_context: context,
        preferences: Preferences {},
    };
    match serde_saphyr::to_string(&config) {
        Ok(yaml) => yaml,
        Err(_) => serde_json::to_string_pretty(&config).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(text: &str) -> Value {
        serde_saphyr::from_str(text).expect("kubeconfig is valid YAML")
    }

    #[test]
    fn kubeconfig_has_one_cluster_user_context_and_base64_data() {
        let text = render_kubeconfig(
            "prod: one",
            "https://127.0.0.1:6444",
            "CA PEM\n",
            "CERT PEM\n",
            "KEY PEM\n",
            "system:node:w1",
        );
        let v = parse(&text);
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Config");
        assert_eq!(v["current-context"], "system:node:w1@prod: one");
        assert_eq!(v["clusters"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["users"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["contexts"].as_array().map(Vec::len), Some(1));
        let cluster = &v["clusters"][0];
        assert_eq!(cluster["name"], "prod: one");
        assert_eq!(cluster["cluster"]["server"], "https://127.0.0.1:6444");
        let b64 = |x: &Value| {
            let s = x.as_str().expect("string");
            String::from_utf8(BASE64_STANDARD.decode(s).expect("base64")).expect("utf8")
        };
        assert_eq!(
            b64(&cluster["cluster"]["certificate-authority-data"]),
            "CA PEM\n"
        );
        let user = &v["users"][0];
        assert_eq!(user["name"], "system:node:w1");
        assert_eq!(b64(&user["user"]["client-certificate-data"]), "CERT PEM\n");
        assert_eq!(b64(&user["user"]["client-key-data"]), "KEY PEM\n");
        let ctx = &v["contexts"][0];
        assert_eq!(ctx["name"], "system:node:w1@prod: one");
        assert_eq!(ctx["context"]["cluster"], "prod: one");
        assert_eq!(ctx["context"]["user"], "system:node:w1");
    }
}
