//! Which host directories a config may hand to k8s-manage (today `etcd-data-path`): an
//! absolute, normalised path that is not `/`, not a system directory, not a directory
//! Docker, the kubelet or k8s-manage itself owns, and not below a virtual filesystem.
//! `clean` removes such a directory and `etcdfix` / `restore` move its contents, so a
//! wrong value here could otherwise empty a host.

/// Directories that must never be a data directory of ours (nor any of their parents,
/// which are listed too: `/`, `/var`, `/var/lib`).
const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var",
    "/var/backups",
    "/var/cache",
    "/var/lib",
    "/var/local",
    "/var/log",
    "/var/mail",
    "/var/opt",
    "/var/run",
    "/var/spool",
    "/var/tmp",
    "/opt/cni",
    "/etc/cni",
];

/// Directories other software or this tool owns: neither they nor anything below them.
const OWNED_TREES: &[&str] = &[
    // Docker's default data root, containerd's
    "/var/lib/docker",
    "/var/lib/containerd",
    // the kubelet, cri-dockerd, CNI state, this tool's own files
    "/var/lib/kubelet",
    "/var/lib/cri-dockerd",
    "/var/lib/cni",
    "/etc/kubernetes",
    "/var/lib/k8s-manage",
    // virtual filesystems: nothing there survives a reboot or may be removed
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
];

/// Checks a host directory a config names. `Ok` is the normalised path (one trailing
/// `/` dropped); `Err` says what is wrong, to be shown with the file and line.
pub fn check_data_dir(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if !value.starts_with('/') {
        return Err("is not an absolute path (it must start with /)".into());
    }
    if value.chars().any(|c| c.is_control()) {
        return Err("holds a control character (a line break or tab)".into());
    }
    if value.contains([':', ',']) {
        return Err("holds `:` or `,`, which Docker's bind mounts cannot take".into());
    }
    // one trailing slash is accepted and dropped; `//` anywhere is not
    let trimmed = value.strip_suffix('/').unwrap_or(value);
    if trimmed.is_empty() {
        return Err("is / (the whole host)".into());
    }
    for comp in trimmed[1..].split('/') {
        match comp {
            "" => return Err("holds `//`; write each directory once, separated by one /".into()),
            "." | ".." => {
                return Err(format!(
                    "holds a `{comp}` component; write the directory's own absolute path"
                ));
            }
            _ => {}
        }
    }
    if SYSTEM_DIRS.contains(&trimmed) {
        return Err(format!(
            "is the system directory {trimmed}; it would be emptied by `clean` and moved by `etcdfix`/`restore`"
        ));
    }
    if let Some(owner) = OWNED_TREES
        .iter()
        .find(|t| trimmed == **t || trimmed.starts_with(&format!("{t}/")))
    {
        let whose = match *owner {
            "/var/lib/docker" | "/var/lib/containerd" => "the container engine",
            "/proc" | "/sys" | "/dev" | "/run" | "/var/run" => "a virtual filesystem",
            _ => "Kubernetes or k8s-manage itself",
        };
        let where_ = if trimmed == *owner { "" } else { "below " };
        return Err(format!("is {where_}{owner}, which belongs to {whose}"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths_are_normalised() {
        assert_eq!(check_data_dir("/var/lib/etcd").unwrap(), "/var/lib/etcd");
        assert_eq!(check_data_dir("/var/lib/etcd/").unwrap(), "/var/lib/etcd");
        assert_eq!(check_data_dir("/data/etcd").unwrap(), "/data/etcd");
        assert_eq!(check_data_dir("/etcd").unwrap(), "/etcd");
        assert_eq!(check_data_dir("/srv/etcd data").unwrap(), "/srv/etcd data");
        assert_eq!(check_data_dir("/var/lib/.etcd").unwrap(), "/var/lib/.etcd");
        assert_eq!(
            check_data_dir("/var/lib/etcd..1").unwrap(),
            "/var/lib/etcd..1"
        );
    }

    #[test]
    fn paths_that_could_empty_a_host_are_refused() {
        for bad in [
            "",
            "/",
            "//",
            "///",
            "/.",
            "/./",
            "/..",
            "relative/etcd",
            "./etcd",
            "/var//lib/etcd",
            "/var/lib/etcd//",
            "/var/lib/./etcd",
            "/var/lib/etcd/.",
            "/var/lib/etcd/..",
            "/var/lib/../etcd",
            "/etc",
            "/etc/",
            "/usr",
            "/var",
            "/var/lib",
            "/var/lib/",
            "/boot",
            "/proc",
            "/sys",
            "/dev",
            "/run",
            "/home",
            "/root",
            "/var/lib/docker",
            "/var/lib/docker/volumes/etcd",
            "/var/lib/kubelet",
            "/var/lib/kubelet/etcd",
            "/etc/kubernetes",
            "/proc/1",
            "/dev/shm/etcd",
            "/run/etcd",
            "/var/lib/etcd\n/",
            "/data/a:b",
        ] {
            assert!(check_data_dir(bad).is_err(), "{bad:?} was accepted");
        }
        let e = check_data_dir("/var/lib/kubelet").unwrap_err();
        assert!(e.contains("/var/lib/kubelet") && !e.contains("  "), "{e}");
    }
}
