//! What Vagrant tells us: the command line it was given (passed through by the Vagrantfile), the
//! provider that follows from it, and which machines of the project exist on disk.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
        let mut names = Vec::new();
        let mut it = args
            .iter()
            .skip_while(|a| !matches!(a.as_str(), "up" | "resume"))
            .skip(1);
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
}
