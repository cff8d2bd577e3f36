//! `load`: image archives onto stand-in nodes (real OpenSSH servers in a test network namespace,
//! a STAND-IN k0s from tests/stubs that lists the images of the archives it finds in its image
//! directory, and STAND-IN docker and podman that record their arguments), and the archive format
//! imported by Debian's real containerd. The stand-ins prove our side only: uploads, names,
//! atomic placement, waiting, pruning, refusals. k0s' own watcher is not here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{helper_in, state, Cluster};
use common::images::{
    docker_archive, docker_archive_for, goarch, noise, oci_archive, oci_archive_with, sha256, tar,
};
use common::{env, helper, outcome, stderr, Scratch};
use k0s_vagrant::images::archive;

/// Each node's k0s data directory in the inventory: state/data/<node>, where the stand-in k0s
/// looks (the stand-in nodes share one filesystem).
fn with_data_dirs(c: &Cluster) {
    let path = c.state_dir().join("inventory.json");
    let mut inv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for n in inv["nodes"].as_array_mut().unwrap() {
        let name = n["name"].as_str().unwrap().to_string();
        n["k0s_data_dir"] = data_dir(c, &name).to_str().unwrap().into();
    }
    std::fs::write(&path, inv.to_string()).unwrap();
}

fn data_dir(c: &Cluster, node: &str) -> PathBuf {
    state(c).join("data").join(node)
}

fn cluster() -> Cluster {
    let c = Cluster::new(1, 1);
    with_data_dirs(&c);
    c
}

fn loaded_file(c: &Cluster, node: &str, archive: &Path) -> PathBuf {
    let a = archive::inspect(archive).unwrap();
    data_dir(c, node).join("images").join(a.file_name())
}

fn load(c: &Cluster, args: &[&str]) -> Output {
    let mut all = vec!["load", "--timeout", "20"];
    all.extend(args);
    helper_in(c, &all)
}

#[test]
fn archive_refs_are_read_from_docker_and_oci_archives() {
    let dir = Scratch::new("load-refs");
    let docker = docker_archive(dir.path(), &["app:1", "me/app", "localhost/app:dev"], b"hi");
    let a = archive::inspect(&docker).unwrap();
    assert_eq!(
        a.refs,
        [
            "docker.io/library/app:1",
            "docker.io/me/app:latest",
            "localhost/app:dev"
        ]
    );
    assert_eq!(a.sha256, sha256(&std::fs::read(&docker).unwrap()));
    assert_eq!(
        a.file_name(),
        format!("k0s-vagrant-load-{}.tar", &a.sha256[..12])
    );
    assert_eq!(a.architectures.iter().collect::<Vec<_>>(), [goarch()]);
    let oci = oci_archive(dir.path(), "registry.local:5000/team/app:v2", b"hi");
    let o = archive::inspect(&oci).unwrap();
    assert_eq!(o.refs, ["registry.local:5000/team/app:v2"]);
    assert_eq!(o.architectures.iter().collect::<Vec<_>>(), [goarch()]);
    let bare = oci_archive_with(&dir.path().join("bare"), "app:3", b"hi", false);
    let b = archive::inspect(&bare).unwrap();
    assert!(
        !std::fs::read_to_string(dir.path().join("bare/oci-layout-dir/index.json"))
            .unwrap()
            .contains("platform")
    );
    assert_eq!(b.architectures.iter().collect::<Vec<_>>(), [goarch()]);
    let other = docker_archive_for(&dir.path().join("r"), &["app:1"], b"hi", "riscv64");
    let r = archive::inspect(&other).unwrap();
    assert_eq!(r.architectures.iter().collect::<Vec<_>>(), ["riscv64"]);

    // Not image archives: a tar without the metadata, a tar whose images have no name, no tar.
    std::fs::write(dir.path().join("x"), "x").unwrap();
    let plain = dir.path().join("plain.tar");
    tar(dir.path(), &["x"], &plain);
    let err = archive::inspect(&plain).unwrap_err().to_string();
    assert!(
        err.contains("is not an image archive") && err.contains("neither manifest.json"),
        "{err}"
    );
    let untagged = docker_archive(&dir.path().join("u"), &[], b"hi");
    let err = archive::inspect(&untagged).unwrap_err().to_string();
    assert!(err.contains("names no image"), "{err}");
    let err = archive::inspect(&dir.path().join("x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read the archive") || err.contains("not an image archive"),
        "{err}"
    );
}

