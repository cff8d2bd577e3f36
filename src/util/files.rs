//! Files under `.vagrant/k0s/`: every write goes to a temporary file beside the target and is
//! renamed over it, so a crash never leaves half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// What the helper was doing to a file when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    Read,
    Write,
    Create,
    Remove,
    Copy,
}

impl std::fmt::Display for FileOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileOp::Read => "read",
            FileOp::Write => "write",
            FileOp::Create => "create",
            FileOp::Remove => "remove",
            FileOp::Copy => "copy to",
        })
    }
}

/// A file operation that failed: the operation, the path and the reason, on one line.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}: {source}", path.display())]
pub struct FileError {
    pub op: FileOp,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    pub fn new(op: FileOp, path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
        move |source| FileError {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub fn read(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(FileError::new(FileOp::Read, path))
}

pub fn create_dir(path: &Path) -> Result<(), FileError> {
    std::fs::create_dir_all(path).map_err(FileError::new(FileOp::Create, path))
}

pub fn remove(path: &Path) -> Result<(), FileError> {
    std::fs::remove_file(path).map_err(FileError::new(FileOp::Remove, path))
}

pub fn remove_dir(path: &Path) -> Result<(), FileError> {
    std::fs::remove_dir_all(path).map_err(FileError::new(FileOp::Remove, path))
}

/// Copies `from` to `to`; the error names the target.
pub fn copy(from: &Path, to: &Path) -> Result<(), FileError> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(FileError::new(FileOp::Copy, to))
}

/// Writes `contents` to `path` atomically, creating the parent directory; `mode` applies on Unix.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), FileError> {
    write_atomic_io(path, contents, mode).map_err(FileError::new(FileOp::Write, path))
}

fn write_atomic_io(path: &Path, contents: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("k0sv-state-{}", std::process::id()));
        let path = dir.join("sub").join("f.json");
        write_atomic(&path, b"one", None).unwrap();
        write_atomic(&path, b"two", Some(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(entries.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_operation_says_what_where_and_why_on_one_line() {
        let missing = std::env::temp_dir().join(format!("k0sv-missing-{}", std::process::id()));
        let err = read(&missing.join("plan.json")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read {}: No such file or directory (os error 2)",
                missing.join("plan.json").display()
            )
        );
        let file = std::env::temp_dir().join(format!("k0sv-file-{}", std::process::id()));
        std::fs::write(&file, "x").unwrap();
        let err = write_atomic(&file.join("sub"), b"y", None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot write {}: ", file.join("sub").display())),
            "{err}"
        );
        std::fs::remove_file(file).unwrap();
    }
}
