//! Dynamically linked arm64 programs under `xarch run --sysroot`: glibc's
//! loader from the cross toolchain (`/usr/aarch64-linux-gnu`), libm,
//! LD_LIBRARY_PATH, dlopen/dlsym, TLS in every model (local exec, initial
//! exec, TLS descriptors, dynamic TLS of a dlopen'ed module), an IFUNC
//! resolver reading HWCAP, sysroot path translation, Debian's musl loader
//! and the missing-loader error. Programs are cross-compiled from
//! tests/rootfs_progs into $XARCH_CACHE/rootfs-tests; tests skip with a
//! message when the cross compiler is missing.

#[path = "rootfs_progs/common.rs"]
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// main + libtls.so + libplugin.so, built once per test run.
fn dynmain() -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if !have_cross() {
                return None;
            }
            let dir = cache_dir();
            let d = dir.to_str().unwrap();
            cc("libtls.so", &["-O1", "-fPIC", "-shared", "libtls.c"]);
            cc("libplugin.so", &["-O1", "-fPIC", "-shared", "plugin.c"]);
            Some(cc(
                "dynmain",
                &[
                    "-O1",
                    "dynmain.c",
                    &format!("-L{d}"),
                    "-ltls",
                    "-lm",
                    "-ldl",
                ],
            ))
        })
        .as_deref()
}

const EXPECTED: &str = "args 2 arg1
libm 1.414214 0.540302
tls exe 4 lib 23
ifunc 1 asimd 1
strlen 63
plugin 100 1000
dlsym cbrt 3.000
";

fn dyn_cmd(prog: &Path) -> Command {
    let mut c = xarch();
    c.env("LD_LIBRARY_PATH", cache_dir())
        .env_remove("CLOCK_LOOPS");
    c.arg("run")
        .arg("--sysroot")
        .arg(CROSS_SYSROOT)
        .arg(prog)
        .arg("arg1");
    c
}

#[test]
fn glibc_dynamic_tls_dlopen_ifunc_libm() {
    let Some(prog) = dynmain() else { return };
    let (code, out, err) = run(dyn_cmd(prog));
    assert_eq!((code, out.as_str()), (0, EXPECTED), "stderr: {err}");
}

#[test]
fn same_output_as_qemu() {
    let Some(prog) = dynmain() else { return };
    let qemu = Command::new("qemu-aarch64")
        .env("LD_LIBRARY_PATH", cache_dir())
        .args(["-L", CROSS_SYSROOT])
        .arg(prog)
        .arg("arg1")
        .output();
    let Some(q) = qemu.ok().filter(|o| o.status.success()) else {
        eprintln!("skipping: qemu-aarch64 is not installed");
        return;
    };
    let (_, out, _) = run(dyn_cmd(prog));
    assert_eq!(out, String::from_utf8_lossy(&q.stdout));
}

#[test]
fn sysroot_from_environment() {
    let Some(prog) = dynmain() else { return };
    for var in ["XARCH_SYSROOT", "QEMU_LD_PREFIX"] {
        let mut c = xarch();
        c.env("LD_LIBRARY_PATH", cache_dir())
            .env(var, CROSS_SYSROOT)
            .arg("run")
            .arg(prog)
            .arg("arg1");
        let (code, out, err) = run(c);
        assert_eq!((code, out.as_str()), (0, EXPECTED), "{var}: {err}");
    }
}

/// The time calls are served by xarch's guest vDSO (an inline call to the
/// host's clock) or, with `XARCH_NO_VDSO=1`, by system calls through the
/// emulator. Both must agree with the kernel's clocks (checked by the
/// program). Their speed is printed for reference only: speed is measured
/// by benchmarks, never asserted in tests.
#[test]
fn clock_gettime_works_with_and_without_the_vdso() {
    let Some(prog) = dynmain() else { return };
    for (vdso, expect) in [("0", 1), ("1", 0)] {
        let mut c = dyn_cmd(prog);
        c.env("CLOCK_LOOPS", "200000").env("XARCH_NO_VDSO", vdso);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{err}");
        let line = out
            .lines()
            .find(|l| l.starts_with("clock_gettime"))
            .expect("clock line");
        let ns: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        eprintln!("XARCH_NO_VDSO={vdso}: {line}");
        assert!(ns > 0.0, "{line}");
        let check = format!("vdso {expect} ordered 1 realtime 1 res 1 bad 1");
        assert!(out.contains(&check), "expected {check:?} in:\n{out}");
    }
}

