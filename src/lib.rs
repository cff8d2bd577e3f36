//! k0s-vagrant: every decision behind the project's Vagrantfile. The flow follows DESIGN.md:
//! settings -> plan -> (lock) -> inventory -> render -> apply -> taints -> kubeconfig -> health.

pub mod cli;
pub mod deploy;
pub mod drill;
pub mod error;
pub mod health;
pub mod host;
pub mod inventory;
pub mod k0sctl;
pub mod kube;
pub mod lock;
pub mod plan;
pub mod render;
pub mod settings;
pub mod ssh;
pub mod state;
pub mod table;
pub mod vagrant;
pub mod validate;
pub mod workloads;

use std::io::Write;

pub use error::Error;

use cli::{
    Cli, Command, DeployArgs, DrillAction, DrillArgs, HealthArgs, KubeconfigArgs, PlanArgs,
    PlanFormat, RenderArgs, StatusArgs,
};
use host::HostFacts;
use inventory::{Inventory, VagrantFacts};
use plan::Plan;
use settings::{HostResources, RawSettings, Settings};
use vagrant::{Invocation, Project};

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Plan(args) => plan(&project(cli.project_dir), &args),
        Command::Render(args) => render(&project(cli.project_dir), &args),
        Command::Deploy(args) => deploy(&project(cli.project_dir), &args),
        Command::Kubeconfig(args) => kubeconfig(&project(cli.project_dir), &args),
        Command::Status(args) => status(&project(cli.project_dir), &args),
        Command::Health(args) => health(&project(cli.project_dir), &args),
        Command::Drill(args) => run_drill(&project(cli.project_dir), &args),
        Command::Cleanup => cleanup(&project(cli.project_dir)),
        Command::Version => print_stdout(&format!("k0s-vagrant {}\n", env!("CARGO_PKG_VERSION"))),
    }
}

fn project(dir: Option<std::path::PathBuf>) -> Project {
    let dotfile = std::env::var("VAGRANT_DOTFILE_PATH").ok();
    match dir {
        Some(dir) => Project::new(dir, dotfile.as_deref()),
        None => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
            Project::discover(&cwd, dotfile.as_deref())
        }
    }
}

/// The plan the current variables give, for the provider Vagrant was asked for (or `provider`).
fn wanted_plan(
    invocation: &Invocation,
    provider: Option<plan::Provider>,
    host: &HostFacts,
) -> Result<Plan, Error> {
    let settings = Settings::from_raw(&RawSettings::from_env())?;
    let provider = match provider {
        Some(p) => p,
        None => vagrant::resolve_provider(
            invocation,
            std::env::var("VAGRANT_DEFAULT_PROVIDER").ok().as_deref(),
        )?,
    };
    Ok(Plan::from_settings(&settings, provider, host))
}

fn plan(project: &Project, args: &PlanArgs) -> Result<(), Error> {
    let invocation = Invocation::parse(&args.vagrant_args);
    let settings = Settings::from_raw(&RawSettings::from_env());
    let vagrant_version = args
        .vagrant_version
        .as_deref()
        .and_then(host::parse_version);
    let host = HostFacts::detect(vagrant_version);
    let wanted = wanted_plan(&invocation, args.provider, &host);
    // What `vagrant up` needs from this host, before any machine exists.
    if invocation.creates_machines() {
        if let Ok(wanted) = &wanted {
            host::check_for_up(wanted, &host)?;
        }
    }
    let mut resolved = lock::resolve(project, invocation.creates_machines(), wanted)?;
    let libvirt = &mut resolved.plan.providers.libvirt;
    libvirt.box_architecture = plan::box_architecture(&libvirt.r#box, &host);
    // Warnings about the settings matter when they shape machines: on `up` or when asked directly.
    if !resolved.from_lock && (invocation.command.is_none() || invocation.creates_machines()) {
        if let Ok(settings) = &settings {
            for warning in settings.warnings(&HostResources::detect()) {
                eprintln!("k0s-vagrant: warning: {warning}");
            }
        }
    }
    for note in &resolved.notes {
        eprintln!("k0s-vagrant: {note}");
    }
    match args.format {
        PlanFormat::Json => print_stdout(&(resolved.plan.to_json() + "\n")),
        PlanFormat::Table => print_stdout(&resolved.plan.to_table()),
    }
}

fn print_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|source| Error::Output {
            what: "standard output",
            source,
        }),
    }
}

