//! Command-line interface: flags and subcommands. Parsing only; `lib.rs` runs them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Multi-node k0s clusters in Vagrant VMs: the helper behind the project's Vagrantfile.
///
/// Settings come from environment variables, listed below with their defaults (README.md has
/// them too).
#[derive(Debug, Parser)]
#[command(
    name = "k0s-vagrant",
    version,
    propagate_version = true,
    after_help = "Settings come from environment variables: `k0s-vagrant --help` lists them all.",
    after_long_help = variables_help()
)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// The Vagrant project directory (where the Vagrantfile is).
    ///
    /// Default: the nearest directory upwards from the current one that holds a Vagrantfile.
    /// State lives in its `.vagrant/k0s/` (or under VAGRANT_DOTFILE_PATH).
    #[arg(long, global = true, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,

    /// Download nothing: the k0s binary and image bundle must be in the cache already.
    ///
    /// The same as K0S_VAGRANT_OFFLINE=1. Offline, `plan` for `vagrant up` stops before any
    /// machine exists when the cache lacks what the plan needs, and names the fetch command.
    #[arg(long, global = true)]
    pub offline: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the node plan: machines, roles, addresses and sizes.
    ///
    /// Reads the settings from the environment. Inside an existing cluster the plan lock
    /// (.vagrant/k0s/plan.json) decides, except for `vagrant up`, which may extend it.
    Plan(PlanArgs),
    /// Render k0sctl.yaml to stdout or a file.
    ///
    /// Works before any VM exists: then addresses are the planned ones (libvirt) or `<...>`
    /// placeholders (Tart). After `vagrant up` it uses the inventory of the running machines.
    Render(RenderArgs),
    /// Deploy k0s onto the running machines: the post-up hook of `vagrant up`.
    ///
    /// Phases: wait-ssh, preflight, artifacts, render, apply, wait-ready, version, taints, kubeconfig, api. Each is
    /// titled and timed; a second run changes nothing. Its limits and switches are environment
    /// variables too; `k0s-vagrant --help` lists them.
    Deploy(DeployArgs),
    /// One table of the running cluster: per node SSH, k0s service, role and version, Node Ready,
    /// taints and workloads; etcd members, the API from this host, the kubeconfig.
    ///
    /// Works from the inventory; asks Vagrant only for the VM state of nodes that do not answer
    /// over SSH (halted, suspended). Every probe has its own timeout.
    Status(StatusArgs),
    /// Named health checks, each pass or fail with a reason; exit 0 when healthy, 1 when not.
    ///
    /// Checks: ssh, k0s-services, etcd-quorum, nodes-ready, taints (exactly the planned nodes take
    /// workloads), reachability (node-to-node matrix), api (from this host).
    Health(HealthArgs),
    /// Failure drill: take one node down on purpose, see what still works, restore it.
    Drill(DrillArgs),
    /// Print the cluster's kubeconfig (or, with --path, where it is), or point it at another
    /// controller (--server).
    Kubeconfig(KubeconfigArgs),
    /// Take nodes out of the running cluster (drain, leave etcd, reset k0s, delete the Node),
    /// then forget them: the `vagrant destroy` of part of a cluster runs it first.
    ///
    /// Nodes go one at a time, workers first, highest number first. Refuses control-plane-1, the
    /// last worker, and a controller whose leave would take etcd below quorum (unless --force).
    /// The machines stay: Vagrant destroys them.
    Remove(RemoveArgs),
    /// Stop k0s on nodes (`k0s stop`; the service stays enabled, so the next boot starts it).
    ///
    /// `vagrant halt` runs it for each machine with --before-halt: on Tart, whose halt powers the
    /// VM off without a guest shutdown; elsewhere that does nothing.
    Stop(StopArgs),
    /// Remove what this cluster generated once none of its machines is left (after `vagrant destroy`).
    ///
    /// Removes .vagrant/k0s/ and exactly the kubeconfig entries the deploy merged. While machines
    /// remain, only forgets the pinned host keys of the destroyed ones.
    Cleanup,
    /// The download cache of k0s binaries and airgap image bundles: fetch, list, prune.
    ///
    /// Per k0s version and node architecture, each file checked against the release's
    /// sha256sums.txt. Where: K0S_VAGRANT_CACHE, else $XDG_CACHE_HOME/k0s-vagrant, else
    /// ~/.cache/k0s-vagrant; from: K0S_VAGRANT_MIRROR.
    Cache(CacheArgs),
    /// Put local images on the nodes through k0s' image directory, and wait until k0s lists them.
    ///
    /// Saves IMAGE... with docker or podman (whichever is on PATH, docker first), or takes an
    /// archive (--archive), uploads it to every node (or --node), moves it into
    /// /var/lib/k0s/images/ in one rename and waits until `k0s ctr images ls` lists every image
    /// in it. The same archive again changes nothing. Pods use them with imagePullPolicy
    /// IfNotPresent or Never.
    Load(LoadArgs),
    /// Print the helper's version.
    Version,
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Local images to save from docker or podman, e.g. myapp:dev.
    #[arg(
        value_name = "IMAGE",
        required_unless_present_any = ["archive", "prune"],
        conflicts_with = "archive"
    )]
    pub images: Vec<String>,
    /// An image archive (`docker image save -o FILE` or `podman save -o FILE`, or an OCI layout
    /// tar) instead of IMAGE.
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Only this node (repeatable); default: every node.
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Remove every archive `load` placed on the nodes instead; k0s then unpins their images, so
    /// kubelet's image GC may remove those no pod uses.
    #[arg(long, conflicts_with_all = ["images", "archive"])]
    pub prune: bool,
    /// Seconds to wait, per node, for k0s to list the images once the archive is in place (k0s
    /// imports about 10 s after the last change in its image directory).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub action: CacheAction,
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Download the k0s binary and the airgap image bundle of a version into the cache, and the
    /// charts and images of the add-ons ADDONS names (nothing that is there already).
    #[command(disable_version_flag = true)]
    Fetch {
        /// The k0s version, e.g. v1.33.4+k0s.0.
        ///
        /// Default: the one this project's cluster records or K0S_VERSION asks for, else the newest
        /// stable release.
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// The nodes' architecture. Default: this host's (the VMs run it).
        #[arg(long, value_enum)]
        arch: Option<crate::cache::Arch>,
    },
    /// One line per version and architecture: size, verified, last used; then the add-on files.
    List,
    /// Remove cached versions except the one this project's cluster records and the newest N,
    /// and add-on files this release no longer pins.
    Prune {
        /// How many of the newest versions to keep besides the recorded one.
        #[arg(long, default_value_t = 1, value_name = "N")]
        keep: usize,
    },
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// Stop after this phase (e.g. `render` or `apply`).
    ///
    /// Without the flag K0S_VAGRANT_DEPLOY_UNTIL says it, so `vagrant up` can stop early too (read
    /// with the other settings, so a bad value is one line and exit 2).
    #[arg(long, value_enum, value_name = "PHASE")]
    pub until: Option<crate::deploy::PhaseName>,

    /// Vagrant's facts about the machines (JSON, written by the Vagrantfile's post-up trigger);
    /// without it the inventory of the last run is used.
    #[arg(long, value_name = "FILE")]
    pub facts: Option<PathBuf>,

    /// The `vagrant up` command line (with --facts): the deploy waits until every machine it
    /// acts on has finished.
    #[arg(last = true, value_name = "VAGRANT_ARGS")]
    pub vagrant_args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The nodes, e.g. worker-1.
    #[arg(required = true)]
    pub nodes: Vec<String>,
    /// Run by the Vagrantfile before `vagrant halt`: only where the provider's halt does not stop
    /// the guest (Tart), and a failure only warns, so the halt goes on.
    #[arg(long)]
    pub before_halt: bool,
    /// The machine's state as Vagrant sees it (with --before-halt); k0s is stopped only on a
    /// `running` one.
    #[arg(long, requires = "before_halt", value_name = "STATE")]
    pub state: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The nodes, e.g. worker-2 control-plane-3.
    #[arg(required_unless_present = "before_destroy")]
    pub nodes: Vec<String>,
    /// Remove a controller even if etcd then has no quorum.
    #[arg(long)]
    pub force: bool,
    /// Run by the Vagrantfile before `vagrant destroy` (with its command line after `--`): takes
    /// out the machines it names unless it destroys every machine of the cluster.
    #[arg(long, conflicts_with = "nodes")]
    pub before_destroy: bool,
    /// The `vagrant destroy` command line (with --before-destroy).
    #[arg(last = true, value_name = "VAGRANT_ARGS")]
    pub vagrant_args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// JSON on stdout instead of lines.
    #[arg(long)]
    pub json: bool,

    /// Also put a small test workload (a DaemonSet of pause pods) on the cluster, check that its
    /// pods run on exactly the nodes the plan lets run workloads, then remove it.
    #[arg(long)]
    pub workloads: bool,
    /// Also try the add-ons: the default StorageClass binds a claim, a LoadBalancer Service gets
    /// an address that answers from this host, the ingress answers (each probe is removed again).
    #[arg(long)]
    pub addons: bool,
}

