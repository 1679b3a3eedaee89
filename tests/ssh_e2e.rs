//! End-to-end tests of `k8s_manage::ssh` against real sshd: the nodes of one sandbox
//! (master1, worker1) shared by every test here, made on first use and removed when the
//! test process exits (an `atexit` guard running `k8s-manage sandbox down`, also after
//! failures; sandboxes left by killed runs are removed at the next start).
//!
//! Set-up inside the nodes (users, sudo, an sshd `Match` block) uses `docker exec`, as the
//! sandbox may; the code under test only ever uses SSH. sudo is not in the node image: its
//! Debian package is fetched once with `apt-get download` into the sandbox cache and
//! installed with dpkg. Traffic goes only to loopback and the sandbox nodes' addresses.

mod sandbox_support;

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bollard::Docker;
use k8s_manage::model::Secret;
use k8s_manage::sandbox::{self, UpOptions};
use k8s_manage::ssh::{
    self, ConnectOptions, HostKeyPolicy, KnownHosts, Session, SshError, Target, connect_all,
};

const T: Duration = Duration::from_secs(30);

/// The shared sandbox and what set-up made in it.
struct Lab {
    keyfile: PathBuf,
    /// known_hosts written by the sandbox (each node's real key).
    known_hosts: PathBuf,
    master: Ipv4Addr,
    worker: Ipv4Addr,
    subnet: ipnet::Ipv4Net,
    /// alice: sudo with her password.
    alice_password: String,
    /// Where test files go on the host.
    scratch: PathBuf,
}

static NAME: OnceLock<String> = OnceLock::new();
static LAB: OnceLock<Lab> = OnceLock::new();

extern "C" fn remove_lab() {
    if let Some(name) = NAME.get() {
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
            .args(["sandbox", "down", "--name", name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(lab_dir(name));
    }
}

fn lab_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(name)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn lab() -> &'static Lab {
    LAB.get_or_init(|| {
        let rt = runtime();
        let docker = rt
            .block_on(sandbox::connect_engine())
            .expect("a Docker engine");
        rt.block_on(remove_stale_labs(&docker));
        let name = format!("ssh-e2e-{}", std::process::id());
        NAME.set(name.clone()).unwrap();
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe {
            libc::atexit(remove_lab);
        }
        let dir = lab_dir(&name);
        let opts = UpOptions {
            name: name.clone(),
            masters: 1,
            workers: 1,
            proxy: false,
            dir: dir.join("config"),
            subnet: None,
            versions: Vec::new(),
            components: sandbox::Components::None,
        };
        let info = rt
            .block_on(sandbox::up(&opts, &|m: &str| eprintln!("sandbox: {m}")))
            .expect("sandbox up");
        let master = info.nodes[0].clone();
        let worker = info.nodes[1].clone();
        let alice_password = format!("Alice-{}-pw", std::process::id());
        rt.block_on(set_up_worker(&docker, &worker.container, &alice_password));
        let scratch = dir.join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        Lab {
            keyfile: info.keyfile.clone(),
            known_hosts: info.known_hosts.clone(),
            master: master.address,
            worker: worker.address,
            subnet: info.subnet,
            alice_password,
            scratch,
        }
    })
}

/// Remove sandboxes of earlier runs of this file whose process is gone.
async fn remove_stale_labs(docker: &Docker) {
    let containers = docker
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![sandbox::labels::SANDBOX.to_string()],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    let mut stale: Vec<String> = containers
        .iter()
        .filter_map(|c| c.labels.as_ref()?.get(sandbox::labels::SANDBOX).cloned())
        .filter(|name| {
            name.strip_prefix("ssh-e2e-")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect();
    stale.sort();
    stale.dedup();
    for name in stale {
        eprintln!("removing the stale sandbox {name}");
        let _ = sandbox::down(&name).await;
        let _ = std::fs::remove_dir_all(lab_dir(&name));
    }
}

/// The sudo package, downloaded once into the sandbox cache.
fn sudo_deb() -> PathBuf {
    let dir = sandbox::default_cache_dir().join("debs");
    std::fs::create_dir_all(&dir).unwrap();
    let find = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with("sudo_") && n.ends_with(".deb")
            })
    };
    if let Some(deb) = find() {
        return deb;
    }
    // scripts/setup.sh fetches it; this is the fallback when it has not run.
    let status = std::process::Command::new("apt-get")
        .args(["download", "sudo"])
        .current_dir(&dir)
        .status()
        .expect("apt-get runs");
    assert!(
        status.success(),
        "apt-get download sudo failed: run scripts/setup.sh (it puts the package into {})",
        dir.display()
    );
    find().expect("the sudo package")
}

/// Run a shell script in a node container as root (set-up only); panics unless it works.
async fn docker_sh(docker: &Docker, container: &str, script: &str) -> String {
    let (code, output) =
        sandbox_support::docker::exec(docker, container, &["sh", "-c", script]).await;
    assert_eq!(code, 0, "set-up in {container} failed: {script}\n{output}");
    output
}

