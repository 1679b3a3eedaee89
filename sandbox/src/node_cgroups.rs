//! Releasing a sandbox node's cgroups before the node is removed.
//!
//! The nodes share this machine's cgroup v1 tree: the node's own dockerd makes a cgroup
//! per container (`/sys/fs/cgroup/<controller>/docker/<id>`) and its kubelet one per pod
//! (`kubepods/[<qos>/]pod<uid>`). Removing the node kills that dockerd with everything
//! else, so no runtime is left to remove them, and they stay behind, empty: about ten per
//! controller per node and per sandbox. Each kubelet's cAdvisor watches every cgroup
//! directory with inotify, so thousands of them (seen: 4,977 per controller after one run
//! of the tests) use up `fs.inotify.max_user_watches`, and a new kubelet then fails to
//! start cAdvisor ("inotify_add_watch ...: no space left on device") and never registers.
//!
//! So `down` first removes the node's containers through its own dockerd, which removes
//! their cgroups, and then removes what is still there of exactly those containers' and
//! pods' cgroups (`rmdir`, which refuses a cgroup that still has a process).

use bollard::Docker;
use std::time::Duration;

use super::preload::exec;

/// How long one node's clean-up may take before `down` goes on without it.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(90);

/// The script run in the node (`sh`): the node's containers are removed, then the
/// container and pod cgroups of those containers that are still there are removed
/// deepest first. Only ids and pod UIDs of the forms Docker and Kubernetes give
/// (hexadecimal, and hexadecimal with dashes) are used in a path.
pub const RELEASE_SCRIPT: &str = r#"set -u
command -v docker >/dev/null 2>&1 || exit 0
ids=$(docker ps -aq --no-trunc 2>/dev/null) || exit 0
[ -n "$ids" ] || exit 0
pods=$(docker ps -a --format '{{.Label "io.kubernetes.pod.uid"}}' 2>/dev/null | sort -u)
docker rm -f $ids >/dev/null 2>&1
release() {
    [ -d "$1" ] || return 0
    find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null
}
for id in $ids; do
    case "$id" in *[!0-9a-f]*) continue ;; esac
    for d in /sys/fs/cgroup/*/docker/"$id"; do release "$d"; done
done
for uid in $pods; do
    case "$uid" in *[!0-9a-f-]*) continue ;; esac
    for d in /sys/fs/cgroup/*/kubepods/pod"$uid" /sys/fs/cgroup/*/kubepods/*/pod"$uid"; do
        release "$d"
    done
done
exit 0
"#;

/// Release the cgroups of one running node (a container of the outer engine). Best
/// effort, bounded: a failure is returned as text for `down` to say, never stops it.
pub async fn release(docker: &Docker, node: &str) -> Result<(), String> {
    match tokio::time::timeout(
        CLEANUP_TIMEOUT,
        exec(docker, node, &["sh", "-c", RELEASE_SCRIPT]),
    )
    .await
    {
        Ok(Ok((0, _))) => Ok(()),
        Ok(Ok((code, out))) => Err(format!(
            "releasing the cgroups of {node} exited with {code}: {}",
            out.trim()
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "releasing the cgroups of {node} took more than {CLEANUP_TIMEOUT:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::RELEASE_SCRIPT;
    use std::process::Command;

    #[test]
    fn the_script_parses_in_sh() {
        let st = Command::new("sh")
            .args(["-n", "-c", RELEASE_SCRIPT])
            .status()
            .unwrap();
        assert!(st.success());
    }

    #[test]
    fn only_the_ids_and_pod_uids_of_the_node_reach_a_path() {
        // every path the script names is built from `$id` or `$uid`, after the check
        // that they hold only the characters Docker and Kubernetes use
        assert!(RELEASE_SCRIPT.contains(r#"case "$id" in *[!0-9a-f]*) continue"#));
        assert!(RELEASE_SCRIPT.contains(r#"case "$uid" in *[!0-9a-f-]*) continue"#));
        for line in RELEASE_SCRIPT
            .lines()
            .filter(|l| l.contains("/sys/fs/cgroup"))
        {
            assert!(
                line.contains("\"$id\"") || line.contains("\"$uid\""),
                "{line}"
            );
        }
        // rmdir only: nothing is deleted that still has a process or a file of its own
        assert!(!RELEASE_SCRIPT.contains("rm -r"));
    }
}
