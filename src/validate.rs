//! Our own check of a k0sctl.yaml before every apply: k0sctl's load-time validation rules
//! (k0sproject/k0sctl v0.32.2, `pkg/apis/k0sctl.k0sproject.io/v1beta1/` cluster.go and
//! cluster/{spec,host,hosts,k0s}.go `Validate`) plus the k0s rules our HA settings depend on.
//! k0sctl parses strictly, so keys it does not know are errors too. One problem per line.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_yaml::{Mapping, Value};

use crate::util::exit::Category;
use crate::util::version::{self, Version};

/// The oldest k0sctl whose schema holds every key we render (`noTaints` since v0.13.0) and that
/// writes per-controller addresses for `onlyBindToAddress` (v0.19.3).
pub const MIN_K0SCTL: Version = (0, 19, 3);

const ROLES: &[&str] = &["controller", "worker", "controller+worker", "single"];
/// Host keys known to k0sctl from v0.19.3 on (hostKey went away in v0.32, so it is not allowed).
const HOST_KEYS: &[&str] = &[
    "role",
    "ssh",
    "openSSH",
    "localhost",
    "winRM",
    "privateAddress",
    "privateInterface",
    "installFlags",
    "noTaints",
    "uploadBinary",
    "k0sBinaryPath",
    "k0sDownloadURL",
    "environment",
    "files",
    "hooks",
    "os",
    "hostname",
    "dataDir",
    "kubeletRootDir",
    "reset",
    "useExistingK0s",
    "k0sInstallPath",
];
/// rig's SSH config; `options` (extra ssh_config options) is rig v2's (`protocol/ssh/config.go`).
const SSH_KEYS: &[&str] = &["address", "user", "port", "keyPath", "bastion", "options"];
/// A `files` entry as k0sctl v0.19.3 reads it (`cluster/uploadfile.go`); inline `data` came in
/// v0.27.0, so our minimum would refuse it.
const FILE_KEYS: &[&str] = &[
    "name", "src", "dstDir", "dst", "perm", "dirPerm", "user", "group",
];
const K0S_KEYS: &[&str] = &["version", "versionChannel", "dynamicConfig", "config"];
/// k0sctl v0.32 `cluster/spec.go`: `options` holds k0sctl's own tunables (wait, drain, evict).
const SPEC_KEYS: &[&str] = &["hosts", "k0s", "options"];
const TOP_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("k0sctl.yaml is invalid: {}", problems.join("; "))]
pub struct Invalid {
    pub problems: Vec<String>,
}

impl Invalid {
    pub fn category(&self) -> Category {
        Category::BadInput
    }
}

/// Checks a rendered k0sctl.yaml; every problem found is reported.
pub fn validate(yaml: &str) -> Result<(), Invalid> {
    let doc: Value = match serde_yaml::from_str(yaml) {
        Ok(v) => v,
        Err(e) => {
            return Err(Invalid {
                problems: vec![format!("not YAML: {e}")],
            })
        }
    };
    let mut p = Vec::new();
    let empty = Mapping::new();
    let root = doc.as_mapping().unwrap_or(&empty);
    unknown_keys(root, TOP_KEYS, "", &mut p);
    if str_at(root, "apiVersion") != Some("k0sctl.k0sproject.io/v1beta1") {
        p.push("apiVersion: must equal k0sctl.k0sproject.io/v1beta1".into());
    }
    if !matches!(str_at(root, "kind"), Some("Cluster" | "cluster")) {
        p.push("kind: must equal Cluster".into());
    }
    if let Some(meta) = map_at(root, "metadata") {
        unknown_keys(meta, &["name"], "metadata.", &mut p);
    }
    let spec = map_at(root, "spec").unwrap_or(&empty);
    unknown_keys(spec, SPEC_KEYS, "spec.", &mut p);
    hosts(
        spec.get("hosts")
            .and_then(Value::as_sequence)
            .map_or(&[][..], |s| s.as_slice()),
        &mut p,
    );
    if let Some(k0s) = map_at(spec, "k0s") {
        k0s_block(k0s, spec, &mut p);
    }
    binary_needs_version(spec, &mut p);
    containerd_drop_ins(spec, &mut p);
    if p.is_empty() {
        Ok(())
    } else {
        Err(Invalid { problems: p })
    }
}

