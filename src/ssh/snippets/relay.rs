//! The image relay's shell text on nodes ([`crate::relay`]): the receiver (written once per
//! run, started by the control host or, through a forced command, by the previous node),
//! the per-round set-up (fed on stdin, never in argv: it carries a private key), the
//! receipt query and the clean-up. Only POSIX sh, coreutils (`tee -p`, `sha256sum`,
//! `mkfifo`), the OpenSSH client (a dependency of openssh-server) and the docker CLI are
//! used.

use crate::ssh::shell::{quote, refuse_unsafe_paths};

/// The command that runs a [`setup`] fed on stdin.
pub const SETUP_SHELL: &str = "sh -s";

/// Where a run keeps its files on a node (a fresh random run id: `mkdir` fails when the
/// name exists, so nothing planted there is used).
pub fn run_dir(run_id: &str) -> String {
    format!("/tmp/k8s-manage-relay-{run_id}")
}

/// The comment of every authorized_keys line of a run (what the clean-up removes).
pub fn key_comment(run_id: &str, round: u32) -> String {
    format!("k8s-manage-relay-{run_id}-r{round}")
}

/// The receiver. Its stdin is the bundle; it writes `status` in its round's directory.
pub fn receiver(run_id: &str) -> String {
    let d = quote(&run_dir(run_id));
    format!(
        r#"# k8s-manage image relay receiver: reads a `docker save` bundle on stdin,
# passes it on to the next node of its chain while loading it into the local engine, and
# records what it received. Round: $1 (control host) or SSH_ORIGINAL_COMMAND (previous node).
r=${{1:-${{SSH_ORIGINAL_COMMAND:-}}}}
case $r in ''|*[!0-9]*) echo "k8s-manage relay: bad round" >&2; exit 64;; esac
cd {d}/"r$r" 2>/dev/null || {{ echo "k8s-manage relay: round $r is not set up on this node" >&2; exit 65; }}
[ ! -e status ] && mkfifo sum cnt || {{ echo "k8s-manage relay: round $r already ran here" >&2; exit 66; }}
sha256sum < sum > got.sha &
s=$!
wc -c < cnt > got.bytes &
c=$!
outs="sum cnt"
f=
if [ -f next ]; then
  mkfifo fwd || exit 66
  . ./next
  ssh -T -F /dev/null -i ./key -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile=./known_hosts -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o ConnectTimeout=10 \
    -o ServerAliveInterval=3 -o ServerAliveCountMax=4 \
    -o Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr \
    -p "$next_port" -l "$next_user" "$next_host" "$r" < fwd > fwd.out 2> fwd.err &
  f=$!
  outs="fwd sum cnt"
fi
tee -p $outs | docker load > load.out 2> load.err
l=$?
fw=none
if [ -n "$f" ]; then wait "$f"; fw=$?; fi
wait "$s"
wait "$c"
got=$(cut -d' ' -f1 got.sha)
ok=no
[ "$got" = "$(cat ../expect)" ] && ok=yes
printf 'bytes=%s sha256=%s load=%s forward=%s verified=%s\n' "$(cat got.bytes)" "$got" "$l" "$fw" "$ok" > status.tmp
mv status.tmp status
if [ "$ok" != yes ]; then echo "k8s-manage relay: checksum mismatch on this node" >&2; exit 1; fi
exit "$l"
"#
    )
}

/// The next node of a chain, as the node before it reaches it.
#[derive(Debug, Clone)]
pub struct NextHop {
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The per-hop private key (OpenSSH format) this node logs in to the next one with.
    pub private_key: String,
    /// The next node's known_hosts line (its host key, as the control host verified it).
    pub known_hosts_line: String,
}

