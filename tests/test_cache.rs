//! The download cache against a real HTTP server on 127.0.0.1 started by the test
//! (tests/common/cache.rs), serving generated artifacts and a sha256sums.txt: fetch, reuse
//! without a request, checksum mismatch, a body cut off, 404 and 500, offline refusal before the
//! plan lock exists, `cache list` and `cache prune`, and a stand-in deploy whose rendered uploads
//! exist on the host.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::cache::{content, host_arch, seed, sha256, Answer, Mirror, ServedImage};
use common::cluster::Cluster;
use common::{env, helper, outcome, stderr, stdout, Scratch};
use k0s_vagrant::cache::download::Http;
use k0s_vagrant::cache::{Arch, Artifact, Cache, CacheError, Config};
use k0s_vagrant::images::archive;

const V: &str = "v1.33.4+k0s.0";

fn config(dir: &Path, mirror: &Mirror) -> Config {
    Config {
        dir: dir.to_path_buf(),
        mirror: mirror.base.clone(),
        stable_url: format!("{}/stable.txt", mirror.base),
        offline: false,
        proxy: None,
        registry_mirrors: Vec::new(),
        chart_mirrors: Vec::new(),
    }
}

/// A cache whose retries wait 10 ms, so the failure cases stay fast.
fn quick_cache(dir: &Path, mirror: &Mirror) -> Cache {
    let mut http = Http::new(None).unwrap();
    http.attempts = 3;
    http.backoff = Duration::from_millis(10);
    Cache::with_http(config(dir, mirror), http)
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn cache_cli(dir: &Path, mirror: &Mirror, args: &[&str]) -> std::process::Output {
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    // No add-ons: their images and charts come from registries this test does not stand in for.
    helper(&env(&[
        ("K0S_VAGRANT_CACHE", dir.join("cache").to_str().unwrap()),
        ("K0S_VAGRANT_MIRROR", &mirror.base),
        ("ADDONS", "none"),
    ]))
    .arg("--project-dir")
    .arg(&project)
    .args(args)
    .output()
    .unwrap()
}

#[test]
fn fetch_verifies_both_artifacts_and_a_second_fetch_makes_no_request() {
    let scratch = Scratch::new("cache-fetch");
    let mirror = Mirror::start();
    let size = 3 * 1024 * 1024;
    let served = mirror.release(V, Arch::Amd64, size);
    let started = std::time::Instant::now();
    let out = cache_cli(
        scratch.path(),
        &mirror,
        &["cache", "fetch", "--version", V, "--arch", "amd64"],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    // Not a terminal: plain lines with the size, then size, time and rate.
    assert!(
        err.contains(&format!("    downloading k0s-{V}-amd64 (3.0 MiB)")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "    downloaded k0s-airgap-bundle-{V}-amd64: 3.0 MiB in "
        )),
        "{err}"
    );
    let cache = scratch.path().join("cache");
    let dir = cache.join(V).join("amd64");
    for (artifact, data) in &served {
        let asset = artifact.asset(V, Arch::Amd64);
        assert_eq!(&std::fs::read(dir.join(&asset)).unwrap(), data, "{asset}");
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("{asset}.sha256"))).unwrap(),
            format!("{}  {asset}\n", sha256(data))
        );
    }
    assert_eq!(
        files(&cache),
        [
            format!("{V}/amd64/k0s-airgap-bundle-{V}-amd64"),
            format!("{V}/amd64/k0s-airgap-bundle-{V}-amd64.sha256"),
            format!("{V}/amd64/k0s-{V}-amd64"),
            format!("{V}/amd64/k0s-{V}-amd64.sha256"),
            format!("{V}/amd64/last-used"),
        ]
    );
    assert_eq!(
        mirror.total_requests(),
        3,
        "sums and two artifacts, once each"
    );
    eprintln!("fetched 2 x {size} bytes from 127.0.0.1 in {took:?}");

    let again = cache_cli(
        scratch.path(),
        &mirror,
        &["cache", "fetch", "--version", V, "--arch", "amd64"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", outcome(&again));
    assert_eq!(
        mirror.total_requests(),
        3,
        "the cached pair costs no request"
    );
}

#[test]
fn checksum_mismatch_is_refused_and_leaves_nothing() {
    let scratch = Scratch::new("cache-sum");
    let mirror = Mirror::start();
    mirror.release(V, Arch::Amd64, 4096);
    let asset = Artifact::Binary.asset(V, Arch::Amd64);
    // The mirror serves other bytes than the release's sums name.
    mirror.set(
        &format!("/{V}/{asset}"),
        Answer::Body(content("tampered", 4096)),
    );
    let cache = quick_cache(scratch.path(), &mirror);
    let err = cache.ensure(V, Arch::Amd64).unwrap_err();
    assert!(matches!(err, CacheError::ChecksumMismatch { .. }), "{err}");
    let line = err.to_string();
    assert!(
        line.starts_with(&format!("{}/{V}/{asset}: SHA-256 ", mirror.base)),
        "{line}"
    );
    assert!(line.contains("the download was discarded"), "{line}");
    assert_eq!(err.category().code(), 4);
    assert_eq!(
        mirror.requests(&format!("/{V}/{asset}")),
        1,
        "a bad checksum is not retried"
    );
    assert_eq!(files(scratch.path()), Vec::<String>::new(), "nothing stays");
    assert!(cache.artifacts(V, Arch::Amd64).is_none());
}

#[test]
fn a_body_cut_off_is_retried_never_used_and_leaves_no_partial_file() {
    let scratch = Scratch::new("cache-cut");
    let mirror = Mirror::start();
    let served = mirror.release(V, Arch::Amd64, 64 * 1024);
    let bundle = Artifact::Bundle.asset(V, Arch::Amd64);
    let path = format!("/{V}/{bundle}");
    mirror.set(
        &path,
        Answer::CutAfter(served[&Artifact::Bundle].clone(), 1000),
    );
    let cache = quick_cache(scratch.path(), &mirror);
    let err = cache.ensure(V, Arch::Amd64).unwrap_err();
    let line = err.to_string();
    assert!(matches!(err, CacheError::Network { .. }), "{line}");
    assert!(
        line.starts_with(&format!("download {}{path} failed: ", mirror.base)),
        "{line}"
    );
    assert!(line.contains("(after 3 attempts)"), "{line}");
    assert_eq!(mirror.requests(&path), 3);
    let dir = format!("{V}/amd64/");
    assert_eq!(
        files(scratch.path()),
        [
            format!("{dir}k0s-{V}-amd64"),
            format!("{dir}k0s-{V}-amd64.sha256")
        ],
        "the binary is kept, no part of the bundle"
    );
    // The server is back: only the bundle is fetched.
    mirror.set(&path, Answer::Body(served[&Artifact::Bundle].clone()));
    let found = cache.ensure(V, Arch::Amd64).unwrap();
    assert_eq!(
        std::fs::read(&found.bundle).unwrap(),
        served[&Artifact::Bundle]
    );
    assert_eq!(mirror.requests(&format!("/{V}/k0s-{V}-amd64")), 1);
}

#[test]
fn server_errors_are_retried_with_backoff_and_named_with_url_and_status() {
    let scratch = Scratch::new("cache-500");
    let mirror = Mirror::start();
    mirror.set(&format!("/{V}/sha256sums.txt"), Answer::Status(500));
    let cache = quick_cache(scratch.path(), &mirror);
    let err = cache.ensure(V, Arch::Amd64).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "download {}/{V}/sha256sums.txt failed: HTTP 500 (after 3 attempts); the server failed: try again later, or set K0S_VAGRANT_MIRROR to another mirror",
            mirror.base
        )
    );
    assert_eq!(mirror.requests(&format!("/{V}/sha256sums.txt")), 3);
    assert_eq!(files(scratch.path()), Vec::<String>::new());
}