fn hosts(hosts: &[Value], p: &mut Vec<String>) {
    if hosts.is_empty() {
        p.push("spec.hosts: at least one host required".into());
        return;
    }
    host_roles(hosts, p);
    let mut seen = Seen::default();
    for (i, host) in hosts.iter().enumerate() {
        let at = format!("host #{}", i + 1);
        let empty = Mapping::new();
        let h = host.as_mapping().unwrap_or(&empty);
        unknown_keys(h, HOST_KEYS, &format!("{at}: "), p);
        host_role(&at, h, p);
        private_address(&at, h, &mut seen.private, p);
        install_flags(&at, h, p);
        one_protocol(&at, h, p);
        if let Some(ssh) = map_at(h, "ssh") {
            ssh_endpoint(&at, ssh, &mut seen.endpoints, p);
        }
        existing_k0s(&at, h, p);
        binary_path(&at, h, p);
        upload_files(&at, h, p);
    }
}

/// `useExistingK0s` excludes every other way to get k0s (k0sctl `cluster/host.go` Validate).
fn existing_k0s(at: &str, h: &Mapping, p: &mut Vec<String>) {
    if h.get("useExistingK0s").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if h.get("uploadBinary").and_then(Value::as_bool) == Some(true) {
        p.push(format!(
            "{at}: uploadBinary cannot be true when useExistingK0s is true"
        ));
    }
    for key in ["k0sBinaryPath", "k0sDownloadURL"] {
        if h.contains_key(key) {
            p.push(format!(
                "{at}: {key} cannot be set when useExistingK0s is true"
            ));
        }
    }
}

/// `k0sBinaryPath`: k0sctl stats and uploads it (`phase/upload_binaries.go`); we render absolute
/// paths, so the file works wherever k0sctl runs from, and check the file is there now.
fn binary_path(at: &str, h: &Mapping, p: &mut Vec<String>) {
    let Some(value) = h.get("k0sBinaryPath") else {
        return;
    };
    let Some(path) = value.as_str() else {
        p.push(format!("{at}: k0sBinaryPath: must be a path"));
        return;
    };
    if !path.starts_with('/') {
        p.push(format!(
            "{at}: k0sBinaryPath {path} is relative; render an absolute path"
        ));
    } else if !std::path::Path::new(path).is_file() {
        p.push(format!(
            "{at}: k0sBinaryPath {path}: no such file on this host; run `k0s-vagrant cache fetch`"
        ));
    }
}

/// `files` (k0sctl `cluster/uploadfile.go` Validate and permToString, `ResolveRelativeTo`'s stat
/// of a local source), plus ours: `dstDir` absolute, so nothing lands in the login's home.
fn upload_files(at: &str, h: &Mapping, p: &mut Vec<String>) {
    let Some(value) = h.get("files") else {
        return;
    };
    let Some(files) = value.as_sequence() else {
        p.push(format!("{at}: files: must be a list"));
        return;
    };
    let empty = Mapping::new();
    for (i, file) in files.iter().enumerate() {
        let f = file.as_mapping().unwrap_or(&empty);
        let at = format!("{at}: files #{}", i + 1);
        unknown_keys(f, FILE_KEYS, &format!("{at}: "), p);
        let src = str_at(f, "src").unwrap_or("");
        let dst_dir = str_at(f, "dstDir").unwrap_or("");
        if src.is_empty() {
            p.push(format!("{at}: src or data required"));
        }
        if dst_dir.is_empty() && str_at(f, "dst").unwrap_or("").is_empty() {
            p.push(format!("{at}: dst or dstdir required"));
        }
        if !dst_dir.is_empty() && !dst_dir.starts_with('/') {
            p.push(format!(
                "{at}: dstDir {dst_dir} is relative (k0sctl puts it under the login's home); use an absolute directory"
            ));
        }
        let url_or_glob = src.contains("://") || src.contains(['*', '%', '?', '[', ']', '{', '}']);
        if !src.is_empty() && !url_or_glob {
            if !src.starts_with('/') {
                p.push(format!(
                    "{at}: src {src} is relative; render an absolute path"
                ));
            } else if !std::path::Path::new(src).exists() {
                p.push(format!("{at}: src {src}: no such file on this host"));
            }
        }
        for key in ["perm", "dirPerm"] {
            if let Some(problem) = f.get(key).and_then(bad_perm) {
                p.push(format!("{at}: {key}: {problem}"));
            }
        }
    }
}