/// The plan of the existing cluster, else the one the variables give (as `vagrant status` sees it).
fn current_plan(project: &Project) -> Result<Plan, Error> {
    let wanted = wanted_plan(&Invocation::default(), None, &HostFacts::detect(None));
    Ok(lock::resolve(project, false, wanted)?.plan)
}

fn render(project: &Project, args: &RenderArgs) -> Result<(), Error> {
    let plan = current_plan(project)?;
    let inventory = match Inventory::read(&project.state_dir()) {
        Ok(inv) => Some(inv),
        Err(inventory::InventoryError::Missing { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let yaml =
        render::RenderContext::new(&plan, inventory.as_ref(), &project.data_dir)?.render()?;
    if inventory.is_some() {
        validate::validate(&yaml)?;
    }
    match &args.output {
        Some(path) => {
            state::write_atomic(path, yaml.as_bytes(), None).map_err(|source| Error::State {
                path: path.clone(),
                source,
            })
        }
        None => print_stdout(&yaml),
    }
}

fn merge_setting() -> Result<bool, Error> {
    match std::env::var("K0S_KUBECONFIG_MERGE")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        None | Some("" | "true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(settings::SettingsError::BadChoice {
            var: "K0S_KUBECONFIG_MERGE",
            value: other.to_string(),
            allowed: "true, false",
        }
        .into()),
    }
}

fn deploy(project: &Project, args: &DeployArgs) -> Result<(), Error> {
    if args.facts.is_some() && std::env::var(deploy::SKIP_DEPLOY_VAR).is_ok_and(|v| v == "1") {
        eprintln!(
            "k0s-vagrant: not deploying: {}=1 (set by `k0s-vagrant drill`)",
            deploy::SKIP_DEPLOY_VAR
        );
        return Ok(());
    }
    let state_dir = project.state_dir();
    std::fs::create_dir_all(&state_dir).map_err(|source| Error::State {
        path: state_dir.clone(),
        source,
    })?;
    let merge_kubeconfig = merge_setting()?;
    // One deploy per cluster at a time; the lock goes with the process.
    let lock_path = state_dir.join("deploy.lock");
    let lock_file = std::fs::File::create(&lock_path).map_err(|source| Error::State {
        path: lock_path.clone(),
        source,
    })?;
    if let Err(std::fs::TryLockError::WouldBlock) = lock_file.try_lock() {
        eprintln!(
            "k0s-vagrant: another deploy of this cluster is running (lock {}); skipping this one",
            lock_path.display()
        );
        return Ok(());
    }
    let plan = lock::read_lock(project)?.ok_or_else(|| Error::NoPlanLock {
        path: lock::lock_path(project),
    })?;
    let Some(inventory) = inventory_for_deploy(&plan, args, &state_dir)? else {
        return Ok(());
    };
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let mut cx = deploy::Ctx {
        known_hosts: ssh::KnownHosts::new(state_dir.join("known_hosts")),
        state_dir,
        plan,
        inventory,
        timeouts: deploy::Timeouts::from_env(),
        sessions: Vec::new(),
        k0sctl: None,
        nodes: None,
        merge_kubeconfig,
        user_kubeconfig: kube::user_kubeconfig_path(
            std::env::var("KUBECONFIG").ok().as_deref(),
            home.as_deref(),
        ),
        changes: Vec::new(),
    };
    deploy::run(&mut cx, args.until)
}

/// The inventory to deploy to: from Vagrant's facts (written after every machine's `up`), or the
/// last one. `None` means "not now": a machine of this `vagrant up` is still coming up (its own
/// trigger will deploy), or a planned machine is not running (said in one line).
fn inventory_for_deploy(
    plan: &Plan,
    args: &DeployArgs,
    state_dir: &std::path::Path,
) -> Result<Option<Inventory>, Error> {
    let Some(path) = &args.facts else {
        return Ok(Some(Inventory::read(state_dir)?));
    };
    let facts = VagrantFacts::read(path)?;
    let names: Vec<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
    let pending: Vec<&str> = Invocation::up_targets(&args.vagrant_args, &names)
        .into_iter()
        .filter(|t| !facts.machines.iter().any(|m| m.name == *t && m.finished))
        .collect();
    if !pending.is_empty() {
        tracing::debug!(?pending, "not deploying yet");
        return Ok(None);
    }
    let previous = Inventory::read(state_dir).ok();
    match Inventory::from_facts(plan, &facts, previous.as_ref())? {
        Ok(inventory) => {
            inventory.write(state_dir)?;
            Ok(Some(inventory))
        }
        Err(not_all) => {
            let list: Vec<String> = not_all
                .not_running
                .iter()
                .map(|(n, s)| format!("{n} ({s})"))
                .collect();
            eprintln!(
                "k0s-vagrant: not deploying: {} not running; `vagrant up` brings up every machine and deploys",
                list.join(", ")
            );
            Ok(None)
        }
    }
}

fn kubeconfig(project: &Project, args: &KubeconfigArgs) -> Result<(), Error> {
    let path = project.state_dir().join("kubeconfig");
    if let Some(node) = &args.server {
        return kubeconfig_server(project, &path, node);
    }
    if !path.exists() {
        return Err(Error::NoKubeconfig { path });
    }
    if args.path {
        return print_stdout(&format!("{}\n", path.display()));
    }
    let text = std::fs::read_to_string(&path).map_err(|source| Error::State { path, source })?;
    print_stdout(&text)
}

/// `kubeconfig --server NODE`: points the cluster's kubeconfig, and the context the deploy merged
/// into the user's, at one controller. Without a shared API address (Tart) this is how the user
/// moves off a lost control-plane-1; the new address is in the API certificate (k0sctl adds every
/// controller's addresses to the SANs: k0sproject/k0sctl `phase/configure_k0s.go`).
fn kubeconfig_server(project: &Project, path: &std::path::Path, node: &str) -> Result<(), Error> {
    let running = Running::load(project)?;
    let controllers: Vec<&str> = running
        .plan
        .nodes
        .iter()
        .filter(|n| n.role == plan::Role::Controller)
        .map(|n| n.name.as_str())
        .collect();
    let refuse = |why: &'static str| kube::KubeconfigError::NotAController {
        node: node.to_string(),
        why,
        controllers: controllers.join(", "),
    };
    match running.plan.node(node) {
        None => return Err(refuse("is not a node of this cluster").into()),
        Some(n) if n.role != plan::Role::Controller => {
            return Err(refuse("is a worker, and the API runs on the controllers").into())
        }
        Some(_) => {}
    }
    let address = running
        .inventory
        .node(node)
        .ok_or_else(|| refuse("is not in the inventory yet (run `vagrant up`)"))?
        .address;
    if !path.exists() {
        return Err(Error::NoKubeconfig {
            path: path.to_path_buf(),
        });
    }
    let server = format!("https://{address}:6443");
    let name = format!("k0s-{}", running.plan.cluster.name);
    let text = std::fs::read_to_string(path).map_err(|source| kube::KubeconfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (ours, old) = kube::set_server(path, &text, &name, &server)?;
    let mut out = String::new();
    if old.as_deref() == Some(server.as_str()) {
        out.push_str(&format!(
            "{}: server is already {server} ({node})\n",
            path.display()
        ));
    } else {
        state::write_atomic(path, ours.as_bytes(), Some(0o600)).map_err(|source| Error::State {
            path: path.to_path_buf(),
            source,
        })?;
        out.push_str(&format!(
            "{}: server {} -> {server} ({node})\n",
            path.display(),
            old.as_deref().unwrap_or("(none)")
        ));
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let target =
        kube::user_kubeconfig_path(std::env::var("KUBECONFIG").ok().as_deref(), home.as_deref());
    match (merge_setting()?, target) {
        (false, _) => {
            out.push_str("not merged into your kubeconfig (K0S_KUBECONFIG_MERGE=false)\n")
        }
        (true, None) => out.push_str("not merged: neither KUBECONFIG nor HOME is set\n"),
        (true, Some(target)) => {
            let record = project.state_dir().join("kubeconfig-merged");
            match kube::merge_recorded(&record, &target, &ours, &name)? {
                kube::Merged::Unchanged => out.push_str(&format!(
                    "{}: context {name} already points at {server}\n",
                    target.display()
                )),
                kube::Merged::Written { backup } => out.push_str(&format!(
                    "{}: context {name} now points at {server}{}\n",
                    target.display(),
                    backup
                        .map(|b| format!(" (backup {})", b.display()))
                        .unwrap_or_default()
                )),
            }
        }
    }
    // Say whether it answers; a controller that is down now may be the one being brought back.
    match deploy::api_answers(path, &server) {
        Ok(said) => out.push_str(&format!("{node} answers: {said}\n")),
        Err(reason) => out.push_str(&format!(
            "warning: {node} does not answer now ({reason}); `k0s-vagrant health` shows which controller does\n"
        )),
    }
    print_stdout(&out)
}

/// After `vagrant destroy`: all gone -> remove our state and kubeconfig entries; some left ->
/// forget the destroyed machines' host keys and inventory entries.
fn cleanup(project: &Project) -> Result<(), Error> {
    let state_dir = project.state_dir();
    let existing = project.existing_machines();
    let plan = lock::read_lock(project).ok().flatten();
    let any_left = plan
        .as_ref()
        .is_some_and(|p| p.nodes.iter().any(|n| existing.contains(&n.name)));
    if any_left {
        // A destroyed machine takes its pinned key and its inventory entry along: a recreated one
        // has a new key and may come back on another address (or on one another machine had).
        let gone: Vec<String> = plan
            .iter()
            .flat_map(|p| &p.nodes)
            .filter(|n| !existing.contains(&n.name))
            .map(|n| n.name.clone())
            .collect();
        let known_hosts = ssh::KnownHosts::new(state_dir.join("known_hosts"));
        known_hosts.forget(&gone).map_err(|source| Error::State {
            path: known_hosts.path().to_path_buf(),
            source,
        })?;
        if let Ok(mut inventory) = Inventory::read(&state_dir) {
            inventory.nodes.retain(|n| existing.contains(&n.name));
            inventory.write(&state_dir)?;
        }
        return Ok(());
    }
    let record = state_dir.join("kubeconfig-merged");
    if let Ok(text) = std::fs::read_to_string(&record) {
        let mut lines = text.lines();
        if let (Some(target), Some(name)) = (lines.next(), lines.next()) {
            if kube::remove(std::path::Path::new(target), name)? {
                eprintln!("k0s-vagrant: removed context {name} from {target}");
            }
        }
    }
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir).map_err(|source| Error::State {
            path: state_dir.clone(),
            source,
        })?;
        eprintln!(
            "k0s-vagrant: no machine of the cluster is left; removed {}",
            state_dir.display()
        );
    }
    Ok(())
}

