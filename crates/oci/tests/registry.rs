//! Against a real registry (Debian's docker-registry on 127.0.0.1): pulls by
//! tag and digest per platform, whiteouts, corrupted blobs, resumed pulls,
//! and interop with skopeo and umoci.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use xarch_oci::{Error, Platform, PullOptions, RegistryOptions, Store, layout};

fn insecure() -> PullOptions {
    PullOptions {
        registry: RegistryOptions {
            tls_verify: false,
            retries: 1,
            ..Default::default()
        },
        progress: false,
        parallel: 2,
    }
}

fn arm64() -> Platform {
    Platform::parse("linux/arm64").unwrap()
}
fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

/// Pushes the multi-arch busybox index as test/busybox:multi; returns (index digest, arm64, amd64).
fn push_multiarch(reg: &TestRegistry, work: &Path) -> Option<(String, Built, Built)> {
    let bb_arm = busybox("arm64")?;
    let bb_amd = busybox("amd64")?;
    let mut l = Layout::new(&work.join("layout"));
    let mut a = l.image("arm64", &[(busybox_layer(&bb_arm), "gzip")]);
    let mut b = l.image("amd64", &[(busybox_layer(&bb_amd), "none")]);
    l.tag_index(&[&a, &b], "multi");
    reg.push(&l.dir, "multi", "test/busybox:multi");
    // skopeo may re-serialise the index on push: take the digest the registry serves.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/test/busybox:multi", reg.addr()),
    ]);
    // It also compresses uncompressed layers, which changes that manifest.
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    for m in v["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap().to_string();
        match m["platform"]["architecture"].as_str().unwrap() {
            "arm64" => a.manifest_digest = d,
            _ => b.manifest_digest = d,
        }
    }
    Some((sha(raw.as_bytes()), a, b))
}

fn read(root: &Path, p: &str) -> Vec<u8> {
    std::fs::read(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn pull_multiarch_by_tag_and_digest() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let Some((idx, a, b)) = push_multiarch(&reg, work.path()) else {
        return;
    };
    let store = Store::open(work.path().join("store")).unwrap();
    let r = format!("{}/test/busybox:multi", reg.addr());

    let img = store.pull(&r, &arm64(), &insecure()).unwrap();
    assert_eq!(img.digest, a.manifest_digest);
    assert_eq!(img.top_digest, idx);
    assert_eq!(img.config_digest, a.config_digest);
    assert_eq!(img.platform, arm64());
    let root = store.rootfs(&img).unwrap();
    assert_eq!(elf_machine(&read(&root, "bin/busybox")), 183);
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );

    let img = store.pull(&r, &amd64(), &insecure()).unwrap();
    assert_eq!(img.digest, b.manifest_digest);
    let root = store.rootfs(&img).unwrap();
    assert_eq!(elf_machine(&read(&root, "bin/busybox")), 62);

    // Both platforms resolve locally afterwards; an absent one errors clearly.
    assert_eq!(
        store.resolve(&r, &arm64()).unwrap().digest,
        a.manifest_digest
    );
    let e = store
        .resolve(&r, &Platform::parse("linux/riscv64").unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::NoMatchingPlatform { .. }), "{e}");
    let e = store
        .pull(&r, &Platform::parse("linux/s390x").unwrap(), &insecure())
        .unwrap_err();
    assert!(e.to_string().contains("linux/arm64"), "{e}");

    // By digest: the index digest, and a platform manifest digest directly.
    let by_idx = format!("{}/test/busybox@{idx}", reg.addr());
    let img = store.pull(&by_idx, &amd64(), &insecure()).unwrap();
    assert_eq!(img.digest, b.manifest_digest);
    let by_manifest = format!("{}/test/busybox@{}", reg.addr(), a.manifest_digest);
    let img = store.pull(&by_manifest, &arm64(), &insecure()).unwrap();
    assert_eq!(img.digest, a.manifest_digest);
    assert_eq!(img.top_digest, a.manifest_digest);
    // A single-platform manifest for the wrong platform is refused.
    assert!(store.pull(&by_manifest, &amd64(), &insecure()).is_err());

    let names: Vec<String> = store.list().unwrap().into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&format!("{}/test/busybox:multi", reg.addr())),
        "{names:?}"
    );

    // rmi drops the names; prune then leaves no blobs behind.
    for n in names {
        store.remove(&n).unwrap();
    }
    let left = std::fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
}

