//! Registry mirrors against the real containerd of Debian (1.6, the containerd 1.x that k0s before
//! 1.36 ships) and the real `docker-registry` (distribution 2.8), inside a network namespace the
//! test creates: the drop-in we render for k0s < 1.36 is what containerd 1.x merges (and the
//! k0s 1.36 one is not), and a pull through the `hosts.toml` we render reaches the mirror.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k0s_vagrant::addons::registry::{drop_in, hosts_toml, parse, HOSTS_DIR};
use sha2::{Digest, Sha256};

fn skip() -> bool {
    if std::env::var("K0S_VAGRANT_SKIP_VAGRANT").is_ok_and(|v| v == "1") {
        eprintln!("skipped: K0S_VAGRANT_SKIP_VAGRANT=1");
        return true;
    }
    for tool in ["containerd", "ctr", "docker-registry"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is not installed: run .ci/run (installs Debian's containerd and docker-registry) or set K0S_VAGRANT_SKIP_VAGRANT=1"
        );
    }
    false
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("k0sv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `containerd config dump` of a main config that imports `drop_in`: the CRI registry's
/// `config_path` as containerd 1.x reads it.
fn merged_config_path(dir: &Path, drop_in_text: &str) -> String {
    let part = dir.join("k0s-vagrant-mirrors.toml");
    std::fs::write(&part, drop_in_text).unwrap();
    let main = dir.join("main.toml");
    std::fs::write(
        &main,
        format!(
            "version = 2\nimports = [{:?}]\n",
            part.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new("containerd")
        .arg("--config")
        .arg(&main)
        .args(["config", "dump"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    let section = dump
        .split("[plugins.\"io.containerd.grpc.v1.cri\".registry]")
        .nth(1)
        .expect("the CRI registry section");
    section
        .lines()
        .find_map(|l| l.trim().strip_prefix("config_path = "))
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

#[test]
fn containerd_1_merges_the_drop_in_for_k0s_before_1_36_only() {
    if skip() {
        return;
    }
    let dir = temp("dropin");
    assert_eq!(merged_config_path(&dir, &drop_in((1, 35, 7))), HOSTS_DIR);
    // The containerd 2 form is not what containerd 1.x reads: the format must follow the version.
    assert_eq!(merged_config_path(&dir, &drop_in((1, 36, 1))), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A network namespace of the test's own, with loopback up; deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        let name = format!("{name}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        assert!(Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success());
        assert!(Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status()
            .unwrap()
            .success());
        Netns(name)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A one-file image as an OCI image layout tar, named `name` for `ctr images import`.
fn image_archive(dir: &Path, name: &str) -> PathBuf {
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello"), "k0s-vagrant\n").unwrap();
    let layer_path = dir.join("layer.tar");
    assert!(Command::new("tar")
        .args(["-cf"])
        .arg(&layer_path)
        .arg("-C")
        .arg(&content)
        .arg("hello")
        .status()
        .unwrap()
        .success());
    let blob = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let (layer, layer_size) = blob(&std::fs::read(&layer_path).unwrap());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer]},
        "config": {}
    });
    let (config, config_size) = blob(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}]
    });
    let (manifest, manifest_size) = blob(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest, "size": manifest_size,
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "1"}
        }]
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = dir.join("image.tar");
    assert!(Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .args(["oci-layout", "index.json", "blobs"])
        .status()
        .unwrap()
        .success());
    archive
}

#[test]
fn a_pull_through_the_rendered_hosts_toml_reaches_the_mirror() {
    if skip() {
        return;
    }
    let dir = temp("mirror");
    let ns = Netns::new("k0sv-mirror");
    // The mirror: distribution's registry on the namespace's loopback.
    let registry_cfg = dir.join("registry.yml");
    std::fs::write(
        &registry_cfg,
        format!(
            "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:5001}}\n",
            dir.join("registry").display()
        ),
    )
    .unwrap();
    let registry_log = dir.join("registry.log");
    let _registry = Daemon(
        ns.command("docker-registry")
            .arg("serve")
            .arg(&registry_cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&registry_log).unwrap())
            .spawn()
            .unwrap(),
    );
    // containerd with its own root, state and socket.
    let socket = dir.join("containerd.sock");
    let config = dir.join("containerd.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = {:?}\nstate = {:?}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = {:?}\n",
            dir.join("root").display().to_string(),
            dir.join("state").display().to_string(),
            socket.display().to_string()
        ),
    )
    .unwrap();
    let _containerd = Daemon(
        ns.command("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("containerd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let ctr = |args: &[&str]| {
        let mut c = ns.command("ctr");
        c.arg("--address")
            .arg(&socket)
            .args(["--namespace", "k8s.io"])
            .args(args);
        c.output().unwrap()
    };
    wait_for("containerd", || ctr(&["version"]).status.success());
    wait_for("the registry", || {
        ns.command("python3")
            .args([
                "-c",
                "import socket; socket.create_connection(('127.0.0.1', 5001), 1)",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    });

    // Put an image on the mirror, then forget it locally.
    let name = "docker.io/library/k0sv-probe:1";
    let archive = image_archive(&dir, name);
    let out = ctr(&["images", "import", archive.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctr(&[
        "images",
        "push",
        "--plain-http",
        "127.0.0.1:5001/library/k0sv-probe:1",
        name,
    ]);
    assert!(
        out.status.success(),
        "push: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ctr(&["images", "rm", "--sync", name]).status.success());

    // Without the mirror the pull goes to Docker Hub, which nothing in this namespace reaches.
    let empty = dir.join("no-hosts");
    std::fs::create_dir_all(&empty).unwrap();
    let pull = |hosts_dir: &Path| {
        ctr(&[
            "images",
            "pull",
            "--snapshotter",
            "native",
            "--hosts-dir",
            hosts_dir.to_str().unwrap(),
            name,
        ])
    };
    let out = pull(&empty);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("registry-1.docker.io"),
        "no route to Docker Hub from the namespace: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // With the hosts.toml we render, the same name comes from the mirror.
    let hosts = dir.join("certs.d");
    let mirror = &parse("docker.io=http://127.0.0.1:5001").unwrap()[0];
    std::fs::create_dir_all(hosts.join("docker.io")).unwrap();
    std::fs::write(hosts.join("docker.io/hosts.toml"), hosts_toml(mirror)).unwrap();
    let out = pull(&hosts);
    assert!(
        out.status.success(),
        "pull: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&ctr(&["images", "ls", "-q"]).stdout).into_owned();
    assert!(listed.lines().any(|l| l == name), "{listed}");
    let log = std::fs::read_to_string(&registry_log).unwrap();
    assert!(
        log.contains("/v2/library/k0sv-probe/manifests/1"),
        "the mirror served it: {log}"
    );
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
