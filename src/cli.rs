//! Command-line interface definition (clap). Each command has an example in its help.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "k8s-manage",
    version,
    about = "Turn bare-metal Linux servers into a secure, highly available Kubernetes cluster over SSH",
    long_about = None,
    after_help = "Config dir (-p): cluster-configuration.yaml, kubernetes-configuration.yaml, optional k8s-role-definition.yaml.\nSee README.md for the format."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Colour in reports: auto (when stderr is a terminal), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Log what happens to stderr (-v, -vv, -vvv; or K8S_MANAGE_LOG).
    ///
    /// -v: each remote command per node, with its exit status and duration; -vv: also the
    /// command lines, connections and Docker calls; -vvv: everything. The environment
    /// variable K8S_MANAGE_LOG (a tracing filter, e.g. `debug` or `k8s_manage::ssh=trace`)
    /// overrides it. Passwords and private keys are never logged.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--version`: the version, the build's commit and the Kubernetes versions it deploys.
pub fn long_version() -> &'static str {
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use crate::model::version;
        format!(
            "{} (commit {})\nKubernetes {} (default {}), etcd 3.4 to 3.6",
            env!("CARGO_PKG_VERSION"),
            env!("K8S_MANAGE_COMMIT"),
            version::supported_range(),
            version::DEFAULT_VERSION
        )
    });
    &TEXT
}

/// The whole command line, as parsed and as documented (completions, man pages).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().long_version(long_version())
}

/// Parse the process's arguments (exits with clap's usage message when they are wrong).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `sandbox up --components`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SandboxComponents {
    /// The real upstream components (pulled, or built from source).
    Upstream,
    /// No components: nodes with sshd and dockerd only.
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The architectures the node-agent image can be made for.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ImageArch {
    Amd64,
    Arm64,
}