/// Users on the worker: alice (sudo, needs her password; may also log in with it), dave (NOPASSWD sudo, no
/// password), bob (in the docker group, but sshd allows him no forwarding). All log in with the sandbox key.
async fn set_up_worker(docker: &Docker, container: &str, alice_password: &str) {
    let deb = std::fs::read(sudo_deb()).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(deb.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "tmp/sudo.deb", deb.as_slice())
        .unwrap();
    let archive = tar.into_inner().unwrap();
    docker
        .upload_to_container(
            container,
            Some(bollard::query_parameters::UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(archive.into()),
        )
        .await
        .unwrap();
    let script = format!(
        r#"set -e
dpkg -i /tmp/sudo.deb >/dev/null
rm -f /tmp/sudo.deb
for u in alice dave bob; do
  useradd -m -s /bin/bash "$u"
  install -d -m 0700 -o "$u" -g "$u" "/home/$u/.ssh"
  install -m 0600 -o "$u" -g "$u" /root/.ssh/authorized_keys "/home/$u/.ssh/authorized_keys"
done
echo 'alice:{alice_password}' | chpasswd
usermod -aG sudo alice
usermod -aG docker bob
echo 'dave ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/dave
chmod 0440 /etc/sudoers.d/dave
printf '\nMatch User bob\n  AllowStreamLocalForwarding no\n  AllowTcpForwarding no\n' >> /etc/ssh/sshd_config
printf '\nMatch User alice\n  PasswordAuthentication yes\n' >> /etc/ssh/sshd_config
kill -HUP "$(cat /run/sshd.pid)"
"#
    );
    docker_sh(docker, container, &script).await;
}

fn target(name: &str, address: Ipv4Addr, user: &str) -> Target {
    Target {
        name: name.into(),
        address: IpAddr::V4(address),
        port: 22,
        user: user.into(),
        key_file: Some(lab().keyfile.clone()),
        password: None,
        agent: false,
    }
}

/// A copy of the sandbox's known_hosts, for strict checks.
fn known_copy(tag: &str) -> KnownHosts {
    let path = lab().scratch.join(format!("known_hosts-{tag}"));
    std::fs::copy(&lab().known_hosts, &path).unwrap();
    KnownHosts::new(path)
}

fn quiet() -> ConnectOptions {
    ConnectOptions {
        notify: Some(Arc::new(|_: &str| {})),
        ..Default::default()
    }
}

fn connect(t: &Target) -> Session {
    let known = known_copy(&format!("{}-{}", t.name, t.user));
    Session::connect(t, &known, HostKeyPolicy::AcceptNew, &quiet())
        .unwrap_or_else(|e| panic!("connect to {}: {e}", t.name))
}

fn master_root() -> Session {
    connect(&target("master1", lab().master, "root"))
}

fn worker_root() -> Session {
    connect(&target("worker1", lab().worker, "root"))
}

fn alice(password: Option<&str>) -> Target {
    Target {
        password: password.map(|p| Secret::new(p.to_string())),
        ..target("worker1", lab().worker, "alice")
    }
}

/// Messages the module tells the user, collected.
fn collecting() -> (ConnectOptions, Arc<Mutex<Vec<String>>>) {
    let said = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&said);
    let opts = ConnectOptions {
        notify: Some(Arc::new(move |m: &str| {
            sink.lock().unwrap().push(m.to_string())
        })),
        ..Default::default()
    };
    (opts, said)
}

#[test]
fn exec_returns_status_stdout_stderr_and_feeds_stdin() {
    let s = master_root();
    let out = s
        .exec("streams", "echo out; echo err >&2; exit 3", None, T)
        .unwrap();
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");

    // 2 MiB in while 2 MiB come back out and some go to stderr: nothing stalls.
    let data: Vec<u8> = (0..2u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let out = s
        .exec(
            "echo stdin",
            "cat; head -c 100000 /dev/zero >&2",
            Some(&data),
            T,
        )
        .unwrap();
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "stdin came back unchanged");
    assert_eq!(out.stderr.len(), 100_000);

    // No stdin: the command sees end of input at once.
    let out = s.exec("no stdin", "cat | wc -c", None, T).unwrap();
    assert_eq!(out.stdout_str().trim(), "0");

    // A signal shows as 128 + its number.
    let out = s.exec("killed", "kill -TERM $$", None, T).unwrap();
    assert_eq!(out.status, 128 + 15);

    // Several threads share one session without waiting for each other; more commands
    // than sshd's MaxSessions (10) wait for a free channel instead of failing.
    let s = Arc::new(s);
    let start = Instant::now();
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                s.run(&format!("parallel {i}"), &format!("sleep 1; echo {i}"), T)
                    .unwrap()
                    .stdout_str()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().trim(), i.to_string());
    }
    let took = start.elapsed();
    // Two waves of at most 8: about 2 s; one after the other would be 12 s.
    assert!(took < Duration::from_secs(5), "12 x sleep 1 took {took:?}");
}

