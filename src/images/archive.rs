//! An image archive on this host: its SHA-256 (which names it on the nodes) and the image
//! references containerd gives its images on import, read from the tar by hand (two small JSON
//! files; the layers are skipped, never read).
//!
//! The names follow containerd's importer (containerd/containerd `images/archive/importer.go`,
//! `client/import.go`): an archive with an `oci-layout` file is an OCI layout and its images are
//! named by the `io.containerd.image.name` annotation of each `index.json` entry, else by
//! `org.opencontainers.image.ref.name` as it is; otherwise it is a `docker save` archive and its
//! `manifest.json` `RepoTags` are normalized (`app:1` -> `docker.io/library/app:1`). Docker 25 and
//! later write both files and an `oci-layout`, so containerd reads them as OCI.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::LoadError;

/// What `load` places on the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    /// The references `k0s ctr images ls -q` lists once k0s imported it, sorted.
    pub refs: Vec<String>,
    /// The CPU architectures (Go's names: amd64, arm64) of the images whose blobs it holds; empty
    /// when the archive does not say.
    pub architectures: BTreeSet<String>,
}

/// The name on the nodes: the same content always gets the same name, so loading it again is a
/// no-op and k0s (which re-imports a file only when its mtime changes) does nothing either.
pub const PREFIX: &str = "k0s-vagrant-load-";

impl Archive {
    pub fn file_name(&self) -> String {
        format!("{PREFIX}{}.tar", &self.sha256[..12])
    }
}