/// k0sctl's `permToString`: an octal string (or a number, read as its octal digits) whose owner
/// digit is at least 4 and no digit above 7.
fn bad_perm(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(0) => return Some("invalid nil permission".into()),
            Some(n) if n < 0 => {
                return Some(format!("invalid permission: {n}: must be a positive value"))
            }
            Some(n) => format!("0{n:o}"),
            None => return Some(format!("invalid permission {n}")),
        },
        _ => return None,
    };
    for (i, c) in text.chars().enumerate() {
        let Some(n) = c.to_digit(10) else {
            return Some(format!("failed to parse permission {text}"));
        };
        if i == 1 && n < 4 {
            return Some(format!(
                "invalid permission {text}: owner would have unconventional access"
            ));
        }
        if n > 7 {
            return Some(format!(
                "invalid permission {text}: octal value can't have numbers over 7"
            ));
        }
    }
    None
}

/// A containerd drop-in uploaded to `/etc/k0s/containerd.d` must be in the format of the
/// containerd that `spec.k0s.version` ships (see `addons::registry`): the wrong one stops k0s from
/// starting. Read from the uploaded file itself where it is on this host.
fn containerd_drop_ins(spec: &Mapping, p: &mut Vec<String>) {
    let Some(needed) = spec
        .get("k0s")
        .and_then(|k| k.get("version"))
        .and_then(Value::as_str)
        .and_then(crate::addons::registry::drop_in_format)
    else {
        return;
    };
    let hosts = spec
        .get("hosts")
        .and_then(Value::as_sequence)
        .map_or(&[][..], |s| s.as_slice());
    for (i, host) in hosts.iter().enumerate() {
        let files = host
            .get("files")
            .and_then(Value::as_sequence)
            .map_or(&[][..], |s| s.as_slice());
        for file in files {
            let dst = file.get("dstDir").and_then(Value::as_str).unwrap_or("");
            let Some(src) = file.get("src").and_then(Value::as_str) else {
                continue;
            };
            if dst.trim_end_matches('/') != crate::addons::registry::DROP_IN_DIR
                || !src.ends_with(".toml")
            {
                continue;
            }
            // Not written yet (a preview): k0sctl reports a missing file when it uploads.
            let Ok(text) = std::fs::read_to_string(src) else {
                continue;
            };
            let format = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("version"))
                .find_map(|rest| rest.trim().strip_prefix('=')?.trim().parse::<u32>().ok());
            if format != Some(needed) {
                p.push(format!(
                    "host #{}: files: containerd drop-in {src} has version = {}, but k0s {} reads only version = {needed} (k0s 1.36 moved to containerd 2)",
                    i + 1,
                    format.map_or("none".to_string(), |f| f.to_string()),
                    spec.get("k0s").and_then(|k| k.get("version")).and_then(Value::as_str).unwrap_or("?"),
                ));
            }
        }
    }
}

fn role(host: &Value) -> &str {
    host.get("role").and_then(Value::as_str).unwrap_or("")
}

/// Addresses already used by earlier hosts: each must be unique.
#[derive(Default)]
struct Seen {
    endpoints: BTreeSet<String>,
    private: BTreeSet<String>,
}

fn host_roles(hosts: &[Value], p: &mut Vec<String>) {
    let is_controller =
        |h: &Value| matches!(role(h), "controller" | "controller+worker" | "single");
    if !hosts.iter().any(is_controller) {
        p.push("spec.hosts: no hosts with a controller role defined".into());
    }
    if hosts.len() > 1 && hosts.iter().any(|h| role(h) == "single") {
        p.push(format!(
            "spec.hosts: {} hosts defined but includes a host with role 'single'",
            hosts.len()
        ));
    }
}

fn host_role(at: &str, h: &Mapping, p: &mut Vec<String>) {
    let r = str_at(h, "role").unwrap_or("");
    if !ROLES.contains(&r) {
        p.push(format!("{at}: role: unknown role {r}"));
    }
    if h.get("noTaints").and_then(Value::as_bool) == Some(true) && r != "controller+worker" {
        p.push(format!(
            "{at}: noTaints: noTaints can only be true for controller+worker role"
        ));
    }
}