/// The set-up of one node for one round, to feed to `sh -s` on stdin. `first` (the node's
/// first round) also makes the run's directory, the receiver and the expected checksum.
/// `accept`: the authorized_keys line that lets the previous node start the receiver.
pub fn setup(
    run_id: &str,
    first: bool,
    round: u32,
    sha256: &str,
    next: Option<&NextHop>,
    accept: Option<&str>,
) -> String {
    let d = quote(&run_dir(run_id));
    let mut s = String::from("set -eu\numask 077\n");
    if first {
        s += &format!("mkdir -m 700 {d}\n");
        s += &format!(
            "cat > {d}/recv.sh <<'K8SM_RELAY_EOF'\n{}K8SM_RELAY_EOF\n",
            receiver(run_id)
        );
        s += &format!("printf '%s\\n' {} > {d}/expect\n", quote(sha256));
    } else {
        s += &format!("[ -d {d} ] && [ -O {d} ] && [ ! -L {d} ]\n");
    }
    s += &format!("mkdir -m 700 {d}/r{round}\n");
    if let Some(n) = next {
        s += &format!(
            "cat > {d}/r{round}/next <<'K8SM_RELAY_EOF'\nnext_host={}\nnext_port={}\nnext_user={}\nK8SM_RELAY_EOF\n",
            quote(&n.address),
            n.port,
            quote(&n.user)
        );
        s += &format!(
            "cat > {d}/r{round}/key <<'K8SM_RELAY_EOF'\n{}\nK8SM_RELAY_EOF\n",
            n.private_key.trim_end()
        );
        s += &format!(
            "cat > {d}/r{round}/known_hosts <<'K8SM_RELAY_EOF'\n{}\nK8SM_RELAY_EOF\n",
            n.known_hosts_line.trim_end()
        );
    }
    if let Some(line) = accept {
        s += "mkdir -p ~/.ssh\nchmod 700 ~/.ssh\n";
        // A file whose last line has no line break would get our line glued to it, and
        // the clean-up would then take the operator's key with ours.
        s += "[ ! -s ~/.ssh/authorized_keys ] || [ -z \"$(tail -c 1 ~/.ssh/authorized_keys)\" ] || echo >> ~/.ssh/authorized_keys\n";
        s += &format!(
            "cat >> ~/.ssh/authorized_keys <<'K8SM_RELAY_EOF'\n{}\nK8SM_RELAY_EOF\n",
            line.trim_end()
        );
    }
    s
}

/// The authorized_keys line for a per-hop public key: only the receiver may run, nothing
/// else (no shell, no forwarding, no pty).
pub fn authorized_line(run_id: &str, public_openssh: &str) -> String {
    format!(
        "restrict,command=\"sh {}\" {}",
        receiver_path(run_id),
        public_openssh.trim()
    )
}

/// The command the control host starts the head of a chain with.
pub fn start(run_id: &str, round: u32) -> String {
    format!("sh {} {round}", receiver_path(run_id))
}

/// The receiver's path as one shell word.
fn receiver_path(run_id: &str) -> String {
    quote(&format!("{}/recv.sh", run_dir(run_id)))
}

/// `s` as a part of a sed address `\#...#` that matches `s` itself.
fn sed_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '.' | '[' | ']' | '*' | '^' | '$' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The line between [`receipt`]'s record and the errors.
pub const RECEIPT_SEPARATOR: &str = "--k8s-manage-relay--";

/// Prints a node's record of a round: the status line (or `none`), `docker load`'s output,
/// then the end of its errors.
pub fn receipt(run_id: &str, round: u32) -> String {
    let r = quote(&format!("{}/r{round}", run_dir(run_id)));
    format!(
        "cat {r}/status 2>/dev/null || echo none; cat {r}/load.out 2>/dev/null; echo {RECEIPT_SEPARATOR}; tail -c 400 {r}/load.err 2>/dev/null; tail -c 200 {r}/fwd.err 2>/dev/null; true"
    )
}

