//! The user's kubeconfig file: the standalone file from k0sctl's, merging it in as
//! `k0s-<cluster>`, pointing it at another server, and removing exactly what was merged.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::util::exit::Category;
use crate::util::files::{self, write_atomic, FileError, FileOp};

#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error(
        "kubeconfig {path} is not valid YAML ({reason}); fix it or set K0S_KUBECONFIG_MERGE=false"
    )]
    Parse { path: PathBuf, reason: String },
    #[error("the kubeconfig from k0sctl has no {what}")]
    Incomplete { what: &'static str },
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{node} {why}; point the kubeconfig at a controller: {controllers}")]
    NotAController {
        node: String,
        why: &'static str,
        controllers: String,
    },
}

impl KubeconfigError {
    pub fn category(&self) -> Category {
        match self {
            KubeconfigError::Parse { .. } | KubeconfigError::NotAController { .. } => {
                Category::BadInput
            }
            KubeconfigError::Incomplete { .. } | KubeconfigError::File(_) => Category::Failed,
        }
    }
}

/// The user's kubeconfig: the first path of KUBECONFIG, else ~/.kube/config.
pub fn user_kubeconfig_path(kubeconfig_env: Option<&str>, home: Option<&Path>) -> Option<PathBuf> {
    let sep = if cfg!(windows) { ';' } else { ':' };
    if let Some(first) = kubeconfig_env.and_then(|v| v.split(sep).find(|p| !p.is_empty())) {
        return Some(PathBuf::from(first));
    }
    home.map(|h| h.join(".kube").join("config"))
}

fn read_yaml(path: &Path) -> Result<Option<Value>, KubeconfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => serde_yaml::from_str(&text)
            .map(Some)
            .map_err(|e| KubeconfigError::Parse {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FileError {
            op: FileOp::Read,
            path: path.to_path_buf(),
            source,
        }
        .into()),
    }
}

fn list<'a>(doc: &'a mut Value, key: &str) -> &'a mut Vec<Value> {
    let map = doc.as_mapping_mut().expect("kubeconfig root is a mapping");
    if !map.get(key).is_some_and(Value::is_sequence) {
        map.insert(key.into(), Value::Sequence(Vec::new()));
    }
    map.get_mut(key)
        .and_then(Value::as_sequence_mut)
        .expect("just inserted")
}

fn named(name: &str, key: &str, body: Value) -> Value {
    let mut m = Mapping::new();
    m.insert("name".into(), name.into());
    m.insert(key.into(), body);
    Value::Mapping(m)
}

fn first_body(doc: &Value, list: &str, key: &str) -> Option<Value> {
    doc.get(list)?.as_sequence()?.first()?.get(key).cloned()
}