#[test]
fn guest_paths_are_looked_up_in_the_sysroot_first() {
    if !have_cross() {
        return;
    }
    let probe = cc("probe-static", &["-O1", "-static", "probe.c"]);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc/sub")).unwrap();
    std::fs::write(r.join("etc/xarch-only-here"), "inside the sysroot\n").unwrap();
    std::os::unix::fs::symlink("/etc/xarch-only-here", r.join("etc/sub/abs-link")).unwrap();
    let host_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(host_file.path(), "on the host\n").unwrap();
    let host = host_file.path().to_str().unwrap();
    let mut c = xarch();
    c.arg("run").arg("--sysroot").arg(r).arg(&probe).args([
        "read:/etc/xarch-only-here",
        "read:/etc/sub/abs-link",
        "link:/etc/sub/abs-link",
        &format!("read:{host}"),
        // /proc comes from the host, seen as the guest: comm is the guest program.
        "read:/proc/self/status",
        "null",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "read:/etc/xarch-only-here: inside the sysroot\n\
             read:/etc/sub/abs-link: inside the sysroot\n\
             link:/etc/sub/abs-link: /etc/xarch-only-here\n\
             read:{host}: on the host\n\
             read:/proc/self/status: Name:\tprobe-static\n\
             null: 1 1 0\n"
        )
    );
}

#[test]
fn missing_loader_names_it_and_the_fix() {
    if !have_cross() {
        return;
    }
    let prog = cc(
        "needs-musl-loader",
        &[
            "-O1",
            "probe.c",
            "-Wl,--dynamic-linker=/lib/ld-musl-aarch64.so.1",
        ],
    );
    let mut c = xarch();
    c.arg("run").arg(&prog);
    let (code, _, err) = run(c);
    assert_eq!(code, 121, "{err}");
    assert!(err.contains("/lib/ld-musl-aarch64.so.1"), "{err}");
    assert!(err.contains("musl") && err.contains("--sysroot"), "{err}");
}

/// Debian's musl for arm64 (pinned), unpacked into the cache.
fn musl_root() -> Option<PathBuf> {
    const VERSION: &str = "1.2.3-1";
    let root = cache_dir().join(format!("musl-{VERSION}"));
    if root.join("lib/ld-musl-aarch64.so.1").exists() {
        return Some(root);
    }
    let debs = cache_dir().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    for pkg in ["musl", "musl-dev"] {
        let ok = Command::new("apt-get")
            .args(["download", &format!("{pkg}:arm64={VERSION}")])
            .current_dir(&debs)
            .status()
            .is_ok_and(|s| s.success());
        let deb = debs.join(format!("{pkg}_{VERSION}_arm64.deb"));
        if !ok || !deb.exists() {
            eprintln!("skipping: cannot download {pkg}:arm64={VERSION}");
            return None;
        }
        let st = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .status();
        assert!(st.is_ok_and(|s| s.success()));
    }
    Some(root)
}

