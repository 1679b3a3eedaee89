//! etcd membership changes, always through the current leader: list the members, add one
//! (by its peer URL), remove one by its exact member id (never by an IP substring, the
//! original's bug), wait until a (re)joined member is healthy and caught up, and the quorum
//! arithmetic that decides, before anything changes, whether a change is safe.

use super::health::{self, EtcdCredentials, EtcdHealth};
use etcd_client::Client;
use serde::Serialize;
use std::time::{Duration, Instant};

/// One member, as the member list reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The member id, in hex as etcdctl prints it.
    pub id: String,
    #[serde(skip)]
    pub raw_id: u64,
    /// Empty while an added member has not started yet.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

impl Member {
    fn from_client(m: &etcd_client::Member) -> Member {
        Member {
            id: format!("{:x}", m.id()),
            raw_id: m.id(),
            name: m.name().to_string(),
            peer_urls: m.peer_urls().to_vec(),
            client_urls: m.client_urls().to_vec(),
            is_learner: m.is_learner(),
        }
    }
}

/// The smallest number of voting members that must agree in a cluster of `n`.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// The member that is `name` at `peer_url`: the name and the peer URL must both match
/// exactly; an added member that never started has no name yet and is matched by its peer
/// URL alone. A member with the name but another peer URL (or the reverse) is an error:
/// the cluster and the config disagree, and guessing would remove the wrong member.
pub fn find_exact<'a>(
    members: &'a [Member],
    name: &str,
    peer_url: &str,
) -> Result<Option<&'a Member>, String> {
    let by_url: Vec<&Member> = members
        .iter()
        .filter(|m| m.peer_urls.iter().any(|u| u == peer_url))
        .collect();
    let by_name: Vec<&Member> = members.iter().filter(|m| m.name == name).collect();
    match (by_url.as_slice(), by_name.as_slice()) {
        ([], []) => Ok(None),
        ([m], []) if m.name.is_empty() => Ok(Some(m)),
        ([m], [n]) if m.id == n.id => Ok(Some(m)),
        _ => Err(format!(
            "the etcd member list does not match the config for {name} ({peer_url}): members with that name: [{}], members with that peer URL: [{}]",
            describe(&by_name),
            describe(&by_url)
        )),
    }
}

fn describe(ms: &[&Member]) -> String {
    ms.iter()
        .map(|m| format!("{} {} {}", m.id, m.name, m.peer_urls.join(",")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether removing one member keeps the cluster writable: the members that answer must
/// agree on the removal (a quorum of the current cluster, the removed one included when it
/// is healthy), and those left must still make a quorum of the smaller cluster.
pub fn removal_is_safe(
    total: usize,
    healthy_others: usize,
    removed_is_healthy: bool,
) -> Result<(), String> {
    if total <= 1 {
        return Err("it is the only etcd member; removing it would destroy the cluster".into());
    }
    let voters = healthy_others + usize::from(removed_is_healthy);
    if voters < quorum(total) {
        return Err(format!(
            "only {voters} of {total} members are healthy; {} are needed to agree on the removal",
            quorum(total)
        ));
    }
    let need = quorum(total - 1);
    if healthy_others < need {
        return Err(format!(
            "after removing it {healthy_others} healthy member(s) would be left of {} and {need} are needed for quorum",
            total - 1
        ));
    }
    Ok(())
}

/// Whether the members other than a failed one still have quorum of the whole cluster
/// (what `etcdfix` needs before it can remove and re-add the failed member).
pub fn rebuild_is_safe(total: usize, healthy_others: usize) -> Result<(), String> {
    let need = quorum(total);
    if healthy_others < need {
        return Err(format!(
            "only {healthy_others} of the other {} members are healthy and {need} of {total} are needed for quorum: the cluster has lost quorum",
            total.saturating_sub(1)
        ));
    }
    Ok(())
}

/// Whether adding one member keeps quorum while the new one is still starting: the
/// healthy members must make a quorum of the bigger cluster.
pub fn addition_is_safe(total: usize, healthy: usize) -> Result<(), String> {
    let need = quorum(total + 1);
    if healthy < need {
        return Err(format!(
            "only {healthy} of {total} members are healthy and a cluster of {} needs {need}: adding a member now could lose quorum",
            total + 1
        ));
    }
    Ok(())
}

/// A client connected to the current leader (found by asking every endpoint).
pub struct Leader {
    pub endpoint: String,
    pub client: Client,
    pub health: EtcdHealth,
}

/// Find the leader among `endpoints` and connect to it.
pub async fn connect_leader(
    endpoints: &[String],
    cred: &EtcdCredentials,
    timeout: Duration,
) -> Result<Leader, String> {
    let h = health::check(endpoints, cred, timeout).await;
    let Some(endpoint) = h.leader.clone() else {
        return Err(format!(
            "no etcd leader among {} ({})",
            endpoints.join(", "),
            if h.problems().is_empty() {
                "members disagree on the leader".to_string()
            } else {
                h.problems()
            }
        ));
    };
    let client = health::connect(&endpoint, cred, timeout)
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    Ok(Leader {
        endpoint,
        client,
        health: h,
    })
}

impl Leader {
    pub async fn members(&mut self) -> Result<Vec<Member>, String> {
        let r = self
            .client
            .member_list()
            .await
            .map_err(|e| format!("member list from {}: {e}", self.endpoint))?;
        Ok(r.members().iter().map(Member::from_client).collect())
    }

    /// Add a voting member at `peer_url`; returns it (nameless until it starts) and the
    /// member list after the change.
    pub async fn add(&mut self, peer_url: &str) -> Result<(Member, Vec<Member>), String> {
        let r = self
            .client
            .member_add([peer_url], None)
            .await
            .map_err(|e| format!("member add {peer_url} through {}: {e}", self.endpoint))?;
        let added = r
            .member()
            .map(Member::from_client)
            .ok_or_else(|| format!("member add {peer_url}: the answer names no member"))?;
        Ok((
            added,
            r.member_list().iter().map(Member::from_client).collect(),
        ))
    }

    /// Remove the member with exactly this id.
    pub async fn remove(&mut self, m: &Member) -> Result<(), String> {
        self.client
            .member_remove(m.raw_id)
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "member remove {} ({}) through {}: {e}",
                    m.id, m.name, self.endpoint
                )
            })
    }
}

