//! What k0s publishes per release: the asset names, their URLs under a mirror, the
//! `sha256sums.txt` beside them, and where "newest stable" is announced.
//!
//! Asset names as k0s' release workflow uploads them (k0sproject/k0s
//! `.github/workflows/release.yml` at 8eaba1d96c: `k0s-<tag>-amd64`, `k0s-<tag>-arm64`,
//! `k0s-airgap-bundle-<tag>-<arch>`, and `sha256sums.txt` written by `sha256sum -b *` over every
//! asset). The bundle goes into k0s' `<data-dir>/images` (k0s `docs/airgap-install.md`).

use std::collections::BTreeMap;
use std::fmt;

use crate::host;
use crate::util::version;

/// GitHub's release downloads for k0s: `<base>/<tag>/<asset>`.
pub const DEFAULT_MIRROR: &str = "https://github.com/k0sproject/k0s/releases/download";
/// The newest stable k0s, one line (what k0s' own `get.sh` reads).
pub const DEFAULT_STABLE_URL: &str = "https://docs.k0sproject.io/stable.txt";
/// The checksum file of every release.
pub const SUMS: &str = "sha256sums.txt";

/// A node architecture k0s publishes both artifacts for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "amd64" => Some(Arch::Amd64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The nodes' architecture: the VMs run the host's (Tart on Apple silicon, libvirt with the
    /// host's CPU or QEMU for x86_64 guests).
    pub fn of_host(arch: &host::Arch) -> Option<Arch> {
        match arch {
            host::Arch::X86_64 => Some(Arch::Amd64),
            host::Arch::Aarch64 => Some(Arch::Arm64),
            host::Arch::Other(_) => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two artifacts a node needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Artifact {
    /// The k0s binary, uploaded with k0sctl's `k0sBinaryPath`.
    Binary,
    /// The airgap image bundle, uploaded into `/var/lib/k0s/images/` with k0sctl's `files`.
    Bundle,
}

impl Artifact {
    pub const ALL: [Artifact; 2] = [Artifact::Binary, Artifact::Bundle];

    /// The release asset's file name (also its name in the cache).
    pub fn asset(self, version: &str, arch: Arch) -> String {
        match self {
            Artifact::Binary => format!("k0s-{version}-{arch}"),
            Artifact::Bundle => format!("k0s-airgap-bundle-{version}-{arch}"),
        }
    }

    /// For people: "k0s binary", "airgap image bundle".
    pub fn what(self) -> &'static str {
        match self {
            Artifact::Binary => "k0s binary",
            Artifact::Bundle => "airgap image bundle",
        }
    }
}

/// `<mirror>/<version>/<file>`; one slash between the parts whatever the mirror ends with.
pub fn url(mirror: &str, version: &str, file: &str) -> String {
    format!("{}/{version}/{file}", mirror.trim_end_matches('/'))
}

/// The lines of a `sha256sum` output (`<hex>  <name>`, or `<hex> *<name>` in binary mode as k0s
/// writes it): file name to lowercase hex. Lines that are no such pair are ignored.
pub fn parse_sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (hex, name) = line.trim_end().split_once(' ')?;
            let name = name.trim_start_matches(' ').trim_start_matches('*');
            let ok = hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
            (ok && !name.is_empty()).then(|| (name.to_string(), hex.to_ascii_lowercase()))
        })
        .collect()
}

/// The version a stable-version file names, when it is a full k0s version.
pub fn parse_stable(text: &str) -> Option<String> {
    let line = text.lines().next()?.trim();
    version::k0s_full(line).map(|_| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_follow_the_release_workflow() {
        let v = "v1.33.4+k0s.0";
        assert_eq!(
            Artifact::Binary.asset(v, Arch::Amd64),
            "k0s-v1.33.4+k0s.0-amd64"
        );
        assert_eq!(
            Artifact::Bundle.asset(v, Arch::Arm64),
            "k0s-airgap-bundle-v1.33.4+k0s.0-arm64"
        );
        assert_eq!(
            url("http://m/", v, SUMS),
            "http://m/v1.33.4+k0s.0/sha256sums.txt"
        );
    }

    #[test]
    fn sums_take_text_and_binary_mode_lines() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let text = format!("{a}  k0s-v1-amd64\n{b} *k0s-airgap-bundle-v1-amd64\nnot a line\n");
        let sums = parse_sums(&text);
        assert_eq!(sums.len(), 2);
        assert_eq!(sums["k0s-v1-amd64"], a);
        assert_eq!(sums["k0s-airgap-bundle-v1-amd64"], "b".repeat(64));
    }

    #[test]
    fn stable_must_be_a_full_version() {
        assert_eq!(
            parse_stable("v1.34.1+k0s.0\n").as_deref(),
            Some("v1.34.1+k0s.0")
        );
        assert_eq!(parse_stable("<html>"), None);
    }
}
