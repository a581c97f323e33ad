//! Path handling per command: lexical normalisation of client arguments
//! (`VirtualPath::join_client`) for typical and hostile input, and mapping onto a real
//! folder with the symlink-escape check (`Vfs::resolve`), with and without the stat
//! that RETR, SIZE, MDTM and CWD need.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ringftp_control::vfs::{Vfs, VirtualPath};

const DEB: &str = "pub/debian/pool/main/l/linux/linux-image-6.1.0-18-amd64_6.1.76-1_amd64.deb";

fn bench_join(c: &mut Criterion) {
    let root = VirtualPath::root();
    let cwd = root
        .join_client(b"/pub/debian/dists/bookworm/main/binary-amd64")
        .expect("valid cwd");
    let absolute = format!("/{DEB}");
    let dotdot_flood = "../".repeat(1000) + "etc/passwd";
    let deep = "a/".repeat(1300) + "file";
    let cases: Vec<(&str, &VirtualPath, Vec<u8>)> = vec![
        ("typical absolute", &root, absolute.into_bytes()),
        ("typical relative", &cwd, b"Packages.xz".to_vec()),
        ("typical parent", &cwd, b"../../Release".to_vec()),
        (
            "hostile ../etc/passwd",
            &cwd,
            b"../../../../../../../etc/passwd".to_vec(),
        ),
        (
            "hostile ./ and // mix",
            &cwd,
            b"/./.././/..//../etc//./shadow".to_vec(),
        ),
        ("hostile 1000 x ../", &cwd, dotdot_flood.into_bytes()),
        ("hostile 1300 components", &root, deep.into_bytes()),
        ("hostile NUL", &cwd, b"file\0.iso".to_vec()),
    ];
    let mut group = c.benchmark_group("join_client");
    for (name, base, arg) in &cases {
        group.bench_with_input(BenchmarkId::from_parameter(name), arg, |b, arg| {
            b.iter(|| black_box(base.join_client(black_box(arg))).is_ok())
        });
    }
    group.finish();
}

fn bench_resolve(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    let deb = root.join(DEB);
    std::fs::create_dir_all(deb.parent().expect("has parent")).expect("create tree");
    std::fs::write(&deb, b"deb").expect("create file");
    std::fs::create_dir_all(dir.path().join("outside")).expect("create outside");
    std::os::unix::fs::symlink("pub/debian", root.join("debian")).expect("inner symlink");
    std::os::unix::fs::symlink("../outside", root.join("escape")).expect("escape symlink");
    let vfs = Vfs::new(&root, false).expect("open tree");
    let cwd = VirtualPath::root();

    let deb_via_link = DEB.replacen("pub/debian", "debian", 1);
    let new_upload = DEB.replace(".deb", ".new.deb");
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("existing file (RETR)", DEB.as_bytes().to_vec(), true),
        ("new file (STOR)", new_upload.into_bytes(), true),
        ("via inner symlink", deb_via_link.into_bytes(), true),
        (
            "escaping symlink (refused)",
            b"escape/secret".to_vec(),
            false,
        ),
        (
            "missing folder (refused)",
            b"pub/nowhere/file".to_vec(),
            false,
        ),
    ];
    let mut group = c.benchmark_group("vfs_resolve");
    for (name, arg, ok) in &cases {
        assert_eq!(vfs.resolve(&cwd, arg).is_ok(), *ok, "{name}");
        group.bench_with_input(BenchmarkId::from_parameter(name), arg, |b, arg| {
            b.iter(|| black_box(vfs.resolve(&cwd, black_box(arg))).is_ok())
        });
    }
    group.finish();

    // RETR, SIZE, MDTM and CWD want the metadata too: through the handle that checked
    // the path, against a second walk of it.
    let deb = DEB.as_bytes();
    let mut group = c.benchmark_group("vfs_resolve_and_stat");
    group.bench_function("resolve_with_metadata (RETR)", |b| {
        b.iter(|| {
            let (_, meta) = vfs.resolve_with_metadata(&cwd, black_box(deb)).unwrap();
            black_box(meta.map(|m| m.len()).ok())
        })
    });
    group.bench_function("resolve, then metadata by path", |b| {
        b.iter(|| {
            let resolved = vfs.resolve(&cwd, black_box(deb)).unwrap();
            black_box(vfs.metadata(&resolved).map(|m| m.len()).ok())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_join, bench_resolve);
criterion_main!(benches);