/// `name=peer-url` pairs of the members that have started, plus `extra` (a member being
/// added, which has no name yet): what a joining member's `--initial-cluster` must say.
pub fn initial_cluster(members: &[Member], extra: Option<(&str, &str)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = members
        .iter()
        .filter(|m| !m.name.is_empty())
        .filter_map(|m| Some((m.name.clone(), m.peer_urls.first()?.clone())))
        .collect();
    if let Some((n, u)) = extra {
        out.retain(|(_, url)| url != u);
        out.push((n.to_string(), u.to_string()));
    }
    out
}

/// Wait (bounded, polling once a second) until `endpoint` answers with a leader and has
/// applied at least what the leader had committed when the wait began.
pub async fn wait_caught_up(
    endpoint: &str,
    leader_endpoint: &str,
    cred: &EtcdCredentials,
    timeout: Duration,
) -> Result<u64, String> {
    let start = Instant::now();
    let target = {
        let h = health::check(&[leader_endpoint.to_string()], cred, Duration::from_secs(5)).await;
        h.members
            .first()
            .and_then(|m| m.raft_index)
            .ok_or_else(|| {
                format!(
                    "the leader {leader_endpoint} does not answer: {}",
                    h.problems()
                )
            })?
    };
    let mut last = String::from("no answer yet");
    loop {
        let h = health::check(&[endpoint.to_string()], cred, Duration::from_secs(3)).await;
        if let Some(m) = h.members.first() {
            match (m.healthy, m.raft_index) {
                (true, Some(i)) if i >= target => return Ok(i),
                (true, Some(i)) => last = format!("raft index {i} of {target}"),
                _ => last = m.error.clone().unwrap_or_else(|| "not healthy".into()),
            }
        }
        if start.elapsed() >= timeout {
            return Err(format!(
                "{endpoint} has not caught up with the leader within {timeout:?}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, name: &str, ip: &str) -> Member {
        Member {
            id: format!("{id:x}"),
            raw_id: id,
            name: name.into(),
            peer_urls: vec![format!("https://{ip}:2380")],
            client_urls: vec![format!("https://{ip}:2379")],
            is_learner: false,
        }
    }

    #[test]
    fn exact_match_never_matches_an_ip_prefix() {
        let ms = vec![m(1, "etcd1", "10.0.0.11"), m(2, "etcd2", "10.0.0.12")];
        assert_eq!(find_exact(&ms, "etcd9", "https://10.0.0.1:2380"), Ok(None));
        let found = find_exact(&ms, "etcd2", "https://10.0.0.12:2380")
            .unwrap()
            .unwrap();
        assert_eq!(found.raw_id, 2);
    }

    #[test]
    fn a_nameless_added_member_is_found_by_url_and_a_conflict_is_an_error() {
        let ms = vec![m(1, "etcd1", "10.0.0.1"), m(7, "", "10.0.0.4")];
        assert_eq!(
            find_exact(&ms, "etcd4", "https://10.0.0.4:2380")
                .unwrap()
                .unwrap()
                .raw_id,
            7
        );
        let err = find_exact(&ms, "etcd1", "https://10.0.0.9:2380").unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn quorum_arithmetic() {
        assert_eq!(
            (quorum(1), quorum(2), quorum(3), quorum(4), quorum(5)),
            (1, 2, 2, 3, 3)
        );
        // 3 members, all healthy: removing one leaves 2 of 2
        assert!(removal_is_safe(3, 2, true).is_ok());
        // a dead member of 3 with both others healthy can go
        assert!(removal_is_safe(3, 2, false).is_ok());
        // 3 members, one other is down: 1 left of 2 -> refuse
        assert!(removal_is_safe(3, 1, true).is_err());
        // 2 members, both healthy: 1 of 1 left is fine
        assert!(removal_is_safe(2, 1, true).is_ok());
        assert!(removal_is_safe(1, 0, true).is_err());
        // etcdfix: 2 of 3 others healthy is quorum; 1 of 3 is not
        assert!(rebuild_is_safe(3, 2).is_ok());
        let e = rebuild_is_safe(3, 1).unwrap_err();
        assert!(e.contains("lost quorum"), "{e}");
        // adding a 4th to 3 healthy: quorum(4) = 3 -> fine; to 2 healthy of 3: refuse
        assert!(addition_is_safe(3, 3).is_ok());
        assert!(addition_is_safe(3, 2).is_err());
    }

    #[test]
    fn initial_cluster_lists_started_members_and_the_joiner() {
        let ms = vec![m(1, "etcd1", "10.0.0.1"), m(7, "", "10.0.0.4")];
        let ic = initial_cluster(&ms, Some(("etcd4", "https://10.0.0.4:2380")));
        assert_eq!(
            ic,
            vec![
                ("etcd1".to_string(), "https://10.0.0.1:2380".to_string()),
                ("etcd4".to_string(), "https://10.0.0.4:2380".to_string())
            ]
        );
    }
}