/// The running cluster as the state files describe it.
struct Running {
    plan: Plan,
    inventory: Inventory,
    known_hosts: ssh::KnownHosts,
    kubeconfig: std::path::PathBuf,
}

impl Running {
    fn load(project: &Project) -> Result<Running, Error> {
        let state_dir = project.state_dir();
        let plan = lock::read_lock(project)?.ok_or_else(|| Error::NoPlanLock {
            path: lock::lock_path(project),
        })?;
        let inventory = Inventory::read(&state_dir)?;
        Ok(Running {
            plan,
            inventory,
            known_hosts: ssh::KnownHosts::new(state_dir.join("known_hosts")),
            kubeconfig: state_dir.join("kubeconfig"),
        })
    }

    /// Whether the API answers from this host with the exported kubeconfig: at the shared API
    /// address, else at the first controller that answers.
    fn api(&self) -> Result<String, String> {
        health::api_check(&self.plan, &self.inventory, &self.kubeconfig)
    }
}

/// What the running cluster says, from the plan lock and the inventory.
fn cluster_report(project: &Project) -> Result<(Plan, health::Report), Error> {
    let running = Running::load(project)?;
    let limits = health::Limits::default();
    let mut report = health::collect(
        &running.plan,
        &running.inventory,
        &running.known_hosts,
        &limits,
        || running.api(),
    );
    report.kubeconfig = running
        .kubeconfig
        .exists()
        .then(|| running.kubeconfig.clone());
    Ok((running.plan, report))
}

