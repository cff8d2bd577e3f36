//! What Vagrant tells us: the command line it was given (passed through by the Vagrantfile), the
//! provider that follows from it, which machines of the project exist on disk, and the states of
//! its machines (`vagrant status --machine-readable`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::plan::Provider;
use crate::util::exit::Category;

/// The Vagrant command line, as the Vagrantfile saw it in `ARGV`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `up`, `status`, `destroy`, ...; `None` when the helper runs on its own.
    pub command: Option<String>,
    /// `--provider NAME` or `--provider=NAME`.
    pub provider: Option<String>,
}

impl Invocation {
    pub fn parse(args: &[String]) -> Invocation {
        let command = args.iter().find(|a| !a.starts_with('-')).cloned();
        let mut provider = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--provider" {
                provider = it.next().cloned();
            } else if let Some(p) = arg.strip_prefix("--provider=") {
                provider = Some(p.to_string());
            }
        }
        Invocation { command, provider }
    }

    /// The machines a `vagrant up` or `vagrant resume` acts on: the names given, or all. Both
    /// take machine names the same way (`with_target_vms`, hashicorp/vagrant
    /// `lib/vagrant/plugin/v2/command.rb`), and resume has up's start options
    /// (`plugins/commands/resume/command.rb` uses `build_start_options` of
    /// `plugins/commands/up/start_mixins.rb`). A `/regex/` name is matched as a plain substring of
    /// the machine name (enough for `/worker/`).
    pub fn up_targets<'a>(args: &[String], machines: &'a [String]) -> Vec<&'a str> {
        let command = args
            .iter()
            .find(|a| matches!(a.as_str(), "up" | "resume"))
            .map_or("up", String::as_str);
        Invocation::targets(command, args, machines)
    }

    /// Whether the command line says `-f` / `--force` (`vagrant destroy` then asks nothing).
    pub fn forced(args: &[String]) -> bool {
        args.iter().any(|a| a == "-f" || a == "--force")
    }

    /// The machines `vagrant <command>` acts on, as [`Invocation::up_targets`] reads them.
    pub fn targets<'a>(command: &str, args: &[String], machines: &'a [String]) -> Vec<&'a str> {
        let mut names = Vec::new();
        let mut it = args.iter().skip_while(|a| a.as_str() != command).skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                // Options of `vagrant up` and `vagrant resume` that take a value.
                "--provider" | "--provision-with" => {
                    it.next();
                }
                a if a.starts_with('-') => {}
                a => names.push(a),
            }
        }
        if names.is_empty() {
            return machines.iter().map(String::as_str).collect();
        }
        machines
            .iter()
            .filter(|m| {
                names.iter().any(
                    |n| match n.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
                        Some(pattern) => m.contains(pattern),
                        None => *n == m.as_str(),
                    },
                )
            })
            .map(String::as_str)
            .collect()
    }

    /// Only `vagrant up` may create machines, so only it may change the plan lock.
    pub fn creates_machines(&self) -> bool {
        self.command.as_deref() == Some("up")
    }

    /// A line for the user when this command silently does nothing with `provider`.
    /// `vagrant suspend` on Tart: vagrant-tart suspends a VM only when it is configured
    /// `suspendable` and otherwise returns without a word (letiemble/vagrant-tart
    /// `lib/vagrant-tart/action/suspend_instance.rb`), and Tart runs only macOS guests
    /// suspendable ("You can only suspend macOS VMs", cirruslabs/tart
    /// `Sources/tart/Commands/Run.swift`), so our Linux nodes cannot be suspended at all.
    pub fn does_nothing_note(&self, provider: Provider) -> Option<&'static str> {
        match (self.command.as_deref(), provider) {
            (Some("suspend"), Provider::Tart) => Some(
                "`vagrant suspend` does nothing on Tart: Tart suspends only macOS guests, so these Linux VMs are left as they are; use `vagrant halt`, then `vagrant up` brings the cluster back",
            ),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProviderError {
    #[error("provider '{name}' (from {source_name}) is not supported (allowed tart, libvirt); use --provider=libvirt on Linux or --provider=tart on macOS")]
    Unsupported {
        name: String,
        source_name: &'static str,
    },
}

impl ProviderError {
    pub fn category(&self) -> Category {
        Category::BadInput
    }
}

/// `--provider`, else `VAGRANT_DEFAULT_PROVIDER`, else the OS default (what Vagrant does too,
/// for the two providers this Vagrantfile configures).
pub fn resolve_provider(
    invocation: &Invocation,
    default_env: Option<&str>,
) -> Result<Provider, ProviderError> {
    let chosen = match (&invocation.provider, default_env.filter(|v| !v.is_empty())) {
        (Some(p), _) => Some((p.as_str(), "--provider")),
        (None, Some(p)) => Some((p, "VAGRANT_DEFAULT_PROVIDER")),
        (None, None) => None,
    };
    match chosen {
        None => Ok(Provider::for_this_os()),
        Some((name, source_name)) => {
            Provider::parse(name).ok_or_else(|| ProviderError::Unsupported {
                name: name.to_string(),
                source_name,
            })
        }
    }
}

/// Where a Vagrant project keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The directory of the Vagrantfile.
    pub root: PathBuf,
    /// Vagrant's local data directory (`.vagrant`, or `VAGRANT_DOTFILE_PATH`).
    pub data_dir: PathBuf,
}

