//! The initial guest stack, laid out as Linux/arm64 builds it
//! (`create_elf_tables` in fs/binfmt_elf.c): from the top down the
//! execfn string, environment strings, argument strings, the platform
//! string, 16 random bytes, then (16-byte aligned) `argc`, `argv[]`, NULL,
//! `envp[]`, NULL and the auxiliary vector ending in `AT_NULL`.

use crate::abi::{self, at};
use crate::mm::{GuestMemory, page_up};

/// Default stack size when RLIMIT_STACK is unlimited or unusable.
pub const DEFAULT_STACK: u64 = 8 << 20;

/// What the auxiliary vector says about the loaded program.
#[derive(Clone, Debug, Default)]
pub struct AuxInfo {
    /// `AT_PHDR`.
    pub phdr: u64,
    /// `AT_PHENT`.
    pub phent: u64,
    /// `AT_PHNUM`.
    pub phnum: u64,
    /// `AT_BASE`: the interpreter's load address, 0 without one.
    pub base: u64,
    /// `AT_ENTRY`: the program's (not the interpreter's) entry point.
    pub entry: u64,
    /// `AT_SYSINFO_EHDR`: the guest vDSO's address, 0 without one.
    pub sysinfo_ehdr: u64,
}

/// The guest stack after setup.
#[derive(Clone, Debug)]
pub struct InitialStack {
    /// Initial SP (points at argc).
    pub sp: u64,
    /// Lowest address of the stack mapping.
    pub low: u64,
    /// One past the highest address of the stack mapping.
    pub high: u64,
    /// Address of the auxiliary vector.
    pub auxv: u64,
}

/// The stack size to map: RLIMIT_STACK, clamped to something sensible.
pub fn stack_size() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut rl) } == 0;
    if !ok || rl.rlim_cur == libc::RLIM_INFINITY {
        return DEFAULT_STACK;
    }
    page_up(rl.rlim_cur.clamp(256 << 10, 1 << 30))
}

struct Down {
    p: u64,
}

impl Down {
    fn bytes(&mut self, b: &[u8]) -> u64 {
        self.p -= b.len() as u64;
        // SAFETY: the caller checked that all strings fit in the stack mapping.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), self.p as *mut u8, b.len()) };
        self.p
    }
    fn cstr(&mut self, s: &[u8]) -> u64 {
        self.bytes(&[0]);
        self.bytes(s)
    }
}

/// Maps the stack and writes argc/argv/envp/auxv. `execfn` is the path
/// the program was started with (`AT_EXECFN`).
pub fn setup_stack(
    mm: &mut GuestMemory,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    aux: &AuxInfo,
) -> std::io::Result<InitialStack> {
    let size = stack_size();
    let strings: u64 = argv
        .iter()
        .chain(envp)
        .map(|s| s.len() as u64 + 1)
        .sum::<u64>()
        + execfn.len() as u64
        + 1;
    let pointers = (argv.len() + envp.len() + 64) as u64 * 8;
    if strings + pointers + 4096 > size / 4 {
        return Err(std::io::Error::from_raw_os_error(libc::E2BIG));
    }
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    let low = mm
        .mmap(
            0,
            size,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
        .map_err(std::io::Error::from_raw_os_error)?;
    let high = low + size;

    let mut w = Down { p: high - 8 };
    let execfn_p = w.cstr(execfn);
    let env_p: Vec<u64> = envp
        .iter()
        .rev()
        .map(|s| w.cstr(s))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let arg_p: Vec<u64> = argv
        .iter()
        .rev()
        .map(|s| w.cstr(s))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    w.p &= !15;
    let platform_p = w.cstr(b"aarch64");
    let mut random = [0u8; 16];
    getrandom(&mut random);
    w.p &= !15;
    let random_p = w.bytes(&random);

    // SAFETY: getuid and friends cannot fail.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    let mut auxv: Vec<(u64, u64)> = vec![
        (at::MINSIGSTKSZ, abi::GUEST_MINSIGSTKSZ),
        (at::HWCAP, abi::GUEST_HWCAP),
        (at::PAGESZ, abi::PAGE_SIZE),
        (at::CLKTCK, 100),
        (at::PHDR, aux.phdr),
        (at::PHENT, aux.phent),
        (at::PHNUM, aux.phnum),
        (at::BASE, aux.base),
        (at::FLAGS, 0),
        (at::ENTRY, aux.entry),
        (at::UID, uid as u64),
        (at::EUID, euid as u64),
        (at::GID, gid as u64),
        (at::EGID, egid as u64),
        // As the kernel decides for setuid/setgid programs (and binfmt_misc's
        // C flag, which gives the binary's credentials).
        (at::SECURE, u64::from(uid != euid || gid != egid)),
        (at::RANDOM, random_p),
        (at::HWCAP2, abi::GUEST_HWCAP2),
        (at::EXECFN, execfn_p),
        (at::PLATFORM, platform_p),
    ];
    if aux.sysinfo_ehdr != 0 {
        // Where Linux puts it: first.
        auxv.insert(0, (at::SYSINFO_EHDR, aux.sysinfo_ehdr));
    }
    auxv.push((at::NULL, 0));
    let mut words: Vec<u64> = Vec::with_capacity(3 + arg_p.len() + env_p.len() + 2 * auxv.len());
    words.push(argv.len() as u64);
    words.extend(&arg_p);
    words.push(0);
    words.extend(&env_p);
    words.push(0);
    let auxv_index = words.len();
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    let sp = (w.p - 8 * words.len() as u64) & !15;
    for (i, word) in words.iter().enumerate() {
        // SAFETY: inside the stack mapping, below the strings.
        unsafe { ((sp + 8 * i as u64) as *mut u64).write(*word) };
    }
    Ok(InitialStack {
        sp,
        low,
        high,
        auxv: sp + 8 * auxv_index as u64,
    })
}