impl ImageArch {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageArch::Amd64 => "amd64",
            ImageArch::Arm64 => "arm64",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// The actions `plan` can show.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum PlanAction {
    #[default]
    Deploy,
    Clean,
    Add,
    Remove,
    Repair,
    Etcdfix,
    Upgrade,
    CertRotate,
    Restore,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented config dir to start from.
    ///
    /// Writes cluster-configuration.yaml, kubernetes-configuration.yaml and
    /// k8s-role-definition.yaml (OpenPAI format, every key with a one-line comment saying
    /// what it is and its default), checked as `validate` checks them. With --from, the
    /// original's quick-start file gives the machines (the first a master, the rest
    /// workers) and services-configuration.yaml is written too, as its generator did.
    #[command(
        after_help = "Examples:\n  k8s-manage init cfg --masters 10.0.0.11,10.0.0.12,10.0.0.13 --workers 10.0.0.21-10.0.0.30\n  k8s-manage init cfg --masters 10.0.0.11 --workers 10.0.0.21-25 --proxy 10.0.0.5 --key ~/.ssh/id_ed25519\n  k8s-manage init cfg --from quick-start.yaml\n\nAddresses: comma-separated, ranges as FIRST-LAST (10.0.0.21-10.0.0.30 or 10.0.0.21-30).\nAn existing file is never replaced unless --force. Exit status: 0 written, 2 invalid input."
    )]
    Init {
        /// The config dir to write (created when missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Master addresses (an odd count: 1, 3, 5).
        #[arg(
            long,
            value_name = "IPS",
            required_unless_present = "from",
            conflicts_with = "from"
        )]
        masters: Option<String>,
        /// Worker addresses (list and ranges).
        #[arg(long, value_name = "IPS", conflicts_with = "from")]
        workers: Option<String>,
        /// The address of a `k8s-role: proxy` node (haproxy in front of the apiservers).
        #[arg(long, value_name = "IP", conflicts_with = "from")]
        proxy: Option<String>,
        /// SSH login of every machine (default: root; another user needs sudo).
        #[arg(long, value_name = "U")]
        user: Option<String>,
        /// SSH private key for every machine (default: the running ssh-agent).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The Kubernetes version to deploy (default: the newest supported).
        #[arg(long, value_name = "V")]
        kubernetes_version: Option<String>,
        /// The original's quick-start file (machines, ssh-username, ssh-password, ...).
        #[arg(long, value_name = "QUICK-START.yaml")]
        from: Option<PathBuf>,
        /// Replace files that already exist.
        #[arg(long)]
        force: bool,
    },
    /// Check a config dir and node list; list every problem with file:line:column.
    #[command(
        after_help = "Example:\n  k8s-manage validate -p cluster-configuration/three-masters\n  k8s-manage validate -p cfg -f new-nodes.yaml\n\nExit status: 0 when valid (warnings allowed), 2 when any error was found."
    )]
    Validate {
        /// The config dir.
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// A node-list file (machine-list: list form, or machinelist: map form).
        #[arg(short = 'f', long = "file", value_name = "NODES.yaml")]
        file: Option<PathBuf>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Show, per node, the steps an action would run (touches nothing).
    #[command(
        after_help = "Examples:\n  k8s-manage plan -p cfg\n  k8s-manage plan -p cfg add -f new-workers.yaml --output json\n  k8s-manage plan -p cfg etcdfix -f broken-master.yaml"
    )]
    Plan {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// deploy (default), upgrade, cert-rotate, clean, add, remove, repair, etcdfix or restore.
        #[arg(value_enum, default_value_t = PlanAction::Deploy)]
        action: PlanAction,
        /// The node list that add, remove, repair and etcdfix need.
        #[arg(short = 'f', long = "file", value_name = "NODES.yaml")]
        file: Option<PathBuf>,
        /// Report format: text (for people) or json (for programs).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Write the files and container specs each node and the cluster would get.
    #[command(
        after_help = "Example:\n  k8s-manage render -p cfg --out rendered/\n\nWrites OUT/nodes/<hostname>/{containers,files}/ and OUT/cluster/*.yaml.\nCreates the PKI in DIR/.k8s-manage/pki/ on first use (keys 0600) and reuses it after."
    )]
    Render {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// Output folder (created; files in it are replaced).
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
    },
    /// Deploy the cluster, or bring it to the config (a re-run resumes).
    ///
    /// Turn the machines of the config dir into a secure, highly available cluster. A second
    /// run changes nothing; a re-run after a failure or Ctrl-C resumes.
    #[command(
        after_help = "Examples:\n  k8s-manage deploy -p cfg\n  k8s-manage deploy -p cfg --dry-run\n  k8s-manage deploy -p cfg --images bundle.tar --parallel 20\n  k8s-manage deploy -p cfg --images bundle.tar --relay off\n\nOn a running cluster, containers that would be replaced are rolled: masters one at a time,\nthen --max-unavailable other nodes at a time, each drained first unless --no-drain.\n\nExit status: 0 done, 1 failed (the report names the phase, the nodes and the fix), 2 invalid input."
    )]
    Deploy {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        roll: RollArgs,
        /// Show what would change on each node and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// An image bundle (`docker save` tar) streamed to the nodes over SSH instead of pulling.
        #[arg(long, value_name = "FILE")]
        images: Option<PathBuf>,
        /// How the bundle reaches the nodes: `on` node to node (the control host sends it
        /// once), `off` from the control host to each node.
        #[arg(long, value_enum, default_value_t = RelayMode::On, value_name = "on|off")]
        relay: RelayMode,
    },
    /// Upgrade a running cluster to the config's kubernetes-version, rolling.
    ///
    /// Upgrade a running cluster to the kubernetes-version of the config dir: checks the
    /// version skew (one minor at a time, no downgrade unless allowed), then a rolling
    /// deploy: masters one at a time, other nodes in batches, each node drained first.
    #[command(
        after_help = "Example:\n  # set kubernetes-version: v1.36.1 in cfg/kubernetes-configuration.yaml, then\n  k8s-manage upgrade -p cfg --dry-run\n  k8s-manage upgrade -p cfg --max-unavailable 2\n\nThe running version is read from DIR/.k8s-manage/state.json, else from the running\nkube-apiserver's image tag. Exit status: 0 done, 1 failed or refused, 2 invalid input."
    )]
    Upgrade {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        roll: RollArgs,
        /// Allow going back one minor version (take an etcd snapshot first).
        #[arg(long)]
        allow_downgrade: bool,
        /// Show what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// An image bundle (`docker save` tar) streamed to the nodes over SSH instead of pulling.
        #[arg(long, value_name = "FILE")]
        images: Option<PathBuf>,
    },
    /// Bring the listed nodes back to their desired state.
    ///
    /// Bring the listed nodes back to their desired state: re-send missing or changed files,
    /// re-create missing, stopped, unhealthy or different containers. Healthy containers
    /// (a master's etcd and apiserver included) are never stopped.
    #[command(
        after_help = "Example:\n  k8s-manage repair -p cfg -f broken-nodes.yaml\n  k8s-manage repair -p cfg -f broken-nodes.yaml --dry-run"
    )]
    Repair {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// The machines to repair (machine-list: or machinelist: form).
        #[arg(short = 'f', long = "file", value_name = "NODES.yaml")]
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Show what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild one master's failed etcd member from the healthy rest.
    ///
    /// Rebuild one failed etcd member from the healthy rest of the cluster: check that the
    /// other members still have quorum (else stop and point to `etcd snapshot restore`),
    /// take a snapshot (auto-etcdfix-<UTC time>), stop the member and move its data dir's
    /// contents aside (kept), remove it by its exact member id and add it back through the
    /// leader, start it with --initial-cluster-state=existing, wait until it is caught up.
    #[command(
        after_help = "Example:\n  k8s-manage etcdfix -p cfg -f broken-master.yaml\n  k8s-manage etcdfix -p cfg -f broken-master.yaml --dry-run\n\nThe node list names exactly one master (fix several one by one).\nExit status: 0 rebuilt (or, with --dry-run, it could be), 1 refused or failed (the message\nnames the step and the fix; lost quorum points to `etcd snapshot restore`), 2 invalid input."
    )]
    Etcdfix {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// The one master whose etcd member to rebuild (machine-list: or machinelist: form).
        #[arg(short = 'f', long = "file", value_name = "NODES.yaml")]
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Check quorum and reachability and say what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Add machines (workers or masters) to a running cluster.
    ///
    /// Machines join a running cluster: workers get certificates from the existing CA,
    /// images, kubelet, kube-proxy and the local load balancer; masters join etcd one at a
    /// time through the leader (snapshot first), then every load balancer and apiserver is
    /// updated. cluster-configuration.yaml is updated (backup in DIR/.k8s-manage/backups).
    #[command(
        after_help = "Examples:\n  k8s-manage add -p cfg -f new-workers.yaml\n  k8s-manage add -p cfg -f new-masters.yaml --dry-run\n\nExit status: 0 done, 1 failed (the report names the step and the fix), 2 invalid input (nothing changed)."
    )]
    Add {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// The machines to add (machine-list: or machinelist: form).
        #[arg(short = 'f', long = "file", value_name = "NODES.yaml")]
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Check everything (config, connections, preflight, etcd quorum), show the steps,
        /// change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove machines from a running cluster.
    ///
    /// Machines leave the cluster: cordon and drain (bounded by --wait-seconds), a master's
    /// etcd member removed (refused if quorum would be lost; snapshot first) and taken out
    /// of every load balancer, the host cleaned, the Node object deleted, and
    /// cluster-configuration.yaml updated (backup in DIR/.k8s-manage/backups).
    #[command(
        after_help = "Examples:\n  k8s-manage remove -p cfg -f leaving.yaml\n  k8s-manage remove -p cfg -f dead-node.yaml --force\n\n--force: remove nodes that cannot be reached (their host is reported as not cleaned), and\ndelete pods instead of evicting them.\nExit status: 0 done, 1 failed or refused, 2 invalid input (nothing changed)."
    )]
    Remove {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// The machines to remove, as in cluster-configuration.yaml.
        #[arg(short = 'f', long = "file", value_name = "NODES.yaml")]
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Show what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove unreachable nodes too (not cleaned), and delete pods instead of evicting.
        #[arg(long)]
        force: bool,
    },
    /// Remove every container and directory of the tool from every node.
    #[command(
        after_help = "Example:\n  k8s-manage clean -p cfg --yes\n\nFirst an etcd snapshot auto-clean-<UTC time> is taken into DIR/.k8s-manage/snapshots (refused, with nothing changed, when etcd does not answer, unless --no-snapshot). The PKI on the control host (DIR/.k8s-manage/pki) is kept."
    )]
    Clean {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Clean even when no etcd snapshot can be taken first (the cluster's state is lost).
        #[arg(long)]
        no_snapshot: bool,
        /// Show what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Install kubectl here and merge the admin context into a kubeconfig.
    #[command(
        name = "install-kubectl",
        alias = "install_kubectl",
        after_help = "Examples:\n  k8s-manage install-kubectl -p cfg\n  k8s-manage install-kubectl -p cfg --from ./kubectl-v1.36.1\n  k8s-manage install-kubectl -p cfg --from https://mirror/kubectl --sha256 <hex>"
    )]
    InstallKubectl {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// A kubectl binary path or an https URL (default: the one on PATH, else the system package).
        #[arg(long, value_name = "PATH|URL")]
        from: Option<String>,
        /// Expected SHA-256 of a downloaded kubectl.
        #[arg(long)]
        sha256: Option<String>,
        /// Where to install kubectl when --from is given.
        #[arg(long, default_value = "/usr/local/bin/kubectl")]
        dest: PathBuf,
        /// The kubeconfig to merge into (default ~/.kube/config).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Replace entries named k8s-manage-<cluster-name> even when they point at
        /// another cluster (a backup of the file is kept).
        #[arg(long)]
        force: bool,
    },
    /// Report the cluster's health (read only).
    ///
    /// Report the cluster's health, read only: per node its reachability and the state of
    /// every container of ours (running, current spec), etcd members and leader, API /readyz,
    /// registered nodes and their Ready condition, and the soonest certificate expiry.
    #[command(
        after_help = "Examples:\n  k8s-manage status -p cfg\n  k8s-manage status -p cfg --output json\n\nExit status: 0 when everything is healthy (every node reachable, every container running\nwith the spec rendered now, etcd healthy with a leader, API ready, every node registered and\nReady, no certificate expiring within 30 days), 1 otherwise, 2 invalid input.\nChanges nothing on the nodes or in DIR/.k8s-manage."
    )]
    Status {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Check or rotate the cluster's certificates.
    ///
    /// Certificates of the cluster PKI on the control host (DIR/.k8s-manage/pki).
    #[command(subcommand)]
    Cert(CertCommand),
    /// Save and restore etcd snapshots.
    #[command(subcommand)]
    Etcd(EtcdCommand),
    /// Simulated bare metal here: Docker-in-Docker nodes reached over SSH.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Database services on the cluster: list, render, deploy, stop, scale, ...
    ///
    /// Services on the cluster (built-in databases and the config dir's services/):
    /// list, render, deploy, stop, delete, refresh, scale. Reads services-configuration.yaml.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Build and push images: the imagelist's, and the node-agent (kubelet) image.
    ///
    /// Images of the imagelist (DIR/src/<image>/Dockerfile): build and push through the
    /// Docker API; and `image node-agent`: the kubelet + cri-dockerd image every node runs,
    /// from the official release binaries.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Print a shell completion script (bash, zsh, fish).
    #[command(
        after_help = "Examples:\n  source <(k8s-manage completion bash)          # this shell\n  k8s-manage completion bash > /etc/bash_completion.d/k8s-manage\n  k8s-manage completion zsh > \"${fpath[1]}/_k8s-manage\"\n  k8s-manage completion fish > ~/.config/fish/completions/k8s-manage.fish"
    )]
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages for every command.
    #[command(
        after_help = "Example:\n  k8s-manage man --out /usr/local/share/man/man1 && man k8s-manage-deploy\n  k8s-manage man --out man/ && man -l man/k8s-manage.1"
    )]
    Man {
        /// Folder for the pages (k8s-manage.1, k8s-manage-deploy.1, ...), created when missing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write JSON Schemas of the config files, for editors.
    ///
    /// One schema per file: cluster-configuration, kubernetes-configuration, node-list and
    /// services-configuration, made from the same key tables validation uses.
    #[command(
        after_help = "Example:\n  k8s-manage schema --out cfg/.schemas\n\nThen, as the first line of cfg/cluster-configuration.yaml (yaml-language-server: VS Code, Neovim):\n  # yaml-language-server: $schema=.schemas/cluster-configuration.schema.json"
    )]
    Schema {
        /// Folder for the *.schema.json files, created when missing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Options of the service commands that talk to the cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
    #[arg(short = 'p', long = "path", value_name = "DIR")]
    pub path: PathBuf,
    /// A service name, or `all`.
    #[arg(
        short = 's',
        long = "service",
        value_name = "NAME|all",
        default_value = "all"
    )]
    pub service: String,
    /// Bound of each wait step that sets no `timeout`, in seconds.
    #[arg(long, default_value_t = 300)]
    pub wait_seconds: u64,
    /// Show the services and their steps (rendered) and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// deploy and refresh: send every manifest of the apply steps through the API server's
    /// admission and schemas (server-side dry run, unknown fields refused) and store
    /// nothing; the other steps are skipped. The namespaces must exist already.
    #[arg(long, conflicts_with = "dry_run")]
    pub server_dry_run: bool,
    /// Report format: text (for people) or json (for programs).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// The services with their prerequisites, images and where they come from.
    #[command(after_help = "Example:\n  k8s-manage service list -p cfg")]
    List {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// Report format: text (for people) or json (for programs).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Write the services' rendered manifests (OUT/<service>/<file>).
    ///
    /// Write the rendered manifests of the services (OUT/<service>/<file>); touches no cluster.
    #[command(
        after_help = "Example:\n  k8s-manage service render -p cfg -s all --out rendered-services/"
    )]
    Render {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// A service name, or `all`.
        #[arg(
            short = 's',
            long = "service",
            value_name = "NAME|all",
            default_value = "all"
        )]
        service: String,
        /// Output folder (created; files in it are replaced).
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
    },
    /// Start services, prerequisites first.
    ///
    /// Start services, prerequisites first: their `start` steps (server-side apply, bounded
    /// waits, exec in pods).
    #[command(
        after_help = "Examples:\n  k8s-manage service deploy -p cfg -s iotdb\n  k8s-manage service deploy -p cfg --dry-run\n\nExit status: 0 done, 1 a step failed (named with the reason), 2 invalid input."
    )]
    Deploy(ServiceArgs),
    /// Run the `stop` steps, dependents first (data is kept).
    #[command(after_help = "Example:\n  k8s-manage service stop -p cfg -s iotdb")]
    Stop(ServiceArgs),
    /// Run the `delete` steps, dependents first (removes data too).
    #[command(after_help = "Example:\n  k8s-manage service delete -p cfg -s iotdb")]
    Delete(ServiceArgs),
    /// Run the `refresh` steps (re-apply configuration).
    #[command(after_help = "Example:\n  k8s-manage service refresh -p cfg -s iotdb")]
    Refresh(ServiceArgs),
    /// Change a database's size with its own planner.
    ///
    /// Change a database's size with its own planner (scale-down runs the database's removal
    /// steps first, and is refused below its replication factor).
    #[command(
        after_help = "Example:\n  k8s-manage service scale -p cfg -s iotdb --replicas 5\n\nExit status: 0 done, 1 a step failed, 2 invalid input or refused."
    )]
    Scale {
        #[command(flatten)]
        args: ServiceArgs,
        /// The wanted number of replicas.
        #[arg(long)]
        replicas: u32,
        /// Which part of the service (e.g. `confignode`); default: the service's own choice.
        #[arg(long)]
        component: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Make the kubelet + cri-dockerd image from the official release binaries.
    ///
    /// Make the node-agent image (kubelet and cri-dockerd, run on every node) for the
    /// config's kubernetes-version: fetch the official kubelet and the cri-dockerd release
    /// archive (or the same paths under `release-mirror:`), check each against its expected
    /// SHA-256 (a `node-agent-checksums:` pin, else the built-in table) and the published
    /// kubelet.sha256, build it on a Debian base (`node-agent-base-image:`) through the
    /// local Docker engine, and tag it as the config's kubelet image. Nothing is built
    /// unless both files check out.
    #[command(
        name = "node-agent",
        after_help = "Examples:\n  k8s-manage image node-agent -p cfg --out node-agent.tar\n  k8s-manage deploy -p cfg --images node-agent.tar\n  k8s-manage image node-agent -p cfg --push      # docker-registry or kubelet-image names your registry\n  k8s-manage image node-agent -p cfg --arch arm64 --out node-agent-arm64.tar\n\nExit status: 0 made, 1 failed (fetch, checksum, build, save or push), 2 invalid input\n(including a file whose checksum neither the config nor the built-in table knows)."
    )]
    NodeAgent {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// The architecture of the nodes (default: this machine's).
        #[arg(long, value_enum)]
        arch: Option<ImageArch>,
        /// Also write the image as a `docker save` bundle for `deploy --images`.
        #[arg(long, value_name = "BUNDLE.tar")]
        out: Option<PathBuf>,
        /// Also push it to the kubelet image's registry (login: services-configuration.yaml).
        #[arg(long)]
        push: bool,
        /// Report format: text (for people) or json (for programs).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Build the images in dependency order.
    ///
    /// Build images in dependency order from DIR/src/<image>/ (Dockerfile rendered with
    /// Tera), tagged <domain>/<namespace>/<image>:<tag> from services-configuration.yaml.
    #[command(after_help = "Example:\n  k8s-manage image build -p cfg -n all")]
    Build {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// An image name, or `all`.
        #[arg(
            short = 'n',
            long = "name",
            value_name = "NAME|all",
            default_value = "all"
        )]
        name: String,
        /// Report format: text (for people) or json (for programs).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Push the built images with the configured registry login.
    ///
    /// Push built images (in dependency order) with the configured registry credentials.
    #[command(after_help = "Example:\n  k8s-manage image push -p cfg -n all")]
    Push {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// An image name, or `all`.
        #[arg(
            short = 'n',
            long = "name",
            value_name = "NAME|all",
            default_value = "all"
        )]
        name: String,
        /// Report format: text (for people) or json (for programs).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List every certificate with its expiry, soonest first (read only).
    ///
    /// List every certificate (name, subject CN, issuer, expiry, days left), soonest expiry
    /// first. Reads only: never creates or reissues a certificate.
    #[command(
        after_help = "Examples:\n  k8s-manage cert check -p cfg\n  k8s-manage cert check -p cfg --warn-days 60 --output json\n\nExit status: 0 when no certificate expires within --warn-days, 1 when one does (expired ones\nare marked EXPIRED), 2 when there is no PKI yet (run deploy or render first)."
    )]
    Check {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// Warn about certificates that expire within this many days.
        #[arg(long, default_value_t = 30)]
        warn_days: u32,
        /// Report format: text (for people) or json (for programs).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Re-issue certificates, push them, restart what uses them.
    ///
    /// Re-issue certificates on the control host (all leaves, or those of --service), keep a
    /// backup of the replaced files, push them and restart exactly the containers that use
    /// them. Works when the certificates have already expired.
    #[command(
        after_help = "Examples:\n  k8s-manage cert rotate -p cfg\n  k8s-manage cert rotate -p cfg --service kube-proxy --service kubelet\n  k8s-manage cert rotate -p cfg --ca --dry-run\n\nServices: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,\nload-balancer. The replaced PKI files are kept in DIR/.k8s-manage/backups/pki-<UTC time>/.\nValid certificates: a rolling restart (drained nodes, the API keeps answering). Expired ones,\nor --ca (new CAs, so every certificate and kubeconfig changes): the old and new certificates\ncannot talk to each other, so every affected container restarts at once, without drain, and\nthe API is down meanwhile."
    )]
    Rotate {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// Only the certificates this service serves with or presents (repeatable).
        #[arg(long = "service", value_name = "S")]
        service: Vec<String>,
        /// Also replace the three CAs (then every certificate and kubeconfig; restarts everything).
        #[arg(long)]
        ca: bool,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        roll: RollArgs,
        /// Show which certificates and containers would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// How a rolling update goes (deploy on a running cluster, upgrade, cert rotate).
#[derive(Debug, Clone, clap::Args)]
pub struct RollArgs {
    /// Rolling: how many non-master nodes may be down at once (masters: always one).
    #[arg(long, default_value_t = 1)]
    pub max_unavailable: usize,
    /// Rolling: do not drain (cordon + evict) a node before its kubelet is replaced.
    #[arg(long)]
    pub no_drain: bool,
}

/// `deploy --relay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RelayMode {
    On,
    Off,
}