impl Project {
    /// `VAGRANT_DOTFILE_PATH` is resolved against the project root, as Vagrant does.
    pub fn new(root: PathBuf, dotfile_path: Option<&str>) -> Project {
        let data_dir = match dotfile_path.filter(|p| !p.is_empty()) {
            Some(p) => root.join(p),
            None => root.join(".vagrant"),
        };
        Project { root, data_dir }
    }

    /// Finds the project from `start` upwards (the first directory with a Vagrantfile), like
    /// Vagrant; `start` itself when there is none.
    pub fn discover(start: &Path, dotfile_path: Option<&str>) -> Project {
        let root = start
            .ancestors()
            .find(|dir| dir.join("Vagrantfile").is_file())
            .unwrap_or(start)
            .to_path_buf();
        Project::new(root, dotfile_path)
    }

    /// Our own state: `.vagrant/k0s/`.
    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join("k0s")
    }

    /// Machines Vagrant has created: `machines/<name>/<provider>/id` exists and is not empty.
    /// Vagrant removes the id on destroy and whenever the provider reports the machine gone.
    pub fn existing_machines(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let Ok(machines) = std::fs::read_dir(self.data_dir.join("machines")) else {
            return names;
        };
        for machine in machines.flatten() {
            let Ok(providers) = std::fs::read_dir(machine.path()) else {
                continue;
            };
            let created = providers.flatten().any(|p| {
                std::fs::metadata(p.path().join("id"))
                    .map(|m| m.is_file() && m.len() > 0)
                    .unwrap_or(false)
            });
            if created {
                names.insert(machine.file_name().to_string_lossy().into_owned());
            }
        }
        names
    }

    /// The states of `names` from `vagrant status --machine-readable NAMES...`, run in the project
    /// root with the helper's own environment. Vagrant evaluates the Vagrantfile for it, which
    /// asks the helper for its `plan` (never `status`), and then each machine's provider. Stopped
    /// after `limit`. A machine Vagrant does not name is left out.
    pub fn machine_states(
        &self,
        names: &[&str],
        limit: Duration,
    ) -> Result<BTreeMap<String, MachineState>, VagrantError> {
        if !self.root.join("Vagrantfile").is_file() {
            // Vagrant would look for a Vagrantfile further up, in another project.
            return Err(VagrantError::NoVagrantfile {
                root: self.root.clone(),
            });
        }
        let command = format!("status --machine-readable {}", names.join(" "));
        let mut cmd = Command::new("vagrant");
        cmd.args(["status", "--machine-readable"])
            .args(names)
            .current_dir(&self.root);
        // The Vagrantfile asks this same helper for the plan, rather than building one first.
        if let Ok(me) = std::env::current_exe() {
            cmd.env("K0S_VAGRANT_BIN", me);
        }
        let out = output_within(cmd, limit)
            .map_err(|e| VagrantError::Spawn {
                reason: e.to_string(),
            })?
            .ok_or_else(|| VagrantError::Timeout {
                command: command.clone(),
                after: limit,
            })?;
        if !out.status.success() {
            return Err(VagrantError::Failed {
                command,
                code: out.status.code().unwrap_or(-1),
                tail: crate::util::text::tail(&String::from_utf8_lossy(&out.stderr), 2),
            });
        }
        Ok(parse_states(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .map(|(name, id)| (name, MachineState::from_id(&id)))
            .collect())
    }
}

