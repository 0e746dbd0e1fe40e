//! The arm64 structure layouts and constants in `abi` checked against the
//! arm64 kernel headers by the cross compiler (`_Static_assert`s generated
//! from the Rust values). Skips when `aarch64-linux-gnu-gcc` is missing.

use std::mem::{offset_of, size_of};
use std::process::Command;
use xarch_a64::sysregs::{HWCAP_ASIMD, HWCAP_CPUID, HWCAP_FP};
use xarch_linux::abi::*;

#[test]
fn layouts_match_arm64_kernel_headers() {
    let checks = [
        ("sizeof(struct stat)", size_of::<Stat>() as u64),
        (
            "offsetof(struct stat, st_size)",
            offset_of!(Stat, st_size) as u64,
        ),
        (
            "offsetof(struct stat, st_blocks)",
            offset_of!(Stat, st_blocks) as u64,
        ),
        (
            "offsetof(struct stat, st_mtime)",
            offset_of!(Stat, st_mtime) as u64,
        ),
        ("sizeof(struct statfs)", size_of::<Statfs>() as u64),
        (
            "offsetof(struct statfs, f_frsize)",
            offset_of!(Statfs, f_frsize) as u64,
        ),
        ("sizeof(struct epoll_event)", size_of::<EpollEvent>() as u64),
        (
            "offsetof(struct epoll_event, data)",
            offset_of!(EpollEvent, data) as u64,
        ),
        ("sizeof(struct sigcontext)", size_of::<SigContext>() as u64),
        (
            "offsetof(struct sigcontext, regs)",
            offset_of!(SigContext, regs) as u64,
        ),
        (
            "offsetof(struct sigcontext, pc)",
            offset_of!(SigContext, pc) as u64,
        ),
        (
            "offsetof(struct sigcontext, __reserved)",
            offset_of!(SigContext, reserved) as u64,
        ),
        (
            "sizeof(struct fpsimd_context)",
            size_of::<FpsimdContext>() as u64,
        ),
        (
            "offsetof(struct fpsimd_context, vregs)",
            offset_of!(FpsimdContext, vregs) as u64,
        ),
        ("FPSIMD_MAGIC", FPSIMD_MAGIC as u64),
        (
            "offsetof(struct ucontext, uc_sigmask)",
            offset_of!(UContext, uc_sigmask) as u64,
        ),
        (
            "offsetof(struct ucontext, uc_mcontext)",
            offset_of!(UContext, uc_mcontext) as u64,
        ),
        ("sizeof(struct ucontext)", size_of::<UContext>() as u64),
        ("O_DIRECTORY", oflags::A64_O_DIRECTORY),
        ("O_NOFOLLOW", oflags::A64_O_NOFOLLOW),
        ("O_DIRECT", oflags::A64_O_DIRECT),
        ("O_LARGEFILE", oflags::A64_O_LARGEFILE),
        ("SA_RESTORER", sa::RESTORER),
        ("SA_ONSTACK", sa::ONSTACK),
        ("SA_RESTART", sa::RESTART),
        ("SA_SIGINFO", sa::SIGINFO),
        ("AT_MINSIGSTKSZ", at::MINSIGSTKSZ),
        ("AT_HWCAP2", at::HWCAP2),
        ("HWCAP_FP", HWCAP_FP),
        ("HWCAP_ASIMD", HWCAP_ASIMD),
        ("HWCAP_CPUID", HWCAP_CPUID),
        ("PROT_BTI", 0x10),
    ];
    let mut src = String::from(
        "#include <stddef.h>\n#include <asm/stat.h>\n#include <asm/statfs.h>\n#include <asm/sigcontext.h>\n\
         #include <asm/fcntl.h>\n#include <asm/signal.h>\n#include <linux/eventpoll.h>\n#include <asm/ucontext.h>\n\
         #include <asm/auxvec.h>\n#include <linux/auxvec.h>\n#include <asm/hwcap.h>\n#include <asm/mman.h>\n",
    );
    for (expr, v) in checks {
        src.push_str(&format!(
            "_Static_assert(({expr}) == {v}ULL, \"{expr} is not {v}\");\n"
        ));
    }
    let dir = std::env::temp_dir().join(format!("xarch-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("abi.c");
    std::fs::write(&file, src).unwrap();
    let out = match Command::new("aarch64-linux-gnu-gcc")
        .arg("-fsyntax-only")
        .arg(&file)
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            eprintln!("skipping: aarch64-linux-gnu-gcc is not available");
            return;
        }
    };
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