#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub action: DrillAction,
}

#[derive(Debug, Subcommand)]
pub enum DrillAction {
    /// Stop k0s on NODE (or halt its VM), run the health checks, restore it, give a verdict.
    ///
    /// Exit 0 when the API and etcd kept serving and the node came back, 1 when not. Refuses a
    /// drill that would take etcd below quorum (a controller of 1 or 2) unless --force.
    Stop {
        /// The node, e.g. control-plane-2 or worker-1.
        node: String,
        /// Halt the whole VM (`vagrant halt`, then `vagrant up`) instead of stopping k0s.
        #[arg(long)]
        vm: bool,
        /// Do it even if etcd loses quorum.
        #[arg(long)]
        force: bool,
        /// Seconds to wait after stopping before looking (Kubernetes marks a node NotReady after
        /// about 40 s).
        #[arg(long, default_value_t = 45)]
        settle: u64,
        /// Seconds the node may take to be healthy again after the restore.
        #[arg(long, default_value_t = 300)]
        restore_within: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    /// Print the path instead of the contents.
    #[arg(long)]
    pub path: bool,

    /// Point the kubeconfig's server at this controller (e.g. control-plane-2): rewrites
    /// .vagrant/k0s/kubeconfig and the merged context k0s-<CLUSTER_NAME>.
    ///
    /// For a cluster without one shared API address (Tart: no virtual IP is
    /// possible there), after the controller it points at is lost. Named like the kubeconfig
    /// field it rewrites (`server`); it takes a node name, whose address comes from the inventory.
    #[arg(long, value_name = "NODE", conflicts_with = "path")]
    pub server: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format: `table` for people, `json` for the Vagrantfile (schema_version 1).
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,

    /// Provider to plan for: tart or libvirt.
    ///
    /// Default: `--provider` in the Vagrant arguments, else VAGRANT_DEFAULT_PROVIDER, else tart on
    /// macOS and libvirt elsewhere.
    #[arg(long, value_enum)]
    pub provider: Option<crate::plan::Provider>,

    /// The Vagrant version evaluating the Vagrantfile (it passes `Vagrant::VERSION`): decides
    /// whether the default libvirt box can be picked by architecture.
    #[arg(long, value_name = "VERSION")]
    pub vagrant_version: Option<String>,

    /// The Vagrant command line (the Vagrantfile passes its ARGV here): `vagrant up` may write
    /// the plan lock, every other command reads it.
    #[arg(last = true, value_name = "VAGRANT_ARGS")]
    pub vagrant_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

/// The environment variables for `--help`, grouped by kind, from the settings table.
fn variables_help() -> String {
    use crate::settings::{VarKind, ALL_VARS};
    let groups = [
        (
            VarKind::Cluster,
            "Cluster settings (they go into the plan; an existing cluster follows its plan lock, except on `vagrant up`)",
        ),
        (
            VarKind::Runtime,
            "How the helper runs (a command checks only those it uses: a bad deploy limit stops `deploy` and `vagrant up`, never `vagrant destroy`)",
        ),
        (VarKind::Standard, "Standard variables it reads"),
    ];
    let mut out = String::from("Environment variables:\n");
    for (kind, title) in groups {
        out.push_str(&format!("\n{title}:\n"));
        for var in ALL_VARS.iter().filter(|v| v.kind == kind) {
            let alias = var.alias.map(|a| format!(", {a}")).unwrap_or_default();
            out.push_str(&format!(
                "  {}{alias}\n          {}\n          [default: {}] [allowed: {}]\n",
                var.name, var.description, var.default, var.allowed
            ));
        }
    }
    out
}
