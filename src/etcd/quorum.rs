//! etcd's own rules for membership changes, as pure functions, so that `add`, `remove` and
//! `etcdfix` refuse before anything changes exactly what etcd would refuse (or could not
//! commit). The rules are those of etcd's strict reconfiguration check (on by default):
//!
//! - adding a voting member: a 1-member cluster whose member is started may add one (the
//!   documented way to grow, and to restore); any larger cluster needs its started members
//!   to be a quorum of the new size (`IsReadyToAddVotingMember`);
//! - adding any member, learners included: the leader must be connected to every voting
//!   member (`isConnectedFullySince`), and etcd 3.4/3.5 take one learner at a time;
//! - promoting a learner: the started voters plus the learner are a quorum of the new size
//!   (`IsReadyToPromoteMember`), and the learner has caught up (checked by waiting);
//! - removing a voting member: the started members that stay are a quorum of the smaller
//!   cluster (`IsReadyToRemoveVotingMember`); a learner can always go;
//! - and raft itself: nothing commits without a quorum of started voters.
//!
//! Learners never count toward quorum. "Started" here means a member that answers now and
//! sees a leader: etcd counts a member as started once it has ever published its name and
//! separately asks that the leader has heard from it recently; a member that answers is
//! both, one that does not answer is, for these rules, neither.

use std::fmt;

/// The voting members of a cluster (learners are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voters {
    /// Voting members in the member list.
    pub total: usize,
    /// Of those, the ones that are started (answer with a leader).
    pub started: usize,
}

/// Why etcd would refuse a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Fewer voting members are started than a quorum: no change can commit, only a
    /// restore from a snapshot helps.
    LostQuorum(String),
    /// The cluster has quorum but etcd would refuse this change now (a voting member is
    /// down, or the change would lose quorum): bring members back first.
    NotNow(String),
}

impl Refused {
    pub fn lost_quorum(&self) -> bool {
        matches!(self, Refused::LostQuorum(_))
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::LostQuorum(s) | Refused::NotNow(s) => f.write_str(s),
        }
    }
}

/// The smallest number of voting members that must agree in a cluster of `n`.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// The cluster can commit anything at all: its started voters are a quorum.
pub fn has_quorum(v: Voters) -> Result<(), Refused> {
    if v.total == 0 || v.started < quorum(v.total) {
        return Err(Refused::LostQuorum(format!(
            "only {} of {} voting members are started and {} are needed: the cluster has lost quorum",
            v.started,
            v.total,
            quorum(v.total)
        )));
    }
    Ok(())
}

/// etcd adds a member (voter or learner) only while its leader is connected to every
/// voting member.
fn every_voter_started(v: Voters) -> Result<(), Refused> {
    has_quorum(v)?;
    if v.started < v.total {
        return Err(Refused::NotNow(format!(
            "{} of {} voting members are started; etcd adds a member only while every voting member is",
            v.started, v.total
        )));
    }
    Ok(())
}

/// Add a voting member directly (how etcd before 3.4, which has no learners, grows).
pub fn may_add_voter(v: Voters) -> Result<(), Refused> {
    every_voter_started(v)?;
    let n = v.total + 1;
    if v.total == 1 && v.started == 1 {
        return Ok(()); // etcd's exception: a 1-member cluster may grow to 2
    }
    if v.started < quorum(n) {
        return Err(Refused::NotNow(format!(
            "only {} of {} members are started and a cluster of {n} needs {}: adding a voting member now could lose quorum",
            v.started,
            v.total,
            quorum(n)
        )));
    }
    Ok(())
}

/// Whether adding a voting member leaves the cluster without quorum until the new member
/// has started (1 → 2 without learners): the Kubernetes API stops answering meanwhile.
pub fn voter_add_pauses_quorum(v: Voters) -> bool {
    v.started < quorum(v.total + 1)
}

/// Add a learner (etcd 3.4+). It does not vote, so the quorum does not change; etcd still
/// wants every voting member connected, and holds one learner at a time.
pub fn may_add_learner(v: Voters, learners: usize) -> Result<(), Refused> {
    every_voter_started(v)?;
    if learners > 0 {
        return Err(Refused::NotNow(format!(
            "the cluster already has {learners} learner(s); etcd takes one at a time"
        )));
    }
    Ok(())
}