fn private_address(at: &str, h: &Mapping, seen: &mut BTreeSet<String>, p: &mut Vec<String>) {
    if let Some(addr) = str_at(h, "privateAddress") {
        if addr.parse::<IpAddr>().is_err() {
            p.push(format!("{at}: privateAddress: must be a valid IP address"));
        } else if !seen.insert(addr.to_string()) {
            p.push(format!("{at}: privateAddress \"{addr}\" is not unique"));
        }
    }
}

fn install_flags(at: &str, h: &Mapping, p: &mut Vec<String>) {
    if let Some(flags) = h.get("installFlags").and_then(Value::as_sequence) {
        for flag in flags.iter().filter_map(Value::as_str) {
            if flag.matches('"').count() % 2 == 1 || flag.matches('\'').count() % 2 == 1 {
                p.push(format!("{at}: installFlags: unbalanced quotes in {flag}"));
            }
        }
    }
}

fn one_protocol(at: &str, h: &Mapping, p: &mut Vec<String>) {
    let protocols = ["ssh", "openSSH", "localhost", "winRM"]
        .iter()
        .filter(|k| h.contains_key(**k))
        .count();
    if protocols > 1 {
        p.push(format!(
            "{at}: multiple protocols configured for a single client"
        ));
    }
}

fn ssh_endpoint(at: &str, ssh: &Mapping, seen: &mut BTreeSet<String>, p: &mut Vec<String>) {
    unknown_keys(ssh, SSH_KEYS, &format!("{at}: ssh."), p);
    let address = str_at(ssh, "address").unwrap_or("");
    if address.is_empty() {
        p.push(format!("{at}: ssh: address is required"));
    }
    let port = match ssh.get("port") {
        None => 22,
        Some(v) => v.as_u64().unwrap_or(0),
    };
    if !(1..=65535).contains(&port) {
        p.push(format!("{at}: ssh: port must be between 1 and 65535"));
    }
    if !seen.insert(format!("{address}:{port}")) {
        p.push(format!("{at}: ssh {address}:{port}: is not unique"));
    }
    if let Some(key) = str_at(ssh, "keyPath") {
        if !key.starts_with('/') && !key.starts_with('~') {
            p.push(format!("{at}: ssh.keyPath {key} is relative; k0sctl does not resolve it against the config"));
        }
    }
}

fn k0s_block(k0s: &Mapping, spec: &Mapping, p: &mut Vec<String>) {
    unknown_keys(k0s, K0S_KEYS, "spec.k0s.", p);
    let version = k0s_version(k0s, p);
    if let Some(channel) = str_at(k0s, "versionChannel") {
        if channel != "stable" && channel != "latest" {
            p.push("spec.k0s.versionChannel: must be a valid value".into());
        }
    }
    let gates = Gates { version };
    if k0s.get("dynamicConfig").and_then(Value::as_bool) == Some(true)
        && version.is_some_and(|v| v < (1, 22, 2))
    {
        p.push(
            "spec.k0s.dynamicConfig: dynamic config only available since k0s version v1.22.2+k0s.2"
                .into(),
        );
    }
    let Some(cfg) = map_at(k0s, "config").and_then(|c| map_at(c, "spec")) else {
        return;
    };
    let roles: Vec<&str> = spec
        .get("hosts")
        .and_then(Value::as_sequence)
        .map_or(&[][..], |s| s.as_slice())
        .iter()
        .filter_map(|h| h.get("role").and_then(Value::as_str))
        .collect();
    let api = map_at(cfg, "api");
    let network = map_at(cfg, "network");
    api_binding(api, &roles, &gates, p);
    if let Some(nllb) = network.and_then(|n| map_at(n, "nodeLocalLoadBalancing")) {
        node_local_load_balancing(nllb, api, &gates, p);
    }
    if let Some(cplb) = network.and_then(|n| map_at(n, "controlPlaneLoadBalancing")) {
        control_plane_load_balancing(cplb, &roles, &gates, p);
    }
    if let Some(helm) = map_at(cfg, "extensions").and_then(|e| map_at(e, "helm")) {
        helm_extensions(helm, p);
    }
}

