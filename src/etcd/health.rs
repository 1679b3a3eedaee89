//! Cluster health: every member answers `status`, they agree on one leader, and the
//! member list is the expected one. A learner (etcd 3.4+) answers `status` only (no member
//! list): it is healthy when it sees a leader, and says it is a learner.

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use serde::Serialize;
use std::time::{Duration, Instant};

/// CA and client certificate for talking to etcd.
#[derive(Clone)]
pub struct EtcdCredentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// One endpoint's answer.
#[derive(Debug, Clone, Serialize)]
pub struct MemberHealth {
    pub endpoint: String,
    pub healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_index: Option<u64>,
    /// A non-voting member that is catching up (while `add` grows the cluster).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_learner: bool,
    /// The etcd server version it reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole cluster's health.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdHealth {
    pub members: Vec<MemberHealth>,
    /// Names in the member list (from the first endpoint that answered).
    pub member_names: Vec<String>,
    pub leader: Option<String>,
}

impl EtcdHealth {
    pub fn healthy_count(&self) -> usize {
        self.members.iter().filter(|m| m.healthy).count()
    }

    /// All endpoints healthy, one agreed leader.
    pub fn all_healthy(&self) -> bool {
        let leaders: std::collections::BTreeSet<_> = self
            .members
            .iter()
            .filter_map(|m| m.leader_id.clone())
            .collect();
        !self.members.is_empty()
            && self.members.iter().all(|m| m.healthy)
            && leaders.len() == 1
            && !leaders.contains("0")
    }

    /// One line per unhealthy endpoint, for messages.
    pub fn problems(&self) -> String {
        self.members
            .iter()
            .filter(|m| !m.healthy)
            .map(|m| {
                format!(
                    "{}: {}",
                    m.endpoint,
                    m.error.as_deref().unwrap_or("no answer")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub(crate) async fn connect(
    endpoint: &str,
    cred: &EtcdCredentials,
    timeout: Duration,
) -> Result<Client, String> {
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(&cred.ca_pem))
        .identity(Identity::from_pem(&cred.cert_pem, &cred.key_pem));
    let opts = ConnectOptions::new()
        .with_tls(tls)
        .with_connect_timeout(timeout)
        .with_timeout(timeout);
    Client::connect([endpoint], Some(opts))
        .await
        .map_err(|e| e.to_string())
}

async fn one(
    endpoint: &str,
    cred: &EtcdCredentials,
    timeout: Duration,
) -> (MemberHealth, Vec<String>) {
    let mut h = MemberHealth {
        endpoint: endpoint.to_string(),
        healthy: false,
        member_id: None,
        leader_id: None,
        raft_index: None,
        is_learner: false,
        version: None,
        error: None,
    };
    let mut names = Vec::new();
    let result = tokio::time::timeout(timeout * 2, async {
        let mut c = connect(endpoint, cred, timeout).await?;
        let st = c.status().await.map_err(|e| e.to_string())?;
        // a learner refuses the member list ("rpc not supported for learner")
        let ml = if st.is_learner() {
            None
        } else {
            Some(c.member_list().await.map_err(|e| e.to_string())?)
        };
        Ok::<_, String>((st, ml))
    })
    .await;
    match result {
        Ok(Ok((st, ml))) => {
            h.healthy = st.leader() != 0;
            h.member_id = st.header().map(|x| format!("{:x}", x.member_id()));
            h.leader_id = Some(format!("{:x}", st.leader()));
            h.raft_index = Some(st.raft_index());
            h.is_learner = st.is_learner();
            h.version = Some(st.version().to_string());
            if !h.healthy {
                h.error = Some("no leader".into());
            }
            if let Some(ml) = ml {
                names = ml.members().iter().map(|m| m.name().to_string()).collect();
            }
        }
        Ok(Err(e)) => h.error = Some(e),
        Err(_) => h.error = Some(format!("no answer within {:?}", timeout * 2)),
    }
    (h, names)
}

/// Ask every endpoint (concurrently) once.
pub async fn check(endpoints: &[String], cred: &EtcdCredentials, timeout: Duration) -> EtcdHealth {
    let futs = endpoints.iter().map(|e| one(e, cred, timeout));
    let results = futures_util::future::join_all(futs).await;
    let member_names = results
        .iter()
        .find(|(_, n)| !n.is_empty())
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    let members: Vec<MemberHealth> = results.into_iter().map(|(h, _)| h).collect();
    let leader = members.iter().find_map(|m| {
        let l = m.leader_id.clone()?;
        (m.member_id.as_deref() == Some(l.as_str())).then(|| m.endpoint.clone())
    });
    EtcdHealth {
        members,
        member_names,
        leader,
    }
}

/// Wait (bounded, polling every second) until every endpoint is healthy with one leader.
pub async fn wait_healthy(
    endpoints: &[String],
    cred: &EtcdCredentials,
    timeout: Duration,
) -> Result<EtcdHealth, EtcdHealth> {
    let start = Instant::now();
    loop {
        let h = check(endpoints, cred, Duration::from_secs(3)).await;
        if h.all_healthy() {
            return Ok(h);
        }
        if start.elapsed() >= timeout {
            return Err(h);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