/// Promote a caught-up learner to a voting member: the started voters and the learner must
/// be a quorum of the bigger cluster.
pub fn may_promote(v: Voters) -> Result<(), Refused> {
    has_quorum(v)?;
    let n = v.total + 1;
    if v.started + 1 < quorum(n) {
        return Err(Refused::NotNow(format!(
            "{} of {} voting members are started; with the learner that is {} of the {} a cluster of {n} needs",
            v.started,
            v.total,
            v.started + 1,
            quorum(n)
        )));
    }
    Ok(())
}

/// Remove one member. A learner only needs a cluster that can commit. A voting member: the
/// change must commit (the leaving one votes on it when started), the only member never
/// goes, and the started members that stay must be a quorum of the smaller cluster.
pub fn may_remove(
    v: Voters,
    leaving_is_learner: bool,
    leaving_started: bool,
) -> Result<(), Refused> {
    has_quorum(v)?;
    if leaving_is_learner {
        return Ok(());
    }
    if v.total <= 1 {
        return Err(Refused::NotNow(
            "it is the only etcd member; removing it would destroy the cluster".into(),
        ));
    }
    let staying = v.started.saturating_sub(usize::from(leaving_started));
    let need = quorum(v.total - 1);
    if staying < need {
        return Err(Refused::NotNow(format!(
            "after removing it {staying} started member(s) would be left of {} and {need} are needed for quorum",
            v.total - 1
        )));
    }
    Ok(())
}

