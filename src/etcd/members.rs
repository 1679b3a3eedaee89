//! etcd membership changes, always through the current leader: list the members, add one
//! (by its peer URL; as a learner where etcd has them), promote a caught-up learner, remove
//! one by its exact member id (never by an IP substring, the original's bug), wait until a
//! (re)joined member is healthy and caught up, and how a machine joins, decided by etcd's
//! own rules ([`super::quorum`]) before anything changes.

use super::health::{self, EtcdCredentials, EtcdHealth};
use super::quorum::{self, Refused, Voters};
use etcd_client::{Client, MemberAddOptions};
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
    pub(crate) fn from_client(m: &etcd_client::Member) -> Member {
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

pub use super::quorum::quorum;

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

/// The voting members of `members` (how many, how many are started) and the learners.
pub fn voters<'a>(
    members: &'a [Member],
    started: &dyn Fn(&Member) -> bool,
) -> (Voters, Vec<&'a Member>) {
    let voting: Vec<&Member> = members.iter().filter(|m| !m.is_learner).collect();
    let v = Voters {
        total: voting.len(),
        started: voting.iter().filter(|m| started(m)).count(),
    };
    (v, members.iter().filter(|m| m.is_learner).collect())
}

/// Whether `m` is started: one of its client URLs answered healthy in `h` (a member that
/// never started has none).
pub fn is_started(m: &Member, h: &EtcdHealth) -> bool {
    m.client_urls
        .iter()
        .any(|u| h.members.iter().any(|x| &x.endpoint == u && x.healthy))
}

/// Ask every member of `members` at its own client URLs (what [`is_started`] reads).
pub async fn member_health(members: &[Member], cred: &EtcdCredentials) -> EtcdHealth {
    let urls: Vec<String> = members
        .iter()
        .flat_map(|m| m.client_urls.iter().cloned())
        .collect();
    health::check(&urls, cred, Duration::from_secs(5)).await
}

/// Whether an etcd server of `version` ("3.4.23") has learners (3.4 and later). An
/// unreadable version is treated as one without: adding a learner to a server that does
/// not know them would add a voting member.
pub fn supports_learners(version: &str) -> bool {
    let mut it = version.trim().trim_start_matches('v').split('.');
    let major = it.next().and_then(|x| x.parse::<u32>().ok());
    let minor = it.next().and_then(|x| x.parse::<u32>().ok());
    matches!((major, minor), (Some(ma), Some(mi)) if (ma, mi) >= (3, 4))
}

/// How one machine joins etcd, decided from the member list before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// Not a member yet: `member add` (as a learner when `learner`), start, catch up, and
    /// promote a learner. `pauses_quorum`: without learners, a 1-member cluster has no
    /// quorum until the second member has started.
    Add { learner: bool, pauses_quorum: bool },
    /// Already a learner (an earlier `add` stopped after `member add`): start it, catch
    /// up, promote.
    Learner(Member),
    /// Already a voting member (an earlier `add` got further): start it, wait.
    Voter(Member),
}

