//! The download cache in tests: a seeded cache directory, and a small HTTP server on 127.0.0.1
//! standing in for k0s' release downloads (generated artifacts and their sha256sums.txt), whose
//! failures the test chooses: a status, a body cut off mid-way, a wrong checksum.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use k0s_vagrant::addons::Pinned;
use k0s_vagrant::cache::{Arch, Artifact, Store};
use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Generated content for a release asset: different per name, `len` bytes.
pub fn content(name: &str, len: usize) -> Vec<u8> {
    let seed = sha256(name.as_bytes());
    seed.bytes().cycle().take(len).collect()
}

/// The nodes' architecture on this host, as the helper derives it.
pub fn host_arch() -> Arch {
    match std::env::consts::ARCH {
        "aarch64" => Arch::Arm64,
        _ => Arch::Amd64,
    }
}

/// Puts both artifacts of `version` for `arch` into the cache at `dir`, and every add-on's chart
/// and image bundle for `arch`, as a verified download leaves them (the file and its checksum
/// record). The content is generated, not a real binary, chart or image.
pub fn seed(dir: &Path, version: &str, arch: Arch) {
    let store = Store::new(dir.to_path_buf());
    let mut files: Vec<PathBuf> = Artifact::ALL
        .iter()
        .map(|a| store.path(version, arch, *a))
        .collect();
    for p in Pinned::all() {
        files.extend(p.chart.map(|c| store.chart_path(&c)));
        files.push(store.bundle_path(&p, arch));
    }
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        seed_file(&path, &content(&name, 1024));
    }
}

/// Writes `data` at `path` with the checksum record a verified download leaves beside it.
pub fn seed_file(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    std::fs::write(Store::sum_path(path), format!("{}  {name}\n", sha256(data))).unwrap();
}

/// How the server answers one path.
#[derive(Debug, Clone)]
pub enum Answer {
    Body(Vec<u8>),
    Status(u16),
    /// Sends the headers for the full length, then this many bytes, then closes.
    CutAfter(Vec<u8>, usize),
    /// A registry's answer: 401 with a Bearer challenge naming `<base>/token` unless the request
    /// carries `Authorization: Bearer test-token`; then the body.
    Protected(Vec<u8>),
}

/// The pull token the mirror's `/token` hands out (see [`Mirror::token_service`]).
pub const TOKEN: &str = "test-token";

/// A release mirror on 127.0.0.1; counts requests per path.
pub struct Mirror {
    pub base: String,
    answers: Arc<Mutex<BTreeMap<String, Answer>>>,
    requests: Arc<Mutex<BTreeMap<String, usize>>>,
    served: Arc<Mutex<u64>>,
}

impl Mirror {
    pub fn start() -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers: Arc<Mutex<BTreeMap<String, Answer>>> = Arc::default();
        let requests: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let served: Arc<Mutex<u64>> = Arc::default();
        let (a, r, s, b) = (
            answers.clone(),
            requests.clone(),
            served.clone(),
            base.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (a, r, s, b) = (a.clone(), r.clone(), s.clone(), b.clone());
                std::thread::spawn(move || serve(stream, &a, &r, &s, &b));
            }
        });
        Mirror {
            base,
            answers,
            requests,
            served,
        }
    }

    /// Body bytes sent so far (what a client downloaded).
    pub fn bytes_served(&self) -> u64 {
        *self.served.lock().unwrap()
    }

    /// Answers `/token` (any query) with [`TOKEN`], as a registry's token service does.
    pub fn token_service(&self) {
        self.set(
            "/token",
            Answer::Body(format!("{{\"token\":\"{TOKEN}\"}}").into_bytes()),
        );
    }

    pub fn set(&self, path: &str, answer: Answer) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_string(), answer);
    }

    /// A release: both artifacts for `arch` (`len` bytes each) and sha256sums.txt listing them
    /// (in `sha256sum -b` form, as k0s writes it) plus an asset we do not fetch.
    pub fn release(&self, version: &str, arch: Arch, len: usize) -> BTreeMap<Artifact, Vec<u8>> {
        let mut sums = String::new();
        let mut out = BTreeMap::new();
        for artifact in Artifact::ALL {
            let asset = artifact.asset(version, arch);
            let data = content(&asset, len);
            sums.push_str(&format!("{} *{asset}\n", sha256(&data)));
            self.set(&format!("/{version}/{asset}"), Answer::Body(data.clone()));
            out.insert(artifact, data);
        }
        sums.push_str(&format!("{} *k0s-{version}-arm\n", sha256(b"arm")));
        self.set(
            &format!("/{version}/sha256sums.txt"),
            Answer::Body(sums.into_bytes()),
        );
        out
    }

    pub fn requests(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> usize {
        self.requests.lock().unwrap().values().sum()
    }
}

