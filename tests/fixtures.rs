//! Trees and accounts the mirror-client tests share: a tree shaped like a real mirror
//! (symlinks inside and outside the root, dangling links, empty folders, awkward names
//! and sizes), a comparison of a client's copy with what the server should show, and a
//! users file with an argon2 hash made by `ringftpd hash-password`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::write_pattern;

/// Names in the mirror tree that must never reach a client: links out of the root,
/// also a dangling one.
pub const REFUSED_LINKS: [&str; 4] = ["etc-link", "up-link", "secret-link", "gone-out"];

/// A dangling link inside the root: LIST shows it as a link, nothing else lists it.
pub const DANGLING_LINK: &str = "dangling";

/// Build a mirror-shaped tree under `top/root` (with a file `top/secret` just outside
/// the root); returns the root.
pub fn mirror_tree(top: &Path) -> PathBuf {
    let root = top.join("root");
    let pub_dir = root.join("pub");
    let deb = pub_dir.join("debian/pool/main/h/hello");
    let iso = pub_dir.join("debian-cd/12.5.0/amd64/iso-cd");
    let dists = pub_dir.join("debian/dists/bookworm/main/binary-amd64");
    for d in [&deb, &iso, &dists] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::create_dir_all(pub_dir.join("empty folder")).unwrap();
    std::fs::create_dir_all(pub_dir.join("debian/project/empty")).unwrap();
    std::fs::write(top.join("secret"), b"outside the root\n").unwrap();
    write_pattern(&deb.join("hello_2.10-3_amd64.deb"), 56_132);
    write_pattern(&deb.join("hello_2.10-3.dsc"), 1_847);
    write_pattern(&iso.join("debian-12.5.0-amd64-netinst.iso"), (3 << 20) + 1);
    std::fs::write(
        iso.join("SHA256SUMS"),
        b"abc  debian-12.5.0-amd64-netinst.iso\n",
    )
    .unwrap();
    write_pattern(&dists.join("Packages.xz"), 65_537);
    write_pattern(&dists.join("Release"), 4_095);
    std::fs::write(pub_dir.join("debian/zero-size"), b"").unwrap();
    write_pattern(&pub_dir.join("debian/one byte"), 1);
    write_pattern(&pub_dir.join("README ü ñ 文件.txt"), 65_536);
    write_pattern(&pub_dir.join("100% & #1 (final).txt"), 777);
    // Links that stay inside: relative, and up and back down again.
    symlink("debian-cd/12.5.0", pub_dir.join("latest")).unwrap();
    symlink("../pub/debian/dists", pub_dir.join("dists")).unwrap();
    symlink("Release", dists.join("Release.link")).unwrap();
    // Links the server refuses: out of the root, and dangling.
    symlink("/etc", pub_dir.join("etc-link")).unwrap();
    symlink("../../", pub_dir.join("up-link")).unwrap();
    symlink("../../secret", pub_dir.join("secret-link")).unwrap();
    symlink("no-such-file", pub_dir.join(DANGLING_LINK)).unwrap();
    symlink("../../nowhere", pub_dir.join("gone-out")).unwrap();
    root
}

/// Assert that `copy` holds exactly what a client should get from `root`: every file
/// with the same bytes and every folder; links that stay inside either as the same
/// link (LIST clients re-create them) or as a copy of their target (MLSD clients);
/// a dangling link either as the same link or not at all; refused links nowhere.
/// Names in `ignore` (a client's own files) are skipped.
pub fn assert_mirrored(root: &Path, copy: &Path, ignore: &[&str]) {
    let dangling = |dir: &Path, n: &std::ffi::OsStr| {
        let p = dir.join(n);
        std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) && !p.exists()
    };
    let mut want: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !REFUSED_LINKS.contains(&n.to_str().unwrap_or("")))
        .filter(|n| !dangling(root, n))
        .collect();
    for e in std::fs::read_dir(root).unwrap() {
        let name = e.unwrap().file_name();
        if dangling(root, &name) && !REFUSED_LINKS.contains(&name.to_str().unwrap_or("")) {
            if let Ok(text) = std::fs::read_link(copy.join(&name)) {
                assert_eq!(text, std::fs::read_link(root.join(&name)).unwrap());
            }
        }
    }
    want.sort();
    let mut have: Vec<_> = std::fs::read_dir(copy)
        .unwrap_or_else(|e| panic!("{}: {e}", copy.display()))
        .map(|e| e.unwrap().file_name())
        .filter(|n| !ignore.contains(&n.to_str().unwrap_or("")))
        .filter(|n| !dangling(root, n))
        .collect();
    have.sort();
    assert_eq!(have, want, "entries of {}", copy.display());
    for name in want {
        let server = root.join(&name);
        let local = copy.join(&name);
        let local_meta = std::fs::symlink_metadata(&local).unwrap();
        if local_meta.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(&local).unwrap(),
                std::fs::read_link(&server)
                    .unwrap_or_else(|_| panic!("{} is a link only in the copy", local.display())),
                "link text of {}",
                local.display()
            );
        } else if local_meta.is_dir() {
            assert!(
                server.is_dir(),
                "{} is a folder only in the copy",
                local.display()
            );
            assert_mirrored(&server, &local, ignore);
        } else {
            let want = std::fs::read(&server).unwrap();
            let got = std::fs::read(&local).unwrap();
            assert!(want == got, "content differs: {}", local.display());
        }
    }
}

/// The argon2id hash `ringftpd hash-password` prints for `password`.
pub fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(crate::binary("ringftpd"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "hash-password failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A users file with one account, its password hashed by `ringftpd hash-password`.
pub fn users_file(
    dir: &Path,
    name: &str,
    password: &str,
    perms: &str,
    root: Option<&Path>,
) -> PathBuf {
    let hash = hash_password(password);
    let root = root
        .map(|r| format!("root = \"{}\"\n", r.display()))
        .unwrap_or_default();
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!(
            "[[user]]\nname = \"{name}\"\npassword = \"{hash}\"\n{root}permissions = [{perms}]\n"
        ),
    )
    .unwrap();
    path
}
