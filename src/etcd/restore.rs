//! etcd snapshot restore and member rebuild, the pure part: which program restores a
//! snapshot (`etcdutl` for etcd 3.5 and later, `etcdctl` for 3.4; found by trying, since an
//! image may carry either), its arguments, and where a data dir's contents are moved aside.
//! The shell steps on a master that move them aside (never deleted) and put a restored
//! data dir in place are in [`crate::ssh::snippets::etcd`].

use super::snapshot::stamp;

/// The program that turns a snapshot into a data dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RestoreTool {
    /// etcd 3.5 and later.
    Etcdutl,
    /// etcd 3.4 (deprecated for this in 3.5, gone in 3.6).
    Etcdctl,
}

impl RestoreTool {
    pub fn program(self) -> &'static str {
        match self {
            RestoreTool::Etcdutl => "etcdutl",
            RestoreTool::Etcdctl => "etcdctl",
        }
    }
}

/// What a restored member must be told: the same as its container says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreParams {
    /// The snapshot file, as the restoring container sees it.
    pub snapshot: String,
    /// The member's `--name`.
    pub name: String,
    /// `name=peer-url` of every member.
    pub initial_cluster: Vec<(String, String)>,
    pub peer_url: String,
    pub token: String,
    /// Where the restored data dir is written, as the container sees it (must not exist).
    pub data_dir: String,
}

/// (entrypoint, arguments, environment) of the restore.
pub fn restore_command(
    tool: RestoreTool,
    p: &RestoreParams,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let ic: Vec<String> = p
        .initial_cluster
        .iter()
        .map(|(n, u)| format!("{n}={u}"))
        .collect();
    let args = vec![
        "snapshot".to_string(),
        "restore".to_string(),
        p.snapshot.clone(),
        format!("--name={}", p.name),
        format!("--initial-cluster={}", ic.join(",")),
        format!("--initial-advertise-peer-urls={}", p.peer_url),
        format!("--initial-cluster-token={}", p.token),
        format!("--data-dir={}", p.data_dir),
    ];
    let env = match tool {
        RestoreTool::Etcdctl => vec!["ETCDCTL_API=3".to_string()],
        RestoreTool::Etcdutl => vec![],
    };
    (vec![tool.program().to_string()], args, env)
}

/// Where a data dir's old contents go: `<dir>.<why>-<stamp>`, beside it (the `why`s
/// pruned later: [`crate::ssh::snippets::etcd::PRUNED_ASIDE`]).
pub fn aside_dir(data_dir: &str, why: &str, stamp: &str) -> String {
    format!("{}.{why}-{stamp}", data_dir.trim_end_matches('/'))
}

/// What restoring a snapshot taken at `taken` throws away, for the confirmation.
pub fn loss_warning(cluster: &str, taken: Option<time::OffsetDateTime>, masters: usize) -> String {
    let when = match taken {
        Some(t) => format!("{} UTC", stamp(t)),
        None => "an unknown time".into(),
    };
    format!(
        "This rolls cluster {cluster} back to the snapshot taken at {when}: every change to the cluster's state made after it (objects created, changed or deleted since) is lost. The control plane of all {masters} masters is stopped meanwhile; each etcd data dir is moved aside (kept), not deleted."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> RestoreParams {
        RestoreParams {
            snapshot: "/snapshots/s1.db".into(),
            name: "etcd1".into(),
            initial_cluster: vec![
                ("etcd1".into(), "https://10.0.0.1:2380".into()),
                ("etcd2".into(), "https://10.0.0.2:2380".into()),
            ],
            peer_url: "https://10.0.0.1:2380".into(),
            token: "kubernetes-etcd".into(),
            data_dir: "/restore/data".into(),
        }
    }

    #[test]
    fn restore_arguments_name_every_member_and_the_token() {
        let (ep, args, env) = restore_command(RestoreTool::Etcdutl, &params());
        assert_eq!(ep, ["etcdutl"]);
        assert!(env.is_empty());
        assert_eq!(&args[..3], ["snapshot", "restore", "/snapshots/s1.db"]);
        assert!(args.contains(
            &"--initial-cluster=etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380".into()
        ));
        assert!(args.contains(&"--initial-cluster-token=kubernetes-etcd".into()));
        assert!(args.contains(&"--data-dir=/restore/data".into()));
        let (ep, _, env) = restore_command(RestoreTool::Etcdctl, &params());
        assert_eq!(ep, ["etcdctl"]);
        assert_eq!(env, ["ETCDCTL_API=3"]);
    }

    #[test]
    fn moved_aside_dirs_sit_beside_the_data_dir() {
        assert_eq!(
            aside_dir("/var/lib/etcd/", "broken", "20250101T000000Z"),
            "/var/lib/etcd.broken-20250101T000000Z"
        );
    }

    #[test]
    fn stamp_and_loss_warning() {
        let t = time::OffsetDateTime::from_unix_timestamp(1741064767).unwrap();
        assert_eq!(stamp(t), "20250304T050607Z");
        let w = loss_warning("k", Some(t), 3);
        assert!(w.contains("20250304T050607Z") && w.contains("lost"), "{w}");
    }
}
