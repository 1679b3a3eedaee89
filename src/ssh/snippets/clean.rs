//! Removing what the tool owns on a node.

use crate::ssh::shell::{quote, refuse_unsafe_paths};

/// Unmounts anything mounted below `dirs` (deepest first), then removes them; refuses to
/// start when any of them is empty, relative, `/` or not normalised.
pub fn unmount_and_remove(dirs: &[String]) -> String {
    let quoted: Vec<String> = dirs.iter().map(|d| quote(d)).collect();
    let refs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    format!(
        "{guard}for d in {q}; do awk -v d=\"$d/\" 'index($2\"/\", d)==1 {{print $2}}' /proc/mounts; done | sort -r | while read -r m; do umount \"$m\" || umount -l \"$m\"; done; rm -rf {q}",
        guard = refuse_unsafe_paths(&refs),
        q = quoted.join(" ")
    )
}

/// Deletes each `(name, kind)` network link that exists with that kind (`ip -d link`
/// names the kind: `bridge`, `vxlan`); a link of another kind, or none, is left alone.
pub fn remove_links(links: &[(&str, &str)]) -> String {
    links
        .iter()
        .map(|(name, kind)| {
            let (n, k) = (quote(name), quote(kind));
            format!(
                "if ip -d link show dev {n} 2>/dev/null | grep -qw -- {k}; then ip link delete dev {n}; fi\n"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_sh::HOSTILE;
    use super::*;
    use crate::ssh::shell::{UNSAFE_PATH_STATUS, recording_tools};

    #[test]
    fn an_empty_or_root_directory_stops_the_script_before_anything_runs() {
        for bad in ["", "/", "//", "/."] {
            let dirs = vec!["/etc/kubernetes".to_string(), bad.to_string()];
            let (code, calls) = recording_tools::run(&unmount_and_remove(&dirs));
            assert_eq!(code, Some(UNSAFE_PATH_STATUS), "{bad:?}");
            assert!(calls.is_empty(), "{bad:?}: the script ran {calls:?}");
        }
        // our own directories go on to `rm -rf` (recorded, not run)
        let dirs = vec!["/etc/kubernetes".to_string(), "/var/lib/etcd".to_string()];
        let (code, calls) = recording_tools::run(&unmount_and_remove(&dirs));
        assert_eq!(code, Some(0));
        assert_eq!(
            calls.last().unwrap(),
            "rm -rf /etc/kubernetes /var/lib/etcd"
        );
    }

    #[test]
    fn hostile_directory_names_reach_rm_as_one_word_each() {
        let t = tempfile::tempdir().unwrap();
        let pwned = t.path().join("pwned");
        for name in HOSTILE {
            let dir = format!(
                "/var/lib/{}",
                name.replace("pwned", &pwned.display().to_string())
            );
            let (code, calls) =
                recording_tools::run(&unmount_and_remove(std::slice::from_ref(&dir)));
            assert_eq!(code, Some(0), "{name}");
            assert_eq!(calls.last().unwrap(), &format!("rm -rf {dir}"), "{name}");
            assert!(!pwned.exists(), "{name} was expanded");
        }
    }

    #[test]
    fn only_a_link_of_the_named_kind_is_deleted() {
        use super::super::test_sh::{fake_tool, run_ok};
        let t = tempfile::tempdir().unwrap();
        // a fake `ip`: cni0 is a bridge, flannel.1 is a bridge too (not a vxlan), the
        // rest do not exist; deletions are recorded
        fake_tool(
            t.path(),
            "ip",
            "if [ \"$1\" = -d ]; then case \"$5\" in cni0|flannel.1) printf '3: %s: <UP>\\n    bridge forward_delay 1500\\n' \"$5\";; *) exit 1;; esac; else echo \"$*\" >> deleted; fi",
        );
        let links = [
            ("flannel.1", "vxlan"),
            ("cni0", "bridge"),
            ("gone0", "bridge"),
        ];
        run_ok(t.path(), &remove_links(&links));
        let deleted = std::fs::read_to_string(t.path().join("deleted")).unwrap();
        assert_eq!(deleted, "link delete dev cni0\n");
        for name in super::super::test_sh::HOSTILE {
            let script = remove_links(&[(name, "bridge")]);
            run_ok(t.path(), &script);
            super::super::test_sh::assert_not_pwned(t.path(), &script);
        }
    }
}