/// Replaces (or adds) the entry called `name` in `list`; true when something changed.
fn upsert(doc: &mut Value, list_key: &str, entry: Value) -> bool {
    let name = entry.get("name").cloned();
    let items = list(doc, list_key);
    match items.iter_mut().find(|e| e.get("name") == name.as_ref()) {
        Some(existing) if *existing == entry => false,
        Some(existing) => {
            *existing = entry;
            true
        }
        None => {
            items.push(entry);
            true
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    Unchanged,
    Written { backup: Option<PathBuf> },
}

/// Merges the cluster, user and context of `ours` (k0sctl's admin kubeconfig) into `target` under
/// `name`, backing the old file up first. Every other entry, and current-context, stay as they were
/// (current-context is set only in a new file).
pub fn merge(target: &Path, ours: &str, name: &str) -> Result<Merged, KubeconfigError> {
    let ours: Value = serde_yaml::from_str(ours).map_err(|e| KubeconfigError::Parse {
        path: PathBuf::from("<k0sctl kubeconfig>"),
        reason: e.to_string(),
    })?;
    let cluster = first_body(&ours, "clusters", "cluster")
        .ok_or(KubeconfigError::Incomplete { what: "cluster" })?;
    let user =
        first_body(&ours, "users", "user").ok_or(KubeconfigError::Incomplete { what: "user" })?;
    let existing = read_yaml(target)?;
    let is_new = existing.is_none();
    let mut doc = existing.unwrap_or_else(|| {
        let mut m = Mapping::new();
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Config".into());
        m.insert("preferences".into(), Value::Mapping(Mapping::new()));
        Value::Mapping(m)
    });
    if !doc.is_mapping() {
        return Err(KubeconfigError::Parse {
            path: target.to_path_buf(),
            reason: "not a mapping".into(),
        });
    }
    let mut context = Mapping::new();
    context.insert("cluster".into(), name.into());
    context.insert("user".into(), name.into());
    let mut changed = upsert(&mut doc, "clusters", named(name, "cluster", cluster));
    changed |= upsert(&mut doc, "users", named(name, "user", user));
    changed |= upsert(
        &mut doc,
        "contexts",
        named(name, "context", Value::Mapping(context)),
    );
    if is_new {
        doc.as_mapping_mut()
            .expect("mapping")
            .insert("current-context".into(), name.into());
    }
    if !changed {
        return Ok(Merged::Unchanged);
    }
    let backup = backup(target)?;
    write_yaml(target, &doc)?;
    Ok(Merged::Written { backup })
}

/// Removes exactly the cluster, user and context called `name`; clears current-context only if it
/// named that context. True when something was removed.
pub fn remove(target: &Path, name: &str) -> Result<bool, KubeconfigError> {
    let Some(mut doc) = read_yaml(target)? else {
        return Ok(false);
    };
    if !doc.is_mapping() {
        return Ok(false);
    }
    let mut changed = false;
    for key in ["clusters", "users", "contexts"] {
        let items = list(&mut doc, key);
        let before = items.len();
        items.retain(|e| e.get("name").and_then(Value::as_str) != Some(name));
        changed |= items.len() != before;
    }
    let map = doc.as_mapping_mut().expect("mapping");
    if map.get("current-context").and_then(Value::as_str) == Some(name) {
        map.insert("current-context".into(), "".into());
        changed = true;
    }
    if changed {
        backup(target)?;
        write_yaml(target, &doc)?;
    }
    Ok(changed)
}

fn backup(target: &Path) -> Result<Option<PathBuf>, KubeconfigError> {
    if !target.exists() {
        return Ok(None);
    }
    let backup = PathBuf::from(format!("{}.k0s-vagrant.bak", target.display()));
    files::copy(target, &backup)?;
    Ok(Some(backup))
}

fn write_yaml(target: &Path, doc: &Value) -> Result<(), KubeconfigError> {
    let text = serde_yaml::to_string(doc).expect("YAML value serializes");
    Ok(write_atomic(target, text.as_bytes(), Some(0o600))?)
}

/// Renames k0sctl's cluster, user and context to `name` and points the server at `server`.
pub fn standalone(ours: &str, name: &str, server: &str) -> Result<String, KubeconfigError> {
    let ours: Value = serde_yaml::from_str(ours).map_err(|e| KubeconfigError::Parse {
        path: PathBuf::from("<k0sctl kubeconfig>"),
        reason: e.to_string(),
    })?;
    let mut cluster = first_body(&ours, "clusters", "cluster")
        .ok_or(KubeconfigError::Incomplete { what: "cluster" })?;
    let user =
        first_body(&ours, "users", "user").ok_or(KubeconfigError::Incomplete { what: "user" })?;
    if let Some(map) = cluster.as_mapping_mut() {
        map.insert("server".into(), server.into());
    }
    let mut context = Mapping::new();
    context.insert("cluster".into(), name.into());
    context.insert("user".into(), name.into());
    let mut doc = Mapping::new();
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("kind".into(), "Config".into());
    doc.insert(
        "clusters".into(),
        Value::Sequence(vec![named(name, "cluster", cluster)]),
    );
    doc.insert(
        "users".into(),
        Value::Sequence(vec![named(name, "user", user)]),
    );
    doc.insert(
        "contexts".into(),
        Value::Sequence(vec![named(name, "context", Value::Mapping(context))]),
    );
    doc.insert("current-context".into(), name.into());
    Ok(serde_yaml::to_string(&Value::Mapping(doc)).expect("YAML value serializes"))
}

/// Points the cluster `name` (else the first cluster) of the kubeconfig `text` (read from `path`)
/// at `server`. Returns the new text and the server it had.
pub fn set_server(
    path: &Path,
    text: &str,
    name: &str,
    server: &str,
) -> Result<(String, Option<String>), KubeconfigError> {
    let mut doc: Value = serde_yaml::from_str(text).map_err(|e| KubeconfigError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let clusters = doc
        .get_mut("clusters")
        .and_then(Value::as_sequence_mut)
        .ok_or(KubeconfigError::Incomplete { what: "cluster" })?;
    let index = clusters
        .iter()
        .position(|c| c.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or(0);
    let cluster = clusters
        .get_mut(index)
        .and_then(|c| c.get_mut("cluster"))
        .and_then(Value::as_mapping_mut)
        .ok_or(KubeconfigError::Incomplete { what: "cluster" })?;
    let old = cluster
        .insert("server".into(), server.into())
        .and_then(|v| v.as_str().map(String::from));
    Ok((
        serde_yaml::to_string(&doc).expect("YAML value serializes"),
        old,
    ))
}

/// Merges `ours` into `target` as [`merge`] does, after recording in `record` where and under which
/// name, so that the cleanup after `vagrant destroy` removes exactly this entry.
pub fn merge_recorded(
    record: &Path,
    target: &Path,
    ours: &str,
    name: &str,
) -> Result<Merged, KubeconfigError> {
    write_atomic(
        record,
        format!("{}\n{name}\n", target.display()).as_bytes(),
        None,
    )?;
    merge(target, ours, name)
}
