//! HTTP for the cache: small texts (checksums, the stable version) and artifacts streamed to a
//! temporary file beside their place, hashed on the way and renamed only when the SHA-256
//! matches. Retries with backoff where a retry can help (HTTP 5xx, the network), never on 4xx.
//! Progress goes to stderr: a bar on a terminal, a line at start and end otherwise.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

use super::CacheError;
use crate::util::files::{FileError, FileOp};

/// How the downloads run; tests shorten the backoff.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub backoff: Duration,
}

/// What a finished download was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Http {
    /// native-tls with the system's roots: on Linux it links the OpenSSL that ssh2 already builds
    /// (openssl-sys, vendored), on macOS Security.framework, and a company mirror signed by a CA
    /// the system trusts just works. `proxy`: HTTPS_PROXY from the settings (ureq would read the
    /// environment itself otherwise; only `settings` does that here).
    pub fn new(proxy: Option<&str>) -> Result<Http, CacheError> {
        let proxy = match proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| CacheError::BadProxy {
                proxy: p.to_string(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(proxy)
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // ureq has no idle timeout, only a total one: a stalled body must end some time (and
            // is retried); 30 minutes still carry a 300 MB bundle at 200 kB/s.
            .timeout_recv_body(Some(Duration::from_secs(30 * 60)))
            .user_agent(concat!("k0s-vagrant/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Http {
            agent,
            attempts: 4,
            backoff: Duration::from_secs(1),
        })
    }

    /// GET `url` with `headers` and retries; `f` reads the body. A failure inside `f` that is
    /// the network's is retried too.
    fn with_retries<T>(
        &self,
        url: &str,
        headers: &[(&str, String)],
        mut f: impl FnMut(ureq::Body) -> Result<T, CacheError>,
    ) -> Result<T, CacheError> {
        let mut wait = self.backoff;
        let mut attempt = 1;
        loop {
            let request = headers
                .iter()
                .fold(self.agent.get(url), |r, (k, v)| r.header(*k, v.as_str()));
            let result = match request.call() {
                Ok(response) => f(response.into_body()),
                Err(e) => Err(CacheError::from_ureq(url, e)),
            };
            match result {
                Err(e) if e.retryable() && attempt < self.attempts => {
                    tracing::warn!(
                        "{e}; attempt {} of {} in {wait:?}",
                        attempt + 1,
                        self.attempts
                    );
                    std::thread::sleep(wait);
                    wait *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e.after(attempt)),
                ok => return ok,
            }
        }
    }

    /// A small text file (at most 1 MiB).
    pub fn text(&self, url: &str) -> Result<String, CacheError> {
        let bytes = self.bytes(url, &[], 1 << 20)?;
        String::from_utf8(bytes).map_err(|_| CacheError::Network {
            url: url.to_string(),
            reason: "the answer is not UTF-8 text".to_string(),
            attempts: 1,
            via: super::K0S_MIRROR,
        })
    }

    /// A body of at most `limit` bytes, read into memory.
    pub fn bytes(
        &self,
        url: &str,
        headers: &[(&str, String)],
        limit: u64,
    ) -> Result<Vec<u8>, CacheError> {
        self.with_retries(url, headers, |mut body| {
            body.with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|e| CacheError::from_ureq(url, e))
        })
    }

    /// The `WWW-Authenticate` challenge when `url` answers 401 (a registry that wants a token),
    /// `None` when it answers anything else. One attempt: the request that follows retries.
    pub fn challenge(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Option<String>, CacheError> {
        let request = headers
            .iter()
            .fold(self.agent.get(url), |r, (k, v)| r.header(*k, v.as_str()))
            .config()
            .http_status_as_error(false)
            .build();
        let response = request.call().map_err(|e| CacheError::from_ureq(url, e))?;
        if response.status().as_u16() != 401 {
            return Ok(None);
        }
        Ok(response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(String::from))
    }

    /// Downloads `url` to `dest` through a temporary file in the same directory; `dest` appears
    /// only when the content's SHA-256 is `sha256`. Nothing partial stays behind.
    pub fn file(&self, url: &str, dest: &Path, sha256: &str) -> Result<Fetched, CacheError> {
        self.file_with(url, &[], dest, sha256)
    }

    /// As [`Http::file`], with request headers (a registry's token).
    pub fn file_with(
        &self,
        url: &str,
        headers: &[(&str, String)],
        dest: &Path,
        sha256: &str,
    ) -> Result<Fetched, CacheError> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        crate::util::files::create_dir(dir)?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.part", std::process::id()));
        let started = Instant::now();
        let result = self.with_retries(url, headers, |body| {
            let got = stream(url, body, &tmp, &name)?;
            if got.sha256 != sha256 {
                return Err(CacheError::ChecksumMismatch {
                    url: url.to_string(),
                    expected: sha256.to_string(),
                    got: got.sha256,
                });
            }
            Ok(got.bytes)
        });
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(source) = std::fs::rename(&tmp, dest) {
            let _ = std::fs::remove_file(&tmp);
            return Err(FileError {
                op: FileOp::Write,
                path: dest.to_path_buf(),
                source,
            }
            .into());
        }
        Ok(Fetched {
            bytes,
            elapsed: started.elapsed(),
        })
    }
}

