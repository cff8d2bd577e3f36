//! Writing a plain ustar archive of regular files: what an OCI image layout tar needs (short
//! names, files only), without a dependency. The format: POSIX.1-1988 ustar, 512-byte headers,
//! octal fields, content padded to 512 bytes, two zero blocks at the end.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;

/// A tar being written to `out`.
pub struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter { out }
    }

    /// Appends a regular file `name` (at most 100 bytes) of `size` bytes read from `content`.
    pub fn append(&mut self, name: &str, size: u64, content: &mut impl Read) -> io::Result<()> {
        self.out.write_all(&header(name, size)?)?;
        let copied = io::copy(&mut content.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: {copied} of {size} bytes"),
            ));
        }
        let pad = (BLOCK - (size as usize % BLOCK)) % BLOCK;
        self.out.write_all(&[0u8; BLOCK][..pad])
    }

    /// Appends a file held in memory.
    pub fn append_bytes(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.append(name, bytes.len() as u64, &mut &bytes[..])
    }

    /// Writes the end-of-archive blocks and hands the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn header(name: &str, size: u64) -> io::Result<[u8; BLOCK]> {
    if name.len() > 100 || size >= 0o77777777777 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name}: too long a name or too large for ustar"),
        ));
    }
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is taken with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    Ok(h)
}

/// `value` in octal, zero-padded, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_tar_reads_what_we_write() {
        let dir = std::env::temp_dir().join(format!("k0sv-tar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.tar");
        let mut tar = TarWriter::new(std::fs::File::create(&path).unwrap());
        tar.append_bytes("oci-layout", b"{}").unwrap();
        let big = vec![7u8; 1300];
        tar.append_bytes("blobs/sha256/abc", &big).unwrap();
        tar.finish().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() % 512, 0);
        let out = std::process::Command::new("tar")
            .args(["-tvf"])
            .arg(&path)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{listing}");
        assert!(
            listing.contains(" 2 ") && listing.contains("oci-layout"),
            "{listing}"
        );
        assert!(
            listing.contains(" 1300 ") && listing.contains("blobs/sha256/abc"),
            "{listing}"
        );
        let x = std::process::Command::new("tar")
            .args(["-xOf"])
            .arg(&path)
            .arg("blobs/sha256/abc")
            .output()
            .unwrap();
        assert_eq!(x.stdout, big);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_names_are_refused() {
        assert!(header(&"x".repeat(101), 1).is_err());
    }
}