/// Fills `buf` with random bytes (best effort).
pub fn getrandom(buf: &mut [u8]) {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ i as u8;
        }
    }
}

/// Reads a NUL-terminated string at a guest address (test and strace helper).
///
/// # Safety
/// `addr` must point to readable memory holding a NUL-terminated string.
pub unsafe fn read_cstr(addr: u64) -> Vec<u8> {
    // SAFETY: guaranteed by the caller.
    unsafe { std::ffi::CStr::from_ptr(addr as *const libc::c_char) }
        .to_bytes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(a: u64) -> u64 {
        // SAFETY: test reads inside the stack it just built.
        unsafe { *(a as *const u64) }
    }

    #[test]
    fn layout_matches_linux() {
        let mut mm = GuestMemory::new();
        let argv = vec![b"prog".to_vec(), b"-x".to_vec()];
        let envp = vec![b"A=1".to_vec(), b"PATH=/bin".to_vec(), b"Z=".to_vec()];
        let aux = AuxInfo {
            phdr: 0x400040,
            phent: 56,
            phnum: 7,
            base: 0,
            entry: 0x401000,
            sysinfo_ehdr: 0x7000_0000,
        };
        let st = setup_stack(&mut mm, &argv, &envp, b"/usr/bin/prog", &aux).unwrap();
        assert_eq!(st.sp % 16, 0);
        assert!(st.sp > st.low && st.sp < st.high);
        assert_eq!(word(st.sp), 2);
        // SAFETY: pointers written by setup_stack into the stack.
        unsafe {
            assert_eq!(read_cstr(word(st.sp + 8)), b"prog");
            assert_eq!(read_cstr(word(st.sp + 16)), b"-x");
            assert_eq!(word(st.sp + 24), 0);
            for (i, e) in envp.iter().enumerate() {
                assert_eq!(&read_cstr(word(st.sp + 32 + 8 * i as u64)), e);
            }
        }
        assert_eq!(word(st.sp + 32 + 24), 0);
        assert_eq!(st.auxv, st.sp + 32 + 32);
        let mut auxv = std::collections::HashMap::new();
        let mut a = st.auxv;
        loop {
            let (k, v) = (word(a), word(a + 8));
            if k == at::NULL {
                break;
            }
            assert!(auxv.insert(k, v).is_none(), "duplicate auxv tag {k}");
            a += 16;
        }
        assert_eq!(auxv[&at::PHDR], 0x400040);
        assert_eq!(auxv[&at::PHENT], 56);
        assert_eq!(auxv[&at::PHNUM], 7);
        assert_eq!(auxv[&at::ENTRY], 0x401000);
        assert_eq!(auxv[&at::PAGESZ], 4096);
        assert_eq!(auxv[&at::HWCAP], xarch_a64::sysregs::HWCAP);
        assert_eq!(auxv[&at::MINSIGSTKSZ], 4720);
        assert_eq!(auxv[&at::SYSINFO_EHDR], 0x7000_0000);
        // SAFETY: pointers written by setup_stack into the stack.
        unsafe {
            assert_eq!(read_cstr(auxv[&at::PLATFORM]), b"aarch64");
            assert_eq!(read_cstr(auxv[&at::EXECFN]), b"/usr/bin/prog");
        }
        let r = auxv[&at::RANDOM];
        assert!(r > st.sp && r + 16 <= st.high && r % 16 == 0);
        // Strings live above the pointer block, execfn highest.
        assert!(auxv[&at::EXECFN] > word(st.sp + 32));
        assert!(word(st.sp + 32) > word(st.sp + 8));
    }

    #[test]
    fn huge_arguments_are_rejected() {
        let mut mm = GuestMemory::new();
        let big = vec![b'x'; stack_size() as usize];
        let r = setup_stack(&mut mm, &[big], &[], b"p", &AuxInfo::default());
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::E2BIG));
    }
}
