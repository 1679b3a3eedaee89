//! etcd's data on a master: moving a data dir's contents aside (never deleted), a
//! restore's staging dir and putting the restored data in place, and room for snapshot
//! copies.

use crate::ssh::shell::{quote, refuse_unsafe_paths};

/// Marker [`move_aside`] prints when it moved something.
pub const MOVED: &str = "k8s-manage:moved";

/// The kinds of moved-aside data dirs (`<data_dir>.<why>-<stamp>`) that [`move_aside`]
/// prunes.
pub const PRUNED_ASIDE: &[&str] = &["broken", "before-restore"];

/// Status of a script that found too little free space.
pub const NO_ROOM_STATUS: i32 = 98;

/// Moves everything in `data_dir` into `aside` (made 0700), leaves `data_dir` empty with
/// mode 0700 (it may be a mount point, so the dir itself stays). Prints [`MOVED`] when
/// anything was moved. Before moving: removes the oldest earlier moved-aside dirs
/// (`<data_dir>.broken-<stamp>`, `<data_dir>.before-restore-<stamp>`) so that `keep`
/// remain with the new one, and, when `aside` is on another filesystem than `data_dir`
/// (a mount point), stops (status [`NO_ROOM_STATUS`]) unless that filesystem has room for
/// the data.
pub fn move_aside(data_dir: &str, aside: &str, keep: u32) -> String {
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
         \x20   [ \"$avail\" -gt $((need + 65536)) ] || {{ echo \"k8s-manage: moving \"{d}\" aside needs $((need / 1024 + 64)) MiB in \"{p}\", only $((avail / 1024)) MiB are free: free space there or lower etcd-moved-aside-kept\" >&2; exit {NO_ROOM_STATUS}; }}\n\
         \x20 fi\n\
         \x20 mkdir -p -m 0700 {a}\n  find {d} -mindepth 1 -maxdepth 1 -exec mv {{}} {a}/ \\;\n  echo {MOVED}\nfi\nchmod 0700 {d}\n[ -z \"$(ls -A {d})\" ]\n",
        guard = refuse_unsafe_paths(&[data_dir, aside]),
        globs = globs.join(" "),
        keep = keep.max(1),
    )
}

/// A fresh, empty staging dir for a restore (0700).
pub fn prepare_staging(staging: &str) -> String {
    let s = quote(staging);
    format!(
        "set -e\n{}rm -rf {s}\nmkdir -p -m 0700 {s}\n",
        refuse_unsafe_paths(&[staging])
    )
}

/// Moves the restored data (`<staging>/data/*`) into the empty `data_dir`, then drops the
/// staging dir. Fails when `data_dir` is not empty or the restore wrote no `member` dir.
pub fn install_restored(staging: &str, data_dir: &str) -> String {
    let (s, d) = (quote(&format!("{staging}/data")), quote(data_dir));
    let top = quote(staging);
    format!(
        "set -e\n{guard}[ -d {s}/member ]\nmkdir -p {d}\n[ -z \"$(ls -A {d})\" ]\nfind {s} -mindepth 1 -maxdepth 1 -exec mv {{}} {d}/ \\;\nrm -rf {top}\nchmod 0700 {d}\n",
        guard = refuse_unsafe_paths(&[staging, data_dir])
    )
}

