//! Layer unpacking: a corpus of hostile tars (generated here) must be
//! rejected without writing outside the root; ordinary features must work.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use xarch_oci::unpack::{UnpackOptions, Unpacker};
use xarch_oci::{Error, RootfsView, ViewKind, ViewMode};

/// A raw ustar header, so hostile names are written exactly as given.
fn raw_entry(out: &mut Vec<u8>, name: &str, typeflag: u8, link: &str, data: &[u8], mode: u32) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |buf: &mut [u8], v: u64| {
        let s = format!("{:0width$o}\0", v, width = buf.len() - 1);
        buf.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], data.len() as u64);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

enum E<'a> {
    F(&'a str, &'a [u8]),
    D(&'a str),
    S(&'a str, &'a str),
    H(&'a str, &'a str),
}

fn tar(entries: &[E]) -> Vec<u8> {
    let mut v = Vec::new();
    for e in entries {
        match e {
            E::F(n, d) => raw_entry(&mut v, n, b'0', "", d, 0o644),
            E::D(n) => raw_entry(&mut v, n, b'5', "", b"", 0o755),
            E::S(n, t) => raw_entry(&mut v, n, b'2', t, b"", 0o777),
            E::H(n, t) => raw_entry(&mut v, n, b'1', t, b"", 0o644),
        }
    }
    v.extend_from_slice(&[0u8; 1024]);
    v
}

struct Sandbox {
    _t: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn sandbox() -> Sandbox {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("sentinel"), b"original").unwrap();
    Sandbox {
        _t: t,
        root,
        outside,
    }
}

fn apply(root: &Path, layers: &[Vec<u8>]) -> xarch_oci::Result<xarch_oci::UnpackReport> {
    let mut u = Unpacker::new(root, UnpackOptions::default())?;
    for l in layers {
        u.apply_layer(&l[..])?;
    }
    u.finish()
}

fn assert_outside_untouched(s: &Sandbox) {
    let names: Vec<_> = std::fs::read_dir(&s.outside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "something was written outside: {names:?}");
    assert_eq!(
        std::fs::read(s.outside.join("sentinel")).unwrap(),
        b"original"
    );
}