/// Options shared by commands that reach nodes over SSH.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// How many nodes to work on at once.
    #[arg(long, default_value_t = 50)]
    pub parallel: usize,
    /// Record unknown host keys without asking (otherwise asked on a terminal, refused without one).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// DANGEROUS: accept any host key, even one that changed. Only for throw-away test hosts.
    #[arg(long)]
    pub insecure_ignore_host_keys: bool,
    /// Bound for each wait (etcd quorum, /readyz, node registration), in seconds.
    #[arg(long, default_value_t = 180)]
    pub wait_seconds: u64,
    /// Report format: text (for people) or json (for programs).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum EtcdCommand {
    /// Save and restore etcd snapshots.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot, kept here and on every master.
    ///
    /// Take a snapshot from a healthy member (the leader when it answers): kept in
    /// DIR/.k8s-manage/snapshots/<name>.db with its sha256, and copied to every master
    /// (/var/lib/k8s-manage/snapshots), each copy checked.
    #[command(
        after_help = "Example:\n  k8s-manage etcd snapshot save -p cfg --name before-upgrade"
    )]
    Save {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// Snapshot name (default: snapshot-<UTC time>).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Roll etcd back to a snapshot on every master (lost quorum).
    ///
    /// Roll etcd back to a snapshot on every master (the answer to lost quorum): refuses a
    /// snapshot whose sha256 does not match the recorded one, stops the control plane and
    /// etcd, moves each data dir's contents aside (kept), restores, starts etcd, waits for
    /// quorum and brings the control plane back (repair on every node).
    #[command(
        after_help = "Example:\n  k8s-manage etcd snapshot restore -p cfg --name before-upgrade --yes\n  k8s-manage etcd snapshot restore -p cfg --name before-upgrade --dry-run\n\nEvery change made after the snapshot was taken is lost: it asks first unless --yes.\nA snapshot of the current state is taken first when a member still answers.\nExit status: 0 restored, 1 refused or failed, 2 invalid input (no such snapshot)."
    )]
    Restore {
        /// The config dir: cluster-configuration.yaml, kubernetes-configuration.yaml, ...
        #[arg(short = 'p', long = "path", value_name = "DIR")]
        path: PathBuf,
        /// The snapshot: DIR/.k8s-manage/snapshots/<NAME>.db (with its .sha256).
        #[arg(long)]
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Check the snapshot and the masters' copies and say what would be done.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        run: RunArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Start nodes (each with sshd and its own dockerd) and write a ready config dir.
    #[command(
        after_help = "Example:\n  k8s-manage sandbox up --masters 3 --workers 2 --dir sandbox-cfg\n  k8s-manage deploy -p sandbox-cfg\n\nNeeds a local Docker engine and root. Every image the written config references (the upstream\nKubernetes components, etcd, CoreDNS, flannel; haproxy from Debian) is loaded into each node's\nown Docker engine first. Where no registry answers they are built from source the first time\n(Go; about 30 minutes on 2 cores, cached after; see `sandbox build`)."
    )]
    Up {
        /// How many master nodes.
        #[arg(long, default_value_t = 3)]
        masters: u32,
        /// How many worker nodes.
        #[arg(long, default_value_t = 2)]
        workers: u32,
        /// Add a `k8s-role: proxy` node running haproxy in front of the apiservers.
        #[arg(long)]
        proxy: bool,
        /// Sandbox name (network, container prefix, label).
        #[arg(long, default_value = "k8s-sandbox")]
        name: String,
        /// The config dir to write.
        #[arg(long, value_name = "DIR", default_value = "sandbox-cfg")]
        dir: PathBuf,
        /// The network's IPv4 subnet (default: the first free /24 in 172.30.0.0/16).
        #[arg(long)]
        subnet: Option<ipnet::Ipv4Net>,
        /// Kubernetes versions to build and preload the component images of,
        /// comma-separated; the written config asks for the first (e.g. `v1.35.4,v1.36.1`
        /// to test upgrade).
        #[arg(long, value_delimiter = ',', value_name = "V1,V2")]
        versions: Vec<String>,
        /// What the nodes get: the real upstream programs (pulled, or built from source
        /// when no registry answers), or none (sshd and dockerd only).
        #[arg(long, value_enum, default_value_t = SandboxComponents::Upstream)]
        components: SandboxComponents,
    },
    /// Make every image `up` loads, building what no registry gives; start no node.
    #[command(
        after_help = "Example:\n  k8s-manage sandbox build --versions v1.35.4,v1.36.1\n\nBuilds the upstream programs from their pinned Go modules (sandbox/upstream/) into the sandbox\ncache the first time (progress and an estimate on stderr), then the images; a second run finds\nthem and builds nothing. Needs Go 1.26 (scripts/setup.sh installs it) and gcc."
    )]
    Build {
        /// Kubernetes versions to build the components of (default: the sandbox's version).
        #[arg(long, value_delimiter = ',', value_name = "V1,V2")]
        versions: Vec<String>,
        /// What to build: the upstream components, or none.
        #[arg(long, value_enum, default_value_t = SandboxComponents::Upstream)]
        components: SandboxComponents,
    },
    /// Remove exactly what `up` made (containers, network, volumes; found by label).
    #[command(after_help = "Example:\n  k8s-manage sandbox down --name k8s-sandbox")]
    Down {
        /// Sandbox name (as given to `sandbox up --name`).
        #[arg(long, default_value = "k8s-sandbox")]
        name: String,
    },
    /// List nodes, addresses, and whether sshd and dockerd answer.
    ///
    /// List nodes, addresses, and whether sshd and dockerd answer. Exit 1 unless all do.
    #[command(after_help = "Example:\n  k8s-manage sandbox status --name k8s-sandbox")]
    Status {
        /// Sandbox name (as given to `sandbox up --name`).
        #[arg(long, default_value = "k8s-sandbox")]
        name: String,
        /// Report format: text (for people) or json (for programs).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}