/// Run before the copy `<name>.db` of `bytes` is written to `dir`: removes the oldest
/// other copies (by the time they were written) so that `keep` remain with the new one,
/// then stops (status [`NO_ROOM_STATUS`], saying what is needed and what is free) unless
/// the folder's filesystem has room for the copy and 64 MiB to spare.
pub fn make_room(dir: &str, name: &str, bytes: u64, keep: u32) -> String {
    let d = quote(dir);
    let file = quote(&format!("{name}.db"));
    let need_kib = bytes.div_ceil(1024) + 64 * 1024;
    format!(
        "set -e\n{guard}mkdir -p -m 0700 {d}\n\
         ls -1t {d} | grep -E '^[A-Za-z0-9_][A-Za-z0-9._-]*[.]db$' | grep -vxF {file} | tail -n +{keep} | \
         while read -r f; do rm -f -- {d}/\"$f\" {d}/\"$f\".sha256; echo \"removed the old copy $f\"; done\n\
         avail=$(df -Pk {d} | awk 'NR==2 {{print $4}}')\n\
         [ \"$avail\" -ge {need_kib} ] || {{ echo \"k8s-manage: only $((avail / 1024)) MiB free in \"{d}\"; the snapshot copy needs {need_mib} MiB (its size and 64 MiB to spare): free space there or lower etcd-snapshot-copies-kept\" >&2; exit {NO_ROOM_STATUS}; }}\n",
        guard = refuse_unsafe_paths(&[dir]),
        keep = keep.max(1),
        need_mib = need_kib.div_ceil(1024),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_sh::{HOSTILE, assert_not_pwned, fake_tool, names_in, run_in, run_ok};
    use super::*;
    use crate::ssh::shell::{UNSAFE_PATH_STATUS, recording_tools};

    #[test]
    fn scripts_quote_paths_and_never_delete_the_data() {
        let s = move_aside("/var/lib/my etcd", "/var/lib/my etcd.broken-X", 2);
        assert!(s.contains("'/var/lib/my etcd'"), "{s}");
        assert!(!s.contains("rm -rf -- '/var/lib/my etcd'\n"), "{s}");
        let i = install_restored("/var/lib/etcd.restore-X", "/var/lib/etcd");
        assert!(
            i.contains("[ -d /var/lib/etcd.restore-X/data/member ]"),
            "{i}"
        );
        assert!(i.contains("rm -rf /var/lib/etcd.restore-X\n"), "{i}");
        assert_eq!(
            prepare_staging("/var/lib/etcd.restore-X")
                .lines()
                .skip(2)
                .collect::<Vec<_>>(),
            [
                "rm -rf /var/lib/etcd.restore-X",
                "mkdir -p -m 0700 /var/lib/etcd.restore-X"
            ]
        );
    }

    #[test]
    fn no_script_touches_an_empty_path_or_the_root() {
        for bad in ["", "/", "//", "/."] {
            for script in [
                move_aside(bad, "/var/lib/etcd.broken-X", 2),
                move_aside("/var/lib/etcd", bad, 2),
                prepare_staging(bad),
                install_restored(bad, "/var/lib/etcd"),
                install_restored("/var/lib/etcd.restore-X", bad),
                make_room(bad, "s", 1, 2),
            ] {
                let (code, calls) = recording_tools::run(&script);
                assert_eq!(code, Some(UNSAFE_PATH_STATUS), "{bad:?}: {script}");
                assert!(calls.is_empty(), "{bad:?} ran {calls:?}");
            }
        }
        // a good path goes on to its tools
        let (code, calls) = recording_tools::run(&prepare_staging("/var/lib/etcd.restore-X"));
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
        let aside = format!("{d}.broken-20250101T000000Z");
        assert!(run_ok(t.path(), &move_aside(d, &aside, 2)).contains(MOVED));
        assert_eq!(
            std::fs::read(format!("{aside}/member/snap/db")).unwrap(),
            b"db"
        );
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
        assert_eq!(
            names_in(t.path()),
            [
                "etcd data",
                "etcd data.before-restore-20240301T000000Z",
                "etcd data.broken-20250101T000000Z",
                "etcd data.broken-notastamp",
                "etcd data.restore-20240101T000000Z",
            ]
        );
    }

    /// Hostile data dir names: the data moves into the dir named, the staging dir is made
    /// and the restored data put in place; and with a fake `stat` (another filesystem)
    /// and `df` (nothing free) the refusal names the dirs as they are.
    #[test]
    fn hostile_data_dirs_are_moved_staged_and_named_as_they_are() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().display().to_string();
        for name in HOSTILE {
            let data = format!("{root}/{name}");
            std::fs::create_dir_all(format!("{data}/member")).unwrap();
            let aside = format!("{data}.broken-20250101T000000Z");
            let script = move_aside(&data, &aside, 2);
            assert!(run_ok(t.path(), &script).contains(MOVED), "{name}");
            assert!(std::path::Path::new(&format!("{aside}/member")).is_dir());
            let staging = format!("{data}.restore-X");
            run_ok(t.path(), &prepare_staging(&staging));
            std::fs::create_dir_all(format!("{staging}/data/member")).unwrap();
            run_ok(t.path(), &install_restored(&staging, &data));
            assert!(std::path::Path::new(&format!("{data}/member")).is_dir());
            assert!(!std::path::Path::new(&staging).exists());
            assert_not_pwned(t.path(), &script);
        }
        fake_tool(t.path(), "stat", "echo $$");
        fake_tool(t.path(), "df", "printf 'h\\nfs 1 1 0 0%% /\\n'");
        for name in HOSTILE {
            let data = format!("{root}/{name}");
            let script = move_aside(&data, &format!("{data}.broken-1"), 2);
            let out = run_in(t.path(), &script);
            assert_eq!(out.status.code(), Some(NO_ROOM_STATUS), "{name}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!(
                    "moving {data} aside needs 64 MiB in {root}, only 0 MiB"
                )),
                "{name}: {err}"
            );
            assert_not_pwned(t.path(), &script);
        }
    }

    #[test]
    fn a_snapshot_folder_with_a_hostile_name_is_named_as_it_is() {
        let t = tempfile::tempdir().unwrap();
        for name in HOSTILE {
            let dir = format!("{}/{name}", t.path().display());
            let script = make_room(&dir, "s", u64::MAX / 4, 2);
            let out = run_in(t.path(), &script);
            assert_eq!(out.status.code(), Some(NO_ROOM_STATUS), "{name}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!(" MiB free in {dir}; ")),
                "{name}: {err}"
            );
            assert!(std::path::Path::new(&dir).is_dir());
            assert_not_pwned(t.path(), &script);
        }
    }

    #[test]
    fn old_copies_are_pruned_to_the_newest_and_free_space_is_checked() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("snapshots");
        std::fs::create_dir(&dir).unwrap();
        let now = std::time::SystemTime::now();
        for (i, n) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let f = dir.join(format!("{n}.db"));
            std::fs::write(&f, b"x").unwrap();
            std::fs::write(dir.join(format!("{n}.db.sha256")), b"x").unwrap();
            // a is the oldest, e the newest
            let when = now - std::time::Duration::from_secs(100 - i as u64 * 10);
            std::fs::File::options()
                .write(true)
                .open(&f)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        std::fs::write(dir.join("notes.txt"), b"not a snapshot").unwrap();
        let d = dir.to_str().unwrap();
        // keep 3: two old copies stay beside the new one (`c` is being rewritten itself)
        run_ok(t.path(), &make_room(d, "c", 1000, 3));
        assert_eq!(
            names_in(&dir),
            [
                "c.db",
                "c.db.sha256",
                "d.db",
                "d.db.sha256",
                "e.db",
                "e.db.sha256",
                "notes.txt"
            ]
        );
        // a copy larger than the free space is refused before anything is written
        let out = run_in(t.path(), &make_room(d, "f", u64::MAX / 4, 3));
        assert_eq!(out.status.code(), Some(NO_ROOM_STATUS));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("MiB free in") && err.contains("etcd-snapshot-copies-kept"),
            "{err}"
        );
        assert!(!dir.join("f.db").exists());
    }
}