impl Project {
    /// `vagrant destroy -f NAME` in the project root, its output passed on to this process's
    /// stderr (stdout may carry the plan JSON). The Vagrantfile it evaluates runs the same helper
    /// (`K0S_VAGRANT_BIN` as given, else this binary), and its triggers take the machine out of
    /// the cluster first (`remove --before-destroy`) and tidy up after (`cleanup`). Safe to run
    /// while an outer `vagrant up` evaluates the Vagrantfile: that holds no Vagrant lock yet (the
    /// Vagrantfile loads in `Environment#initialize`; machine locks come with `Machine#action`,
    /// hashicorp/vagrant `lib/vagrant/environment.rb`, `lib/vagrant/machine.rb`).
    /// `vars` are set for it (and `unset` removed), so that its own plan step matches the plan lock
    /// and says nothing about the counts the outer `vagrant up` is changing.
    pub fn destroy(
        &self,
        name: &str,
        vars: &[(&str, String)],
        unset: &[&str],
    ) -> Result<(), VagrantError> {
        let command = format!("destroy -f {name}");
        if !self.root.join("Vagrantfile").is_file() {
            return Err(VagrantError::NoVagrantfile {
                root: self.root.clone(),
            });
        }
        let mut cmd = Command::new("vagrant");
        cmd.args(["destroy", "-f", name])
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(std::io::stderr());
        for var in unset {
            cmd.env_remove(var);
        }
        cmd.envs(vars.iter().map(|(k, v)| (k, v)));
        if std::env::var_os("K0S_VAGRANT_BIN").is_none_or(|b| b.is_empty()) {
            if let Ok(me) = std::env::current_exe() {
                cmd.env("K0S_VAGRANT_BIN", me);
            }
        }
        let status = cmd.status().map_err(|e| VagrantError::Spawn {
            reason: e.to_string(),
        })?;
        if !status.success() {
            return Err(VagrantError::Failed {
                command,
                code: status.code().unwrap_or(-1),
                tail: "see its output above".to_string(),
            });
        }
        Ok(())
    }
}

/// How long `vagrant status` may take: Ruby, the plugins and the Vagrantfile (with the helper's
/// `plan`) load in seconds; this bounds a provider that hangs.
pub const STATUS_LIMIT: Duration = Duration::from_secs(30);

/// Why Vagrant could not say the machine states. Never a failure of the command that asked: the
/// states are then unknown.
#[derive(Debug, thiserror::Error)]
pub enum VagrantError {
    #[error("no Vagrantfile in {}", root.display())]
    NoVagrantfile { root: PathBuf },
    #[error("cannot run vagrant: {reason}")]
    Spawn { reason: String },
    #[error("`vagrant {command}` exited with code {code}: {tail}")]
    Failed {
        command: String,
        code: i32,
        tail: String,
    },
    #[error("`vagrant {command}` did not finish within {}s", after.as_secs())]
    Timeout { command: String, after: Duration },
}

/// A machine's state as its provider names it, sorted into what status and health tell apart.
/// State ids: vagrant-libvirt takes libvirt's domain states (`running`, `paused`, `shutoff`,
/// `pmsuspended`, `crashed`, ...: fog/fog-libvirt `lib/fog/libvirt/requests/compute/list_domains.rb`)
/// and counts `paused` and `pmsuspended` as suspended (vagrant-libvirt
/// `lib/vagrant-libvirt/action/is_suspended.rb`); vagrant-tart has `running`, `stopped` (also a
/// suspended Tart VM) and `host_state_unknown` (letiemble/vagrant-tart
/// `lib/vagrant-tart/model/list_result.rb`); Vagrant itself `not_created`
/// (hashicorp/vagrant `lib/vagrant/machine_state.rb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineState {
    Running,
    /// Powered off: libvirt `shutoff`, Tart `stopped`; `vagrant up` starts it.
    Halted(String),
    /// libvirt `paused` or `pmsuspended`; `vagrant up` or `vagrant resume` resumes it.
    Suspended(String),
    /// Vagrant has no VM for it.
    NotCreated,
    /// Any other state id (libvirt `crashed`, Tart `host_state_unknown`, ...).
    Other(String),
}

impl MachineState {
    pub fn from_id(id: &str) -> MachineState {
        match id {
            "running" => MachineState::Running,
            "shutoff" | "stopped" => MachineState::Halted(id.to_string()),
            "paused" | "pmsuspended" => MachineState::Suspended(id.to_string()),
            "not_created" => MachineState::NotCreated,
            other => MachineState::Other(other.to_string()),
        }
    }
}

