//! The host's container engine, docker or podman, for one thing: saving local images into an
//! archive (`docker image save -o FILE IMAGE...`, `podman save -o FILE IMAGE...`), which `load`
//! then places on the nodes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::images::LoadError;

/// docker or podman, found on PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub name: &'static str,
    pub path: PathBuf,
}

/// The first of docker and podman on `path_env` (PATH), docker first: Docker Desktop, OrbStack and
/// Colima all answer as docker, and podman's docker shim then is podman anyway.
pub fn find(path_env: Option<&str>) -> Result<Engine, LoadError> {
    ["docker", "podman"]
        .into_iter()
        .find_map(|name| {
            std::env::split_paths(path_env.unwrap_or_default())
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
                .map(|path| Engine { name, path })
        })
        .ok_or(LoadError::NoEngine)
}

impl Engine {
    /// The command line that saves `images` into `out`.
    pub fn save_args(&self, images: &[String], out: &Path) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = match self.name {
            "docker" => vec!["image".into(), "save".into()],
            // podman writes several images into one docker archive only when asked to.
            _ if images.len() > 1 => vec!["save".into(), "--multi-image-archive".into()],
            _ => vec!["save".into()],
        };
        args.push("-o".into());
        args.push(out.into());
        args.extend(images.iter().map(Into::into));
        args
    }

    /// Saves `images` into `out` (which must not exist yet).
    pub fn save(&self, images: &[String], out: &Path) -> Result<(), LoadError> {
        let args = self.save_args(images, out);
        tracing::debug!(engine = %self.path.display(), ?args, "save images");
        let verb = if self.name == "docker" {
            "image save"
        } else {
            "save"
        };
        let command = format!("{} {verb} {}", self.name, images.join(" "));
        let output =
            Command::new(&self.path)
                .args(&args)
                .output()
                .map_err(|e| LoadError::EngineFailed {
                    engine: self.name,
                    command: command.clone(),
                    reason: format!("cannot run {}: {e}", self.path.display()),
                })?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            return Err(LoadError::EngineFailed {
                engine: self.name,
                command: command.clone(),
                reason: format!(
                    "exit {}: {}",
                    output
                        .status
                        .code()
                        .map_or("signal".into(), |c| c.to_string()),
                    crate::util::text::tail(&said, 2)
                ),
            });
        }
        Ok(())
    }
}