/// Reads `path`: its hash and the image references it holds.
pub fn inspect(path: &Path) -> Result<Archive, LoadError> {
    let unreadable = |reason: String| LoadError::ArchiveUnreadable {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let size = file
        .metadata()
        .map_err(|e| unreadable(e.to_string()))?
        .len();
    let sha256 =
        crate::util::digest::sha256_file(path).map_err(|e| unreadable(e.source.to_string()))?;
    let entries = read_tar(&mut file, size, |n| {
        matches!(n, "oci-layout" | "index.json" | "manifest.json")
    })
    .map_err(unreadable)?;
    let files = Files::from(&entries);
    let refs = refs(&files).map_err(|reason| LoadError::NotAnImageArchive {
        path: path.to_path_buf(),
        reason,
    })?;
    // Only for a warning: an archive whose platforms cannot be read still loads.
    let architectures =
        architectures(&mut file, size, &entries.names, &files).unwrap_or_else(|e| {
            tracing::debug!(path = %path.display(), "architectures unknown: {e}");
            BTreeSet::new()
        });
    Ok(Archive {
        path: path.to_path_buf(),
        size,
        sha256,
        refs,
        architectures,
    })
}

/// What one pass over a tar found: every regular file's name, and the bodies of those wanted.
#[derive(Debug, Default)]
struct Entries {
    names: BTreeSet<String>,
    bodies: BTreeMap<String, Vec<u8>>,
}

/// The three top-level files that name an archive's images.
#[derive(Debug, Default)]
struct Files {
    oci_layout: bool,
    index: Option<Vec<u8>>,
    manifest: Option<Vec<u8>>,
}

impl Files {
    fn from(entries: &Entries) -> Files {
        Files {
            oci_layout: entries.names.contains("oci-layout"),
            index: entries.bodies.get("index.json").cloned(),
            manifest: entries.bodies.get("manifest.json").cloned(),
        }
    }
}

/// Largest JSON file read from an archive; an index or manifest is a few kB.
const MAX_JSON: u64 = 16 << 20;

/// Walks the tar's headers, seeking over every body but the three files wanted. Knows ustar,
/// GNU long names (`L`) and pax headers (`x`, for `path` and `size`), as Go's archive/tar and
/// GNU tar write them.
fn read_tar(
    file: &mut (impl Read + Seek),
    total: u64,
    want: impl Fn(&str) -> bool,
) -> Result<Entries, String> {
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut entries = Entries::default();
    let mut long_name: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut offset = 0u64;
    loop {
        let mut header = [0u8; 512];
        match file.read_exact(&mut header) {
            Ok(()) => {}
            // Tars end with two zero blocks, but a missing end is no reason to refuse.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
        offset += 512;
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size = match pax_size.take() {
            Some(s) => s,
            None => number(&header[124..136]).ok_or("not a tar file (bad size field)")?,
        };
        if offset + size > total {
            return Err(format!(
                "not a tar file or cut off (an entry of {size} bytes runs past the end)"
            ));
        }
        let kind = header[156];
        let name = long_name.take().unwrap_or_else(|| header_name(&header));
        let padded = size.div_ceil(512) * 512;
        let wanted = match kind {
            b'L' | b'x' => true,
            b'0' | 0 => {
                entries.names.insert(clean(&name).to_string());
                want(clean(&name))
            }
            _ => false,
        };
        if wanted {
            if size > MAX_JSON {
                return Err(format!(
                    "{name} is {size} bytes, too large for image metadata"
                ));
            }
            let mut body = vec![0u8; size as usize];
            file.read_exact(&mut body).map_err(|e| e.to_string())?;
            file.seek(SeekFrom::Current((padded - size) as i64))
                .map_err(|e| e.to_string())?;
            match kind {
                b'L' => {
                    long_name = Some(
                        String::from_utf8_lossy(&body)
                            .trim_end_matches('\0')
                            .to_string(),
                    )
                }
                b'x' => {
                    let (path, size) = pax(&body);
                    long_name = path;
                    pax_size = size;
                }
                _ => {
                    entries.bodies.insert(clean(&name).to_string(), body);
                }
            }
        } else {
            file.seek(SeekFrom::Current(padded as i64))
                .map_err(|e| e.to_string())?;
        }
        offset += padded;
    }
    Ok(entries)
}

/// `./index.json` and `index.json` are the same entry.
fn clean(name: &str) -> &str {
    name.trim_start_matches("./")
}

/// The ustar name, with its prefix field when the magic says ustar.
fn header_name(h: &[u8; 512]) -> String {
    let field = |b: &[u8]| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    let name = field(&h[0..100]);
    let prefix = if &h[257..262] == b"ustar" {
        field(&h[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// A tar number: octal text, or base-256 when the top bit is set (GNU, for sizes of 8 GiB on).
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return field[1..]
            .iter()
            .try_fold(u64::from(field[0] & 0x7f), |n, &b| {
                n.checked_mul(256).map(|n| n + u64::from(b))
            });
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// `path` and `size` from pax records (`<len> <key>=<value>\n`).
fn pax(body: &[u8]) -> (Option<String>, Option<u64>) {
    let text = String::from_utf8_lossy(body);
    let (mut path, mut size) = (None, None);
    for record in text.lines() {
        let Some((_, kv)) = record.split_once(' ') else {
            continue;
        };
        match kv.split_once('=') {
            Some(("path", v)) => path = Some(v.to_string()),
            Some(("size", v)) => size = v.parse().ok(),
            _ => {}
        }
    }
    (path, size)
}

/// The names containerd gives the archive's images (see the module comment).
fn refs(files: &Files) -> Result<Vec<String>, String> {
    let mut refs: Vec<String> = if files.oci_layout {
        let index = files
            .index
            .as_deref()
            .ok_or("an oci-layout without index.json")?;
        let index: serde_json::Value =
            serde_json::from_slice(index).map_err(|e| format!("index.json: {e}"))?;
        index["manifests"]
            .as_array()
            .ok_or("index.json has no manifests")?
            .iter()
            .filter_map(|m| {
                let a = &m["annotations"];
                a["io.containerd.image.name"]
                    .as_str()
                    .or(a["org.opencontainers.image.ref.name"].as_str())
                    .map(String::from)
            })
            .collect()
    } else {
        let manifest = files
            .manifest
            .as_deref()
            .ok_or("neither manifest.json nor oci-layout with index.json")?;
        let manifest: serde_json::Value =
            serde_json::from_slice(manifest).map_err(|e| format!("manifest.json: {e}"))?;
        manifest
            .as_array()
            .ok_or("manifest.json is not a list")?
            .iter()
            .flat_map(|m| m["RepoTags"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(normalize))
            .collect()
    };
    refs.sort();
    refs.dedup();
    if refs.is_empty() {
        return Err("it names no image (no RepoTags, no image name annotation), so containerd would import it without a name pods can use".into());
    }
    Ok(refs)
}

/// The architectures of the images present in the archive. `docker save`: each manifest.json
/// entry's config. OCI: each index entry whose blob is in the archive (containerd imports with
/// missing blobs skipped, as k0s does), by its `platform`, else through nested indexes, manifests and
/// configs, one pass over the tar per level.
fn architectures(
    file: &mut (impl Read + Seek),
    total: u64,
    names: &BTreeSet<String>,
    files: &Files,
) -> Result<BTreeSet<String>, String> {
    let parse =
        |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).map_err(|e| e.to_string());
    let mut arches = BTreeSet::new();
    let mut todo: Vec<String> = Vec::new();
    if files.oci_layout {
        let index = parse(files.index.as_deref().unwrap_or_default())?;
        let mut descriptors: Vec<serde_json::Value> =
            index["manifests"].as_array().cloned().unwrap_or_default();
        for _level in 0..4 {
            for d in descriptors.drain(..) {
                let Some(path) = d["digest"].as_str().map(blob_path) else {
                    continue;
                };
                if !names.contains(&path) {
                    continue;
                }
                match d["platform"]["architecture"].as_str() {
                    Some(arch) => {
                        arches.insert(arch.to_string());
                    }
                    None => todo.push(path),
                }
            }
            if todo.is_empty() {
                break;
            }
            let wanted: BTreeSet<String> = todo.drain(..).collect();
            let bodies = read_tar(file, total, |n| wanted.contains(n))?.bodies;
            for body in bodies.values() {
                let v = parse(body)?;
                if let Some(children) = v["manifests"].as_array() {
                    descriptors.extend(children.iter().cloned());
                } else if v["config"]["digest"].is_string() {
                    descriptors.push(v["config"].clone());
                } else if let Some(arch) = v["architecture"].as_str() {
                    arches.insert(arch.to_string());
                }
            }
        }
    } else {
        let manifest = parse(files.manifest.as_deref().unwrap_or_default())?;
        let configs: BTreeSet<String> = manifest
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["Config"].as_str().map(|c| clean(c).to_string()))
            .collect();
        for body in read_tar(file, total, |n| configs.contains(n))?
            .bodies
            .values()
        {
            if let Some(arch) = parse(body)?["architecture"].as_str() {
                arches.insert(arch.to_string());
            }
        }
    }
    Ok(arches)
}

/// `sha256:abc` -> `blobs/sha256/abc`.
fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// Go's name for a `uname -m` answer, as image platforms spell it.
pub fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "armv7l" | "armv6l" => "arm",
        other => other,
    }
}

/// A Docker reference as containerd names it on import (docker/reference's normalization):
/// `app:1` -> `docker.io/library/app:1`, `me/app` -> `docker.io/me/app:latest`, a registry host
/// (with `.` or `:`, or `localhost`) kept.
pub fn normalize(reference: &str) -> String {
    let (domain, rest) = match reference.split_once('/') {
        Some((d, r)) if d.contains('.') || d.contains(':') || d == "localhost" => (d, r),
        _ => ("docker.io", reference),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let rest = if domain == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest.to_string()
    };
    let last = rest.rsplit('/').next().unwrap_or(&rest);
    let tag = if last.contains(':') || last.contains('@') {
        ""
    } else {
        ":latest"
    };
    format!("{domain}/{rest}{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalized_like_containerd() {
        for (given, want) in [
            ("app:1", "docker.io/library/app:1"),
            ("app", "docker.io/library/app:latest"),
            ("me/app:2", "docker.io/me/app:2"),
            ("index.docker.io/me/app:2", "docker.io/me/app:2"),
            ("localhost/app:dev", "localhost/app:dev"),
            (
                "registry.local:5000/team/app",
                "registry.local:5000/team/app:latest",
            ),
            ("ghcr.io/o/app:v1.2", "ghcr.io/o/app:v1.2"),
        ] {
            assert_eq!(normalize(given), want, "{given}");
        }
    }

    #[test]
    fn tar_numbers_octal_and_base256() {
        assert_eq!(number(b"00000001750\0"), Some(1000));
        assert_eq!(number(b"           \0"), Some(0));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 0x02;
        big[10] = 0x01;
        assert_eq!(number(&big), Some(258));
        assert_eq!(number(b"12x4\0\0\0\0\0\0\0\0"), None);
    }

    #[test]
    fn pax_records_give_path_and_size() {
        let body = b"30 path=some/long/name/index.json\n16 size=4096000\n";
        assert_eq!(
            pax(body),
            (Some("some/long/name/index.json".into()), Some(4096000))
        );
    }
}