/// k0s' Helm extension schema (k0sproject/k0s `pkg/apis/k0s/v1beta1/extensions.go`): known keys,
/// `values` a YAML string, and what `Chart.Validate` / `Repository.Validate` demand.
fn helm_extensions(helm: &Mapping, p: &mut Vec<String>) {
    const HELM_KEYS: &[&str] = &["concurrencyLevel", "repositories", "charts"];
    const REPOSITORY_KEYS: &[&str] = &[
        "name", "url", "insecure", "caFile", "certFile", "keyfile", "username", "password",
    ];
    const CHART_KEYS: &[&str] = &[
        "name",
        "chartname",
        "version",
        "values",
        "namespace",
        "timeout",
        "forceUpgrade",
        "order",
    ];
    let at = "spec.k0s.config.spec.extensions.helm";
    unknown_k0s_keys(helm, HELM_KEYS, &format!("{at}."), p);
    let items = |key: &str| {
        helm.get(key)
            .and_then(Value::as_sequence)
            .map_or(&[][..], |s| s.as_slice())
    };
    for (i, repo) in items("repositories").iter().enumerate() {
        let here = format!("{at}.repositories[{i}]");
        let Some(repo) = repo.as_mapping() else {
            p.push(format!("{here}: must be a mapping"));
            continue;
        };
        unknown_k0s_keys(repo, REPOSITORY_KEYS, &format!("{here}."), p);
        for key in ["name", "url"] {
            if str_at(repo, key).is_none_or(str::is_empty) {
                p.push(format!("{here}.{key}: must be set"));
            }
        }
    }
    for (i, chart) in items("charts").iter().enumerate() {
        let here = format!("{at}.charts[{i}]");
        let Some(chart) = chart.as_mapping() else {
            p.push(format!("{here}: must be a mapping"));
            continue;
        };
        unknown_k0s_keys(chart, CHART_KEYS, &format!("{here}."), p);
        for key in ["name", "chartname", "namespace"] {
            if str_at(chart, key).is_none_or(str::is_empty) {
                p.push(format!("{here}.{key}: must be set"));
            }
        }
        if chart.get("values").is_some_and(|v| !v.is_string()) {
            p.push(format!("{here}.values: must be a YAML string (values: |)"));
        }
    }
}

/// Keys k0s' ClusterConfig types do not have: k0s would ignore or refuse them, and either way the
/// setting meant is not applied.
fn unknown_k0s_keys(map: &Mapping, known: &[&str], at: &str, p: &mut Vec<String>) {
    for key in map.keys() {
        let name = key.as_str().unwrap_or("?");
        if !known.contains(&name) {
            p.push(format!(
                "{at}{name}: unknown key (k0s' ClusterConfig has no such field)"
            ));
        }
    }
}

/// `spec.k0s.version`, when it is there and readable.
fn k0s_version(k0s: &Mapping, p: &mut Vec<String>) -> Option<Version> {
    let version = match k0s.get("version")? {
        Value::String(v) => match version::release(v) {
            Some(parsed) => parsed,
            None => {
                p.push(format!("spec.k0s.version: {v} is not a version"));
                return None;
            }
        },
        other => {
            let shown = serde_yaml::to_string(other).unwrap_or_default();
            p.push(format!(
                "spec.k0s.version: {} must be a quoted string like \"v1.33.4+k0s.0\"",
                shown.trim()
            ));
            return None;
        }
    };
    if version < (0, 11, 0) {
        p.push("spec.k0s.version: minimum supported k0s version is v0.11.0-rc1".into());
    }
    Some(version)
}

/// The k0s version gates of what we render.
struct Gates {
    version: Option<Version>,
}

impl Gates {
    fn needs(&self, what: &str, min: Version, p: &mut Vec<String>) {
        if let Some(v) = self.version.filter(|v| *v < min) {
            p.push(format!(
                "spec.k0s.version: {what} needs k0s v{} or newer, got v{}",
                version::show(min),
                version::show(v)
            ));
        }
    }
}

