//! An add-on's images from their registries into one bundle k0s imports: the OCI distribution
//! API read anonymously (GET `/v2/<name>/manifests/<tag>` and `/v2/<name>/blobs/<digest>`; a 401
//! names the token service in `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, which
//! hands out a pull token without login; opencontainers/distribution-spec `spec.md`, the Docker
//! token spec `docs/spec/auth/token.md`). An image index is narrowed to the nodes' platform; every
//! manifest and blob is checked against its digest. The bundle is an OCI image layout tar
//! (opencontainers/image-spec `image-layout.md`) naming each image with containerd's
//! `io.containerd.image.name` annotation, which its importer reads (containerd
//! `client/import.go`) and k0s uses for the image directory (k0s `docs/airgap-install.md`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::download::Http;
use super::{Arch, CacheError};
use crate::addons::registry::Mirror;
use crate::util::digest::sha256_bytes;
use crate::util::files::{self, FileError, FileOp};
use crate::util::tar::TarWriter;

/// The setting that points image pulls elsewhere.
const VIA: &str = "REGISTRY_MIRRORS";
const MANIFEST_LIMIT: u64 = 4 << 20;
const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A fully qualified reference, `registry/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl ImageRef {
    /// Our pinned references always name the registry and a tag; Docker Hub's one-word names
    /// live under `library/`.
    pub fn parse(reference: &str) -> Option<ImageRef> {
        let (registry, rest) = reference.split_once('/')?;
        let (repository, tag) = rest.rsplit_once(':')?;
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        Some(ImageRef {
            registry: registry.to_string(),
            repository,
            tag: tag.to_string(),
        })
    }

    /// Where the registry's API is: its REGISTRY_MIRRORS entry, else the registry (Docker Hub's
    /// API host is registry-1.docker.io).
    fn base(&self, mirrors: &[Mirror]) -> String {
        if let Some(m) = mirrors.iter().find(|m| m.registry == self.registry) {
            return m.url.trim_end_matches('/').to_string();
        }
        match self.registry.as_str() {
            "docker.io" => "https://registry-1.docker.io".to_string(),
            other => format!("https://{other}"),
        }
    }
}

/// One image as the bundle holds it: the manifest of the nodes' platform and its blobs.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub name: String,
    pub manifest: Value,
    pub manifest_bytes: Vec<u8>,
    pub media_type: String,
    /// Config and layers: digest (`sha256:<hex>`) and where the verified blob is.
    pub blobs: Vec<(String, PathBuf)>,
    pub bytes: u64,
}

/// A registry session for one repository: the pull token once asked for.
struct Session<'a> {
    http: &'a Http,
    base: String,
    repository: String,
    token: Option<String>,
}

impl Session<'_> {
    fn url(&self, kind: &str, reference: &str) -> String {
        format!("{}/v2/{}/{kind}/{reference}", self.base, self.repository)
    }

    fn headers(&self, accept: bool) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if accept {
            h.push(("Accept", ACCEPT.to_string()));
        }
        if let Some(t) = &self.token {
            h.push(("Authorization", format!("Bearer {t}")));
        }
        h
    }

    /// Asks for a pull token when the registry wants one (it answers 401 without).
    fn authorize(&mut self, url: &str) -> Result<(), CacheError> {
        let Some(challenge) = self
            .http
            .challenge(url, &self.headers(true))
            .map_err(|e| e.via(VIA))?
        else {
            return Ok(());
        };
        let params = bearer_params(&challenge).ok_or_else(|| CacheError::RegistryAuth {
            url: url.to_string(),
            challenge: challenge.clone(),
        })?;
        let realm = params.get("realm").cloned().unwrap_or_default();
        let mut query = vec![];
        if let Some(service) = params.get("service") {
            query.push(format!("service={service}"));
        }
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        query.push(format!("scope={scope}"));
        let sep = if realm.contains('?') { '&' } else { '?' };
        let token_url = format!("{realm}{sep}{}", query.join("&"));
        let answer = self
            .http
            .bytes(&token_url, &[], 1 << 20)
            .map_err(|e| e.via(VIA))?;
        let doc: Value = serde_json::from_slice(&answer).unwrap_or_default();
        let token = doc["token"]
            .as_str()
            .or_else(|| doc["access_token"].as_str())
            .ok_or_else(|| CacheError::RegistryAuth {
                url: token_url.clone(),
                challenge: "the token service gave no token".to_string(),
            })?;
        self.token = Some(token.to_string());
        Ok(())
    }

    /// A manifest by tag or digest; a digest is checked.
    fn manifest(&self, reference: &str) -> Result<(Vec<u8>, Value), CacheError> {
        let url = self.url("manifests", reference);
        let bytes = self
            .http
            .bytes(&url, &self.headers(true), MANIFEST_LIMIT)
            .map_err(|e| e.via(VIA))?;
        if let Some(expected) = reference.strip_prefix("sha256:") {
            let got = sha256_bytes(&bytes);
            if got != expected {
                return Err(CacheError::DigestMismatch {
                    url,
                    expected: expected.to_string(),
                    got,
                    via: VIA,
                });
            }
        }
        let doc = serde_json::from_slice(&bytes).map_err(|e| CacheError::BadManifest {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        Ok((bytes, doc))
    }
}

/// `Bearer realm="...",service="...",scope="..."` as a map; `None` for any other scheme.
fn bearer_params(challenge: &str) -> Option<BTreeMap<String, String>> {
    let rest = challenge.trim().strip_prefix("Bearer ")?;
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let (v, n) = quoted.split_once('"')?;
                (v, n)
            }
            None => after.split_once(',').map_or((after, ""), |(v, n)| (v, n)),
        };
        params.insert(key.trim().to_string(), value.to_string());
        s = next.trim_start_matches([',', ' ']);
    }
    params.contains_key("realm").then_some(params)
}

/// The manifest in `index` for linux/`arch` (any arm64 variant), skipping attestations.
fn platform_manifest(index: &Value, arch: Arch) -> Option<&Value> {
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch.as_str())
}

/// Pulls `reference` for `arch`, its blobs into `blobs` (`<dir>/sha256/<hex>`, kept when
/// already there and verified by name).
pub fn pull(
    http: &Http,
    reference: &str,
    arch: Arch,
    mirrors: &[Mirror],
    blobs: &Path,
) -> Result<Pulled, CacheError> {
    let image = ImageRef::parse(reference).ok_or_else(|| CacheError::BadManifest {
        url: reference.to_string(),
        reason: "not a registry/repository:tag reference".to_string(),
    })?;
    let mut session = Session {
        http,
        base: image.base(mirrors),
        repository: image.repository.clone(),
        token: None,
    };
    session.authorize(&session.url("manifests", &image.tag))?;
    let (mut bytes, mut doc) = session.manifest(&image.tag)?;
    let is_index = |d: &Value| {
        d.get("manifests").is_some()
            || INDEX_TYPES.contains(&d["mediaType"].as_str().unwrap_or_default())
    };
    if is_index(&doc) {
        let digest = platform_manifest(&doc, arch)
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| CacheError::NoPlatform {
                image: reference.to_string(),
                arch,
            })?
            .to_string();
        (bytes, doc) = session.manifest(&digest)?;
    }
    let media_type = doc["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    let descriptors: Vec<&Value> = std::iter::once(&doc["config"])
        .chain(doc["layers"].as_array().into_iter().flatten())
        .collect();
    let mut pulled = Vec::new();
    let mut total = bytes.len() as u64;
    for d in descriptors {
        let digest = d["digest"].as_str().unwrap_or_default();
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| CacheError::BadManifest {
                url: session.url("manifests", &image.tag),
                reason: format!("a blob digest {digest:?} that is not sha256"),
            })?;
        let path = blobs.join("sha256").join(hex);
        if !path.is_file() {
            let fetched = http
                .file_with(
                    &session.url("blobs", digest),
                    &session.headers(false),
                    &path,
                    hex,
                )
                .map_err(|e| e.via(VIA))?;
            total += fetched.bytes;
        }
        pulled.push((digest.to_string(), path));
    }
    Ok(Pulled {
        name: reference.to_string(),
        manifest: doc,
        manifest_bytes: bytes,
        media_type,
        blobs: pulled,
        bytes: total,
    })
}

/// Writes the OCI image layout tar of `images` to `dest` (through a temporary file). The index
/// names each image's platform manifest, not the registry's index: the bundle holds one
/// platform's blobs only, and every add-on refers to its images by tag.
pub fn write_bundle(images: &[Pulled], dest: &Path) -> Result<(), FileError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    files::create_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.part",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = write_layout(images, &tmp).and_then(|()| {
        std::fs::rename(&tmp, dest).map_err(|source| FileError {
            op: FileOp::Write,
            path: dest.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_layout(images: &[Pulled], tmp: &Path) -> Result<(), FileError> {
    let err = |source| FileError {
        op: FileOp::Write,
        path: tmp.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(tmp).map_err(err)?;
    let mut tar = TarWriter::new(std::io::BufWriter::new(file));
    tar.append_bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(err)?;
    let mut manifests = Vec::new();
    let mut written = std::collections::BTreeSet::new();
    for image in images {
        let hex = sha256_bytes(&image.manifest_bytes);
        let tag = image.name.rsplit_once(':').map_or("", |(_, t)| t);
        let platform = json!({"os": "linux", "architecture": image_arch(image)});
        manifests.push(json!({
            "mediaType": image.media_type,
            "digest": format!("sha256:{hex}"),
            "size": image.manifest_bytes.len(),
            "platform": platform,
            "annotations": {
                "io.containerd.image.name": image.name,
                "org.opencontainers.image.ref.name": tag,
            },
        }));
        if written.insert(hex.clone()) {
            tar.append_bytes(&format!("blobs/sha256/{hex}"), &image.manifest_bytes)
                .map_err(err)?;
        }
        for (digest, path) in &image.blobs {
            let hex = digest.trim_start_matches("sha256:").to_string();
            if !written.insert(hex.clone()) {
                continue;
            }
            let read_err = FileError::new(FileOp::Read, path);
            let mut blob = std::fs::File::open(path).map_err(read_err)?;
            let size = blob
                .metadata()
                .map_err(FileError::new(FileOp::Read, path))?
                .len();
            tar.append(&format!("blobs/sha256/{hex}"), size, &mut blob)
                .map_err(err)?;
        }
    }
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    tar.append_bytes("index.json", index.to_string().as_bytes())
        .map_err(err)?;
    let mut out = tar.finish().map_err(err)?;
    out.flush().map_err(err)?;
    out.get_ref().sync_all().map_err(err)
}

/// The architecture the image's config names (read from the blob), for the index's platform.
fn image_arch(image: &Pulled) -> String {
    let config = image.manifest["config"]["digest"]
        .as_str()
        .unwrap_or_default();
    image
        .blobs
        .iter()
        .find(|(d, _)| d == config)
        .and_then(|(_, p)| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c["architecture"].as_str().map(String::from))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_registry_repository_and_tag() {
        let t = ImageRef::parse("docker.io/traefik:v3.7.11").unwrap();
        assert_eq!(
            (t.registry.as_str(), t.repository.as_str(), t.tag.as_str()),
            ("docker.io", "library/traefik", "v3.7.11")
        );
        assert_eq!(t.base(&[]), "https://registry-1.docker.io");
        let q = ImageRef::parse("quay.io/metallb/controller:v0.15.3").unwrap();
        assert_eq!(q.repository, "metallb/controller");
        assert_eq!(q.base(&[]), "https://quay.io");
        let mirror = Mirror {
            registry: "quay.io".into(),
            url: "http://127.0.0.1:5001/".into(),
        };
        assert_eq!(q.base(&[mirror]), "http://127.0.0.1:5001");
        assert!(ImageRef::parse("busybox").is_none());
    }

    #[test]
    fn bearer_challenges_are_read() {
        let p = bearer_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/traefik:pull""#,
        )
        .unwrap();
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/traefik:pull");
        assert!(bearer_params(r#"Basic realm="x""#).is_none());
        assert_eq!(
            bearer_params("Bearer realm=http://t/token")
                .unwrap()
                .get("realm")
                .map(String::as_str),
            Some("http://t/token")
        );
    }

    #[test]
    fn the_index_gives_the_nodes_platform_and_skips_attestations() {
        let index = json!({"manifests": [
            {"digest": "sha256:a", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:c", "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        assert_eq!(
            platform_manifest(&index, Arch::Amd64).unwrap()["digest"],
            "sha256:c"
        );
        assert_eq!(
            platform_manifest(&index, Arch::Arm64).unwrap()["digest"],
            "sha256:b"
        );
    }
}