#[test]
fn musl_dynamic_program_with_sysroot() {
    if !have_cross() {
        return;
    }
    let Some(root) = musl_root() else { return };
    let r = root.to_str().unwrap();
    let gcc_inc = Command::new("aarch64-linux-gnu-gcc")
        .arg("-print-file-name=include")
        .output()
        .unwrap();
    let gcc_inc = String::from_utf8(gcc_inc.stdout).unwrap();
    let libgcc = Command::new("aarch64-linux-gnu-gcc")
        .arg("-print-libgcc-file-name")
        .output()
        .unwrap();
    let libgcc = String::from_utf8(libgcc.stdout).unwrap();
    let lib = format!("{r}/usr/lib/aarch64-linux-musl");
    let prog = cc(
        "musl-hello",
        &[
            "-O1",
            "-nostdinc",
            "-nostdlib",
            "-isystem",
            &format!("{r}/usr/include/aarch64-linux-musl"),
            "-isystem",
            gcc_inc.trim(),
            &format!("{lib}/crt1.o"),
            &format!("{lib}/crti.o"),
            "musl_hello.c",
            &format!("-L{lib}"),
            "-lc",
            libgcc.trim(),
            &format!("{lib}/crtn.o"),
            "-Wl,--dynamic-linker=/lib/ld-musl-aarch64.so.1",
        ],
    );
    let mut c = xarch();
    c.arg("run").arg("--sysroot").arg(&root).arg(&prog).arg("x");
    let (code, out, err) = run(c);
    assert_eq!((code, out.as_str()), (3, "hello from musl 2\n"), "{err}");
}

#[test]
fn pthreads_with_tls() {
    if !have_cross() {
        return;
    }
    let prog = cc("threads", &["-O1", "-pthread", "threads.c"]);
    let mut c = xarch();
    c.arg("run").arg("--sysroot").arg(CROSS_SYSROOT).arg(&prog);
    let (code, out, err) = run(c);
    assert_eq!((code, out.as_str()), (0, "total 1000000\n"), "{err}");
}

/// xarch's descriptor of the sysroot directory is not the guest's: it is
/// not listed in /proc/self/fd, and a guest that closes every descriptor
/// (daemons, CPython's close_fds) still has its paths looked up there.
#[test]
fn sysroot_descriptor_is_hidden_and_survives_close_range() {
    if !have_cross() {
        return;
    }
    let prog = cc("sysroot_fds", &["-O1", "sysroot_fds.c"]);
    let mut c = xarch();
    c.arg("run").arg("-L").arg(CROSS_SYSROOT).arg(&prog);
    let (code, out, err) = run(c);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "fds: 0 1 2; sysroot directories open: 0\nloader found after close_range: yes\n"
        ),
        "stderr: {err}"
    );
}

/// The persistent code cache with a dynamically linked program: its
/// loader, libraries, dlopen'ed plugin and the position-independent
/// program itself are placed at the same guest addresses at every run, so
/// a second run finds nearly all of its code stored (with the kernel's
/// randomized placement it found almost none).
#[test]
fn a_second_run_finds_its_libraries_code_stored() {
    let Some(prog) = dynmain() else { return };
    let cache = tempfile::tempdir().unwrap();
    let stats = || {
        let mut c = dyn_cmd(prog);
        c.env("XARCH_CODE_CACHE", cache.path())
            .env("XARCH_STATS", "1");
        let (code, out, err) = run(c);
        assert_eq!((code, out.as_str()), (0, EXPECTED), "stderr: {err}");
        // Summed over the engines: translations made, blocks installed,
        // stale records.
        let (mut made, mut installed, mut stale) = (0u64, 0u64, 0u64);
        for l in err.lines() {
            let num = |s: &str| s.trim().parse::<u64>().unwrap_or(0);
            if let Some(rest) = l.strip_prefix("xarch: ")
                && let Some((n, _)) = rest.split_once(" translations (")
            {
                made += num(n);
            }
            if let Some((_, rest)) = l
                .strip_prefix("xarch: code store ")
                .and_then(|r| r.rsplit_once(".xcc: "))
            {
                let mut parts = rest.split(", ");
                installed += parts
                    .next()
                    .and_then(|p| p.strip_suffix(" blocks installed"))
                    .map_or(0, num);
                stale += parts
                    .next()
                    .and_then(|p| p.strip_suffix(" stale"))
                    .map_or(0, num);
            }
        }
        (made, installed, stale, err)
    };
    let (_, cold_installed, _, _) = stats();
    let (made, installed, stale, err) = stats();
    assert!(
        made > 500 && stale == 0 && installed * 10 >= made * 9 && installed > cold_installed,
        "{made} translations, {installed} installed, {stale} stale:\n{err}"
    );
}