fn run_drill(project: &Project, args: &DrillArgs) -> Result<(), Error> {
    let DrillAction::Stop {
        node,
        vm,
        force,
        settle,
        restore_within,
    } = &args.action;
    let running = Running::load(project)?;
    let api = || running.api();
    let drill = drill::Drill {
        plan: &running.plan,
        inventory: &running.inventory,
        known_hosts: &running.known_hosts,
        project_root: &project.root,
        limits: health::Limits::default(),
        settle: std::time::Duration::from_secs(*settle),
        restore_within: std::time::Duration::from_secs(*restore_within),
        api: &api,
    };
    drill.check_safe(node, *force)?;
    let method = if *vm {
        drill::Method::HaltVm
    } else {
        drill::Method::StopK0s
    };
    Ok(drill.run(node, method)?)
}

fn cell<T>(r: &Result<T, String>, ok: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(_) => "FAIL".to_string(),
    }
}

fn status(project: &Project, args: &StatusArgs) -> Result<(), Error> {
    let (_, report) = cluster_report(project)?;
    if args.json {
        return print_stdout(
            &(serde_json::to_string_pretty(&report).expect("report serializes") + "\n"),
        );
    }
    let header = [
        "NODE",
        "ROLE",
        "ADDRESS",
        "SSH",
        "SERVICE",
        "K0S",
        "READY",
        "TAINTS",
        "WORKLOADS",
    ]
    .map(String::from);
    let rows: Vec<[String; 9]> = report
        .nodes
        .iter()
        .map(|n| {
            [
                n.name.clone(),
                match n.role {
                    plan::Role::Controller => "controller".to_string(),
                    plan::Role::Worker => "worker".to_string(),
                },
                n.address.clone(),
                cell(&n.ssh, |_| "ok".into()),
                cell(&n.service, |s| s.clone()),
                cell(&n.k0s, |k| format!("{} {}", k.role, k.version)),
                cell(&n.ready, |_| "Ready".into()),
                if n.taints.is_empty() {
                    "-".to_string()
                } else {
                    n.taints.join(",")
                },
                match n.takes_workloads {
                    Some(true) => "yes".to_string(),
                    Some(false) => "no".to_string(),
                    None => "?".to_string(),
                },
            ]
        })
        .collect();
    let all: Vec<Vec<String>> = std::iter::once(header)
        .chain(rows)
        .map(|r| r.to_vec())
        .collect();
    let mut out = String::new();
    for line in table::lines(&all, &[]) {
        out.push_str(&line);
        out.push('\n');
    }
    let mut problems: Vec<String> = Vec::new();
    for n in &report.nodes {
        for (what, r) in [
            ("ssh", n.ssh.clone().map(|_| ())),
            ("service", n.service.clone().map(drop)),
            ("k0s", n.k0s.clone().map(drop)),
            ("node", n.ready.clone()),
        ] {
            if let Err(e) = r {
                problems.push(format!("{}: {what}: {e}", n.name));
            }
        }
    }
    out.push_str(&match &report.etcd {
        Ok(m) => format!(
            "etcd: {} members ({})\n",
            m.members.len(),
            m.members.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        Err(e) => format!("etcd: FAIL ({e})\n"),
    });
    out.push_str(&match &report.api {
        Ok(said) => format!("api: {said}\n"),
        Err(e) => format!("api: FAIL ({e})\n"),
    });
    out.push_str(&format!(
        "kubeconfig: {}\n",
        report
            .kubeconfig
            .as_ref()
            .map_or("none yet (vagrant up exports it)".to_string(), |p| p
                .display()
                .to_string())
    ));
    for p in problems {
        out.push_str(&format!("  {p}\n"));
    }
    print_stdout(&out)
}

fn health(project: &Project, args: &HealthArgs) -> Result<(), Error> {
    let (plan, report) = cluster_report(project)?;
    let mut checks = health::checks(&plan, &report);
    if args.workloads {
        let running = Running::load(project)?;
        let wait = std::time::Duration::from_secs(120);
        checks.push(workloads::check(
            &plan,
            &running.inventory,
            &running.known_hosts,
            &health::Limits::default(),
            wait,
        ));
    }
    let healthy = checks.iter().all(|c| c.ok);
    if args.json {
        let doc = serde_json::json!({"healthy": healthy, "checks": checks});
        print_stdout(&(serde_json::to_string_pretty(&doc).expect("checks serialize") + "\n"))?;
    } else {
        let mut out = String::new();
        for c in &checks {
            out.push_str(&format!(
                "{:<4} {:<13} {}\n",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.reason
            ));
        }
        out.push_str(if healthy {
            "healthy\n"
        } else {
            "not healthy\n"
        });
        print_stdout(&out)?;
    }
    if healthy {
        Ok(())
    } else {
        Err(Error::Unhealthy {
            failed: checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}
