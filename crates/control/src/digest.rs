//! File digests for HASH (draft-bryan-ftpext-hash) and the XSHA256/XSHA1/XMD5/XCRC
//! aliases, with RustCrypto's `sha2`, `sha1`, `md-5` and `crc32fast`, and a bounded
//! cache keyed by the file's identity and version (device, inode, size, mtime), so a
//! mirror's popular files are hashed once per change.
//!
//! Hashing reads the whole file: the data plane runs [`digest_file`] on its blocking
//! pool with a bound on how many run at once, never on an event loop.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use sha2::Digest;

/// A hash algorithm HASH can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha256,
    Sha512,
    Sha1,
    Md5,
    Crc32,
}

impl HashAlgorithm {
    /// Every algorithm, in the order FEAT lists them.
    pub const ALL: [HashAlgorithm; 5] = [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha512,
        HashAlgorithm::Sha1,
        HashAlgorithm::Md5,
        HashAlgorithm::Crc32,
    ];

    /// The name used on the wire (the draft's IANA hash names).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Crc32 => "CRC32",
        }
    }

    /// Parse a wire name, case-insensitively.
    pub fn from_name(name: &[u8]) -> Option<HashAlgorithm> {
        HashAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Which version of which file, and the algorithm: a digest stays valid while these do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DigestKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub algorithm: HashAlgorithm,
}

impl DigestKey {
    /// The key of a file as `meta` describes it.
    pub fn new(meta: &Metadata, algorithm: HashAlgorithm) -> DigestKey {
        DigestKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            algorithm,
        }
    }
}

/// Read buffer for hashing.
const READ_CHUNK: usize = 1 << 20;

/// Hash a whole file; lower-case hex. `expected` is the key the file was checked
/// against: if the file changed since (another size or mtime), the digest would not
/// match the key, so this fails instead.
pub fn digest_file(path: &Path, expected: &DigestKey) -> io::Result<String> {
    let mut file = File::open(path)?;
    if DigestKey::new(&file.metadata()?, expected.algorithm) != *expected {
        return Err(io::Error::other("file changed while being hashed"));
    }
    let mut hasher = Hasher::new(expected.algorithm);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    if DigestKey::new(&file.metadata()?, expected.algorithm) != *expected {
        return Err(io::Error::other("file changed while being hashed"));
    }
    Ok(hasher.finish())
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
}

impl Hasher {
    fn new(algorithm: HashAlgorithm) -> Hasher {
        match algorithm {
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
            Hasher::Crc32(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
            Hasher::Sha1(h) => hex(&h.finalize()),
            Hasher::Md5(h) => hex(&h.finalize()),
            Hasher::Crc32(h) => format!("{:08x}", h.finalize()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Digests computed recently, shared by every session of the process.
#[derive(Debug)]
pub struct DigestCache {
    capacity: usize,
    entries: Mutex<HashMap<DigestKey, String>>,
}

impl DigestCache {
    /// A cache of at most `capacity` digests.
    pub fn new(capacity: usize) -> DigestCache {
        DigestCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The digest for this key, if known.
    pub fn get(&self, key: &DigestKey) -> Option<String> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    /// Remember a digest; when full, the cache starts over (cheap, and a mirror's hot
    /// set is soon back).
    pub fn insert(&self, key: DigestKey, digest: String) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.capacity && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(key, digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(data: &[u8], algorithm: HashAlgorithm) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, data).unwrap();
        let key = DigestKey::new(&std::fs::metadata(&path).unwrap(), algorithm);
        digest_file(&path, &key).unwrap()
    }

    #[test]
    fn known_digests_of_abc() {
        assert_eq!(
            digest(b"abc", HashAlgorithm::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(b"abc", HashAlgorithm::Sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            digest(b"abc", HashAlgorithm::Md5),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(digest(b"abc", HashAlgorithm::Crc32), "352441c2");
        assert!(digest(b"abc", HashAlgorithm::Sha512).starts_with("ddaf35a193617aba"));
        assert_eq!(
            HashAlgorithm::from_name(b"sha-256"),
            Some(HashAlgorithm::Sha256)
        );
        assert_eq!(HashAlgorithm::from_name(b"SHA-3"), None);
    }

    #[test]
    fn a_changed_file_is_not_hashed_under_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").unwrap();
        let key = DigestKey::new(&std::fs::metadata(&path).unwrap(), HashAlgorithm::Md5);
        std::fs::write(&path, b"other").unwrap();
        assert!(digest_file(&path, &key).is_err());
        let cache = DigestCache::new(2);
        cache.insert(key, "x".into());
        assert_eq!(cache.get(&key).as_deref(), Some("x"));
        let other = DigestKey {
            ino: key.ino + 1,
            ..key
        };
        assert_eq!(cache.get(&other), None);
        cache.insert(other, "y".into());
        cache.insert(
            DigestKey {
                ino: key.ino + 2,
                ..key
            },
            "z".into(),
        );
        assert!(cache.get(&key).is_none(), "a full cache starts over");
    }
}