/// Removes the run's directory (receiver, keys, fifos, records) and its authorized_keys
/// lines from a node: exactly the lines [`authorized_line`] made for this run (the forced
/// command, one key, the run's comment), nothing else.
pub fn cleanup(run_id: &str) -> String {
    let d = run_dir(run_id);
    let ours = format!(
        "\\#^restrict,command=\"sh {}\" [A-Za-z0-9@.-]* [A-Za-z0-9+/=]* {}-r[0-9]*$#d",
        sed_literal(&receiver_path(run_id)),
        sed_literal(&format!("k8s-manage-relay-{run_id}")),
    );
    format!(
        "{}rm -rf {}; if [ -f ~/.ssh/authorized_keys ]; then sed -i {} ~/.ssh/authorized_keys; fi",
        refuse_unsafe_paths(&[&d]),
        quote(&d),
        quote(&ours),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_sh::{HOSTILE, assert_not_pwned, parses, run_ok};
    use super::*;

    /// A temporary HOME whose `.ssh/authorized_keys` holds `keys`; its path.
    fn home_with_keys(keys: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        let file = ssh.join("authorized_keys");
        std::fs::write(&file, keys).unwrap();
        (home, file)
    }

    #[test]
    fn the_forced_command_allows_the_receiver_only() {
        let l = authorized_line("ab12", "ssh-ed25519 AAAAC3Nz k8s-manage-relay-ab12-r1\n");
        assert!(l.starts_with("restrict,command=\"sh /tmp/k8s-manage-relay-ab12/recv.sh\" "));
        assert!(l.ends_with("k8s-manage-relay-ab12-r1"));
        assert!(cleanup("ab12").contains(" k8s-manage-relay-ab12-r[0-9]*$#d"));
    }

    #[test]
    fn the_receiver_parses_and_is_started_with_its_round() {
        let r = receiver("ab12");
        assert!(parses(&r), "{r}");
        assert!(r.contains("cd /tmp/k8s-manage-relay-ab12/\"r$r\" "), "{r}");
        assert_eq!(start("ab12", 3), "sh /tmp/k8s-manage-relay-ab12/recv.sh 3");
        assert_eq!(key_comment("ab12", 3), "k8s-manage-relay-ab12-r3");
    }

    /// Hostile run ids, checksum, next hop: the set-up makes the run's folder and files
    /// under their names, the next hop's values read back as they are, the receipt finds
    /// the round, and the clean-up removes the folder and exactly the run's key line.
    #[test]
    fn hostile_values_stay_what_they_are() {
        let (home, keys) = home_with_keys("ssh-ed25519 AAAA op\n");
        let sha = "it's $(touch pwned)";
        let hop = NextHop {
            address: "10.0.0.2; touch pwned".into(),
            port: 22,
            user: "o'brien $(touch pwned)".into(),
            private_key: "k".into(),
            known_hosts_line: "10.0.0.2 ssh-ed25519 AAAA".into(),
        };
        for name in HOSTILE {
            let id = format!("{}-{name}", crate::ssh::shell::nonce());
            let public = format!("ssh-ed25519 AAAAC3Nz/+= {}", key_comment(&id, 1));
            let line = authorized_line(&id, &public);
            let setup = setup(&id, true, 1, sha, Some(&hop), Some(&line));
            run_ok(home.path(), &setup);
            let d = run_dir(&id);
            assert_eq!(
                std::fs::read_to_string(format!("{d}/expect")).unwrap(),
                format!("{sha}\n")
            );
            let next = quote(&format!("{d}/r1/next"));
            let read_back = run_ok(
                home.path(),
                &format!(". {next}; printf '%s|' \"$next_host\" \"$next_user\""),
            );
            assert_eq!(read_back, format!("{}|{}|", hop.address, hop.user));
            assert!(parses(&receiver(&id)) && parses(&start(&id, 1)), "{name}");
            let got = run_ok(home.path(), &receipt(&id, 1));
            assert_eq!(got, format!("none\n{RECEIPT_SEPARATOR}\n"), "{name}");
            run_ok(home.path(), &cleanup(&id));
            assert!(!std::path::Path::new(&d).exists(), "{name}");
            assert_eq!(
                std::fs::read_to_string(&keys).unwrap(),
                "ssh-ed25519 AAAA op\n",
                "{name}"
            );
            assert_not_pwned(home.path(), &setup);
        }
    }

    /// A round's record, read back by the receipt query: status, load output, separator,
    /// errors; `none` where the round left nothing.
    #[test]
    fn the_receipt_prints_a_rounds_record() {
        let run_id = crate::ssh::shell::nonce();
        let home = tempfile::tempdir().unwrap();
        run_ok(home.path(), &setup(&run_id, true, 1, "abc", None, None));
        let r1 = format!("{}/r1", run_dir(&run_id));
        std::fs::write(format!("{r1}/status"), "bytes=1 sha256=abc load=0\n").unwrap();
        std::fs::write(format!("{r1}/load.out"), "Loaded image: a:1\n").unwrap();
        std::fs::write(format!("{r1}/load.err"), "oops\n").unwrap();
        let text = |round| run_ok(home.path(), &receipt(&run_id, round));
        assert_eq!(
            text(1),
            format!("bytes=1 sha256=abc load=0\nLoaded image: a:1\n{RECEIPT_SEPARATOR}\noops\n")
        );
        assert_eq!(text(2), format!("none\n{RECEIPT_SEPARATOR}\n"));
        run_ok(home.path(), &cleanup(&run_id));
        assert!(!std::path::Path::new(&run_dir(&run_id)).exists());
    }

    /// The set-up and the clean-up, run here under `sh` with HOME in a temporary folder:
    /// an authorized_keys without a final line break keeps the operator's key.
    #[test]
    fn the_clean_up_removes_exactly_the_line_the_setup_added() {
        let operator = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKey operator@desk\nssh-rsa AAAAB3Nz second@desk";
        let (home, keys) = home_with_keys(operator); // no final line break
        let run_id = crate::ssh::shell::nonce();
        let public = format!(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHop+/= {}",
            key_comment(&run_id, 1)
        );
        let line = authorized_line(&run_id, &public);
        let sh = |script: &str| run_ok(home.path(), script);
        sh(&setup(&run_id, true, 1, "abc", None, Some(&line)));
        let during = std::fs::read_to_string(&keys).unwrap();
        assert_eq!(during, format!("{operator}\n{line}\n"));
        sh(&cleanup(&run_id));
        assert_eq!(
            std::fs::read_to_string(&keys).unwrap(),
            format!("{operator}\n")
        );
        assert!(!std::path::Path::new(&run_dir(&run_id)).exists());
        // a file that ends with a line break gets no empty line
        std::fs::write(&keys, "ssh-ed25519 AAAA op\n").unwrap();
        sh(&setup(
            &format!("{run_id}b"),
            true,
            1,
            "abc",
            None,
            Some(&line.replace(&run_id, &format!("{run_id}b"))),
        ));
        sh(&cleanup(&format!("{run_id}b")));
        assert_eq!(
            std::fs::read_to_string(&keys).unwrap(),
            "ssh-ed25519 AAAA op\n"
        );
    }

    #[test]
    fn the_setup_writes_the_key_0600_in_a_private_directory_and_checks_it_later() {
        let hop = NextHop {
            address: "10.0.0.2".into(),
            port: 22,
            user: "root".into(),
            private_key:
                "-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n"
                    .into(),
            known_hosts_line: "10.0.0.2 ssh-ed25519 AAAA".into(),
        };
        let s = setup(
            "ab12",
            true,
            1,
            "deadbeef",
            Some(&hop),
            Some("restrict,command=\"x\" k"),
        );
        assert!(s.starts_with("set -eu\numask 077\n"));
        assert!(s.contains("mkdir -m 700 /tmp/k8s-manage-relay-ab12\n"));
        assert!(s.contains("printf '%s\\n' deadbeef > /tmp/k8s-manage-relay-ab12/expect"));
        assert!(s.contains("next_host=10.0.0.2\nnext_port=22\nnext_user=root\n"));
        assert!(s.contains("xyz\n-----END OPENSSH PRIVATE KEY-----\nK8SM_RELAY_EOF"));
        assert!(s.contains(">> ~/.ssh/authorized_keys"));
        let later = setup("ab12", false, 2, "deadbeef", None, None);
        assert!(later.contains("[ -O /tmp/k8s-manage-relay-ab12 ]"));
        assert!(!later.contains("recv.sh"));
        assert!(!later.contains("authorized_keys"));
    }
}
