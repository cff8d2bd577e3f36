//! SHA-256 of files, streamed (image bundles and k0s binaries are hundreds of MB).

use std::path::Path;

use sha2::{Digest, Sha256};

use super::files::{FileError, FileOp};

/// The file's SHA-256, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, FileError> {
    let mut file = std::fs::File::open(path).map_err(FileError::new(FileOp::Read, path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(FileError::new(FileOp::Read, path))?;
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of bytes in memory (a registry manifest), lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let dir = std::env::temp_dir().join(format!("k0sv-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("abc");
        std::fs::write(&file, b"abc").unwrap();
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_file(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