#[test]
fn whiteout_hides_lower_file() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let Some(bb) = busybox("arm64") else { return };
    let mut l = Layout::new(&work.path().join("layout"));
    let upper = layer_tar(&[
        Item::Dir("etc/"),
        Item::File("etc/.wh.gone", b"", 0o644),
        Item::File("etc/new", b"upper\n", 0o600),
        Item::Hardlink("etc/new-link", "etc/new"),
        Item::Dir("var/opq/"),
        Item::File("var/opq/.wh..wh..opq", b"", 0o644),
        Item::File("var/opq/fresh", b"fresh\n", 0o644),
    ]);
    let img = l.image("arm64", &[(busybox_layer(&bb), "gzip"), (upper, "zstd")]);
    l.tag_image(&img, "two");
    reg.push(&l.dir, "two", "test/two:latest");

    let store = Store::open(work.path().join("store")).unwrap();
    let pulled = store
        .pull(&format!("{}/test/two", reg.addr()), &arm64(), &insecure())
        .unwrap();
    assert_eq!(pulled.layers.len(), 2);
    let root = store.rootfs(&pulled).unwrap();
    assert!(
        !root.join("etc/gone").exists(),
        "whiteout did not hide etc/gone"
    );
    assert!(!root.join("etc/.wh.gone").exists());
    assert_eq!(read(&root, "etc/hello"), b"lower\n");
    assert_eq!(read(&root, "etc/new"), b"upper\n");
    use std::os::unix::fs::MetadataExt;
    let m1 = std::fs::metadata(root.join("etc/new")).unwrap();
    let m2 = std::fs::metadata(root.join("etc/new-link")).unwrap();
    assert_eq!(m1.ino(), m2.ino(), "hard link not preserved");
    assert_eq!(m1.mode() & 0o7777, 0o600);
    assert!(
        !root.join("var/opq/old").exists(),
        "opaque dir kept lower content"
    );
    assert_eq!(read(&root, "var/opq/fresh"), b"fresh\n");
    // Cached: a second call returns the same directory without unpacking.
    assert_eq!(store.rootfs(&pulled).unwrap(), root);
}

