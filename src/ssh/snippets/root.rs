//! Running a command as root through sudo (see [`crate::ssh::Session::exec_root`]).

use crate::ssh::shell::quote;

/// sudo with a password on stdin: `sudo -S -p <prompt> -- sh -c '<ready>; <cmd>'`. sudo
/// prints `prompt` when it wants the password; the command first prints `ready` on stderr,
/// so the caller knows when the command's own stdin may flow.
pub fn sudo_with_password(prompt: &str, ready: &str, cmd: &str) -> String {
    let script = format!("printf '%s\\n' {} >&2\n{cmd}", quote(ready));
    format!("sudo -S -p {} -- sh -c {}", quote(prompt), quote(&script))
}

/// sudo without a password: `-n` fails at once instead of waiting for one.
pub fn sudo_without_password(cmd: &str) -> String {
    format!("sudo -n -- sh -c {}", quote(cmd))
}

#[cfg(test)]
mod tests {
    use super::super::test_sh::{assert_not_pwned, fake_tool, run_in};
    use super::*;

    /// A command that prints its arguments, each on a line, with hostile text in them.
    const CMD: &str = "printf '%s\\n' \"it's\" '$(touch pwned)' \"$HOME\" >/dev/null; printf '%s\\n' \"it's\" '$(touch pwned)'";

    /// A sudo that drops its options up to `--` and runs the rest.
    fn fake_sudo(dir: &std::path::Path) {
        fake_tool(
            dir,
            "sudo",
            "while [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"",
        );
    }

    #[test]
    fn the_password_wrapper_has_its_markers_and_runs_the_command_as_given() {
        let s = sudo_with_password("[k8s-manage sudo 1a]", "[k8s-manage root 1a]", "id -u");
        assert_eq!(
            s,
            "sudo -S -p '[k8s-manage sudo 1a]' -- sh -c 'printf '\\''%s\\n'\\'' '\\''[k8s-manage root 1a]'\\'' >&2\nid -u'"
        );
        let dir = tempfile::tempdir().unwrap();
        fake_sudo(dir.path());
        let ready = "[k8s-manage root $(touch pwned) it's]";
        let out = run_in(
            dir.path(),
            &sudo_with_password("[p $(touch pwned)]", ready, CMD),
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("{ready}\n"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "it's\n$(touch pwned)\n"
        );
        assert_not_pwned(dir.path(), CMD);
    }

    #[test]
    fn the_wrapper_without_password_fails_fast_and_runs_the_command_as_given() {
        assert_eq!(
            sudo_without_password("cat -- '/a b'"),
            "sudo -n -- sh -c 'cat -- '\\''/a b'\\'''"
        );
        let dir = tempfile::tempdir().unwrap();
        fake_sudo(dir.path());
        let out = run_in(dir.path(), &sudo_without_password(CMD));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "it's\n$(touch pwned)\n"
        );
        assert_not_pwned(dir.path(), CMD);
    }
}
