//! Image archives for the `load` tests, built from a tiny layer with GNU tar: `docker save`'s
//! layout (manifest.json with RepoTags) and an OCI image layout, for this host's architecture or
//! another.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// A reproducible tar of the files under `root` (names relative to it), as GNU tar writes them.
pub fn tar(root: &Path, names: &[&str], out: &Path) {
    let status = Command::new("tar")
        .args([
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "--format=gnu",
            "-C",
        ])
        .arg(root)
        .arg("-cf")
        .arg(out)
        .args(names)
        .status()
        .unwrap();
    assert!(status.success(), "tar");
}

/// One layer holding `/hello` with `payload`, and an image config for it on this host's
/// architecture: (layer tar, its digest, config JSON).
pub fn layer_and_config(dir: &Path, payload: &[u8]) -> (Vec<u8>, String, Vec<u8>) {
    layer_and_config_for(dir, payload, goarch())
}

pub fn layer_and_config_for(dir: &Path, payload: &[u8], arch: &str) -> (Vec<u8>, String, Vec<u8>) {
    let src = dir.join("layer-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello"), payload).unwrap();
    let layer_path = dir.join("layer.tar");
    tar(&src, &["hello"], &layer_path);
    let layer = std::fs::read(&layer_path).unwrap();
    let diff_id = format!("sha256:{}", sha256(&layer));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "k0s-vagrant test"}]
    }))
    .unwrap();
    (layer, diff_id, config)
}

/// A `docker save` archive (Docker's v1.2 layout: manifest.json with RepoTags) of one image with
/// the tags `tags`.
pub fn docker_archive(dir: &Path, tags: &[&str], payload: &[u8]) -> PathBuf {
    docker_archive_for(dir, tags, payload, goarch())
}

pub fn docker_archive_for(dir: &Path, tags: &[&str], payload: &[u8], arch: &str) -> PathBuf {
    let root = dir.join("docker-layout");
    std::fs::create_dir_all(&root).unwrap();
    let (layer, diff_id, config) = layer_and_config_for(dir, payload, arch);
    let hex = diff_id.trim_start_matches("sha256:");
    std::fs::create_dir_all(root.join(hex)).unwrap();
    std::fs::write(root.join(hex).join("layer.tar"), &layer).unwrap();
    let config_name = format!("{}.json", sha256(&config));
    std::fs::write(root.join(&config_name), &config).unwrap();
    let layer_name = format!("{hex}/layer.tar");
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": tags, "Layers": [layer_name]
    }]);
    std::fs::write(root.join("manifest.json"), manifest.to_string()).unwrap();
    let out = dir.join("docker-save.tar");
    tar(&root, &["manifest.json", &config_name, &layer_name], &out);
    out
}

/// An OCI image layout tar of one image named `name` (the annotation containerd names it by).
pub fn oci_archive(dir: &Path, name: &str, payload: &[u8]) -> PathBuf {
    oci_archive_with(dir, name, payload, true)
}

/// As `oci_archive`; without `platform` in the index, the architecture is in the config only.
pub fn oci_archive_with(dir: &Path, name: &str, payload: &[u8], platform: bool) -> PathBuf {
    let root = dir.join("oci-layout-dir");
    let blobs = root.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let (layer, _, config) = layer_and_config(dir, payload);
    let blob = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(&d), bytes).unwrap();
        (format!("sha256:{d}"), bytes.len())
    };
    let (layer_digest, layer_size) = blob(&layer);
    let (config_digest, config_size) = blob(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}]
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = blob(&manifest);
    let tag = name.rsplit(':').next().unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": {"architecture": goarch(), "os": "linux"},
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}
        }]
    });
    let mut index = index;
    if !platform {
        index["manifests"][0]
            .as_object_mut()
            .unwrap()
            .remove("platform");
    }
    std::fs::write(root.join("index.json"), index.to_string()).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let out = dir.join("oci.tar");
    tar(&root, &["oci-layout", "index.json", "blobs"], &out);
    out
}

/// Bytes that do not compress, so an upload of them takes a while.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