#[test]
fn stub_load_places_the_archive_on_every_node_atomically_and_waits_until_listed() {
    let c = cluster();
    let dir = Scratch::new("load-files");
    // Big enough that the upload takes a while, so the watcher below sees it in flight.
    let archive = docker_archive(dir.path(), &["app:1"], &noise(48 << 20));
    let bytes = std::fs::read(&archive).unwrap();
    let name = loaded_file(&c, "worker-1", &archive)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    // Watches the image directories while the load runs: any file there must be whole.
    let stop = Arc::new(AtomicBool::new(false));
    let partial = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen_part = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, partial, seen_part) = (stop.clone(), partial.clone(), seen_part.clone());
        let dirs: Vec<PathBuf> = ["control-plane-1", "worker-1"]
            .iter()
            .map(|n| data_dir(&c, n))
            .collect();
        let size = bytes.len() as u64;
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for d in &dirs {
                    for e in std::fs::read_dir(d.join("images"))
                        .into_iter()
                        .flatten()
                        .flatten()
                    {
                        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                        if len != size {
                            partial
                                .lock()
                                .unwrap()
                                .push(format!("{}: {len}", e.path().display()));
                        }
                    }
                    let parts = std::fs::read_dir(d.join(".k0s-vagrant-tmp"));
                    if parts.into_iter().flatten().flatten().next().is_some() {
                        seen_part.store(true, Ordering::SeqCst);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let out = load(&c, &["-v", "--archive", archive.to_str().unwrap()]);
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        partial.lock().unwrap().is_empty(),
        "partial files in the image directory: {:?}",
        partial.lock().unwrap()
    );
    eprintln!(
        "upload directory seen holding a file: {}",
        seen_part.load(Ordering::SeqCst)
    );

    for node in ["control-plane-1", "worker-1"] {
        let images = data_dir(&c, node).join("images");
        let files: Vec<String> = std::fs::read_dir(&images)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files, std::slice::from_ref(&name), "{node}");
        assert!(
            std::fs::read(images.join(&name)).unwrap() == bytes,
            "{node}: bytes differ"
        );
        // Nothing left in the upload directory.
        let left = std::fs::read_dir(data_dir(&c, node).join(".k0s-vagrant-tmp"))
            .unwrap()
            .count();
        assert_eq!(left, 0, "{node}");
        assert!(
            err.contains(&format!("{node}: usable: docker.io/library/app:1")),
            "{err}"
        );

        // The order on the node: the upload goes to the upload directory, then one rename.
        let part = format!(
            "{}/.k0s-vagrant-tmp/{name}.part",
            data_dir(&c, node).display()
        );
        let upload = err
            .lines()
            .position(|l| l.contains("ssh upload") && l.contains(&part))
            .unwrap_or_else(|| panic!("no upload to {part}: {err}"));
        let rename = err
            .lines()
            .position(|l| {
                l.contains("mv -f") && l.contains(&part) && l.contains(&format!("/images/{name}"))
            })
            .unwrap_or_else(|| panic!("no rename of {part}: {err}"));
        assert!(upload < rename, "{err}");
    }
    assert!(
        err.contains("==> usable on 2 nodes: docker.io/library/app:1"),
        "{err}"
    );
    assert!(c.k0s_calls().iter().any(|l| l == "ctr images ls -q"));
}

