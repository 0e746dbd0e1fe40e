//! A real guest JIT: Debian's arm64 LuaJIT compiles hot Lua loops to arm64
//! machine code at run time, flushes its traces (`jit.flush()`) and
//! compiles new ones into the same machine-code area, so xarch must notice
//! every rewrite of guest code (IC IVAU, mprotect, munmap). The output
//! must equal Debian's amd64 LuaJIT of the same version run natively, and
//! LuaJIT's own interpreter (`-joff`) under xarch. The packages are
//! downloaded pinned into the cache; the test skips without them.

#[path = "rootfs_progs/common.rs"]
mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

const VERSION: &str = "2.1.0~beta3+git20220320+dfsg-4.1+deb12u1";

/// LuaJIT of `arch`, unpacked into the cache.
fn luajit(arch: &str) -> Option<PathBuf> {
    let root = cache_dir().join(format!("luajit-{arch}-{VERSION}"));
    if root.join("usr/bin/luajit").exists() {
        return Some(root);
    }
    let debs = cache_dir().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let tmp = cache_dir().join(format!("luajit-{arch}.tmp{}", std::process::id()));
    for pkg in ["luajit", "libluajit-5.1-2"] {
        let deb = debs.join(format!("{pkg}_{}_{arch}.deb", VERSION.replace(':', "%3a")));
        if !deb.exists() {
            let ok = Command::new("apt-get")
                .args(["download", &format!("{pkg}:{arch}={VERSION}")])
                .current_dir(&debs)
                .status()
                .is_ok_and(|s| s.success());
            if !ok || !deb.exists() {
                eprintln!("skipping: cannot download {pkg}:{arch}={VERSION}");
                return None;
            }
        }
        let st = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&tmp)
            .status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "dpkg-deb -x {}",
            deb.display()
        );
    }
    // Parallel tests may race: the first complete rename wins.
    let _ = std::fs::rename(&tmp, &root);
    let _ = std::fs::remove_dir_all(&tmp);
    Some(root)
}

#[test]
fn luajit_traces_match_native_and_the_interpreter() {
    if !have_cross() {
        return;
    }
    let (Some(arm), Some(amd)) = (luajit("arm64"), luajit("amd64")) else {
        return;
    };
    let script = src_dir().join("luajit.lua");
    let native = Command::new(amd.join("usr/bin/luajit"))
        .env("LD_LIBRARY_PATH", amd.join("usr/lib/x86_64-linux-gnu"))
        .arg(&script)
        .output()
        .unwrap();
    assert!(native.status.success());
    let native = String::from_utf8(native.stdout).unwrap();
    let guest = |args: &[&str]| {
        let mut c = xarch();
        c.env("LD_LIBRARY_PATH", arm.join("usr/lib/aarch64-linux-gnu"))
            .args(["run", "--sysroot", CROSS_SYSROOT])
            .arg(arm.join("usr/bin/luajit"))
            .args(args)
            .arg(&script);
        run(c)
    };
    let (code, out, err) = guest(&[]);
    assert_eq!((code, out.as_str()), (0, native.as_str()), "stderr: {err}");
    // The script counts the traces LuaJIT compiled (and so ran as arm64
    // code it wrote itself).
    let traces: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("traces "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(traces >= 8, "LuaJIT compiled only {traces} traces:\n{err}");
    let (code, out, err) = guest(&["-joff"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, native.replace("jit\ton", "jit\toff"));
}