#[test]
fn hostile_tars_are_rejected() {
    let abs_outside = |s: &Sandbox| s.outside.display().to_string();
    type Case = (&'static str, Box<dyn Fn(&Sandbox) -> Vec<Vec<u8>>>);
    let cases: Vec<Case> = vec![
        (
            "dotdot",
            Box::new(|_| vec![tar(&[E::F("../outside/pwned", b"x")])]),
        ),
        (
            "absolute",
            Box::new(|_| vec![tar(&[E::F("/tmp/xarch-pwned", b"x")])]),
        ),
        (
            "inner dotdot",
            Box::new(|_| vec![tar(&[E::D("a/"), E::F("a/../../outside/pwned", b"x")])]),
        ),
        (
            "write through relative symlink",
            Box::new(|_| vec![tar(&[E::S("evil", "../outside"), E::F("evil/pwned", b"x")])]),
        ),
        (
            "write through absolute symlink",
            Box::new(move |s| {
                let t = abs_outside(s);
                vec![tar(&[E::S("evil", &t), E::F("evil/sentinel", b"x")])]
            }),
        ),
        (
            "symlink from lower layer",
            Box::new(move |s| {
                let t = abs_outside(s);
                vec![tar(&[E::S("lib", &t)]), tar(&[E::F("lib/pwned", b"x")])]
            }),
        ),
        (
            "dir replaced by symlink",
            Box::new(move |s| {
                let t = abs_outside(s);
                vec![tar(&[E::D("x/"), E::S("x", &t), E::F("x/pwned", b"x")])]
            }),
        ),
        (
            "hardlink dotdot",
            Box::new(|_| vec![tar(&[E::H("h", "../outside/sentinel")])]),
        ),
        (
            "hardlink absolute",
            Box::new(|_| vec![tar(&[E::H("h", "/etc/passwd")])]),
        ),
        (
            "hardlink through symlink",
            Box::new(move |s| {
                let t = abs_outside(s);
                vec![tar(&[E::S("d", &t), E::H("h", "d/sentinel")])]
            }),
        ),
        (
            "whiteout through symlink",
            Box::new(move |s| {
                let t = abs_outside(s);
                vec![tar(&[E::S("d", &t)]), tar(&[E::F("d/.wh.sentinel", b"")])]
            }),
        ),
        (
            "opaque through symlink",
            Box::new(move |s| {
                let t = abs_outside(s);
                vec![tar(&[E::S("d", &t)]), tar(&[E::F("d/.wh..wh..opq", b"")])]
            }),
        ),
        (
            "malformed whiteout",
            Box::new(|_| vec![tar(&[E::F(".wh..", b"")])]),
        ),
        ("garbage", Box::new(|_| vec![vec![0x55u8; 2048]])),
        (
            "truncated",
            Box::new(|_| {
                let mut t = tar(&[E::F("big", &[7u8; 4096])]);
                t.truncate(1024);
                vec![t]
            }),
        ),
    ];
    for (name, mk) in cases {
        let s = sandbox();
        let layers = mk(&s);
        let r = apply(&s.root, &layers);
        let e = match r {
            Err(e) => e,
            Ok(_) => panic!("{name}: hostile tar was accepted"),
        };
        assert!(
            matches!(e, Error::UnsafeEntry { .. } | Error::IoContext { .. }),
            "{name}: unexpected error kind: {e}"
        );
        assert!(
            !e.to_string().contains('\n'),
            "{name}: error is not one line: {e}"
        );
        assert_outside_untouched(&s);
    }
}

#[test]
fn file_replaces_symlink_instead_of_writing_through_it() {
    let s = sandbox();
    let t = s.outside.join("sentinel").display().to_string();
    apply(
        &s.root,
        &[tar(&[E::S("f", &t)]), tar(&[E::F("f", b"mine")])],
    )
    .unwrap();
    assert_outside_untouched(&s);
    let m = std::fs::symlink_metadata(s.root.join("f")).unwrap();
    assert!(m.file_type().is_file());
    assert_eq!(std::fs::read(s.root.join("f")).unwrap(), b"mine");
    // Symlinks to absolute targets are kept as links, not followed.
    apply(&s.root, &[tar(&[E::S("abs", "/etc/passwd")])]).unwrap();
    assert_eq!(
        std::fs::read_link(s.root.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
}

#[test]
fn modes_owners_links_fifos_devices() {
    let s = sandbox();
    let mut b = tar::Builder::new(Vec::new());
    let mut add =
        |p: &str, t: tar::EntryType, mode: u32, uid: u64, data: &[u8], dev: Option<(u32, u32)>| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(t);
            h.set_mode(mode);
            h.set_uid(uid);
            h.set_gid(uid + 1);
            h.set_size(data.len() as u64);
            h.set_mtime(1_600_000_000);
            if let Some((ma, mi)) = dev {
                h.set_device_major(ma).unwrap();
                h.set_device_minor(mi).unwrap();
            }
            b.append_data(&mut h, p, data).unwrap();
        };
    add("ro/", tar::EntryType::Directory, 0o555, 0, b"", None);
    add(
        "ro/suid",
        tar::EntryType::Regular,
        0o4755,
        1234,
        b"#!/bin/sh\n",
        None,
    );
    add("fifo", tar::EntryType::Fifo, 0o600, 0, b"", None);
    add("null", tar::EntryType::Char, 0o666, 0, b"", Some((1, 3)));
    let mut layer = b.into_inner().unwrap();
    // A later layer writes into the read-only directory.
    let layer2 = tar(&[E::F("ro/later", b"ok")]);
    let _ = layer.flush();
    let rep = apply(&s.root, &[layer, layer2]).unwrap();
    let m = std::fs::metadata(s.root.join("ro")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o555);
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!(std::fs::read(s.root.join("ro/later")).unwrap(), b"ok");
    let m = std::fs::metadata(s.root.join("ro/suid")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o4755);
    if rustix::process::geteuid().is_root() {
        assert_eq!((m.uid(), m.gid()), (1234, 1235));
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(s.root.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    match std::fs::symlink_metadata(s.root.join("null")) {
        Ok(m) => assert!(m.file_type().is_char_device()),
        Err(_) => {
            assert_eq!(rep.skipped_devices, vec!["null".to_string()]);
            assert!(rep.notes()[0].contains("device"));
        }
    }
}

#[test]
fn whiteouts_and_opaque_dirs() {
    let s = sandbox();
    let lower = tar(&[
        E::D("d/"),
        E::F("d/a", b"a"),
        E::F("d/b", b"b"),
        E::D("o/"),
        E::F("o/old", b""),
    ]);
    let upper = tar(&[
        E::F("d/.wh.a", b""),
        E::D("o/"),
        E::F("o/new", b"n"),
        E::F("o/.wh..wh..opq", b""),
        E::F(".wh.missing", b""),
    ]);
    apply(&s.root, &[lower, upper]).unwrap();
    assert!(!s.root.join("d/a").exists());
    assert!(s.root.join("d/b").exists());
    assert!(!s.root.join("o/old").exists());
    // Entries of the same layer survive the opaque marker even when listed before it.
    assert_eq!(std::fs::read(s.root.join("o/new")).unwrap(), b"n");
    assert!(!s.root.join("o/.wh..wh..opq").exists());
}

#[test]
fn compressed_layers_are_detected() {
    let t = tar(&[E::F("x", b"hello")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&t).unwrap();
    let gz = gz.finish().unwrap();
    let zs = zstd::encode_all(&t[..], 1).unwrap();
    for data in [t.clone(), gz, zs] {
        let s = sandbox();
        let mut u = Unpacker::new(&s.root, UnpackOptions::default()).unwrap();
        u.apply_layer(xarch_oci::unpack::decompress(&data[..]).unwrap())
            .unwrap();
        u.finish().unwrap();
        assert_eq!(std::fs::read(s.root.join("x")).unwrap(), b"hello");
    }
}

#[test]
fn copy_view_is_private() {
    let s = sandbox();
    apply(
        &s.root,
        &[tar(&[
            E::D("etc/"),
            E::F("etc/f", b"lower"),
            E::S("l", "etc/f"),
            E::H("etc/h", "etc/f"),
        ])],
    )
    .unwrap();
    let dir = s._t.path().join("c1");
    let v = RootfsView::create(&s.root, &dir, ViewMode::Copy).unwrap();
    assert_eq!(v.kind, ViewKind::Copy);
    std::fs::write(v.merged.join("etc/f"), b"changed").unwrap();
    assert_eq!(std::fs::read(s.root.join("etc/f")).unwrap(), b"lower");
    assert_eq!(
        std::fs::read_link(v.merged.join("l")).unwrap(),
        Path::new("etc/f")
    );
    let a = std::fs::metadata(v.merged.join("etc/f")).unwrap().ino();
    assert_eq!(
        std::fs::metadata(v.merged.join("etc/h")).unwrap().ino(),
        a,
        "hard link not kept"
    );
    v.release().unwrap();
    assert!(!dir.exists());
}

#[test]
fn overlay_view_or_fallback() {
    let s = sandbox();
    apply(&s.root, &[tar(&[E::F("f", b"lower")])]).unwrap();
    let dir = s._t.path().join("c2");
    let v = RootfsView::create(&s.root, &dir, ViewMode::Auto).unwrap();
    if v.kind == ViewKind::Overlay {
        std::fs::write(v.merged.join("f"), b"changed").unwrap();
        assert_eq!(std::fs::read(v.upper.join("f")).unwrap(), b"changed");
    } else {
        eprintln!(
            "note: overlay not permitted here ({:?}); copy fallback used",
            v.overlay_error
        );
        std::fs::write(v.merged.join("f"), b"changed").unwrap();
    }
    assert_eq!(std::fs::read(s.root.join("f")).unwrap(), b"lower");
    v.release().unwrap();
    assert!(!dir.exists());
}