#[test]
fn not_found_is_one_line_with_url_and_status_exit_4_and_no_retry() {
    let scratch = Scratch::new("cache-404");
    let mirror = Mirror::start();
    let out = cache_cli(
        scratch.path(),
        &mirror,
        &[
            "cache",
            "fetch",
            "--version",
            "v9.9.9+k0s.0",
            "--arch",
            "arm64",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "k0s-vagrant: download {}/v9.9.9+k0s.0/sha256sums.txt failed: HTTP 404; check that k0s published this version and that K0S_VAGRANT_MIRROR (when set) mirrors it\n",
            mirror.base
        )
    );
    assert_eq!(mirror.total_requests(), 1);
}

#[test]
fn an_unreachable_mirror_is_a_network_error_naming_the_url() {
    let scratch = Scratch::new("cache-down");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut http = Http::new(None).unwrap();
    http.attempts = 2;
    http.backoff = Duration::from_millis(10);
    let config = Config {
        dir: scratch.path().to_path_buf(),
        mirror: format!("http://127.0.0.1:{port}"),
        stable_url: format!("http://127.0.0.1:{port}/stable.txt"),
        offline: false,
        proxy: None,
        registry_mirrors: Vec::new(),
        chart_mirrors: Vec::new(),
    };
    let cache = Cache::with_http(config, http);
    let line = cache.resolve_version(Arch::Amd64).unwrap_err().to_string();
    assert!(
        line.starts_with(&format!(
            "download http://127.0.0.1:{port}/stable.txt failed: "
        )) && line.contains("(after 2 attempts); check the network"),
        "{line}"
    );
}

