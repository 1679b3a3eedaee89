//! A new user's first step, where CI cannot hide it: `scripts/setup.sh`'s package step
//! (`--packages-only`) runs in a clean Debian 12 root (debootstrap minbase, nothing else
//! installed), then the protobufs etcd-client compiles in its build script are compiled
//! there with the protoc that step installed. A package list that leaves out what the
//! build needs (as `--no-install-recommends` left out libprotobuf-dev, whose
//! `google/protobuf/descriptor.proto` etcd's protos import) fails here.
//!
//! Needs root, `debootstrap`, `chroot`, `unshare` and a Debian mirror (`K8S_MANAGE_DEBIAN_MIRROR`, else
//! debootstrap's default), as `scripts/setup.sh` and the sandbox tests do. The clean root is
//! made once and kept in `/var/cache/k8s-manage/fresh-machine/` (about 35 s; then a copy
//! per run); the packages apt downloads are kept there too, so a later run only checks the
//! indexes.

use std::path::{Path, PathBuf};
use std::process::Command;

const SUITE: &str = "bookworm";

fn cache_dir() -> PathBuf {
    std::env::var_os("K8S_MANAGE_FRESH_MACHINE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/k8s-manage/fresh-machine"))
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// The clean minbase root, made once (under a lock, into a partial dir renamed when done).
fn pristine_root() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test makes a Debian root with debootstrap and chroot: run it as root (CI does)"
    );
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).unwrap();
    let lock = std::fs::File::create(cache.join(".lock")).unwrap();
    lock.lock().unwrap();
    let root = cache.join(format!("{SUITE}-minbase"));
    if !root.join("etc/debian_version").is_file() {
        let partial = cache.join(format!("{SUITE}-minbase.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).unwrap();
        }
        let mut cmd = Command::new("debootstrap");
        cmd.arg("--variant=minbase").arg(SUITE).arg(&partial);
        if let Ok(mirror) = std::env::var("K8S_MANAGE_DEBIAN_MIRROR") {
            cmd.arg(mirror);
        }
        run(
            "debootstrap (install it with `apt-get install debootstrap`)",
            &mut cmd,
        );
        run(
            "clean the new root",
            Command::new("chroot")
                .arg(&partial)
                .args(["apt-get", "clean"]),
        );
        if root.exists() {
            std::fs::remove_dir_all(&root).unwrap();
        }
        std::fs::rename(&partial, &root).unwrap();
    }
    root
}

/// The `.proto` files etcd-client's build script compiles, read from that build script, and
/// the folder they are relative to: the crate's source, unpacked by cargo in its registry
/// (the version the lock file names).
fn etcd_client_protos() -> (PathBuf, Vec<String>) {
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"etcd-client\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .expect("etcd-client in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let crate_dir = std::fs::read_dir(cargo_home.join("registry/src"))
        .expect("cargo's registry sources")
        .flatten()
        .map(|index| index.path().join(format!("etcd-client-{version}")))
        .find(|p| p.join("build.rs").is_file())
        .expect("etcd-client's sources (built before this test runs)");
    let build = std::fs::read_to_string(crate_dir.join("build.rs")).unwrap();
    let protos: Vec<String> = build
        .split('"')
        .filter(|s| s.starts_with("proto/") && s.ends_with(".proto"))
        .map(|s| s.trim_start_matches("proto/").to_string())
        .collect();
    assert!(
        protos.iter().any(|p| p.ends_with("rpc.proto")),
        "etcd-client's build.rs changed: {protos:?}"
    );
    (crate_dir.join("proto"), protos)
}

/// `chroot root ARGS...` with a /proc of its own, mounted in a private mount namespace
/// (`unshare --mount`): it goes away with the command, nothing to unmount. protoc finds its
/// well-known types beside its own binary (/usr/bin/../include), which it looks up through
/// /proc/self/exe, as on a booted machine.
fn in_root(root: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--fork", "sh", "-c"])
        .arg("mount -t proc proc \"$0/proc\" && exec chroot \"$0\" \"$@\"")
        .arg(root);
    cmd
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    run(
        "copy",
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(to),
    );
}

#[test]
fn setup_packages_on_a_clean_debian_let_etcds_protos_compile() {
    let pristine = pristine_root();
    let work = tempfile::Builder::new()
        .prefix("k8s-manage-fresh-")
        .tempdir_in(cache_dir())
        .unwrap();
    let root = work.path().join("root");
    copy_dir(&pristine, &root);

    // what a fresh machine has: the repository's set-up script, name resolution, and no
    // service started by a package (a chroot is not a booted machine)
    let repo = root.join("k8s-manage");
    std::fs::create_dir_all(repo.join("scripts")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup.sh"),
        repo.join("scripts/setup.sh"),
    )
    .unwrap();
    std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).unwrap();
    let policy = root.join("usr/sbin/policy-rc.d");
    std::fs::write(&policy, "#!/bin/sh\nexit 101\n").unwrap();
    run("chmod", Command::new("chmod").arg("755").arg(&policy));

    // apt's downloads of earlier runs
    let debs = cache_dir().join("apt-archives");
    let lists = cache_dir().join("apt-lists");
    if debs.is_dir() {
        copy_dir(&debs, &root.join("var/cache/apt/archives"));
    }
    if lists.is_dir() {
        copy_dir(&lists, &root.join("var/lib/apt/lists"));
    }

    let out = run(
        "scripts/setup.sh --packages-only in a clean Debian root",
        in_root(&root).args(["bash", "/k8s-manage/scripts/setup.sh", "--packages-only"]),
    );
    assert!(out.contains("packages ready"), "{out}");

    // keep apt's downloads for the next run
    for (from, to) in [
        (root.join("var/cache/apt/archives"), &debs),
        (root.join("var/lib/apt/lists"), &lists),
    ] {
        let _ = std::fs::remove_dir_all(to);
        copy_dir(&from, to);
    }

    // etcd-client's protos, compiled as its build script does (protoc, the proto folder as
    // the include path, the well-known types from protoc's own installation)
    let (proto_dir, protos) = etcd_client_protos();
    copy_dir(&proto_dir, &root.join("protos"));
    let mut cmd = in_root(&root);
    cmd.args([
        "protoc",
        "-I",
        "/protos",
        "--include_imports",
        "-o",
        "/tmp/etcd.pb",
    ])
    .args(&protos);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "protoc failed in the clean root after setup's package step; the set-up misses a package:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pb = std::fs::metadata(root.join("tmp/etcd.pb")).unwrap();
    assert!(pb.len() > 10_000, "a descriptor set of {} bytes", pb.len());
}