/// Decide how the member `already` (the exact match of the joining machine, if any) joins
/// `members`, by etcd's rules ([`super::quorum`]); `learners`: the server has them.
pub fn plan_join(
    members: &[Member],
    started: &dyn Fn(&Member) -> bool,
    already: Option<&Member>,
    learners: bool,
) -> Result<Join, Refused> {
    let (v, learner_members) = voters(members, started);
    match already {
        Some(m) if m.is_learner => {
            quorum::may_promote(v)?;
            Ok(Join::Learner(m.clone()))
        }
        Some(m) => Ok(Join::Voter(m.clone())),
        None if learners => {
            quorum::may_add_learner(v, learner_members.len()).map_err(|e| match e {
                Refused::NotNow(s) if !learner_members.is_empty() => Refused::NotNow(format!(
                    "{s}: {} (an earlier add that did not finish; run that add again, or remove the learner with `etcdctl member remove ID`)",
                    learner_members
                        .iter()
                        .map(|m| format!("learner {} at {}", m.id, m.peer_urls.join(",")))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                e => e,
            })?;
            Ok(Join::Add {
                learner: true,
                pauses_quorum: false,
            })
        }
        None => {
            quorum::may_add_voter(v)?;
            Ok(Join::Add {
                learner: false,
                pauses_quorum: quorum::voter_add_pauses_quorum(v),
            })
        }
    }
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

    /// Add a learner (a non-voting member, etcd 3.4+) at `peer_url`; returns it and the
    /// member list after the change.
    pub async fn add_learner(&mut self, peer_url: &str) -> Result<(Member, Vec<Member>), String> {
        let r = self
            .client
            .member_add([peer_url], Some(MemberAddOptions::new().with_is_learner()))
            .await
            .map_err(|e| {
                format!(
                    "member add --learner {peer_url} through {}: {e}",
                    self.endpoint
                )
            })?;
        let added = r
            .member()
            .map(Member::from_client)
            .ok_or_else(|| format!("member add {peer_url}: the answer names no member"))?;
        Ok((
            added,
            r.member_list().iter().map(Member::from_client).collect(),
        ))
    }

    /// Promote the learner `m` to a voting member (one try; etcd refuses while it has not
    /// caught up, see [`promote_when_ready`]).
    pub async fn promote(&mut self, m: &Member) -> Result<Vec<Member>, String> {
        self.client
            .member_promote(m.raw_id)
            .await
            .map(|r| r.members().iter().map(Member::from_client).collect())
            .map_err(|e| format!("member promote {} through {}: {e}", m.id, self.endpoint))
    }

    /// The etcd version the leader reported when it was found.
    pub fn version(&self) -> Option<&str> {
        self.health
            .members
            .iter()
            .find(|m| m.endpoint == self.endpoint)
            .and_then(|m| m.version.as_deref())
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

/// Promote the learner `m`, retrying (every second, bounded) while etcd answers that it is
/// not in sync with the leader yet; returns the member list after the promotion and how
/// many refusals came first.
pub async fn promote_when_ready(
    leader: &mut Leader,
    m: &Member,
    timeout: Duration,
) -> Result<(Vec<Member>, usize), String> {
    let start = Instant::now();
    let mut refusals = 0;
    loop {
        match leader.promote(m).await {
            Ok(list) => return Ok((list, refusals)),
            Err(e) if learner_not_ready(&e) && start.elapsed() < timeout => {
                refusals += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// etcd's answer to promoting a learner that has not caught up (`ErrLearnerNotReady`).
pub fn learner_not_ready(err: &str) -> bool {
    err.contains("in sync with leader")
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

    fn learner(id: u64, name: &str, ip: &str) -> Member {
        Member {
            is_learner: true,
            ..m(id, name, ip)
        }
    }

    /// Started = one of the first `n` ids.
    fn up_to(n: u64) -> impl Fn(&Member) -> bool {
        move |m: &Member| m.raw_id <= n
    }

    #[test]
    fn learners_are_not_voters() {
        let ms = vec![
            m(1, "etcd1", "10.0.0.1"),
            m(2, "etcd2", "10.0.0.2"),
            learner(3, "etcd3", "10.0.0.3"),
        ];
        let (v, l) = voters(&ms, &up_to(3));
        assert_eq!((v.total, v.started), (2, 2));
        assert_eq!(l.len(), 1);
        let (v, _) = voters(&ms, &up_to(1));
        assert_eq!((v.total, v.started), (2, 1));
    }

    #[test]
    fn learner_support_comes_from_the_server_version() {
        assert!(supports_learners("3.4.23"));
        assert!(supports_learners("3.5.15"));
        assert!(supports_learners("3.6.5"));
        assert!(supports_learners("v3.10.0"));
        assert!(!supports_learners("3.3.27"));
        assert!(!supports_learners("2.3.8"));
        assert!(!supports_learners(""));
        assert!(!supports_learners("unknown"));
    }

    #[test]
    fn a_machine_joins_as_a_learner_where_etcd_has_them() {
        let one = vec![m(1, "etcd1", "10.0.0.1")];
        // 1 -> 2 with learners: added as a learner, quorum untouched
        assert_eq!(
            plan_join(&one, &up_to(1), None, true),
            Ok(Join::Add {
                learner: true,
                pauses_quorum: false
            })
        );
        // without learners: etcd's exception for one member, and the API pauses
        assert_eq!(
            plan_join(&one, &up_to(1), None, false),
            Ok(Join::Add {
                learner: false,
                pauses_quorum: true
            })
        );
        // 2 -> 3 without learners: no pause
        let two = vec![m(1, "etcd1", "10.0.0.1"), m(2, "etcd2", "10.0.0.2")];
        assert_eq!(
            plan_join(&two, &up_to(2), None, false),
            Ok(Join::Add {
                learner: false,
                pauses_quorum: false
            })
        );
        // the one member is down: nothing
        assert!(
            plan_join(&one, &up_to(0), None, true)
                .unwrap_err()
                .lost_quorum()
        );
        // 3 with one down: refused (not lost)
        let three = vec![
            m(1, "etcd1", "10.0.0.1"),
            m(2, "etcd2", "10.0.0.2"),
            m(3, "etcd3", "10.0.0.3"),
        ];
        let e = plan_join(&three, &up_to(2), None, true).unwrap_err();
        assert!(!e.lost_quorum(), "{e}");
        assert!(e.to_string().contains("2 of 3 voting members"), "{e}");
    }

    #[test]
    fn a_rerun_resumes_its_own_learner_and_names_a_stray_one() {
        let ms = vec![m(1, "etcd1", "10.0.0.1"), learner(7, "", "10.0.0.4")];
        let mine = find_exact(&ms, "etcd4", "https://10.0.0.4:2380")
            .unwrap()
            .cloned();
        assert_eq!(
            plan_join(&ms, &up_to(1), mine.as_ref(), true),
            Ok(Join::Learner(ms[1].clone()))
        );
        // another machine joins while that learner is there: refused, naming it
        let e = plan_join(&ms, &up_to(1), None, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("one at a time"), "{e}");
        assert!(e.contains("learner 7 at https://10.0.0.4:2380"), "{e}");
        // a voting member already: only started and waited for
        assert_eq!(
            plan_join(&ms, &up_to(1), Some(&ms[0]), true),
            Ok(Join::Voter(ms[0].clone()))
        );
    }

    #[test]
    fn started_means_a_client_url_answered_healthy() {
        let h = EtcdHealth {
            members: vec![
                health::MemberHealth {
                    endpoint: "https://10.0.0.1:2379".into(),
                    healthy: true,
                    member_id: None,
                    leader_id: None,
                    raft_index: None,
                    is_learner: false,
                    version: None,
                    error: None,
                },
                health::MemberHealth {
                    endpoint: "https://10.0.0.2:2379".into(),
                    healthy: false,
                    member_id: None,
                    leader_id: None,
                    raft_index: None,
                    is_learner: false,
                    version: None,
                    error: Some("no answer".into()),
                },
            ],
            member_names: vec![],
            leader: None,
        };
        assert!(is_started(&m(1, "etcd1", "10.0.0.1"), &h));
        assert!(!is_started(&m(2, "etcd2", "10.0.0.2"), &h));
        // added, never started: no client URL
        let mut never = m(3, "", "10.0.0.3");
        never.client_urls.clear();
        assert!(!is_started(&never, &h));
    }

    #[test]
    fn only_the_not_in_sync_answer_is_retried() {
        assert!(learner_not_ready(
            "member promote 7 through https://10.0.0.1:2379: grpc request error: status: FailedPrecondition, message: \"etcdserver: can only promote a learner member which is in sync with leader\""
        ));
        assert!(!learner_not_ready(
            "etcdserver: can only promote a learner member"
        ));
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
