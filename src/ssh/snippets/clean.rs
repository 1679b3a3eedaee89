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
}