#[test]
fn corrupted_blob_is_rejected_and_nothing_stored() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut l = Layout::new(&work.path().join("layout"));
    let payload = vec![b'x'; 200_000];
    let img = l.image(
        "arm64",
        &[(layer_tar(&[Item::File("data", &payload, 0o644)]), "gzip")],
    );
    l.tag_image(&img, "bad");
    reg.push(&l.dir, "bad", "test/bad:latest");

    // Tamper with the registry's stored layer: same size, different bytes.
    let f = reg.blob_file(&img.layer_digests[0]);
    let mut data = std::fs::read(&f).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&f, &data).unwrap();

    let store = Store::open(work.path().join("store")).unwrap();
    let e = store
        .pull(&format!("{}/test/bad", reg.addr()), &arm64(), &insecure())
        .unwrap_err();
    assert!(
        matches!(e, Error::DigestMismatch { .. }),
        "unexpected error: {e}"
    );
    assert!(!store.has_blob(&img.layer_digests[0]));
    assert!(!store.has_blob(&img.manifest_digest));
    assert!(store.list().unwrap().is_empty());
    let partial: Vec<_> = std::fs::read_dir(store.root().join("ingest"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(partial.is_empty(), "corrupt partial download left behind");
}

/// Child half of `killed_pull_resumes`: pulls through the slow proxy.
#[test]
fn child_pull_entry() {
    let (Ok(r), Ok(root)) = (
        std::env::var("XARCH_TEST_CHILD_REF"),
        std::env::var("XARCH_TEST_CHILD_ROOT"),
    ) else {
        return;
    };
    let store = Store::open(root).unwrap();
    let mut o = insecure();
    o.parallel = 1;
    store.pull(&r, &arm64(), &o).unwrap();
}

#[test]
fn killed_pull_resumes() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut l = Layout::new(&work.path().join("layout"));
    // 3 MB of incompressible data (xorshift), so the layer is big on the wire.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let payload: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let img = l.image(
        "arm64",
        &[(layer_tar(&[Item::File("big", &payload, 0o644)]), "gzip")],
    );
    l.tag_image(&img, "big");
    reg.push(&l.dir, "big", "test/big:latest");

    let proxy = Proxy::start(reg.port, 1_000_000);
    let root = work.path().join("store");
    let store = Store::open(&root).unwrap();
    let hex = &img.layer_digests[0][7..];
    let part = root.join("ingest").join(hex);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_pull_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "XARCH_TEST_CHILD_REF",
            format!("127.0.0.1:{}/test/big", proxy.port),
        )
        .env("XARCH_TEST_CHILD_ROOT", &root)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if len > 500_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pull made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "child finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial_len = std::fs::metadata(&part).unwrap().len();
    assert!(partial_len > 0 && partial_len < 3_000_000);
    assert!(
        !store.has_blob(&img.layer_digests[0]),
        "unfinished blob visible"
    );
    assert!(store.list().unwrap().is_empty());

    // Re-run (through a fast counting proxy): completes from the partial file,
    // fetching only the rest of the layer.
    let fast = Proxy::start(reg.port, 200_000_000);
    let pulled = store
        .pull(
            &format!("127.0.0.1:{}/test/big", fast.port),
            &arm64(),
            &insecure(),
        )
        .unwrap();
    let layer_size = std::fs::metadata(store.blob_path(&img.layer_digests[0]).unwrap())
        .unwrap()
        .len();
    let moved = fast.down.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        moved < layer_size - partial_len + 50_000,
        "resume re-downloaded too much: {moved} bytes for {} remaining",
        layer_size - partial_len
    );
    assert!(store.has_blob(&img.layer_digests[0]));
    assert!(!part.exists());
    let rootfs = store.rootfs(&pulled).unwrap();
    assert_eq!(std::fs::read(rootfs.join("big")).unwrap(), payload);
}

#[test]
fn export_is_read_by_skopeo_and_umoci() {
    if missing(&["umoci"]) {
        return;
    }
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let Some((_, a, _)) = push_multiarch(&reg, work.path()) else {
        return;
    };
    let store = Store::open(work.path().join("store")).unwrap();
    let img = store
        .pull(
            &format!("{}/test/busybox:multi", reg.addr()),
            &arm64(),
            &insecure(),
        )
        .unwrap();

    let out = work.path().join("exported");
    layout::export_oci_layout(&store, &img, &out, "v1").unwrap();
    let js = skopeo(&["inspect", &format!("oci:{}:v1", out.display())]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["Architecture"], "arm64");
    assert_eq!(v["Digest"], a.manifest_digest.as_str());

    let bundle = work.path().join("bundle");
    let st = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:v1", out.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(elf_machine(&read(&bundle, "rootfs/bin/busybox")), 183);

    let tarball = work.path().join("saved.tar");
    layout::export_archive(&store, &img, &tarball).unwrap();
    let js = skopeo(&["inspect", &format!("docker-archive:{}", tarball.display())]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["Architecture"], "arm64");
    // And our own import reads the archive back.
    let store2 = Store::open(work.path().join("store2")).unwrap();
    let names = layout::import(&store2, &tarball, None).unwrap();
    assert_eq!(names, vec![img.name.clone()]);
    let back = store2.resolve(&img.name, &arm64()).unwrap();
    assert_eq!(back.config_digest, img.config_digest);
}

