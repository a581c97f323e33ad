//! Client path arguments: lexical normalisation by `VirtualPath::join_client` and
//! mapping onto a real folder by `Vfs::resolve`. A normalised path is absolute and has
//! no `.`/`..` components or NUL bytes; a resolved real path lies under the served
//! root, and so does whatever it points at when it exists (symlinks leaving the root
//! are refused).

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringftp_control::vfs::{Vfs, VirtualPath};

/// A small served tree, built once per fuzzing process:
///
/// ```text
/// BASE/root/pub/debian/file.iso
/// BASE/root/pub/empty/
/// BASE/root/inner    -> pub              (stays inside)
/// BASE/root/up       -> ../outside       (leaves the root)
/// BASE/root/abs      -> /etc             (leaves the root)
/// BASE/root/dangling -> /nonexistent-ringftp-fuzz
/// BASE/outside/secret
/// ```
struct Tree {
    vfs: Vfs,
    /// Canonical real root, as the `Vfs` holds it.
    root: PathBuf,
    /// A non-root working directory for relative arguments.
    cwd: VirtualPath,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("ringftp-fuzz-vfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("pub/debian")).expect("create tree");
        std::fs::create_dir_all(root.join("pub/empty")).expect("create tree");
        std::fs::create_dir_all(base.join("outside")).expect("create tree");
        std::fs::write(root.join("pub/debian/file.iso"), b"iso").expect("create tree");
        std::fs::write(base.join("outside/secret"), b"secret").expect("create tree");
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).expect("create symlink")
        };
        link("pub", "inner");
        link("../outside", "up");
        link("/etc", "abs");
        link("/nonexistent-ringftp-fuzz", "dangling");
        let vfs = Vfs::new(&root, false).expect("open tree");
        let root = vfs.root().to_path_buf();
        let cwd = VirtualPath::root()
            .join_client(b"/pub/debian")
            .expect("valid cwd");
        Tree { vfs, root, cwd }
    })
}

fn check_virtual(v: &VirtualPath) {
    let b = v.as_bytes();
    assert!(b.starts_with(b"/"), "not absolute: {b:?}");
    assert!(!b.contains(&0), "NUL in {b:?}");
    for c in b[1..].split(|&x| x == b'/') {
        assert!(c != b"." && c != b"..", "dot component in {b:?}");
    }
}

fn check_real(tree: &Tree, real: &Path) {
    assert!(
        real.starts_with(&tree.root),
        "{} is outside {}",
        real.display(),
        tree.root.display()
    );
    // What the path names on disk (after symlinks) must be inside too.
    if let Ok(target) = real.canonicalize() {
        assert!(
            target.starts_with(&tree.root),
            "{} leads to {}",
            real.display(),
            target.display()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let tree = tree();
    match VirtualPath::root().join_client(data) {
        Ok(v) => {
            check_virtual(&v);
            // Normalisation is idempotent.
            assert_eq!(VirtualPath::root().join_client(v.as_bytes()).ok(), Some(v));
        }
        Err(_) => assert!(data.contains(&0), "refused without a NUL"),
    }
    for cwd in [&VirtualPath::root(), &tree.cwd] {
        if let Ok(r) = tree.vfs.resolve(cwd, data) {
            check_virtual(&r.virt);
            check_real(tree, &r.real);
        }
    }
});
