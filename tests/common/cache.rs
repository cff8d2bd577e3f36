//! The download cache in tests: a seeded cache directory, and a small HTTP server on 127.0.0.1
//! standing in for k0s' release downloads (generated artifacts and their sha256sums.txt), whose
//! failures the test chooses: a status, a body cut off mid-way, a wrong checksum.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use k0s_vagrant::cache::{Arch, Artifact};
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

/// Puts both artifacts of `version` for `arch` into the cache at `dir`, as a verified download
/// leaves them (the file and its checksum record).
pub fn seed(dir: &Path, version: &str, arch: Arch) {
    let vdir = dir.join(version).join(arch.as_str());
    std::fs::create_dir_all(&vdir).unwrap();
    for artifact in Artifact::ALL {
        let asset = artifact.asset(version, arch);
        let data = content(&asset, 1024);
        std::fs::write(vdir.join(&asset), &data).unwrap();
        std::fs::write(
            vdir.join(format!("{asset}.sha256")),
            format!("{}  {asset}\n", sha256(&data)),
        )
        .unwrap();
    }
}

/// How the server answers one path.
#[derive(Debug, Clone)]
pub enum Answer {
    Body(Vec<u8>),
    Status(u16),
    /// Sends the headers for the full length, then this many bytes, then closes.
    CutAfter(Vec<u8>, usize),
}

/// A release mirror on 127.0.0.1; counts requests per path.
pub struct Mirror {
    pub base: String,
    answers: Arc<Mutex<BTreeMap<String, Answer>>>,
    requests: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Mirror {
    pub fn start() -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers: Arc<Mutex<BTreeMap<String, Answer>>> = Arc::default();
        let requests: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let (a, r) = (answers.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (a, r) = (a.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &a, &r));
            }
        });
        Mirror {
            base,
            answers,
            requests,
        }
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
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    *requests.lock().unwrap().entry(path.clone()).or_default() += 1;
    let answer = answers
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Answer::Status(404));
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
    };
    let _ = out.flush();
}