#[test]
fn run_turns_a_failure_into_an_error_naming_host_step_and_stderr() {
    let s = master_root();
    let err = s
        .run(
            "check the disk",
            "for i in $(seq 1 30); do echo noise $i >&2; done; echo 'the real cause' >&2; exit 7",
            T,
        )
        .unwrap_err();
    match &err {
        SshError::Command {
            host,
            step,
            status,
            stderr_tail,
            ..
        } => {
            assert_eq!(host, "master1");
            assert_eq!(step, "check the disk");
            assert_eq!(*status, 7);
            assert!(stderr_tail.ends_with("the real cause"), "{stderr_tail}");
            assert!(!stderr_tail.contains("noise 1\n"), "only the tail");
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    eprintln!("MESSAGE {text}");
    for part in [
        "master1",
        "check the disk",
        "exit status 7",
        "the real cause",
        "fix:",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert_eq!(s.run("fine", "true", T).unwrap().status, 0);
}

#[test]
fn a_timeout_fires_and_the_session_stays_usable() {
    let s = master_root();
    let start = Instant::now();
    let err = s
        .exec("wait forever", "sleep 60", None, Duration::from_secs(1))
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, SshError::Timeout { .. }), "{err}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(err.to_string().contains("master1") && err.to_string().contains("wait forever"));

    // A command that never stops talking times out too.
    let err = s
        .exec("chatter", "yes", None, Duration::from_secs(1))
        .unwrap_err();
    assert!(matches!(err, SshError::Timeout { .. }), "{err}");

    let out = s.run("after the timeouts", "echo still here", T).unwrap();
    assert_eq!(out.stdout_str(), "still here\n");
}

#[test]
fn put_file_writes_exact_bytes_with_mode_and_root_owner() {
    let s = master_root();
    let key: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let path = "/etc/kubernetes/pki/e2e/test.key";
    s.put_file(path, &key, 0o600).unwrap();
    let stat = s
        .run("stat", &format!("stat -c '%a %U %G %s' {path}"), T)
        .unwrap();
    assert_eq!(
        stat.stdout_str().trim(),
        format!("600 root root {}", key.len())
    );
    let dirs = s
        .run(
            "stat dirs",
            "stat -c '%n %a' /etc/kubernetes /etc/kubernetes/pki /etc/kubernetes/pki/e2e",
            T,
        )
        .unwrap();
    assert_eq!(
        dirs.stdout_str(),
        "/etc/kubernetes 755\n/etc/kubernetes/pki 700\n/etc/kubernetes/pki/e2e 700\n"
    );
    assert_eq!(s.read_file(path).unwrap().as_deref(), Some(key.as_slice()));

    // Replacing: new content and mode, nothing left beside it.
    let conf = b"apiVersion: v1\nkind: Config\n";
    s.put_file("/etc/kubernetes/pki/e2e/test.key", conf, 0o644)
        .unwrap();
    let stat = s
        .run("stat again", &format!("stat -c '%a %U %G' {path}"), T)
        .unwrap();
    assert_eq!(stat.stdout_str().trim(), "644 root root");
    assert_eq!(s.read_file(path).unwrap().unwrap(), conf);
    let ls = s.run("list", "ls -A /etc/kubernetes/pki/e2e", T).unwrap();
    assert_eq!(ls.stdout_str(), "test.key\n");

    // Empty files and files at the top of an existing folder.
    s.put_file("/root/e2e-empty", b"", 0o644).unwrap();
    assert_eq!(s.read_file("/root/e2e-empty").unwrap(), Some(Vec::new()));

    assert_eq!(s.read_file("/etc/kubernetes/absent.conf").unwrap(), None);
    assert_eq!(s.read_file("/no/such/folder/file").unwrap(), None);
    let err = s.put_file("relative/path", b"x", 0o644).unwrap_err();
    assert!(err.to_string().contains("absolute"), "{err}");
}

#[test]
fn put_file_and_read_file_work_for_a_sudo_user() {
    let lab = lab();
    let s = Session::connect(
        &alice(Some(&lab.alice_password)),
        &known_copy("alice-files"),
        HostKeyPolicy::AcceptNew,
        &quiet(),
    )
    .unwrap();
    let secret = b"-----BEGIN EC PRIVATE KEY-----\nnot really\n";
    s.put_file("/etc/kubernetes/pki/alice.key", secret, 0o600)
        .unwrap();
    s.put_file("/etc/k8s-e2e/alice.conf", b"hello\n", 0o644)
        .unwrap();
    let root = worker_root();
    let stat = root
        .run(
            "stat",
            "stat -c '%a %U %G' /etc/kubernetes/pki/alice.key /etc/k8s-e2e/alice.conf /etc/kubernetes/pki",
            T,
        )
        .unwrap();
    assert_eq!(
        stat.stdout_str(),
        "600 root root\n644 root root\n700 root root\n"
    );
    // alice cannot read the key herself; read_file reads it as root.
    let direct = s
        .exec("cat as alice", "cat /etc/kubernetes/pki/alice.key", None, T)
        .unwrap();
    assert_ne!(direct.status, 0);
    assert_eq!(
        s.read_file("/etc/kubernetes/pki/alice.key")
            .unwrap()
            .as_deref(),
        Some(&secret[..])
    );
    assert_eq!(s.read_file("/etc/kubernetes/pki/none").unwrap(), None);
    let leftovers = root
        .run("leftovers", "ls -A /tmp | grep -c k8s-manage || true", T)
        .unwrap();
    assert_eq!(leftovers.stdout_str().trim(), "0");
}

#[test]
fn trust_on_first_use_records_then_checks_and_a_tampered_line_fails() {
    let lab = lab();
    let t = target("master1", lab.master, "root");
    let path = lab.scratch.join("tofu/.k8s-manage/known_hosts");
    let known = KnownHosts::new(&path);
    let (opts, said) = collecting();

    // First use: recorded, and said so.
    let s = Session::connect(&t, &known, HostKeyPolicy::TrustOnFirstUse, &opts).unwrap();
    let fp = s.host_key_fingerprint();
    drop(s);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().next().unwrap().to_string();
    assert_eq!(text.lines().count(), 1);
    let sandbox_line = std::fs::read_to_string(&lab.known_hosts)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{} ", lab.master)))
        .unwrap()
        .to_string();
    let key_of = |l: &str| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert_eq!(key_of(&line), key_of(&sandbox_line), "the node's real key");
    assert!(line.ends_with(" master1"), "{line}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    {
        let said = said.lock().unwrap();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].contains("master1") && said[0].contains(&fp),
            "{said:?}"
        );
        assert!(said[0].contains("recorded"), "{said:?}");
    }
    let fp_pub =
        ssh_key::PublicKey::from_openssh(&key_of(&line)[lab.master.to_string().len() + 1..])
            .unwrap()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string();
    assert_eq!(fp, fp_pub, "fingerprint as OpenSSH shows it");

    // Second use: checked, nothing new.
    let s = Session::connect(&t, &known, HostKeyPolicy::TrustOnFirstUse, &opts).unwrap();
    assert_eq!(s.run("works", "echo ok", T).unwrap().stdout_str(), "ok\n");
    drop(s);
    assert_eq!(said.lock().unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // A different key on that line: refused before logging in, with the fix.
    let other =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let other_line = format!(
        "{} {} master1\n",
        lab.master,
        other.public_key().to_openssh().unwrap()
    );
    std::fs::write(&path, &other_line).unwrap();
    let err = Session::connect(&t, &known, HostKeyPolicy::TrustOnFirstUse, &opts).unwrap_err();
    match &err {
        SshError::HostKeyMismatch {
            host,
            expected,
            got,
            known_hosts_path,
            line,
            ..
        } => {
            assert_eq!(host, "master1");
            assert!(got.contains(&fp), "{got}");
            assert!(
                expected.contains(
                    &other
                        .public_key()
                        .fingerprint(ssh_key::HashAlg::Sha256)
                        .to_string()
                ),
                "{expected}"
            );
            assert_eq!(known_hosts_path, &path);
            assert_eq!(*line, 1);
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    eprintln!("MESSAGE {text}");
    assert!(text.contains("remove the line for"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(&lab.master.to_string()), "{text}");
    // AcceptNew does not override a mismatch either, and the file is untouched.
    let err = Session::connect(&t, &known, HostKeyPolicy::AcceptNew, &opts).unwrap_err();
    assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), other_line);

    // --insecure-ignore-host-keys: connects, warns each time, records nothing.
    let before = said.lock().unwrap().len();
    for _ in 0..2 {
        let s = Session::connect(&t, &known, HostKeyPolicy::InsecureIgnore, &opts).unwrap();
        s.run("insecure", "true", T).unwrap();
    }
    let said_now = said.lock().unwrap().clone();
    assert_eq!(said_now.len(), before + 2);
    assert!(said_now[before].contains("WARNING") && said_now[before].contains("NOT checked"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), other_line);
}

#[test]
fn unknown_hosts_can_be_refused_and_accept_new_never_asks() {
    let lab = lab();
    let t = target("worker1", lab.worker, "root");
    let refusing = ConnectOptions {
        confirm_new_host: Some(Arc::new(|t: &Target, fp: &str| {
            assert_eq!(t.name, "worker1");
            assert!(fp.starts_with("SHA256:"));
            Err("refused at the prompt".to_string())
        })),
        ..quiet()
    };
    let path = lab.scratch.join("refuse/known_hosts");
    let known = KnownHosts::new(&path);
    let err = Session::connect(&t, &known, HostKeyPolicy::TrustOnFirstUse, &refusing).unwrap_err();
    assert!(matches!(err, SshError::UnknownHostRefused { .. }), "{err}");
    assert!(err.to_string().contains("worker1"), "{err}");
    assert!(err.to_string().contains("refused at the prompt"), "{err}");
    assert!(!path.exists(), "nothing recorded");

    let never = ConnectOptions {
        confirm_new_host: Some(Arc::new(|_: &Target, _: &str| {
            panic!("AcceptNew must not ask")
        })),
        ..quiet()
    };
    let s = Session::connect(&t, &known, HostKeyPolicy::AcceptNew, &never).unwrap();
    assert_eq!(s.host_key_type(), "ssh-ed25519");
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[test]
fn a_wrong_key_fails_with_auth_naming_the_host() {
    let lab = lab();
    let key =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let keyfile = lab.scratch.join("stranger");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&keyfile)
            .unwrap();
        f.write_all(key.to_openssh(ssh_key::LineEnding::LF).unwrap().as_bytes())
            .unwrap();
    }
    let t = Target {
        key_file: Some(keyfile.clone()),
        ..target("master1", lab.master, "root")
    };
    let start = Instant::now();
    let err = Session::connect(
        &t,
        &known_copy("stranger"),
        HostKeyPolicy::AcceptNew,
        &quiet(),
    )
    .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5), "not retried");
    match &err {
        SshError::Auth { host, user, .. } => {
            assert_eq!(host, "master1");
            assert_eq!(user, "root");
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    eprintln!("MESSAGE {text}");
    assert!(text.contains(&keyfile.display().to_string()), "{text}");
    assert!(text.contains("authorized_keys"), "{text}");

    // A key file that is not there.
    let t = Target {
        key_file: Some(lab.scratch.join("no-such-key")),
        ..target("master1", lab.master, "root")
    };
    let err =
        Session::connect(&t, &known_copy("nokey"), HostKeyPolicy::AcceptNew, &quiet()).unwrap_err();
    assert!(matches!(err, SshError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("cannot read"), "{err}");
}

#[test]
fn password_and_agent_logins_work() {
    let lab = lab();
    // alice's sshd accepts her password.
    let t = Target {
        key_file: None,
        ..alice(Some(&lab.alice_password))
    };
    let s = Session::connect(
        &t,
        &known_copy("alice-pw"),
        HostKeyPolicy::AcceptNew,
        &quiet(),
    )
    .unwrap();
    assert_eq!(s.run("who", "id -un", T).unwrap().stdout_str(), "alice\n");
    let wrong = Target {
        key_file: None,
        ..alice(Some("wrong-password-123"))
    };
    let err = Session::connect(
        &wrong,
        &known_copy("alice-pw2"),
        HostKeyPolicy::AcceptNew,
        &quiet(),
    )
    .unwrap_err();
    assert!(matches!(err, SshError::Auth { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("password") && text.contains("worker1"),
        "{text}"
    );
    assert!(!text.contains("wrong-password-123"), "{text}");

    // An ssh-agent holding the sandbox key (started here, stopped by its pid).
    let socket = lab.scratch.join("agent.sock");
    let _ = std::fs::remove_file(&socket);
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent runs");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let opts = ConnectOptions {
        agent_socket: Some(socket.clone()),
        ..quiet()
    };
    let by_agent = Target {
        key_file: None,
        agent: true,
        ..target("master1", lab.master, "root")
    };
    let empty = Session::connect(
        &by_agent,
        &known_copy("agent0"),
        HostKeyPolicy::AcceptNew,
        &opts,
    )
    .unwrap_err();
    assert!(empty.to_string().contains("no keys"), "{empty}");
    let added = std::process::Command::new("ssh-add")
        .arg(&lab.keyfile)
        .env("SSH_AUTH_SOCK", &socket)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());
    let result = Session::connect(
        &by_agent,
        &known_copy("agent"),
        HostKeyPolicy::AcceptNew,
        &opts,
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let s = result.unwrap();
    assert_eq!(s.run("who", "id -un", T).unwrap().stdout_str(), "root\n");
}

#[test]
fn the_docker_tunnel_reaches_the_nodes_own_engine() {
    let s = master_root();
    s.run(
        "a running container",
        "docker inspect k8sm-e2e-sleep >/dev/null 2>&1 || { cd / && \
         tar -chf - usr/bin/sleep lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2 \
         | docker import - k8sm-e2e/sleep:1 >/dev/null && \
         docker run -d --name k8sm-e2e-sleep k8sm-e2e/sleep:1 /usr/bin/sleep 3600 >/dev/null && \
         docker create --name k8sm-e2e-stopped k8sm-e2e/sleep:1 /usr/bin/sleep 1 >/dev/null; }",
        Duration::from_secs(120),
    )
    .unwrap();
    let running: usize = s
        .run("count", "docker ps -q | wc -l", T)
        .unwrap()
        .stdout_str()
        .trim()
        .parse()
        .unwrap();
    let all: usize = s
        .run("count all", "docker ps -aq | wc -l", T)
        .unwrap()
        .stdout_str()
        .trim()
        .parse()
        .unwrap();
    assert!(running >= 1 && all > running, "{running} {all}");

    let tunnel = s.docker().unwrap();
    let socket = tunnel.socket_path().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    let dir_mode = std::fs::metadata(socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let rt = runtime();
    rt.block_on(async {
        let docker = tunnel.client();
        assert_eq!(docker.ping().await.unwrap(), "OK");
        let version = docker.version().await.unwrap();
        assert!(version.version.is_some_and(|v| !v.is_empty()));
        let info = docker.info().await.unwrap();
        assert_eq!(info.name.as_deref(), Some("master1"), "the node's dockerd");
        let listed = docker
            .list_containers(None::<bollard::query_parameters::ListContainersOptions>)
            .await
            .unwrap();
        assert_eq!(listed.len(), running);
        let listed_all = docker
            .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(listed_all.len(), all);
        assert!(listed.iter().any(|c| {
            c.names
                .as_ref()
                .is_some_and(|n| n.iter().any(|n| n == "/k8sm-e2e-sleep"))
        }));
        // Many requests at once, through the deref too.
        let pings = (0..16).map(|_| tunnel.ping());
        for r in futures_util::future::join_all(pings).await {
            assert_eq!(r.unwrap(), "OK");
        }
    });
    assert!(tunnel.connections().1 >= 1);
    assert_eq!(tunnel.last_error(), None);
    // The main session still works while the tunnel is open.
    assert_eq!(
        s.run("alongside", "echo ok", T).unwrap().stdout_str(),
        "ok\n"
    );
    drop(tunnel);
    assert!(!socket.exists(), "the socket is gone with the tunnel");
}

#[test]
fn docker_tunnel_refusals_say_how_to_fix_them() {
    let lab = lab();
    // bob may use the socket, but sshd forbids him to forward.
    let bob = connect(&target("worker1", lab.worker, "bob"));
    let err = bob.docker().unwrap_err();
    assert!(matches!(err, SshError::Forward { .. }), "{err}");
    let text = err.to_string();
    eprintln!("MESSAGE {text}");
    assert!(text.contains("AllowStreamLocalForwarding yes"), "{text}");
    assert!(text.contains("worker1"), "{text}");

    // alice may forward but is not in the docker group.
    let alice = connect(&alice(None));
    let err = alice.docker().unwrap_err();
    assert!(matches!(err, SshError::Forward { .. }), "{err}");
    assert!(err.to_string().contains("docker group"), "{err}");
}

#[test]
fn run_root_through_sudo_feeds_the_password_on_stdin_and_never_shows_it() {
    let lab = lab();
    let password = lab.alice_password.clone();
    let s = Session::connect(
        &alice(Some(&password)),
        &known_copy("alice-sudo"),
        HostKeyPolicy::AcceptNew,
        &quiet(),
    )
    .unwrap();
    assert_eq!(
        s.run("whoami", "id -u", T).unwrap().stdout_str().trim(),
        "1000",
        "logged in as alice"
    );

    // Watch every process's arguments on the node while the sudo call runs.
    let root = Arc::new(worker_root());
    let watcher = {
        let root = Arc::clone(&root);
        std::thread::spawn(move || {
            root.run(
                "watch ps",
                "for i in $(seq 1 60); do ps -eo args; sleep 0.05; done",
                T,
            )
            .unwrap()
            .stdout_str()
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let out = s.run_root("as root", "id -u; sleep 2; id -u", T).unwrap();
    assert_eq!(out.stdout_str(), "0\n0\n");
    let seen = watcher.join().unwrap();
    assert!(seen.contains("sudo -S -p"), "the watcher saw the sudo call");
    assert!(!seen.contains(&password), "the password is in no argv");

    // The command's stdin is only its stdin: the password never reaches it, whether or
    // not sudo asks (it may have cached the credential by now).
    for _ in 0..2 {
        let out = s
            .exec_root(
                "stdin as root",
                "cat; id -u >&2",
                Some(b"line one\nline two\n"),
                T,
            )
            .unwrap();
        assert_eq!(out.status, 0, "{}", out.stderr_str());
        assert_eq!(out.stdout, b"line one\nline two\n");
        assert_eq!(out.stderr_str().trim(), "0");
    }

    // A failing root command names host, step and stderr; no password anywhere.
    let err = s
        .run_root("fail as root", "echo nope >&2; exit 4", T)
        .unwrap_err();
    assert!(matches!(err, SshError::Command { status: 4, .. }), "{err}");
    assert!(err.to_string().contains("nope"));
    assert!(!format!("{err} {err:?} {s:?}").contains(&password));

    // A wrong password: an Auth error, and sudo got nothing else to read.
    let wrong = Session::connect(
        &alice(Some("not-the-password")),
        &known_copy("alice-wrong"),
        HostKeyPolicy::AcceptNew,
        &quiet(),
    )
    .unwrap();
    let err = wrong
        .exec_root(
            "wrong password",
            "cat",
            Some(b"data that is no password\n"),
            T,
        )
        .unwrap_err();
    assert!(matches!(err, SshError::Auth { .. }), "{err}");
    let text = format!("{err} {err:?}");
    eprintln!("MESSAGE {err}");
    assert!(text.contains("sudo") && text.contains("worker1"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");

    // No password set: sudo -n, and the fix says what to set.
    let nopw = connect(&alice(None));
    let err = nopw.run_root("needs a password", "true", T).unwrap_err();
    let text = err.to_string();
    eprintln!("MESSAGE {text}");
    assert!(matches!(err, SshError::Command { .. }), "{text}");
    assert!(text.contains("set `password` for worker1"), "{text}");
    assert!(text.contains("NOPASSWD"), "{text}");

    // NOPASSWD sudo needs no password.
    let dave = connect(&target("worker1", lab.worker, "dave"));
    assert_eq!(
        dave.run_root("dave as root", "id -u", T)
            .unwrap()
            .stdout_str(),
        "0\n"
    );
}

#[test]
fn connect_all_returns_every_host_and_an_error_for_exactly_the_unreachable_one() {
    let lab = lab();
    // An address of the sandbox subnet that no node has.
    let ghost = lab.subnet.hosts().nth(200).unwrap();
    assert!(ghost != lab.master && ghost != lab.worker);
    let targets = vec![
        target("master1", lab.master, "root"),
        target("ghost", ghost, "root"),
        target("worker1", lab.worker, "root"),
    ];
    let opts = ConnectOptions {
        connect_timeout: Duration::from_secs(2),
        attempts: 2,
        backoff: Duration::from_millis(200),
        ..quiet()
    };
    let start = Instant::now();
    let results = connect_all(
        &targets,
        &known_copy("all"),
        HostKeyPolicy::AcceptNew,
        &opts,
        ssh::DEFAULT_PARALLEL,
    );
    eprintln!(
        "connect_all with one unreachable host: {:?}",
        start.elapsed()
    );
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["master1", "ghost", "worker1"]);
    assert!(results[0].1.is_ok(), "{:?}", results[0].1.as_ref().err());
    assert!(results[2].1.is_ok(), "{:?}", results[2].1.as_ref().err());
    let err = results[1].1.as_ref().expect_err("ghost is unreachable");
    match err {
        SshError::Connect { host, attempts, .. } => {
            assert_eq!(host, "ghost");
            assert_eq!(*attempts, 2);
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&ghost.to_string()), "{err}");
    eprintln!("the unreachable host's error: {err}");
}

/// Bytes this end sent on the connection from `local`, as the kernel counts them.
fn bytes_sent(local: std::net::SocketAddr) -> u64 {
    let out = std::process::Command::new("ss")
        .args(["-tinH", "src", &local.to_string()])
        .output()
        .expect("ss runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("bytes_sent:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_idle_session_sends_keepalives() {
    let lab = lab();
    let t = target("master1", lab.master, "root");
    let with = ConnectOptions {
        keepalive: Duration::from_secs(2),
        ..quiet()
    };
    let without = ConnectOptions {
        keepalive: Duration::ZERO,
        ..quiet()
    };
    let alive = Session::connect(&t, &known_copy("ka1"), HostKeyPolicy::AcceptNew, &with).unwrap();
    let quiet_one =
        Session::connect(&t, &known_copy("ka2"), HostKeyPolicy::AcceptNew, &without).unwrap();
    let (a, q) = (alive.local_addr().unwrap(), quiet_one.local_addr().unwrap());
    let (a0, q0) = (bytes_sent(a), bytes_sent(q));
    assert!(a0 > 0 && q0 > 0, "ss shows both connections");
    std::thread::sleep(Duration::from_millis(5500));
    let (a1, q1) = (bytes_sent(a), bytes_sent(q));
    assert!(a1 > a0, "keepalives were sent: {a0} -> {a1}");
    assert_eq!(q1, q0, "no keepalive, no traffic");
    // Both still work after idling.
    alive.run("after idling", "true", T).unwrap();
    quiet_one.run("after idling", "true", T).unwrap();
}

#[test]
fn measurements() {
    let lab = lab();
    let t = target("master1", lab.master, "root");
    let known = known_copy("measure");
    let mut connects = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let s = Session::connect(&t, &known, HostKeyPolicy::AcceptNew, &quiet()).unwrap();
        connects.push(start.elapsed());
        drop(s);
    }
    let s = Session::connect(&t, &known, HostKeyPolicy::AcceptNew, &quiet()).unwrap();
    let mut round_trips = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        s.run("true", "true", T).unwrap();
        round_trips.push(start.elapsed());
    }
    let mb: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let mut puts = Vec::new();
    for i in 0..5 {
        let start = Instant::now();
        s.put_file(&format!("/var/tmp/e2e-1mb-{i}"), &mb, 0o644)
            .unwrap();
        puts.push(start.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (c, r, p) = (
        median(&mut connects),
        median(&mut round_trips),
        median(&mut puts),
    );
    eprintln!("MEASURED connect (TCP + handshake + key login), median of 5: {c:?}");
    eprintln!("MEASURED exec round trip of `true`, median of 20: {r:?}");
    eprintln!("MEASURED put_file of 1 MiB, median of 5: {p:?}");
    assert!(c < Duration::from_secs(3), "{c:?}");
    assert!(r < Duration::from_secs(1), "{r:?}");
    assert!(p < Duration::from_secs(5), "{p:?}");
    let sum = s
        .run("check", "sha256sum /var/tmp/e2e-1mb-4 | cut -d' ' -f1", T)
        .unwrap()
        .stdout_str();
    use sha2::Digest;
    assert_eq!(sum.trim(), hex::encode(sha2::Sha256::digest(&mb)));
}

#[test]
fn many_short_commands_from_many_threads_on_one_session() {
    let s = Arc::new(master_root());
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for j in 0..25 {
                    let out = s
                        .run(&format!("churn {i}.{j}"), &format!("echo {i}.{j}"), T)
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(out.stdout_str(), format!("{i}.{j}\n"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// A TCP relay on loopback that sends its first connection to `first` and every later
/// one to `later`: the same address presents another host key on the second session.
fn switching_relay(first: Ipv4Addr, later: Ipv4Addr) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { continue };
            let to = if n == 0 { first } else { later };
            let Ok(server) = std::net::TcpStream::connect((to, 22)) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c1, mut s1) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut s1);
                let _ = s1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// The Docker tunnel opens a second SSH session; a host that presents another key there
/// than on the first (a man in the middle that lets the first session through) is refused,
/// naming the host, and no tunnel is made.
#[test]
fn the_docker_tunnel_session_refuses_a_changed_host_key() {
    let lab = lab();
    let port = switching_relay(lab.master, lab.worker);
    let t = Target {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
        ..target("master1", lab.master, "root")
    };
    let known = KnownHosts::new(lab.scratch.join("known_hosts-relay"));
    let s = Session::connect(&t, &known, HostKeyPolicy::AcceptNew, &quiet()).unwrap();
    // the first session is master1's
    assert_eq!(
        s.run("name", "hostname", T).unwrap().stdout_str().trim(),
        "master1"
    );
    let err = s.docker().unwrap_err();
    match &err {
        SshError::HostKeyMismatch { host, line, .. } => {
            assert_eq!(host, "master1");
            assert_eq!(*line, 0, "the key of this run's first connection");
        }
        other => panic!("not a host key mismatch: {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("CHANGED") && text.contains("first connection"),
        "{text}"
    );
    // the main session is unharmed
    assert_eq!(s.run("still", "echo ok", T).unwrap().stdout_str(), "ok\n");
}

/// With a limit of one bridge, two tunnels take turns: both reach their own node's engine,
/// never two bridges (second SSH sessions) run at once, and an idle bridge stops as soon
/// as the other tunnel waits.
#[test]
fn docker_tunnels_take_turns_within_their_limit() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let limit = ssh::TunnelLimit::new(1);
    let (m, w) = (master_root(), worker_root());
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (limit, peak, done) = (Arc::clone(&limit), Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(limit.active(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let tm = m.docker_limited(&limit).unwrap();
    let tw = w.docker_limited(&limit).unwrap();
    let rt = runtime();
    let started = Instant::now();
    for _ in 0..3 {
        let name = rt.block_on(tm.info()).unwrap().name;
        assert_eq!(name.as_deref(), Some("master1"));
        let name = rt.block_on(tw.info()).unwrap().name;
        assert_eq!(name.as_deref(), Some("worker1"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(peak.load(Ordering::Relaxed), 1, "bridges at once");
    assert!(tm.bridging() != tw.bridging() || !tm.bridging());
    assert!(tm.connections().1 >= 3 && tw.connections().1 >= 3);
    drop(tm);
    drop(tw);
    assert_eq!(limit.active(), 0);
}

/// `connect_all_with_docker` opens each host's command session and its Docker tunnel's
/// session at the same time: both work and reach the host's own engine; and when the
/// second connection is shown another host key than the first (a relay that sends the
/// first connection to master1 and later ones to worker1; which of the two sessions
/// arrives first is a race, and either way the keys differ) the tunnel is refused as a
/// changed key, with nothing sent to the other host, while the command session stands.
#[test]
fn sessions_and_tunnels_opened_side_by_side_check_the_same_host_key() {
    let lab = lab();
    let limit = ssh::TunnelLimit::new(4);
    let targets = vec![
        target("master1", lab.master, "root"),
        target("worker1", lab.worker, "root"),
    ];
    let known = known_copy("side-by-side");
    let connected = ssh::connect_all_with_docker(
        &targets,
        &known,
        HostKeyPolicy::AcceptNew,
        &quiet(),
        0,
        &limit,
    );
    let rt = runtime();
    for (c, want) in connected.iter().zip(["master1", "worker1"]) {
        assert_eq!(c.name, want);
        assert!(
            c.beside,
            "{want}: the tunnel's session was not opened beside the first"
        );
        let s = c.session.as_ref().unwrap();
        assert_eq!(
            s.run("name", "hostname", T).unwrap().stdout_str().trim(),
            want
        );
        let d = c.docker.as_ref().unwrap().as_ref().unwrap();
        let name = rt.block_on(d.info()).unwrap().name;
        assert_eq!(name.as_deref(), Some(want));
    }
    drop(connected);

    let port = switching_relay(lab.master, lab.worker);
    let t = Target {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
        ..target("master1", lab.master, "root")
    };
    let known = KnownHosts::new(lab.scratch.join("known_hosts-relay-side-by-side"));
    let limit = ssh::TunnelLimit::new(4);
    let mut connected = ssh::connect_all_with_docker(
        std::slice::from_ref(&t),
        &known,
        HostKeyPolicy::AcceptNew,
        &quiet(),
        0,
        &limit,
    );
    let c = connected.remove(0);
    let s = c
        .session
        .expect("the first session logs in (its key is new)");
    let err = c.docker.expect("a tunnel result").unwrap_err();
    assert!(
        matches!(err, SshError::HostKeyMismatch { ref host, .. } if host == "master1"),
        "not a host key mismatch: {err}"
    );
    assert_eq!(s.run("still", "echo ok", T).unwrap().stdout_str(), "ok\n");
    // the refused session gave its bridge slot back
    assert_eq!(limit.active(), 0);
}
