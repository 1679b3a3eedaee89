//! etcd snapshot restore and member rebuild, the pure part: which program restores a
//! snapshot (`etcdutl` for etcd 3.5 and later, `etcdctl` for 3.4; found by trying, since an
//! image may carry either), its arguments, and the shell steps on a master that move a
//! data dir's contents aside (never deleted) and put a restored data dir in place.

use super::snapshot::stamp;
use crate::ssh::{quote, refuse_unsafe_paths};

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

/// Where a data dir's old contents go: `<dir>.<why>-<stamp>`, beside it.
pub fn aside_dir(data_dir: &str, why: &str, stamp: &str) -> String {
    format!("{}.{why}-{stamp}", data_dir.trim_end_matches('/'))
}

/// Marker the move-aside script prints when it moved something.
pub const MOVED: &str = "k8s-manage:moved";

/// The kinds of moved-aside data dirs ([`aside_dir`]'s `why`) that are pruned.
pub const PRUNED_ASIDE: &[&str] = &["broken", "before-restore"];

/// Move everything in `data_dir` into `aside` (made 0700), leave `data_dir` empty with mode
/// 0700 (it may be a mount point, so the dir itself stays). Prints [`MOVED`] when anything
/// was moved. Before moving: removes the oldest earlier moved-aside dirs
/// (`<data_dir>.broken-<stamp>`, `<data_dir>.before-restore-<stamp>`) so that `keep`
/// remain with the new one, and, when `aside` is on another filesystem than `data_dir`
/// (a mount point), stops (status [`crate::etcd::snapshot::NO_ROOM_STATUS`]) unless that
/// filesystem has room for the data.
pub fn move_aside_script(data_dir: &str, aside: &str, keep: u32) -> String {
    let (d, a) = (quote(data_dir), quote(aside));
    let parent = std::path::Path::new(data_dir)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let p = quote(&parent);
    let globs: Vec<String> = PRUNED_ASIDE.iter().map(|w| format!("{d}.{w}-*")).collect();
    let stamp = "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z";
    format!(
        "set -e\n{guard}mkdir -p {d}\nif [ -n \"$(ls -A {d})\" ]; then\n\
         \x20 for o in {globs}; do [ -d \"$o\" ] || continue; s=${{o##*-}}; case $s in {stamp}) printf '%s %s\\n' \"$s\" \"$o\";; esac; done | sort -r | tail -n +{keep} | \
         while read -r s o; do rm -rf -- \"$o\"; echo \"removed the old moved-aside $o\"; done\n\
         \x20 if [ \"$(stat -c %d {d})\" != \"$(stat -c %d {p})\" ]; then\n\
         \x20   need=$(du -sk {d} | cut -f1); avail=$(df -Pk {p} | awk 'NR==2 {{print $4}}')\n\
         \x20   [ \"$avail\" -gt $((need + 65536)) ] || {{ echo \"k8s-manage: moving {data_dir} aside needs $((need / 1024 + 64)) MiB in {parent}, only $((avail / 1024)) MiB are free: free space there or lower etcd-moved-aside-kept\" >&2; exit {no_room}; }}\n\
         \x20 fi\n\
         \x20 mkdir -p -m 0700 {a}\n  find {d} -mindepth 1 -maxdepth 1 -exec mv {{}} {a}/ \\;\n  echo {MOVED}\nfi\nchmod 0700 {d}\n[ -z \"$(ls -A {d})\" ]\n",
        guard = refuse_unsafe_paths(&[data_dir, aside]),
        globs = globs.join(" "),
        keep = keep.max(1),
        no_room = crate::etcd::snapshot::NO_ROOM_STATUS,
    )
}

/// A fresh, empty staging dir for a restore (0700).
pub fn prepare_staging_script(staging: &str) -> String {
    let s = quote(staging);
    format!(
        "set -e\n{}rm -rf {s}\nmkdir -p -m 0700 {s}\n",
        refuse_unsafe_paths(&[staging])
    )
}