struct Streamed {
    bytes: u64,
    sha256: String,
}

/// Copies the body into `tmp` (created afresh), hashing it, with progress on stderr.
fn stream(url: &str, mut body: ureq::Body, tmp: &Path, name: &str) -> Result<Streamed, CacheError> {
    let total = body.content_length();
    let file_err = |source| FileError {
        op: FileOp::Write,
        path: tmp.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::create(tmp).map_err(file_err)?;
    let progress = Progress::start(name, total);
    let mut reader = body.as_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                progress.abandon();
                return Err(CacheError::Network {
                    url: url.to_string(),
                    reason: e.to_string(),
                    attempts: 1,
                    via: super::K0S_MIRROR,
                });
            }
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(file_err)?;
        bytes += n as u64;
        progress.advance(n as u64);
    }
    // A body that ends early without an error from the reader is still short.
    if total.is_some_and(|t| t != bytes) {
        progress.abandon();
        return Err(CacheError::Network {
            url: url.to_string(),
            reason: format!(
                "the body ended after {bytes} of {} bytes",
                total.unwrap_or(0)
            ),
            attempts: 1,
            via: super::K0S_MIRROR,
        });
    }
    file.sync_all().map_err(file_err)?;
    progress.finish(bytes);
    Ok(Streamed {
        bytes,
        sha256: crate::util::digest::hex(&hasher.finalize()),
    })
}

/// A bar with size, rate and time left on a terminal; otherwise one line now and one at the end.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { name: String, started: Instant },
}

impl Progress {
    fn start(name: &str, total: Option<u64>) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(
                total,
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "    {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(name.to_string());
            Progress::Bar(bar)
        } else {
            let size = total.map_or("unknown size".to_string(), mib);
            eprintln!("    downloading {name} ({size})");
            Progress::Lines {
                name: name.to_string(),
                started: Instant::now(),
            }
        }
    }

    fn advance(&self, n: u64) {
        if let Progress::Bar(bar) = self {
            bar.inc(n);
        }
    }

    fn abandon(&self) {
        if let Progress::Bar(bar) = self {
            bar.abandon();
        }
    }

    fn finish(&self, bytes: u64) {
        match self {
            Progress::Bar(bar) => bar.finish(),
            Progress::Lines { name, started } => {
                let secs = started.elapsed().as_secs_f64();
                let rate = if secs > 0.0 {
                    format!(", {}/s", mib((bytes as f64 / secs) as u64))
                } else {
                    String::new()
                };
                eprintln!("    downloaded {name}: {} in {secs:.1}s{rate}", mib(bytes));
            }
        }
    }
}

/// Bytes for people: `12 KiB`, `12.3 MiB`, `1.2 GiB`.
pub fn mib(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB * KIB {
        format!("{:.0} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}