/// Rebuild one voting member (`etcdfix`): it is stopped, removed, added back as a learner
/// (or, without learners, as a voter) and promoted. Every step must be one etcd accepts,
/// so: the others alone are a quorum of the whole cluster (the removal commits without
/// the rebuilt one), and every other voting member is started (etcd adds a member only
/// then).
pub fn may_rebuild(v: Voters, target_started: bool) -> Result<(), Refused> {
    let without = Voters {
        total: v.total,
        started: v.started.saturating_sub(usize::from(target_started)),
    };
    if v.total <= 1 {
        return Err(Refused::LostQuorum(
            "a single-member cluster cannot rebuild its member from the others".into(),
        ));
    }
    has_quorum(without).map_err(|_| {
        Refused::LostQuorum(format!(
            "only {} of the other {} members are started and {} of {} are needed for quorum: the cluster has lost quorum",
            without.started,
            v.total - 1,
            quorum(v.total),
            v.total
        ))
    })?;
    may_remove(without, false, false)?;
    let rest = Voters {
        total: v.total - 1,
        started: without.started,
    };
    every_voter_started(rest).map_err(|_| {
        Refused::NotNow(format!(
            "{} of the other {} members are started; etcd adds the member back only while every other voting member is",
            rest.started, rest.total
        ))
    })?;
    may_promote(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(total: usize, started: usize) -> Voters {
        Voters { total, started }
    }

    /// Outcome of a rule as a short word for the table.
    fn word(r: Result<(), Refused>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(Refused::NotNow(_)) => "refused",
            Err(Refused::LostQuorum(_)) => "lost",
        }
    }

    #[test]
    fn quorum_sizes() {
        assert_eq!(
            (1..=7).map(quorum).collect::<Vec<_>>(),
            vec![1, 2, 2, 3, 3, 4, 4]
        );
    }

    /// The rule, case by case: (voters, started, add voter, add learner, promote a learner).
    #[test]
    fn adding_follows_etcd() {
        let table: &[(usize, usize, &str, &str, &str)] = &[
            // 1 -> 2: etcd's exception for a 1-member cluster
            (1, 1, "ok", "ok", "ok"),
            // a 1-member cluster whose member is down has nothing
            (1, 0, "lost", "lost", "lost"),
            // 2 with 1 started (a member added but never started): refused, and the
            // cluster has no quorum at all
            (2, 1, "lost", "lost", "lost"),
            (2, 2, "ok", "ok", "ok"),
            (3, 3, "ok", "ok", "ok"),
            // 3 with 1 down: quorum, but etcd adds only with every voter connected
            (3, 2, "refused", "refused", "ok"),
            (3, 1, "lost", "lost", "lost"),
            (4, 3, "refused", "refused", "ok"),
            (5, 5, "ok", "ok", "ok"),
            (5, 4, "refused", "refused", "ok"),
            (5, 3, "refused", "refused", "ok"),
            (5, 2, "lost", "lost", "lost"),
        ];
        for &(total, started, voter, learner, promote) in table {
            let c = v(total, started);
            assert_eq!(
                (
                    word(may_add_voter(c)),
                    word(may_add_learner(c, 0)),
                    word(may_promote(c))
                ),
                (voter, learner, promote),
                "{total} voters, {started} started"
            );
        }
        // one learner at a time
        assert_eq!(word(may_add_learner(v(3, 3), 1)), "refused");
        let e = may_add_learner(v(3, 3), 1).unwrap_err().to_string();
        assert!(e.contains("one at a time"), "{e}");
    }

    #[test]
    fn only_one_to_two_without_learners_pauses_quorum() {
        assert!(voter_add_pauses_quorum(v(1, 1)));
        assert!(!voter_add_pauses_quorum(v(2, 2)));
        assert!(!voter_add_pauses_quorum(v(3, 3)));
        assert!(voter_add_pauses_quorum(v(3, 2)));
    }

    /// (voters, started, leaving is started, outcome) for removing a voting member.
    #[test]
    fn removing_follows_etcd() {
        let table: &[(usize, usize, bool, &str)] = &[
            // 3 with 1 down: the down one may go (2 of 2 stay) ...
            (3, 2, false, "ok"),
            // ... a started one may not (1 of 2 would stay)
            (3, 2, true, "refused"),
            (3, 3, true, "ok"),
            (2, 2, true, "ok"),
            // 2 with 1 down: nothing commits
            (2, 1, false, "lost"),
            (2, 1, true, "lost"),
            // the only member
            (1, 1, true, "refused"),
            // 5 with 2 down: a down one may go (3 of 4 stay), a started one not
            (5, 3, false, "ok"),
            (5, 3, true, "refused"),
            (5, 4, true, "ok"),
            // 4 with 1 down: either may go (2 of 3 stay at least)
            (4, 3, false, "ok"),
            (4, 3, true, "ok"),
            (4, 2, false, "lost"),
        ];
        for &(total, started, leaving_started, want) in table {
            assert_eq!(
                word(may_remove(v(total, started), false, leaving_started)),
                want,
                "{total} voters, {started} started, leaving one started: {leaving_started}"
            );
        }
        // a learner can always go while the cluster has quorum, and never without it
        assert!(may_remove(v(1, 1), true, true).is_ok());
        assert!(may_remove(v(3, 2), true, true).is_ok());
        assert!(may_remove(v(3, 1), true, false).unwrap_err().lost_quorum());
        let e = may_remove(v(3, 2), false, true).unwrap_err().to_string();
        assert!(e.contains("1 started member(s) would be left of 2"), "{e}");
    }

    /// (voters, started, the rebuilt one is started, outcome) for `etcdfix`.
    #[test]
    fn rebuilding_follows_etcd() {
        let table: &[(usize, usize, bool, &str)] = &[
            (3, 2, false, "ok"),
            (3, 3, true, "ok"),
            // 3 with the target and another down: lost quorum
            (3, 1, false, "lost"),
            (3, 2, true, "lost"),
            // 2 with the target down: the other alone is no quorum of 2
            (2, 1, false, "lost"),
            (1, 1, true, "lost"),
            (1, 0, false, "lost"),
            (5, 4, false, "ok"),
            // 5 with the target and one other down: quorum, but etcd would not add the
            // member back while the other is down
            (5, 3, false, "refused"),
            (5, 2, false, "lost"),
        ];
        for &(total, started, target_started, want) in table {
            assert_eq!(
                word(may_rebuild(v(total, started), target_started)),
                want,
                "{total} voters, {started} started, target started: {target_started}"
            );
        }
        let e = may_rebuild(v(3, 1), false).unwrap_err().to_string();
        assert!(e.contains("lost quorum"), "{e}");
        assert!(e.contains("1 of the other 2"), "{e}");
    }
}