/// The `state` lines of `vagrant status --machine-readable`: machine name -> state id. Each line
/// is `timestamp,target,type,data...` with commas in the data written as `%!(VAGRANT_COMMA)`
/// (hashicorp/vagrant `lib/vagrant/ui.rb`, `MachineReadable#machine`); the status command writes
/// `state` with the state id for each machine it names (`plugins/commands/status/command.rb`).
fn parse_states(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, ',');
            let (stamp, target, kind, data) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let is_state = kind == "state"
                && !target.is_empty()
                && !stamp.is_empty()
                && stamp.bytes().all(|b| b.is_ascii_digit())
                && !data.is_empty();
            is_state.then(|| (target.to_string(), data.to_string()))
        })
        .collect()
}

/// Runs `cmd` to its end and returns what it printed, or `None` when it did not finish within
/// `limit` (then it is killed).
fn output_within(mut cmd: Command, limit: Duration) -> std::io::Result<Option<Output>> {
    let deadline = Instant::now() + limit;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Both pipes are read to their end on threads of their own, so neither can fill up.
    let (tx, rx) = mpsc::channel::<(usize, Vec<u8>)>();
    read_to_end(0, child.stdout.take(), tx.clone());
    read_to_end(1, child.stderr.take(), tx);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // A process it started may still hold a pipe open: wait for the rest of the limit only.
    let mut read: [Vec<u8>; 2] = Default::default();
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, buf)) => read[i] = buf,
            Err(_) => return Ok(None),
        }
    }
    let [stdout, stderr] = read;
    Ok(Some(Output {
        status,
        stdout,
        stderr,
    }))
}

