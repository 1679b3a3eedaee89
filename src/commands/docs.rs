//! `completion SHELL` and `man --out DIR`: shell completions and man pages generated from
//! the same clap definitions that parse the command line.

use super::exit;
use super::output::{err, out};
use std::path::Path;

/// Print the completion script for `shell`.
pub fn completion(shell: clap_complete::Shell) -> i32 {
    let mut cmd = crate::cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "k8s-manage", &mut buf);
    out(&String::from_utf8_lossy(&buf));
    exit::OK
}

/// Write `k8s-manage.1` and one page per subcommand (`k8s-manage-cert-rotate.1`, ...).
pub fn man(dir: &Path) -> i32 {
    match write_pages(dir) {
        Ok(pages) => {
            out(&format!("wrote {} man pages to {}\n", pages, dir.display()));
            exit::OK
        }
        Err(e) => {
            err(&format!(
                "error: cannot write man pages to {}: {e}\n",
                dir.display()
            ));
            exit::FAILED
        }
    }
}

fn write_pages(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = crate::cli::command();
    cmd.build();
    let mut n = 0;
    write_tree(dir, &cmd, "k8s-manage", &mut n)?;
    Ok(n)
}

fn write_tree(dir: &Path, cmd: &clap::Command, name: &str, n: &mut usize) -> std::io::Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    std::fs::write(dir.join(format!("{name}.1")), buf)?;
    *n += 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_tree(dir, sub, &format!("{name}-{}", sub.get_name()), n)?;
    }
    Ok(())
}