#[test]
fn an_empty_version_resolves_the_mirrors_newest_stable() {
    let scratch = Scratch::new("cache-stable");
    let mirror = Mirror::start();
    mirror.set("/stable.txt", Answer::Body(b"v1.34.1+k0s.0\n".to_vec()));
    mirror.release("v1.34.1+k0s.0", Arch::Arm64, 1024);
    let out = cache_cli(
        scratch.path(),
        &mirror,
        &["cache", "fetch", "--arch", "arm64"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(stderr(&out).contains("k0s v1.34.1+k0s.0 for arm64 is in the cache"));
    mirror.set("/stable.txt", Answer::Body(b"<html>".to_vec()));
    let bad = quick_cache(scratch.path(), &mirror)
        .resolve_version(Arch::Arm64)
        .unwrap_err();
    assert!(bad.to_string().contains("names no k0s version"), "{bad}");
}

/// `plan` for `vagrant up` in `project`, with the cache at `cache`; `flags` go before `plan`.
fn plan_up_with(
    project: &Path,
    cache: &Path,
    flags: &[&str],
    vars: &[(&str, &str)],
) -> std::process::Output {
    let mut all = env(&[
        ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
        ("K0S_VAGRANT_CACHE", cache.to_str().unwrap()),
        (
            "K0SCTL",
            common::stub_k0sctl(&project.join("plan")).to_str().unwrap(),
        ),
    ]);
    all.extend(env(vars));
    helper(&all)
        .args(flags)
        .args(["plan", "--format", "json", "--project-dir"])
        .arg(project)
        .args(["--", "up"])
        .output()
        .unwrap()
}

fn plan_up_offline(project: &Path, cache: &Path, vars: &[(&str, &str)]) -> std::process::Output {
    plan_up_with(project, cache, &[], vars)
}

#[test]
fn offline_up_without_the_artifacts_stops_before_the_plan_lock_with_the_fetch_command() {
    let scratch = Scratch::new("cache-offline");
    let project = scratch.path().join("project");
    let cache = scratch.path().join("cache");
    let lock = project.join(".vagrant/k0s/plan.json");
    let arch = host_arch();
    // The variable, then the flag.
    for (flags, vars) in [
        (
            vec![],
            vec![("K0S_VAGRANT_OFFLINE", "1"), ("K0S_VERSION", V)],
        ),
        (vec!["--offline"], vec![("K0S_VERSION", V)]),
    ] {
        let p = plan_up_with(&project, &cache, &flags, &vars);
        assert_eq!(p.status.code(), Some(3), "{}", outcome(&p));
        assert_eq!(
            stderr(&p),
            format!("k0s-vagrant: offline (K0S_VAGRANT_OFFLINE=1 or --offline) and the cache has no k0s binary k0s-{V}-{arch}; run `k0s-vagrant cache fetch --version {V} --arch {arch}` while online, or go online\n")
        );
        assert!(stdout(&p).is_empty());
        assert!(!lock.exists(), "no plan lock, so no machine");
    }

    // An empty K0S_VERSION offline: the newest complete version in the cache, never the network.
    let empty = plan_up_offline(&project, &cache, &[("K0S_VAGRANT_OFFLINE", "1")]);
    assert_eq!(empty.status.code(), Some(3), "{}", outcome(&empty));
    assert!(stderr(&empty).contains(&format!(
        "K0S_VERSION is empty and the cache holds no complete k0s for {arch}"
    )));
    assert!(!lock.exists());
    seed(&cache, "v1.32.1+k0s.0", arch);
    seed(&cache, V, arch);
    let ok = plan_up_offline(&project, &cache, &[("K0S_VAGRANT_OFFLINE", "1")]);
    assert_eq!(ok.status.code(), Some(0), "{}", outcome(&ok));
    assert!(lock.exists());
    // Asked for a version the cache lacks: refused although others are there.
    let other = plan_up_offline(
        &project,
        &cache,
        &[
            ("K0S_VAGRANT_OFFLINE", "1"),
            ("K0S_VERSION", "v1.34.1+k0s.0"),
        ],
    );
    assert_eq!(other.status.code(), Some(3), "{}", outcome(&other));
    assert!(stderr(&other).contains("cache fetch --version v1.34.1+k0s.0"));
}

#[test]
fn list_shows_version_arch_size_verified_and_last_use_and_prune_keeps_the_recorded_and_newest() {
    let scratch = Scratch::new("cache-list");
    let mirror = Mirror::start();
    let cache = scratch.path().join("cache");
    for v in ["v1.32.1+k0s.0", V, "v1.34.1+k0s.0"] {
        seed(&cache, v, Arch::Amd64);
    }
    seed(&cache, "v1.34.1+k0s.0", Arch::Arm64);
    // An add-on bundle this release no longer pins.
    common::cache::seed_file(
        &cache.join("addons/images/amd64/addon-storage-v0.0.36.tar"),
        b"old",
    );
    // An incomplete entry: the bundle's record is gone.
    std::fs::remove_file(
        cache.join("v1.34.1+k0s.0/arm64/k0s-airgap-bundle-v1.34.1+k0s.0-arm64.sha256"),
    )
    .unwrap();
    // Used just now through a fetch that needs no download.
    let fetch = cache_cli(
        scratch.path(),
        &mirror,
        &["cache", "fetch", "--version", V, "--arch", "amd64"],
    );
    assert_eq!(fetch.status.code(), Some(0), "{}", outcome(&fetch));
    assert_eq!(mirror.total_requests(), 0);

    let list = cache_cli(scratch.path(), &mirror, &["cache", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", outcome(&list));
    assert_eq!(
        stdout(&list),
        format!(
            "VERSION        ARCH    SIZE  VERIFIED         LAST USED\n\
             v1.34.1+k0s.0  amd64  2 KiB  yes              never\n\
             v1.34.1+k0s.0  arm64  2 KiB  no (incomplete)  never\n\
             v1.33.4+k0s.0  amd64  2 KiB  yes              just now\n\
             v1.32.1+k0s.0  amd64  2 KiB  yes              never\n\
             \n\
             ADD-ON FILE                                 ARCH    SIZE  VERIFIED\n\
             chart metallb 0.15.3                        any    1 KiB  yes\n\
             chart traefik 41.3.0                        any    1 KiB  yes\n\
             images of ingress 41.3.0                    amd64  1 KiB  yes\n\
             images of load-balancer 0.15.3              amd64  1 KiB  yes\n\
             addon-storage-v0.0.36.tar (no longer used)  amd64  0 KiB  yes\n\
             images of storage v0.0.37                   amd64  1 KiB  yes\n\
             images of ingress 41.3.0                    arm64  1 KiB  yes\n\
             images of load-balancer 0.15.3              arm64  1 KiB  yes\n\
             images of storage v0.0.37                   arm64  1 KiB  yes\n\
             16 KiB in {}\n",
            cache.display()
        )
    );

    // This project's cluster records v1.32.1: kept with the newest one.
    let project = scratch.path().join("project");
    let planned = plan_up_offline(&project, &cache, &[("K0S_VERSION", "v1.32.1+k0s.0")]);
    assert_eq!(planned.status.code(), Some(0), "{}", outcome(&planned));
    let prune = cache_cli(scratch.path(), &mirror, &["cache", "prune", "--keep", "1"]);
    assert_eq!(prune.status.code(), Some(0), "{}", outcome(&prune));
    assert_eq!(
        stderr(&prune),
        format!("k0s-vagrant: removed k0s {V} for amd64 (2 KiB)\nk0s-vagrant: removed {} (0 KiB)\nk0s-vagrant: freed 2 KiB; kept v1.32.1+k0s.0 (this cluster's) and the newest 1\n", cache.join("addons/images/amd64/addon-storage-v0.0.36.tar").display())
    );
    let mut left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["addons", "v1.32.1+k0s.0", "v1.34.1+k0s.0"]);
    assert!(!cache
        .join("addons/images/amd64/addon-storage-v0.0.36.tar.sha256")
        .exists());
    assert!(cache
        .join("addons/images/amd64/addon-storage-v0.0.37.tar")
        .exists());
}

/// STAND-IN k0sctl: the deploy fills nothing (offline, seeded cache), records the cached version,
/// and the rendered config uploads the cached binary and bundle to every host; the stand-in finds
/// every upload source on the host.
#[test]
fn stub_deploy_uploads_from_the_cache_and_the_sources_exist_on_the_host() {
    let c = Cluster::new(1, 1);
    let out = c.deploy(&["--until", "apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains("==> Put k0s and its images in the download cache"),
        "{err}"
    );
    assert!(err.contains(&format!("    record k0s {V} in ")), "{err}");
    assert_eq!(c.locked_version().as_deref(), Some(V));
    let arch = host_arch();
    let dir: PathBuf = c.cache_dir().join(V).join(arch.as_str());
    let binary = dir.join(Artifact::Binary.asset(V, arch));
    let bundle = dir.join(Artifact::Bundle.asset(V, arch));
    let uploads = common::cluster::read_lines(&common::cluster::state(&c).join("uploads"));
    let one_host = [
        format!("k0sBinaryPath {}", binary.display()),
        format!("src {} /var/lib/k0s/images/", bundle.display()),
    ];
    // The k0s uploads (the controller also uploads the add-ons' manifests).
    let k0s: Vec<String> = uploads
        .iter()
        .filter(|l| !l.contains("/addons/"))
        .cloned()
        .collect();
    assert_eq!(k0s, [one_host.clone(), one_host].concat());
    // Offline, the add-ons' bundles go to both hosts and the chart to the controller only.
    let cached = c.cache_dir().join("addons");
    let addon_uploads: Vec<String> = uploads
        .iter()
        .filter(|l| l.contains(&cached.display().to_string()))
        .map(|l| l.replace(&cached.display().to_string(), "<cache>"))
        .collect();
    let bundles = [
        format!("src <cache>/images/{arch}/addon-storage-v0.0.37.tar /var/lib/k0s/images/"),
        format!("src <cache>/images/{arch}/addon-load-balancer-0.15.3.tar /var/lib/k0s/images/"),
    ];
    let chart = "src <cache>/charts/metallb-0.15.3.tgz /var/lib/k0s/charts".to_string();
    assert_eq!(
        addon_uploads,
        [bundles.to_vec(), vec![chart], bundles.to_vec()].concat()
    );
    // `render` shows the same uploads once the machines exist (it follows the plan lock then).
    let up = c.plan_up_again(&[]);
    assert_eq!(up.status.code(), Some(0), "{}", outcome(&up));
    let rendered = common::cluster::helper_in(&c, &["render"]);
    assert_eq!(rendered.status.code(), Some(0), "{}", outcome(&rendered));
    assert_eq!(
        stdout(&rendered),
        std::fs::read_to_string(c.state_dir().join("k0sctl.yaml")).unwrap()
    );

    // Pruned from under the cluster: the next offline deploy names what is missing.
    std::fs::remove_file(&bundle).unwrap();
    let again = c.deploy(&["--until", "apply"]);
    assert_eq!(again.status.code(), Some(3), "{}", outcome(&again));
    assert!(
        stderr(&again).contains(&format!("cache fetch --version {V} --arch {arch}")),
        "{}",
        outcome(&again)
    );
}

/// The images of the storage and load-balancer add-ons and the metallb chart on `mirror`, as the
/// registries and the chart repository serve them (two architectures each).
fn serve_addons(mirror: &Mirror) -> BTreeMap<String, BTreeMap<String, ServedImage>> {
    mirror.token_service();
    mirror.chart("/charts/metallb", "metallb", "0.15.3");
    let mut images = BTreeMap::new();
    for (repository, tag) in [
        ("rancher/local-path-provisioner", "v0.0.37"),
        ("library/busybox", "1.37.0"),
        ("metallb/controller", "v0.15.3"),
        ("metallb/speaker", "v0.15.3"),
    ] {
        images.insert(
            repository.to_string(),
            mirror.image(repository, tag, &["amd64", "arm64"]),
        );
    }
    images
}

/// `cache fetch` with the storage and load-balancer add-ons, every registry and the chart
/// repository pointed at `mirror`.
fn fetch_addons(dir: &Path, mirror: &Mirror, vars: &[(&str, &str)]) -> std::process::Output {
    let registries = format!("docker.io={0},quay.io={0}", mirror.base);
    let charts = format!("metallb={}/charts/metallb", mirror.base);
    let mut all = env(&[
        ("K0S_VAGRANT_CACHE", dir.join("cache").to_str().unwrap()),
        ("K0S_VAGRANT_MIRROR", &mirror.base),
        ("ADDONS", "storage,load-balancer"),
        ("REGISTRY_MIRRORS", &registries),
        ("CHART_MIRRORS", &charts),
    ]);
    all.extend(env(vars));
    helper(&all)
        .arg("--project-dir")
        .arg(dir.join("project"))
        .args(["cache", "fetch", "--version", V, "--arch", "amd64"])
        .output()
        .unwrap()
}

/// The add-ons' files for an offline cluster: the chart checked against its repository's digest,
/// the images pulled with the registry's token and narrowed to the nodes' platform into one OCI
/// layout bundle per add-on, which our archive reader (the one `load` uses) reads back under the
/// pinned names. A second fetch asks nothing; an offline `up` needing another add-on is refused.
#[test]
fn fetch_pulls_the_add_ons_charts_and_images_once_into_bundles_of_the_nodes_platform() {
    let scratch = Scratch::new("cache-addons");
    let mirror = Mirror::start();
    mirror.release(V, Arch::Amd64, 1024);
    let served = serve_addons(&mirror);
    let out = fetch_addons(scratch.path(), &mirror, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains("k0s-vagrant: add-ons storage v0.0.37, load-balancer 0.15.3 for amd64 are in the cache (1 charts, 2 image bundles)"),
        "{err}"
    );
    assert!(
        mirror.requests("/token?service=test-registry&scope=repository:library/busybox:pull") >= 1
    );
    let first_bytes = mirror.bytes_served();
    let requests = mirror.total_requests();

    let cache = scratch.path().join("cache");
    let chart = cache.join("addons/charts/metallb-0.15.3.tgz");
    assert_eq!(
        std::fs::read(&chart).unwrap(),
        common::cache::content("metallb-0.15.3.tgz", 4096)
    );
    for (bundle, names) in [
        (
            "addon-storage-v0.0.37.tar",
            [
                "docker.io/library/busybox:1.37.0",
                "docker.io/rancher/local-path-provisioner:v0.0.37",
            ],
        ),
        (
            "addon-load-balancer-0.15.3.tar",
            [
                "quay.io/metallb/controller:v0.15.3",
                "quay.io/metallb/speaker:v0.15.3",
            ],
        ),
    ] {
        let path = cache.join("addons/images/amd64").join(bundle);
        let read = archive::inspect(&path).unwrap_or_else(|e| panic!("{bundle}: {e}"));
        assert_eq!(read.refs, names, "{bundle}");
        assert_eq!(
            read.architectures.iter().collect::<Vec<_>>(),
            ["amd64"],
            "{bundle}"
        );
        assert!(
            std::fs::read_to_string(format!("{}.sha256", path.display()))
                .unwrap()
                .starts_with(&read.sha256)
        );
        // Only the nodes' platform: the amd64 layers, none of arm64's.
        let listing = String::from_utf8(
            Command::new("tar")
                .arg("-tf")
                .arg(&path)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        for name in names {
            let repository = name.split_once('/').unwrap().1.rsplit_once(':').unwrap().0;
            let repository = if repository.contains('/') {
                repository.to_string()
            } else {
                format!("library/{repository}")
            };
            let image = &served[&repository];
            let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
            assert!(
                listing.contains(&hex(&image["amd64"].layer_digest)),
                "{listing}"
            );
            assert!(
                listing.contains(&hex(&image["amd64"].manifest_digest)),
                "{listing}"
            );
            assert!(
                !listing.contains(&hex(&image["arm64"].layer_digest)),
                "{listing}"
            );
        }
    }
    // Nothing staged or partial is left.
    let left: Vec<String> = files(&cache.join("addons"))
        .into_iter()
        .filter(|f| f.contains(".part") || f.contains(".blobs"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let again = fetch_addons(scratch.path(), &mirror, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", outcome(&again));
    assert_eq!(
        mirror.total_requests(),
        requests,
        "a second fetch asks nothing"
    );
    eprintln!(
        "cache fetch of k0s and the storage and load-balancer add-ons: {first_bytes} bytes served the first time, {} the second",
        mirror.bytes_served() - first_bytes
    );

    // Offline, an up that also wants the ingress stops at the plan step with the fix.
    let project = scratch.path().join("project");
    let ingress = plan_up_offline(
        &project,
        &cache,
        &[
            ("K0S_VAGRANT_OFFLINE", "1"),
            ("K0S_VERSION", V),
            ("ADDONS", "storage,load-balancer,ingress"),
        ],
    );
    assert_eq!(ingress.status.code(), Some(3), "{}", outcome(&ingress));
    assert_eq!(
        stderr(&ingress),
        format!("k0s-vagrant: offline (K0S_VAGRANT_OFFLINE=1 or --offline) and the cache has no chart traefik 41.3.0; run `k0s-vagrant cache fetch --arch {}` while online (it fetches what ADDONS names), or set ADDONS=none\n", host_arch())
    );
}

/// A layer that is not what its digest says, or a registry that wants a login: one line naming
/// the URL and the fix, and no bundle, staging directory or partial file left behind.
#[test]
fn a_changed_layer_or_a_registry_login_fails_the_add_on_fetch_with_nothing_left() {
    let scratch = Scratch::new("cache-addons-bad");
    let mirror = Mirror::start();
    mirror.release(V, Arch::Amd64, 1024);
    let served = serve_addons(&mirror);
    let layer = &served["metallb/speaker"]["amd64"].layer_digest;
    let blob = format!("/v2/metallb/speaker/blobs/{layer}");
    mirror.set(&blob, Answer::Protected(b"something else".to_vec()));
    let out = fetch_addons(scratch.path(), &mirror, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    let last = stderr(&out).lines().last().unwrap().to_string();
    assert!(
        last.starts_with(&format!("k0s-vagrant: {}{blob}: SHA-256 ", mirror.base))
            && last.ends_with(
                "it was asked for, so it was discarded; try again, or check REGISTRY_MIRRORS"
            ),
        "{last}"
    );
    let cache = scratch.path().join("cache");
    let images = files(&cache.join("addons/images"));
    assert_eq!(
        images,
        [
            "amd64/addon-storage-v0.0.37.tar",
            "amd64/addon-storage-v0.0.37.tar.sha256"
        ],
        "the storage bundle was complete; nothing of the load balancer's stays"
    );

    // A registry that answers 401 with a Basic challenge wants credentials.
    mirror.set("/v2/metallb/speaker/manifests/v0.15.3", Answer::Status(401));
    let out = fetch_addons(scratch.path(), &mirror, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    assert!(
        stderr(&out).contains("/v2/metallb/speaker/manifests/v0.15.3 failed: HTTP 401; check that REGISTRY_MIRRORS (when set) mirrors it"),
        "{}",
        stderr(&out)
    );
}

/// Benchmark, not a test of speed: bytes the release server sends for a first and a second
/// cluster of 1+1 and of 3+5 nodes sharing one host cache (the deploy's `artifacts` phase runs
/// the same fetch as `cache fetch`, once per host, whatever the node count), against what the
/// nodes would download without the cache (each node its own k0s binary and image bundle:
/// computed, not measured). 64 MiB stand-in assets; prints the figures, asserts only that the
/// fetches ran. `cargo test --release --test test_cache -- --ignored --nocapture bench`
#[test]
#[ignore = "benchmark; run by hand"]
fn bench_bytes_fetched_per_cluster_with_the_host_cache() {
    let mirror = Mirror::start();
    let assets = mirror.release(V, Arch::Amd64, 64 << 20);
    let per_node: u64 = assets.values().map(|a| a.len() as u64).sum();
    for (controllers, workers) in [(1u64, 1u64), (3, 5)] {
        let scratch = Scratch::new("cache-bench");
        let mut row = Vec::new();
        for cluster in ["first", "second"] {
            let before = mirror.bytes_served();
            let start = std::time::Instant::now();
            let out = cache_cli(
                scratch.path(),
                &mirror,
                &["cache", "fetch", "--version", V, "--arch", "amd64"],
            );
            assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
            row.push(format!(
                "{cluster} {} bytes in {:.2}s",
                mirror.bytes_served() - before,
                start.elapsed().as_secs_f64()
            ));
        }
        eprintln!(
            "bench {controllers}+{workers}: {}; without the cache each cluster's nodes would download {} bytes",
            row.join(", "),
            (controllers + workers) * per_node
        );
    }
}

/// The add-on bundle `cache fetch` writes imports into Debian's real containerd, as k0s imports
/// what lies in its images directory, under the pinned names the add-ons' pods ask for.
#[test]
fn containerd_imports_an_add_on_bundle_under_the_pinned_names() {
    if let Some(why) = common::containerd::missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let scratch = Scratch::new("cache-addons-ctrd");
    let mirror = Mirror::start();
    mirror.release(V, Arch::Amd64, 1024);
    serve_addons(&mirror);
    let out = fetch_addons(scratch.path(), &mirror, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let containerd = common::containerd::Containerd::start(&scratch.path().join("ctrd"));
    for (bundle, names) in [
        (
            "addon-storage-v0.0.37.tar",
            k0s_vagrant::addons::storage::pinned().images,
        ),
        (
            "addon-load-balancer-0.15.3.tar",
            k0s_vagrant::addons::load_balancer::IMAGES,
        ),
    ] {
        let path = scratch
            .path()
            .join("cache/addons/images/amd64")
            .join(bundle);
        let listed = containerd
            .import(&path)
            .unwrap_or_else(|e| panic!("{bundle}: {e}"));
        for name in names {
            assert!(listed.iter().any(|l| l == name), "{name} not in {listed:?}");
        }
    }
}