fn api_binding(api: Option<&Mapping>, roles: &[&str], gates: &Gates, p: &mut Vec<String>) {
    if api
        .and_then(|a| a.get("onlyBindToAddress"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        gates.needs("spec.api.onlyBindToAddress", (1, 31, 1), p);
    }
    let controllers = roles.iter().filter(|r| **r != "worker").count();
    if controllers > 1 && api.and_then(|a| str_at(a, "address")).is_some() {
        p.push("spec.k0s.config.spec.api.address: one cluster-wide address with several controllers breaks NLLB, CPLB and konnectivity; use onlyBindToAddress".into());
    }
}

fn node_local_load_balancing(
    nllb: &Mapping,
    api: Option<&Mapping>,
    gates: &Gates,
    p: &mut Vec<String>,
) {
    if nllb.get("enabled").and_then(Value::as_bool) != Some(true) {
        return;
    }
    gates.needs("nodeLocalLoadBalancing", (1, 26, 0), p);
    if api.and_then(|a| str_at(a, "externalAddress")).is_some() {
        p.push("spec.k0s.config: node-local load balancing cannot be used in conjunction with an external Kubernetes API server address".into());
    }
}

fn control_plane_load_balancing(
    cplb: &Mapping,
    roles: &[&str],
    gates: &Gates,
    p: &mut Vec<String>,
) {
    if cplb.get("enabled").and_then(Value::as_bool) != Some(true) {
        return;
    }
    // The userspace proxy (no virtualServers) arrived in v1.32.1.
    gates.needs(
        "controlPlaneLoadBalancing without virtualServers",
        (1, 32, 1),
        p,
    );
    // k0s refuses CPLB only in `--single` mode (k0s cmd/controller/controller.go, "if
    // controllerMode == config.SingleNodeMode"); one controller+worker may have it.
    if roles.contains(&"single") {
        p.push("spec.k0s.config: control plane load balancing cannot be used in a single-node cluster (role single); use role controller+worker".into());
    }
    let instances = map_at(cplb, "keepalived")
        .and_then(|k| k.get("vrrpInstances"))
        .and_then(Value::as_sequence)
        .map_or(&[][..], |s| s.as_slice());
    for instance in instances {
        vrrp_instance(instance, p);
    }
}

fn vrrp_instance(instance: &Value, p: &mut Vec<String>) {
    let pass = instance
        .get("authPass")
        .and_then(Value::as_str)
        .unwrap_or("");
    if pass.is_empty() {
        p.push("controlPlaneLoadBalancing: AuthPass must be defined".into());
    } else if pass.len() > 8 {
        p.push("controlPlaneLoadBalancing: AuthPass must be 8 characters or less".into());
    }
    let vips = instance
        .get("virtualIPs")
        .and_then(Value::as_sequence)
        .map_or(&[][..], |s| s.as_slice());
    if vips.is_empty() {
        p.push("controlPlaneLoadBalancing: VirtualIPs must be defined".into());
    }
    for vip in vips.iter().filter_map(Value::as_str) {
        if vip.parse::<ipnet::IpNet>().is_err() {
            p.push(format!(
                "controlPlaneLoadBalancing: VirtualIPs must be a CIDR. Got: {vip}"
            ));
        }
    }
}

/// k0sctl checks an uploaded binary against `spec.k0s.version` (`phase/upload_binaries.go`); without
/// one it picks the newest release online, which the cached binary need not be.
fn binary_needs_version(spec: &Mapping, p: &mut Vec<String>) {
    let uploads = spec
        .get("hosts")
        .and_then(Value::as_sequence)
        .is_some_and(|hosts| hosts.iter().any(|h| h.get("k0sBinaryPath").is_some()));
    let version = map_at(spec, "k0s").and_then(|k| k.get("version"));
    if uploads && version.is_none() {
        p.push("spec.k0s.version: required with k0sBinaryPath (k0sctl checks the uploaded binary against it)".into());
    }
}

fn unknown_keys(map: &Mapping, known: &[&str], at: &str, p: &mut Vec<String>) {
    for key in map.keys() {
        let name = key.as_str().unwrap_or("?");
        if !known.contains(&name) {
            p.push(format!(
                "{at}{name}: unknown key (k0sctl parses strictly and rejects it)"
            ));
        }
    }
}

fn map_at<'a>(map: &'a Mapping, key: &str) -> Option<&'a Mapping> {
    map.get(key).and_then(Value::as_mapping)
}

fn str_at<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}
