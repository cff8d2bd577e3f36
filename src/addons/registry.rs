//! Registry mirrors (`REGISTRY_MIRRORS`): containerd on every node pulls an upstream registry's
//! images through a mirror first. k0s' containerd reads drop-ins from `/etc/k0s/containerd.d/`
//! (k0s `docs/runtime.md`), in the format of the containerd the k0s version ships: k0s 1.36 moved to
//! containerd 2, whose config is `version = 3` with the CRI image plugin
//! `io.containerd.cri.v1.images`; a `version = 2` file naming `io.containerd.grpc.v1.cri` makes k0s
//! stop in its pre-flight there, and older k0s reads only that older form (k0s `docs/runtime.md`
//! at v1.35.7 and at 1.36; `pkg/component/worker/containerd/configurer.go`). The mirrors
//! themselves are one `hosts.toml` per upstream registry in containerd's hosts directory.

use std::fmt;

use crate::util::version::{self, Version};

/// The first k0s whose containerd reads only the `version = 3` drop-in.
pub const CONTAINERD_2_K0S: Version = (1, 36, 0);
pub const DROP_IN_DIR: &str = "/etc/k0s/containerd.d";
pub const DROP_IN: &str = "k0s-vagrant-mirrors.toml";
pub const HOSTS_DIR: &str = "/etc/k0s/containerd.d/certs.d";

/// One upstream registry and the mirror to try first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mirror {
    pub registry: String,
    pub url: String,
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.registry, self.url)
    }
}

/// `REGISTRY=URL[,REGISTRY=URL...]`; `Err` says what is wrong with which entry.
pub fn parse(value: &str) -> Result<Vec<Mirror>, String> {
    let mut mirrors: Vec<Mirror> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (registry, url) = entry
            .split_once('=')
            .ok_or_else(|| format!("'{entry}' is not REGISTRY=URL"))?;
        let (registry, url) = (registry.trim(), url.trim());
        let host_ok = !registry.is_empty()
            && registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        if !host_ok {
            return Err(format!("'{registry}' is not a registry host name"));
        }
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| format!("'{url}' does not start with http:// or https://"))?;
        if rest.is_empty() || rest.contains(char::is_whitespace) || rest.contains('"') {
            return Err(format!("'{url}' has no host"));
        }
        if mirrors.iter().any(|m| m.registry == registry) {
            return Err(format!("{registry} is named twice"));
        }
        mirrors.push(Mirror {
            registry: registry.to_string(),
            url: url.to_string(),
        });
    }
    Ok(mirrors)
}

/// The drop-in that points containerd at the hosts directory, in the format `k0s_version`'s
/// containerd reads.
pub fn drop_in(k0s_version: Version) -> String {
    let (format, plugin) = if k0s_version >= CONTAINERD_2_K0S {
        (3, "io.containerd.cri.v1.images")
    } else {
        (2, "io.containerd.grpc.v1.cri")
    };
    format!(
        "# Registry mirrors of k0s-vagrant (REGISTRY_MIRRORS).\nversion = {format}\n\n[plugins.\"{plugin}\".registry]\n  config_path = \"{HOSTS_DIR}\"\n"
    )
}

/// The drop-in's format version that `k0s_version` needs (the validator's rule).
pub fn drop_in_format(k0s_version: &str) -> Option<u32> {
    let v = version::release(k0s_version)?;
    Some(if v >= CONTAINERD_2_K0S { 3 } else { 2 })
}

/// `hosts.toml` for one registry: the mirror first, then the registry itself (containerd's
/// hosts format, containerd `docs/hosts.md`; Docker Hub's API host is registry-1.docker.io).
pub fn hosts_toml(mirror: &Mirror) -> String {
    let server = match mirror.registry.as_str() {
        "docker.io" => "https://registry-1.docker.io".to_string(),
        other => format!("https://{other}"),
    };
    format!(
        "server = \"{server}\"\n\n[host.\"{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
        mirror.url
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_parse_and_refuse_what_containerd_cannot_use() {
        let m = parse("docker.io=http://192.168.56.1:5001, quay.io=https://mirror.test").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].to_string(), "docker.io=http://192.168.56.1:5001");
        for bad in [
            "docker.io",
            "docker.io=192.168.56.1:5001",
            "dock er.io=http://x",
            "docker.io=http://",
            "docker.io=http://a,docker.io=http://b",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_drop_in_follows_the_k0s_version() {
        let old = drop_in((1, 35, 7));
        assert!(old.contains("version = 2\n") && old.contains("io.containerd.grpc.v1.cri"));
        let new = drop_in((1, 36, 1));
        assert!(new.contains("version = 3\n") && new.contains("io.containerd.cri.v1.images"));
        assert_eq!(drop_in_format("v1.35.7+k0s.0"), Some(2));
        assert_eq!(drop_in_format("v1.36.1+k0s.0"), Some(3));
        let hosts = hosts_toml(&parse("docker.io=http://192.168.56.1:5001").unwrap()[0]);
        assert!(hosts.starts_with("server = \"https://registry-1.docker.io\""));
        assert!(hosts.contains("[host.\"http://192.168.56.1:5001\"]"));
    }
}