fn serve(
    stream: TcpStream,
    answers: &Mutex<BTreeMap<String, Answer>>,
    requests: &Mutex<BTreeMap<String, usize>>,
    served: &Mutex<u64>,
    base: &str,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut authorized = false;
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {
                authorized |= header
                    .trim()
                    .eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}"));
            }
        }
    }
    *requests.lock().unwrap().entry(path.clone()).or_default() += 1;
    let lookup = path.split('?').next().unwrap_or_default();
    let answer = {
        let answers = answers.lock().unwrap();
        answers
            .get(&path)
            .or_else(|| answers.get(lookup))
            .cloned()
            .unwrap_or(Answer::Status(404))
    };
    let answer = match answer {
        Answer::Protected(_) if !authorized => {
            let challenge = format!("Bearer realm=\"{base}/token\",service=\"test-registry\"");
            let mut out = stream;
            let _ = out.write_all(format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
            return;
        }
        Answer::Protected(data) => Answer::Body(data),
        other => other,
    };
    if let Answer::Body(data) = &answer {
        *served.lock().unwrap() += data.len() as u64;
    }
    let mut out = stream;
    let head = |status: u16, reason: &str, len: usize| {
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
    };
    let _ = match answer {
        Answer::Body(data) => out
            .write_all(head(200, "OK", data.len()).as_bytes())
            .and_then(|()| out.write_all(&data)),
        Answer::Status(status) => {
            let reason = match status {
                404 => "Not Found",
                500 => "Internal Server Error",
                503 => "Service Unavailable",
                _ => "Error",
            };
            out.write_all(head(status, reason, 0).as_bytes())
        }
        Answer::CutAfter(data, n) => out
            .write_all(head(200, "OK", data.len()).as_bytes())
            .and_then(|()| out.write_all(&data[..n])),
        Answer::Protected(_) => Ok(()),
    };
    let _ = out.flush();
}

/// What [`Mirror::image`] serves for one architecture.
pub struct ServedImage {
    pub manifest_digest: String,
    pub layer_digest: String,
}

impl Mirror {
    /// A registry image `repository:tag` (API paths `/v2/...`, behind the token service) as an
    /// index of one manifest per architecture in `arches` plus an attestation manifest, each
    /// with a config and one layer (an uncompressed tar holding one file). Returns what each
    /// architecture's manifest and layer are.
    pub fn image(
        &self,
        repository: &str,
        tag: &str,
        arches: &[&str],
    ) -> BTreeMap<String, ServedImage> {
        let mut served = BTreeMap::new();
        let mut entries = Vec::new();
        for arch in arches {
            let layer = one_file_tar(&format!("{repository}:{tag} for {arch}\n"));
            let config = serde_json::to_vec(&serde_json::json!({
                "architecture": arch, "os": "linux",
                "config": {"Cmd": ["/hello"]},
                "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))]},
            }))
            .unwrap();
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": format!("sha256:{}", sha256(&config)), "size": config.len()},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": format!("sha256:{}", sha256(&layer)), "size": layer.len()}],
            }))
            .unwrap();
            for blob in [&config, &layer] {
                self.set(
                    &format!("/v2/{repository}/blobs/sha256:{}", sha256(blob)),
                    Answer::Protected(blob.clone()),
                );
            }
            let digest = format!("sha256:{}", sha256(&manifest));
            self.set(
                &format!("/v2/{repository}/manifests/{digest}"),
                Answer::Protected(manifest.clone()),
            );
            entries.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest, "size": manifest.len(),
                "platform": {"os": "linux", "architecture": arch},
            }));
            served.insert(
                arch.to_string(),
                ServedImage {
                    manifest_digest: digest,
                    layer_digest: format!("sha256:{}", sha256(&layer)),
                },
            );
        }
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256(b"attestation")), "size": 11,
            "platform": {"os": "unknown", "architecture": "unknown"},
        }));
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }))
        .unwrap();
        self.set(
            &format!("/v2/{repository}/manifests/{tag}"),
            Answer::Protected(index),
        );
        served
    }

    /// A Helm repository at `<base><path>`: `index.yaml` listing `name` `version` (relative URL,
    /// its SHA-256 as digest) and an older version, and the archive. Returns the archive.
    pub fn chart(&self, path: &str, name: &str, version: &str) -> Vec<u8> {
        let archive = content(&format!("{name}-{version}.tgz"), 4096);
        let index = format!(
            "apiVersion: v1\nentries:\n  {name}:\n  - name: {name}\n    version: {version}\n    digest: {}\n    urls:\n    - {name}-{version}.tgz\n  - name: {name}\n    version: 0.0.1\n    digest: {}\n    urls:\n    - {name}-0.0.1.tgz\n",
            sha256(&archive),
            sha256(b"old")
        );
        self.set(
            &format!("{path}/index.yaml"),
            Answer::Body(index.into_bytes()),
        );
        self.set(
            &format!("{path}/{name}-{version}.tgz"),
            Answer::Body(archive.clone()),
        );
        archive
    }
}

/// A tar holding one file `hello` with `text`, as an image layer.
fn one_file_tar(text: &str) -> Vec<u8> {
    let mut tar = k0s_vagrant::util::tar::TarWriter::new(Vec::new());
    tar.append_bytes("hello", text.as_bytes()).unwrap();
    tar.finish().unwrap()
}
