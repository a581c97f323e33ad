//! lftp `mirror` of a tree with nested folders, spaces and UTF-8 names, empty files
//! and a 200 MiB file, compared byte for byte.

use std::path::Path;
use std::process::Command;

use ringftp_tests::{require_tool, run_ok, write_pattern, Server};

fn build_tree(root: &Path) {
    let deep = root.join("pool/main/a b/ü-ñ 文件");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(root.join("empty dir")).unwrap();
    std::fs::write(root.join("empty.txt"), b"").unwrap();
    std::fs::write(deep.join("zero"), b"").unwrap();
    write_pattern(&deep.join("naïve file.deb"), 123_457);
    write_pattern(&root.join("pool/main/Packages"), 70_001);
    write_pattern(&root.join("pool/large.iso"), 200 << 20);
    for i in 0..50 {
        write_pattern(&root.join(format!("pool/main/small-{i}.txt")), i * 997);
    }
}

fn assert_same_tree(a: &Path, b: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(a).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let other = b.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            assert!(other.is_dir(), "missing folder {}", other.display());
            assert_same_tree(&e.path(), &other);
        } else {
            let want = std::fs::read(e.path()).unwrap();
            let got =
                std::fs::read(&other).unwrap_or_else(|_| panic!("missing {}", other.display()));
            assert!(want == got, "content differs: {}", other.display());
        }
    }
}

#[test]
fn lftp_mirror_copies_the_tree_exactly() {
    let root = tempfile::tempdir().unwrap();
    build_tree(root.path());
    let server = Server::serve(root.path(), &[]);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let script = format!(
        "set net:max-retries 1; set net:timeout 30; set ftp:passive-mode true; open ftp://anonymous:x@{}; mirror --parallel=4 / {}; bye",
        server.addr(),
        target.display()
    );
    run_ok(Command::new(require_tool("lftp")).arg("-c").arg(&script));
    assert_same_tree(root.path(), &target);
    assert_same_tree(&target, root.path());
}

#[test]
fn lftp_mirror_in_active_mode() {
    let root = tempfile::tempdir().unwrap();
    let deep = root.path().join("a/b c");
    std::fs::create_dir_all(&deep).unwrap();
    write_pattern(&deep.join("f.bin"), 300_000);
    std::fs::write(root.path().join("a/empty"), b"").unwrap();
    let server = Server::serve(root.path(), &[]);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let script = format!(
        "set net:max-retries 1; set net:timeout 30; set ftp:passive-mode false; open ftp://anonymous:x@{}; mirror / {}; bye",
        server.addr(),
        target.display()
    );
    run_ok(Command::new(require_tool("lftp")).arg("-c").arg(&script));
    assert_same_tree(root.path(), &target);
}