#[test]
fn stub_load_twice_changes_nothing_the_second_time() {
    let c = cluster();
    let dir = Scratch::new("load-twice");
    let archive = docker_archive(dir.path(), &["app:1"], b"small");
    let first = load(&c, &["--archive", archive.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0), "{}", outcome(&first));
    let file = loaded_file(&c, "worker-1", &archive);
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();

    let second = load(&c, &["--archive", archive.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(0), "{}", outcome(&second));
    let err = stderr(&second);
    assert!(!err.contains("uploading"), "{err}");
    assert!(err.contains("worker-1: already has"), "{err}");
    assert!(
        err.contains("==> nothing changed: control-plane-1, worker-1 already had"),
        "{err}"
    );
    // k0s re-imports a file whose mtime changes: it must not.
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
}

#[test]
fn stub_load_node_flag_limits_the_nodes_and_prune_removes_what_load_placed() {
    let c = cluster();
    let dir = Scratch::new("load-node");
    let archive = docker_archive(dir.path(), &["app:1"], b"small");
    let out = load(
        &c,
        &["--node", "worker-1", "--archive", archive.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(loaded_file(&c, "worker-1", &archive).is_file());
    assert!(
        !data_dir(&c, "control-plane-1").exists(),
        "control-plane-1 was touched"
    );
    assert!(
        stderr(&out).contains("==> usable on 1 node:"),
        "{}",
        outcome(&out)
    );

    // A file load did not place stays.
    let other = data_dir(&c, "worker-1")
        .join("images")
        .join("airgap-bundle.tar");
    std::fs::write(&other, "k0s' own bundle").unwrap();
    let pruned = helper_in(&c, &["load", "--prune"]);
    assert_eq!(pruned.status.code(), Some(0), "{}", outcome(&pruned));
    let err = stderr(&pruned);
    let name = loaded_file(&c, "worker-1", &archive);
    assert!(
        err.contains(&format!(
            "worker-1: removed {}",
            name.file_name().unwrap().to_str().unwrap()
        )),
        "{err}"
    );
    assert!(err.contains("control-plane-1: nothing loaded"), "{err}");
    assert!(!name.exists());
    assert!(other.exists());
    assert!(!data_dir(&c, "worker-1").join(".k0s-vagrant-tmp").exists());
    let again = helper_in(&c, &["load", "--prune"]);
    assert!(
        stderr(&again).contains("worker-1: nothing loaded"),
        "{}",
        outcome(&again)
    );
}

#[test]
fn stub_load_waits_for_k0s_to_import_and_gives_up_after_its_limit() {
    let c = cluster();
    let dir = Scratch::new("load-wait");
    let archive = docker_archive(dir.path(), &["app:1"], b"small");
    // The stand-in lists a file only once it is 3 s old (k0s waits 10 s after the last change).
    std::fs::write(state(&c).join("import-delay"), "3").unwrap();
    let t0 = Instant::now();
    let out = load(
        &c,
        &["--node", "worker-1", "--archive", archive.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    // The stand-in counts whole seconds of the file's age: 3 of them may take just over 2.
    assert!(t0.elapsed() >= Duration::from_secs(2));
    assert!(
        stderr(&out).contains("worker-1: usable: docker.io/library/app:1 (listed after"),
        "{}",
        outcome(&out)
    );

    std::fs::write(state(&c).join("import-delay"), "1000").unwrap();
    let other = docker_archive(&dir.path().join("b"), &["app:2"], b"other");
    let t0 = Instant::now();
    let out = helper_in(
        &c,
        &[
            "load",
            "--timeout",
            "3",
            "--node",
            "worker-1",
            "--archive",
            other.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    assert!(t0.elapsed() < Duration::from_secs(20));
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with(
            "k0s-vagrant: worker-1: k0s has not listed docker.io/library/app:2 after "
        ) && last.contains("journalctl"),
        "{last}"
    );
}

/// A stand-in engine in `bin/`: records its arguments in `bin/<name>-calls` and writes `saved`
/// where `-o` says.
fn stand_in_engine(bin: &Path, name: &str, saved: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        "#!/bin/sh\n# STAND-IN {name}: records, then writes a prepared archive where -o says.\necho \"$*\" >> \"$(dirname \"$0\")/{name}-calls\"\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=$2; shift 2 ;; *) shift ;; esac; done\ncp '{}' \"$out\"\n",
        saved.display()
    );
    let path = bin.join(name);
    std::fs::write(&path, script).unwrap();
    Command::new("chmod").arg("+x").arg(&path).status().unwrap();
}

#[test]
fn stub_load_saves_images_with_docker_else_podman() {
    let c = cluster();
    let dir = Scratch::new("load-engine");
    let saved = docker_archive(dir.path(), &["app:1", "tool:2"], b"from the engine");
    let bin = dir.path().join("bin");
    stand_in_engine(&bin, "podman", &saved);
    // The nodes' namespace needs `ip`; no docker or podman is in these directories.
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display());
    let run = |args: &[&str]| {
        c.helper(&env(&[("PATH", &path)]))
            .arg("--project-dir")
            .arg(c.project.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["load", "--node", "worker-1", "app:1", "tool:2"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let calls = std::fs::read_to_string(bin.join("podman-calls")).unwrap();
    let state_dir = c.state_dir();
    assert!(
        calls.starts_with(&format!(
            "save --multi-image-archive -o {}/load-",
            state_dir.display()
        )) && calls.trim().ends_with(".tar app:1 tool:2"),
        "{calls}"
    );
    assert!(loaded_file(&c, "worker-1", &saved).is_file());
    assert!(
        stderr(&out).contains("usable: docker.io/library/app:1, docker.io/library/tool:2"),
        "{}",
        outcome(&out)
    );
    // The saved archive does not stay in the state directory.
    let left: Vec<_> = std::fs::read_dir(&state_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("load-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // docker wins when both are there.
    stand_in_engine(&bin, "docker", &saved);
    let out = run(&["load", "--node", "worker-1", "app:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let calls = std::fs::read_to_string(bin.join("docker-calls")).unwrap();
    assert!(
        calls.starts_with("image save -o ") && calls.trim().ends_with(".tar app:1"),
        "{calls}"
    );
}

#[test]
fn stub_load_refuses_an_unknown_node_and_a_host_without_docker_or_podman_before_any_upload() {
    let c = cluster();
    let dir = Scratch::new("load-refuse");
    let archive = docker_archive(dir.path(), &["app:1"], b"small");
    let run = |vars: &[(&str, &str)], args: &[&str]| {
        helper(&env(vars))
            .arg("--project-dir")
            .arg(c.project.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(
        &[],
        &[
            "load",
            "--node",
            "worker-9",
            "--archive",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: no node worker-9 in this cluster (it has control-plane-1, worker-1); name one of those with --node\n"
    );

    let empty = dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&[("PATH", empty.to_str().unwrap())], &["load", "app:1"]);
    assert_eq!(out.status.code(), Some(3), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: neither docker nor podman is on PATH to save the images from; install one, or save them on another machine and run `k0s-vagrant load --archive FILE`\n"
    );
    // Neither run reached a node.
    assert!(!state(&c).join("data").exists());
    assert!(!c.k0s_calls().iter().any(|l| l.starts_with("ctr")));

    // A file that is no image archive is refused before any node is asked.
    let bad = dir.path().join("notes.txt");
    std::fs::write(&bad, "not a tar").unwrap();
    let out = run(&[], &["load", "--archive", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
    assert!(!state(&c).join("data").exists());
}

#[test]
fn load_before_the_cluster_exists_is_refused() {
    let project = Scratch::new("load-none");
    let out = helper(&env(&[]))
        .arg("--project-dir")
        .arg(project.path())
        .args(["load", "--archive", "/nonexistent.tar"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
    assert!(
        stderr(&out).contains("run `vagrant up` first"),
        "{}",
        outcome(&out)
    );
}

/// The archives `load` accepts (docker save, OCI layout) import into Debian's real containerd
/// under the names `load` waits for.
#[test]
fn containerd_imports_the_archives_load_accepts_under_the_names_it_waits_for() {
    if let Some(why) = common::containerd::missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = Scratch::new("load-ctrd");
    let containerd = common::containerd::Containerd::start(&dir.path().join("ctrd"));
    let docker = docker_archive(
        &dir.path().join("d"),
        &["kv-load:1", "me/kv-load"],
        b"docker",
    );
    let oci = oci_archive(
        &dir.path().join("o"),
        "registry.local:5000/kv-load:2",
        b"oci",
    );
    for file in [docker, oci] {
        let want = archive::inspect(&file).unwrap().refs;
        let listed = containerd
            .import(&file)
            .unwrap_or_else(|e| panic!("import {}: {e}", file.display()));
        for r in &want {
            assert!(listed.iter().any(|l| l == r), "{r} not in {listed:?}");
        }
    }
}

#[test]
fn stub_load_names_the_engine_command_that_failed() {
    let c = cluster();
    let dir = Scratch::new("load-engine-fails");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("docker"),
        "#!/bin/sh\n# STAND-IN docker without the image.\necho 'Error response from daemon: reference does not exist' >&2\nexit 1\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("docker"))
        .status()
        .unwrap();
    let out = helper(&env(&[("PATH", bin.to_str().unwrap())]))
        .arg("--project-dir")
        .arg(c.project.path())
        .args(["load", "app:nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert!(stderr(&out).ends_with(
        "k0s-vagrant: `docker image save app:nope` failed (exit 1: Error response from daemon: reference does not exist); check the names with `docker image ls`\n"
    ), "{}", outcome(&out));
    assert!(!state(&c).join("data").exists());
}

#[test]
fn stub_load_warns_when_the_images_are_for_another_architecture() {
    let c = cluster();
    let dir = Scratch::new("load-arch");
    let archive = docker_archive_for(dir.path(), &["app:1"], b"riscv", "riscv64");
    let out = load(
        &c,
        &["--node", "worker-1", "--archive", archive.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!(
        "worker-1: warning: the node runs {}, the archive holds riscv64 images only; they import, but their containers fail with `exec format error`: build them with --platform linux/{}",
        goarch(), goarch()
    )), "{err}");
    // Images for the node's own architecture: no warning.
    let own = docker_archive(&dir.path().join("own"), &["app:2"], b"own");
    let out = load(
        &c,
        &["--node", "worker-1", "--archive", own.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(!stderr(&out).contains("warning"), "{}", outcome(&out));
}