#[test]
fn import_skopeo_layout_and_archive() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let Some((_, a, b)) = push_multiarch(&reg, work.path()) else {
        return;
    };
    let src = format!("docker://{}/test/busybox:multi", reg.addr());
    let dir = work.path().join("from-skopeo");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &src,
        &format!("oci:{}:multi", dir.display()),
    ]);
    let store = Store::open(work.path().join("store")).unwrap();
    let names = layout::import(&store, &dir, Some("example.org/busybox")).unwrap();
    assert_eq!(names, vec!["example.org/busybox:multi".to_string()]);
    let img = store
        .resolve("example.org/busybox:multi", &amd64())
        .unwrap();
    assert_eq!(img.digest, b.manifest_digest);
    let img = store
        .resolve("example.org/busybox:multi", &arm64())
        .unwrap();
    assert_eq!(img.digest, a.manifest_digest);
    assert_eq!(
        elf_machine(&read(&store.rootfs(&img).unwrap(), "bin/busybox")),
        183
    );

    let tarball = work.path().join("podman-style.tar");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--override-arch=arm64",
        &src,
        &format!("docker-archive:{}:test/saved:1", tarball.display()),
    ]);
    let names = layout::import(&store, &tarball, None).unwrap();
    assert_eq!(names, vec!["docker.io/test/saved:1".to_string()]);
    let img = store.resolve("test/saved:1", &arm64()).unwrap();
    // skopeo rewrites the config in Docker's format, so compare content.
    assert_eq!(img.config.architecture().to_string(), "arm64");
    assert_eq!(img.layers.len(), 1);
    assert_eq!(
        elf_machine(&read(&store.rootfs(&img).unwrap(), "bin/busybox")),
        183
    );
}

fn push_small(reg: &TestRegistry, work: &Path, repo: &str) -> Built {
    let mut l = Layout::new(&work.join(format!("layout-{}", repo.replace('/', "-"))));
    let img = l.image(
        "arm64",
        &[(layer_tar(&[Item::File("hello", b"hi\n", 0o644)]), "gzip")],
    );
    l.tag_image(&img, "v1");
    reg.push(&l.dir, "v1", &format!("{repo}:v1"));
    img
}

#[test]
fn bearer_token_and_basic_auth() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let img = push_small(&reg, work.path(), "test/auth");
    let alice = Some(xarch_oci::Credentials {
        username: "alice".into(),
        password: "s3cret".into(),
    });

    for mode in [AuthMode::Bearer, AuthMode::Basic] {
        let proxy = AuthProxy::start(reg.port, mode);
        let r = format!("127.0.0.1:{}/test/auth:v1", proxy.port);
        let store = Store::open(work.path().join(format!("store-{}", proxy.port))).unwrap();
        // Without credentials: a clear authentication error, nothing stored.
        let e = store.pull(&r, &arm64(), &insecure()).unwrap_err();
        assert!(matches!(e, Error::Auth { .. }), "{e}");
        assert!(store.list().unwrap().is_empty());
        // With them: the challenge flow completes and the pull succeeds.
        let mut o = insecure();
        o.registry.credentials = alice.clone();
        let pulled = store.pull(&r, &arm64(), &o).unwrap();
        assert_eq!(pulled.digest, img.manifest_digest);
        let root = store.rootfs(&pulled).unwrap();
        assert_eq!(std::fs::read(root.join("hello")).unwrap(), b"hi\n");
        if let AuthMode::Bearer = mode {
            // One token per client (two clients: the failed and the good pull).
            let n = proxy
                .token_requests
                .load(std::sync::atomic::Ordering::SeqCst);
            assert!((2..=3).contains(&n), "token requests: {n}");
        }
    }
}
