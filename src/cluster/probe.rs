//! What one probe of the running cluster found: its value, or a failure of a known kind. In JSON
//! (`status --json`) a probe is `{"ok": true, "value": ...}` or
//! `{"ok": false, "error": {"kind": ..., "code": N, "detail": ...}}`; `code` only for `exit`.

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use crate::adapters::node::Section;
use crate::adapters::ssh::SshError;

/// A probe's result. Fields of this type are serialized with [`json`].
pub type Probe<T> = Result<T, ProbeError>;

/// Why a probe failed: its kind for programs, its detail for people (the reason the text output
/// shows, which the detail is to the letter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ProbeError {
    pub kind: Kind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No SSH session to the node (unreachable, key or host key refused), so nothing ran there.
    Ssh,
    /// A command, or a connection from this host, did not finish within its limit.
    Timeout,
    /// A command ran and exited with this non-zero code.
    Exit(i32),
    /// A command succeeded, but what it printed is not what it should print.
    Output,
    /// This host could not open a TCP connection (the API port without kubectl).
    Connect,
    /// What the probe looks for is not there: a Node object, the kubeconfig, a controller.
    Missing,
    /// The Node object's Ready condition is not True; the detail is its reason.
    NotReady,
    /// No SSH, and Vagrant says the node's VM is powered off (libvirt `shutoff`, Tart `stopped`).
    Halted,
    /// No SSH, and Vagrant says the node's VM is suspended (libvirt `paused`, `pmsuspended`).
    Suspended,
    /// No SSH, and Vagrant says the node has no VM (`not_created`).
    NotCreated,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ssh => "ssh",
            Kind::Timeout => "timeout",
            Kind::Exit(_) => "exit",
            Kind::Output => "output",
            Kind::Connect => "connect",
            Kind::Missing => "missing",
            Kind::NotReady => "not-ready",
            Kind::Halted => "halted",
            Kind::Suspended => "suspended",
            Kind::NotCreated => "not-created",
        }
    }

    /// Whether the node's VM is not running (Vagrant says so): not a failure of the node itself.
    pub fn vm_down(self) -> bool {
        matches!(self, Kind::Halted | Kind::Suspended | Kind::NotCreated)
    }
}

impl ProbeError {
    pub fn new(kind: Kind, detail: impl Into<String>) -> ProbeError {
        ProbeError {
            kind,
            detail: detail.into(),
        }
    }

    /// A failed section of a node script: `exit code N: <its reason>`.
    pub fn exit(section: &Section) -> ProbeError {
        ProbeError::new(
            Kind::Exit(section.code),
            format!("exit code {}: {}", section.code, section.reason()),
        )
    }
}

impl From<&SshError> for ProbeError {
    fn from(e: &SshError) -> ProbeError {
        let kind = match e {
            SshError::Timeout { .. } => Kind::Timeout,
            SshError::CommandFailed { status, .. } => Kind::Exit(*status),
            SshError::Unreachable { .. }
            | SshError::AuthRefused { .. }
            | SshError::HostKeyChanged { .. }
            | SshError::Protocol { .. } => Kind::Ssh,
        };
        ProbeError::new(kind, e.to_string())
    }
}

/// A section's stdout when its command succeeded (its stderr is then ignored: warnings only).
pub fn section_ok(section: Option<&Section>) -> Probe<String> {
    match section {
        Some(s) if s.code == 0 => Ok(s.stdout.clone()),
        Some(s) => Err(ProbeError::exit(s)),
        None => Err(ProbeError::new(Kind::Output, "no answer")),
    }
}

impl Serialize for ProbeError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let code = match self.kind {
            Kind::Exit(code) => Some(code),
            _ => None,
        };
        let mut m = s.serialize_struct("ProbeError", 2 + usize::from(code.is_some()))?;
        m.serialize_field("kind", self.kind.as_str())?;
        if let Some(code) = code {
            m.serialize_field("code", &code)?;
        }
        m.serialize_field("detail", &self.detail)?;
        m.end()
    }
}

/// The JSON form of a [`Probe`], for `#[serde(serialize_with = "probe::json")]`.
pub fn json<T: Serialize, S: Serializer>(probe: &Probe<T>, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_struct("Probe", 2)?;
    match probe {
        Ok(value) => {
            m.serialize_field("ok", &true)?;
            m.serialize_field("value", value)?;
        }
        Err(e) => {
            m.serialize_field("ok", &false)?;
            m.serialize_field("error", e)?;
        }
    }
    m.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct One {
        #[serde(serialize_with = "json")]
        p: Probe<u32>,
    }

    #[test]
    fn probes_have_their_json_form() {
        let shown = |p: Probe<u32>| serde_json::to_string(&One { p }).unwrap();
        assert_eq!(shown(Ok(3)), r#"{"p":{"ok":true,"value":3}}"#);
        assert_eq!(
            shown(Err(ProbeError::new(Kind::Exit(3), "exit code 3: inactive"))),
            r#"{"p":{"ok":false,"error":{"kind":"exit","code":3,"detail":"exit code 3: inactive"}}}"#
        );
        assert_eq!(
            shown(Err(ProbeError::new(Kind::NotReady, "KubeletNotReady"))),
            r#"{"p":{"ok":false,"error":{"kind":"not-ready","detail":"KubeletNotReady"}}}"#
        );
    }
}