/// Reads `pipe` to its end on a thread of its own, then sends what it read with its `index`.
fn read_to_end(
    index: usize,
    pipe: Option<impl Read + Send + 'static>,
    done: mpsc::Sender<(usize, Vec<u8>)>,
) {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        let _ = done.send((index, buf));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn command_is_the_first_word_that_is_not_an_option() {
        assert_eq!(
            Invocation::parse(&args("--debug up worker-2"))
                .command
                .as_deref(),
            Some("up")
        );
        assert_eq!(Invocation::parse(&args("")).command, None);
    }

    #[test]
    fn up_and_resume_targets_are_the_named_machines_or_all() {
        let all: Vec<String> = ["control-plane-1", "worker-1", "worker-2"]
            .map(String::from)
            .to_vec();
        // `vagrant resume` takes machine names and start options like `vagrant up`.
        let cases: &[(&str, &[&str])] = &[
            ("up", &["control-plane-1", "worker-1", "worker-2"]),
            ("up --provider libvirt worker-2", &["worker-2"]),
            (
                "--debug up --provision-with hostname /worker/",
                &["worker-1", "worker-2"],
            ),
            (
                "up --no-parallel control-plane-1 worker-1",
                &["control-plane-1", "worker-1"],
            ),
            ("resume", &["control-plane-1", "worker-1", "worker-2"]),
            ("resume --provision-with shell worker-1", &["worker-1"]),
            (
                "--debug resume --no-provision /worker/",
                &["worker-1", "worker-2"],
            ),
        ];
        for (command, targets) in cases {
            assert_eq!(
                Invocation::up_targets(&args(command), &all),
                *targets,
                "{command}"
            );
        }
    }

    #[test]
    fn suspend_on_tart_says_it_does_nothing() {
        let suspend = Invocation::parse(&args("suspend worker-1"));
        assert!(suspend
            .does_nothing_note(Provider::Tart)
            .is_some_and(|n| n.starts_with("`vagrant suspend` does nothing on Tart")));
        assert_eq!(suspend.does_nothing_note(Provider::Libvirt), None);
        assert_eq!(
            Invocation::parse(&args("halt")).does_nothing_note(Provider::Tart),
            None
        );
    }

    #[test]
    fn provider_is_read_in_both_forms() {
        assert_eq!(
            Invocation::parse(&args("up --provider tart"))
                .provider
                .as_deref(),
            Some("tart")
        );
        assert_eq!(
            Invocation::parse(&args("up --provider=libvirt"))
                .provider
                .as_deref(),
            Some("libvirt")
        );
    }

    #[test]
    fn provider_flag_beats_environment_and_unknown_is_rejected() {
        let inv = Invocation::parse(&args("up --provider=tart"));
        assert_eq!(resolve_provider(&inv, Some("libvirt")), Ok(Provider::Tart));
        let inv = Invocation::parse(&args("status"));
        assert_eq!(
            resolve_provider(&inv, Some("libvirt")),
            Ok(Provider::Libvirt)
        );
        assert_eq!(resolve_provider(&inv, None), Ok(Provider::for_this_os()));
        let err = resolve_provider(&inv, Some("virtualbox")).unwrap_err();
        assert!(
            err.to_string()
                .contains("'virtualbox' (from VAGRANT_DEFAULT_PROVIDER)"),
            "{err}"
        );
    }

    /// `vagrant status --machine-readable control-plane-1 worker-1 worker-2` of a libvirt
    /// project, as Vagrant writes it (hashicorp/vagrant `lib/vagrant/ui.rb`,
    /// `plugins/commands/status/command.rb`; descriptions from vagrant-libvirt `locales/en.yml`).
    const STATUS: &str = r"1754380800,control-plane-1,metadata,provider,libvirt
1754380800,worker-1,metadata,provider,libvirt
1754380800,worker-2,metadata,provider,libvirt
1754380801,control-plane-1,provider-name,libvirt
1754380801,control-plane-1,state,running
1754380801,control-plane-1,state-human-short,running
1754380801,control-plane-1,state-human-long,The Libvirt domain is running. To stop this machine%!(VAGRANT_COMMA) you can run\n`vagrant halt`. To destroy the machine%!(VAGRANT_COMMA) you can run `vagrant destroy`.
1754380801,worker-1,provider-name,libvirt
1754380801,worker-1,state,shutoff
1754380801,worker-1,state-human-short,shutoff
1754380801,worker-1,state-human-long,The Libvirt domain is not running. Run `vagrant up` to start it.
1754380801,worker-2,provider-name,libvirt
1754380801,worker-2,state,paused
1754380801,worker-2,state-human-short,paused
1754380801,worker-2,state-human-long,The Libvirt domain is suspended. Run `vagrant resume` to resume it.
1754380801,,ui,info,Current machine states:\n\ncontrol-plane-1           running (libvirt)\nworker-1                  shutoff (libvirt)\nworker-2                  paused (libvirt)\n\nThis environment represents multiple VMs. The VMs are all listed\nabove with their current state. For more information about a specific\nVM%!(VAGRANT_COMMA) run `vagrant status NAME`.
";

    #[test]
    fn machine_readable_status_gives_each_machine_its_state() {
        let states = parse_states(STATUS);
        assert_eq!(
            states.into_iter().collect::<Vec<_>>(),
            [
                ("control-plane-1".to_string(), "running".to_string()),
                ("worker-1".to_string(), "shutoff".to_string()),
                ("worker-2".to_string(), "paused".to_string()),
            ]
        );
        // Not machine-readable lines, and lines of other types, name no state.
        assert!(parse_states("Current machine states:\nworker-1  running (libvirt)\n").is_empty());
        assert!(parse_states("1754380801,,state,running\nx,worker-1,state,running\n").is_empty());
    }

    #[test]
    fn state_ids_of_both_providers_are_sorted() {
        assert_eq!(MachineState::from_id("running"), MachineState::Running);
        for halted in ["shutoff", "stopped"] {
            assert_eq!(
                MachineState::from_id(halted),
                MachineState::Halted(halted.into())
            );
        }
        for suspended in ["paused", "pmsuspended"] {
            assert_eq!(
                MachineState::from_id(suspended),
                MachineState::Suspended(suspended.into())
            );
        }
        assert_eq!(
            MachineState::from_id("not_created"),
            MachineState::NotCreated
        );
        assert_eq!(
            MachineState::from_id("host_state_unknown"),
            MachineState::Other("host_state_unknown".into())
        );
    }

    #[test]
    fn a_command_that_outlives_its_limit_is_stopped() {
        let start = Instant::now();
        let mut sleep = Command::new("sleep");
        sleep.arg("10");
        assert!(output_within(sleep, Duration::from_millis(300))
            .unwrap()
            .is_none());
        assert!(start.elapsed() < Duration::from_secs(5));
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output_within(echo, Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                out.status.code(),
                out.stdout.as_slice(),
                out.stderr.as_slice()
            ),
            (Some(3), &b"out\n"[..], &b"err\n"[..])
        );
    }

    #[test]
    fn no_vagrantfile_no_question() {
        let dir = std::env::temp_dir().join(format!("k0sv-novagrantfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = Project::new(dir.clone(), None)
            .machine_states(&["worker-1"], Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no Vagrantfile in {}", dir.display())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