/// Move the restored data (`<staging>/data/*`) into the empty `data_dir`, then drop the
/// staging dir. Fails when `data_dir` is not empty or the restore wrote no `member` dir.
pub fn install_restored_script(staging: &str, data_dir: &str) -> String {
    let (s, d) = (quote(&format!("{staging}/data")), quote(data_dir));
    let top = quote(staging);
    format!(
        "set -e\n{guard}[ -d {s}/member ]\nmkdir -p {d}\n[ -z \"$(ls -A {d})\" ]\nfind {s} -mindepth 1 -maxdepth 1 -exec mv {{}} {d}/ \\;\nrm -rf {top}\nchmod 0700 {d}\n",
        guard = refuse_unsafe_paths(&[staging, data_dir])
    )
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
    fn scripts_quote_paths_and_never_delete_the_data() {
        let s = move_aside_script("/var/lib/my etcd", "/var/lib/my etcd.broken-X", 2);
        assert!(s.contains("'/var/lib/my etcd'"), "{s}");
        assert!(!s.contains("rm -rf -- '/var/lib/my etcd'\n"), "{s}");
        let i = install_restored_script("/var/lib/etcd.restore-X", "/var/lib/etcd");
        assert!(
            i.contains("[ -d /var/lib/etcd.restore-X/data/member ]"),
            "{i}"
        );
        assert!(i.contains("rm -rf /var/lib/etcd.restore-X\n"), "{i}");
        assert_eq!(
            aside_dir("/var/lib/etcd/", "broken", "20250101T000000Z"),
            "/var/lib/etcd.broken-20250101T000000Z"
        );
    }

    #[test]
    fn no_script_touches_an_empty_path_or_the_root() {
        use crate::ssh::shell::recording_tools;
        for bad in ["", "/", "//", "/."] {
            for script in [
                move_aside_script(bad, "/var/lib/etcd.broken-X", 2),
                move_aside_script("/var/lib/etcd", bad, 2),
                prepare_staging_script(bad),
                install_restored_script(bad, "/var/lib/etcd"),
                install_restored_script("/var/lib/etcd.restore-X", bad),
            ] {
                let (code, calls) = recording_tools::run(&script);
                assert_eq!(
                    code,
                    Some(crate::ssh::UNSAFE_PATH_STATUS),
                    "{bad:?}: {script}"
                );
                assert!(calls.is_empty(), "{bad:?} ran {calls:?}");
            }
        }
        // a good path goes on to its tools
        let (code, calls) =
            recording_tools::run(&prepare_staging_script("/var/lib/etcd.restore-X"));
        assert_eq!(code, Some(0));
        assert_eq!(calls[0], "rm -rf /var/lib/etcd.restore-X");
    }

    /// Run here on a temporary data dir: the data moves, the oldest moved-aside dirs go.
    #[test]
    fn moving_aside_keeps_the_newest_earlier_copies() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("etcd data");
        std::fs::create_dir_all(data.join("member/snap")).unwrap();
        std::fs::write(data.join("member/snap/db"), b"db").unwrap();
        let d = data.to_str().unwrap();
        for old in [
            "broken-20240101T000000Z",
            "before-restore-20240301T000000Z",
            "broken-20240201T000000Z",
            "restore-20240101T000000Z", // a staging dir: not a moved-aside copy
            "broken-notastamp",
        ] {
            std::fs::create_dir(format!("{d}.{old}")).unwrap();
        }
        let aside = aside_dir(d, "broken", "20250101T000000Z");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(move_aside_script(d, &aside, 2))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(MOVED));
        assert_eq!(
            std::fs::read(format!("{aside}/member/snap/db")).unwrap(),
            b"db"
        );
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
        let mut left: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "etcd data",
                "etcd data.before-restore-20240301T000000Z",
                "etcd data.broken-20250101T000000Z",
                "etcd data.broken-notastamp",
                "etcd data.restore-20240101T000000Z",
            ]
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
