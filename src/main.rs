//! The `k8s-manage` command-line entry point: parse arguments, run the command, exit with
//! its status.

use k8s_manage::cli::{ColorChoice, Command, EtcdCommand, SnapshotCommand};
use k8s_manage::commands::{
    cert, clean, deploy, docs, etcd, image, init, install_kubectl, membership, plan, render,
    sandbox, schema, service, status, validate,
};
use std::io::IsTerminal;

fn main() {
    let cli = k8s_manage::cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    k8s_manage::logging::init(cli.verbose, color);
    let code = match cli.command {
        Command::Init {
            dir,
            masters,
            workers,
            proxy,
            user,
            key,
            kubernetes_version,
            from,
            force,
        } => init::run(
            &dir,
            &k8s_manage::init::Options {
                masters,
                workers,
                proxy,
                user,
                key,
                kubernetes_version,
                from,
                force,
            },
            color,
        ),
        Command::Completion { shell } => docs::completion(shell),
        Command::Man { out } => docs::man(&out),
        Command::Schema { out } => schema::run(&out),
        Command::Validate { path, file, output } => {
            validate::run(&path, file.as_deref(), output, color)
        }
        Command::Plan {
            path,
            action,
            file,
            output,
        } => plan::run(&path, action, file.as_deref(), output, color),
        Command::Render { path, out } => render::run(&path, &out, color),
        Command::Sandbox(cmd) => sandbox::run(cmd),
        Command::Service(cmd) => service::run(cmd, color),
        Command::Image(cmd) => image::run(cmd, color),
        Command::Cert(cmd) => cert::run(cmd, color),
        Command::Etcd(EtcdCommand::Snapshot(SnapshotCommand::Save { path, name, run })) => {
            etcd::snapshot_save(&path, name, &run, color)
        }
        Command::Etcd(EtcdCommand::Snapshot(SnapshotCommand::Restore {
            path,
            name,
            yes,
            dry_run,
            run,
        })) => etcd::restore(&path, &name, &run, yes, dry_run, color),
        Command::Etcdfix {
            path,
            file,
            run,
            dry_run,
        } => etcd::etcdfix(&path, &file, &run, dry_run, color),
        Command::Status { path, run } => status::run(&path, &run, color),
        Command::Deploy {
            path,
            run,
            roll,
            dry_run,
            images,
            relay,
        } => deploy::deploy(&path, &run, &roll, dry_run, images, relay, color),
        Command::Upgrade {
            path,
            run,
            roll,
            allow_downgrade,
            dry_run,
            images,
        } => deploy::upgrade(&path, &run, &roll, allow_downgrade, dry_run, images, color),
        Command::Repair {
            path,
            file,
            run,
            dry_run,
        } => deploy::repair(&path, &file, &run, dry_run, color),
        Command::Add {
            path,
            file,
            run,
            dry_run,
        } => membership::add(&path, &file, &run, dry_run, color),
        Command::Remove {
            path,
            file,
            run,
            dry_run,
            force,
        } => membership::remove(&path, &file, &run, dry_run, force, color),
        Command::Clean {
            path,
            run,
            yes,
            no_snapshot,
            dry_run,
        } => clean::clean(&path, &run, yes, no_snapshot, dry_run, color),
        Command::InstallKubectl {
            path,
            from,
            sha256,
            dest,
            kubeconfig,
            force,
        } => install_kubectl::install_kubectl(&path, from, sha256, &dest, kubeconfig, force, color),
    };
    std::process::exit(code);
}
