//! Guest memory accesses that survive bad addresses.
//!
//! Guest memory is host memory, so a guest load from an unmapped address is
//! a host SIGSEGV. Backends therefore perform guest accesses through these
//! tiny assembly routines: when one of them faults, the host signal handler
//! calls [`fixup`], which makes the routine return a fault status with the
//! faulting address instead of crashing xarch (the kernel's
//! exception-table technique for `copy_from_user`). The runtime then raises
//! SIGSEGV in the guest at the exact guest instruction.

use core::arch::global_asm;

/// Result of a guarded access: `fault` is 0 on success; bit 0 set if the
/// access faulted at `addr`, bit 1 set if the faulting access was a write.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MemStatus {
    /// Non-zero if the access faulted.
    pub fault: u64,
    /// The faulting address (valid when `fault` is non-zero).
    pub addr: u64,
}

// Every routine: rdi = guest address, rsi = value (stores) or out pointer
// (loads, and 128-bit stores pass a pointer to the value). rax = 0 on the
// success path; on a fault `fixup` sets rax = 1, rdx = address and resumes
// at `xarch_guest_mem_landing`, which returns to the caller.
global_asm!(
    ".text",
    ".globl xarch_guest_mem_begin",
    "xarch_guest_mem_begin:",
    "xarch_guest_load8: movzx eax, byte ptr [rdi]; mov [rsi], rax; xor eax, eax; ret",
    "xarch_guest_load16: movzx eax, word ptr [rdi]; mov [rsi], rax; xor eax, eax; ret",
    "xarch_guest_load32: mov eax, dword ptr [rdi]; mov [rsi], rax; xor eax, eax; ret",
    "xarch_guest_load64: mov rax, qword ptr [rdi]; mov [rsi], rax; xor eax, eax; ret",
    "xarch_guest_load128: movdqu xmm0, xmmword ptr [rdi]; movdqu xmmword ptr [rsi], xmm0; xor eax, eax; ret",
    "xarch_guest_stores_begin:",
    "xarch_guest_store8: mov byte ptr [rdi], sil; xor eax, eax; ret",
    "xarch_guest_store16: mov word ptr [rdi], si; xor eax, eax; ret",
    "xarch_guest_store32: mov dword ptr [rdi], esi; xor eax, eax; ret",
    "xarch_guest_store64: mov qword ptr [rdi], rsi; xor eax, eax; ret",
    "xarch_guest_store128: movdqu xmm0, xmmword ptr [rsi]; movdqu xmmword ptr [rdi], xmm0; xor eax, eax; ret",
    // Compare-and-swap: rdi = address, rsi = pointer to the expected value
    // (receives the old value), rdx = pointer to the new value.
    "xarch_guest_cas8: movzx eax, byte ptr [rsi]; movzx ecx, byte ptr [rdx]; lock cmpxchg byte ptr [rdi], cl; mov [rsi], al; xor eax, eax; ret",
    "xarch_guest_cas16: movzx eax, word ptr [rsi]; movzx ecx, word ptr [rdx]; lock cmpxchg word ptr [rdi], cx; mov [rsi], ax; xor eax, eax; ret",
    "xarch_guest_cas32: mov eax, dword ptr [rsi]; mov ecx, dword ptr [rdx]; lock cmpxchg dword ptr [rdi], ecx; mov [rsi], eax; xor eax, eax; ret",
    "xarch_guest_cas64: mov rax, qword ptr [rsi]; mov rcx, qword ptr [rdx]; lock cmpxchg qword ptr [rdi], rcx; mov [rsi], rax; xor eax, eax; ret",
    "xarch_guest_mem_landing: ret",
    // cmpxchg16b needs rbx, so it saves it and has its own landing.
    "xarch_guest_cas128_start:",
    "xarch_guest_cas128: push rbx; mov r8, rdx; mov rax, qword ptr [rsi]; mov rdx, qword ptr [rsi + 8]; mov rbx, qword ptr [r8]; mov rcx, qword ptr [r8 + 8]; lock cmpxchg16b xmmword ptr [rdi]; mov [rsi], rax; mov [rsi + 8], rdx; pop rbx; xor eax, eax; ret",
    "xarch_guest_cas128_landing: pop rbx; ret",
    ".globl xarch_guest_mem_end",
    "xarch_guest_mem_end:",
    ".globl xarch_guest_load8, xarch_guest_load16, xarch_guest_load32, xarch_guest_load64, xarch_guest_load128",
    ".globl xarch_guest_store8, xarch_guest_store16, xarch_guest_store32, xarch_guest_store64, xarch_guest_store128",
    ".globl xarch_guest_mem_landing, xarch_guest_stores_begin",
    ".globl xarch_guest_cas8, xarch_guest_cas16, xarch_guest_cas32, xarch_guest_cas64",
    ".globl xarch_guest_cas128, xarch_guest_cas128_start, xarch_guest_cas128_landing",
);

unsafe extern "C" {
    fn xarch_guest_mem_begin();
    fn xarch_guest_mem_end();
    fn xarch_guest_mem_landing();
    fn xarch_guest_stores_begin();
    fn xarch_guest_cas128_start();
    fn xarch_guest_cas128_landing();
    fn xarch_guest_cas8(addr: u64, expected: *mut u128, new: *const u128) -> MemStatus;
    fn xarch_guest_cas16(addr: u64, expected: *mut u128, new: *const u128) -> MemStatus;
    fn xarch_guest_cas32(addr: u64, expected: *mut u128, new: *const u128) -> MemStatus;
    fn xarch_guest_cas64(addr: u64, expected: *mut u128, new: *const u128) -> MemStatus;
    #[link_name = "xarch_guest_cas128"]
    fn xarch_guest_cas128_fn(addr: u64, expected: *mut u128, new: *const u128) -> MemStatus;
    fn xarch_guest_load8(addr: u64, out: *mut u64) -> MemStatus;
    fn xarch_guest_load16(addr: u64, out: *mut u64) -> MemStatus;
    fn xarch_guest_load32(addr: u64, out: *mut u64) -> MemStatus;
    fn xarch_guest_load64(addr: u64, out: *mut u64) -> MemStatus;
    fn xarch_guest_load128(addr: u64, out: *mut u128) -> MemStatus;
    fn xarch_guest_store8(addr: u64, v: u64) -> MemStatus;
    fn xarch_guest_store16(addr: u64, v: u64) -> MemStatus;
    fn xarch_guest_store32(addr: u64, v: u64) -> MemStatus;
    fn xarch_guest_store64(addr: u64, v: u64) -> MemStatus;
    fn xarch_guest_store128(addr: u64, v: *const u128) -> MemStatus;
}

/// A guest memory access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The faulting address.
    pub addr: u64,
    /// Whether the access was a write.
    pub write: bool,
}

/// Address of the guarded load routine for `bytes` (1, 2, 4, 8 or 16), for
/// generated code: `rdi` = address, `rsi` = pointer to an 8-byte (16 for
/// 128-bit) result; returns [`MemStatus`] in `rax:rdx`; clobbers only
/// `rax`, `rdx`, `rsi`, `rdi` and `xmm0`.
pub fn load_routine(bytes: u32) -> usize {
    match bytes {
        1 => xarch_guest_load8 as *const () as usize,
        2 => xarch_guest_load16 as *const () as usize,
        4 => xarch_guest_load32 as *const () as usize,
        8 => xarch_guest_load64 as *const () as usize,
        _ => xarch_guest_load128 as *const () as usize,
    }
}

/// Address of the guarded store routine for `bytes`: `rdi` = address,
/// `rsi` = value (pointer to the value for 16 bytes); as [`load_routine`].
pub fn store_routine(bytes: u32) -> usize {
    match bytes {
        1 => xarch_guest_store8 as *const () as usize,
        2 => xarch_guest_store16 as *const () as usize,
        4 => xarch_guest_store32 as *const () as usize,
        8 => xarch_guest_store64 as *const () as usize,
        _ => xarch_guest_store128 as *const () as usize,
    }
}

/// Loads `bytes` (1, 2, 4, 8 or 16) from guest address `addr`.
/// Returns the value or the faulting address.
#[inline]
pub fn load(addr: u64, bytes: u32) -> Result<u128, Fault> {
    let mut out64 = 0u64;
    let mut out128 = 0u128;
    // SAFETY: the routines only touch `addr` (guarded by the fault fixup)
    // and the out pointer, which is a valid local.
    let st = unsafe {
        match bytes {
            1 => xarch_guest_load8(addr, &mut out64),
            2 => xarch_guest_load16(addr, &mut out64),
            4 => xarch_guest_load32(addr, &mut out64),
            8 => xarch_guest_load64(addr, &mut out64),
            _ => xarch_guest_load128(addr, &mut out128),
        }
    };
    if st.fault != 0 {
        Err(Fault {
            addr: st.addr,
            write: st.fault & 2 != 0,
        })
    } else if bytes == 16 {
        Ok(out128)
    } else {
        Ok(out64 as u128)
    }
}

/// Stores the low `bytes` of `value` to guest address `addr`.
/// Returns the faulting address on failure.
#[inline]
pub fn store(addr: u64, bytes: u32, value: u128) -> Result<(), Fault> {
    // SAFETY: as for `load`; the 128-bit value is passed by pointer to a local.
    let st = unsafe {
        match bytes {
            1 => xarch_guest_store8(addr, value as u64),
            2 => xarch_guest_store16(addr, value as u64),
            4 => xarch_guest_store32(addr, value as u64),
            8 => xarch_guest_store64(addr, value as u64),
            _ => xarch_guest_store128(addr, &value),
        }
    };
    if st.fault != 0 {
        Err(Fault {
            addr: st.addr,
            write: true,
        })
    } else {
        Ok(())
    }
}

/// Atomically replaces the `bytes`-byte value at guest address `addr` with
/// `new` if it equals `expected`; returns the value found there (equal to
/// `expected` iff the swap happened). A 16-byte access must be 16-byte
/// aligned (a misaligned one is reported as a fault). The access counts as
/// a write even when the comparison fails, as on Arm and x86.
#[inline]
pub fn cmpxchg(addr: u64, bytes: u32, expected: u128, new: u128) -> Result<u128, Fault> {
    let mut cur = expected;
    // SAFETY: the routines only touch `addr` (guarded by the fault fixup)
    // and the two locals passed by pointer.
    let st = unsafe {
        match bytes {
            1 => xarch_guest_cas8(addr, &mut cur, &new),
            2 => xarch_guest_cas16(addr, &mut cur, &new),
            4 => xarch_guest_cas32(addr, &mut cur, &new),
            8 => xarch_guest_cas64(addr, &mut cur, &new),
            _ => xarch_guest_cas128_fn(addr, &mut cur, &new),
        }
    };
    if st.fault != 0 {
        return Err(Fault {
            addr: st.addr,
            write: true,
        });
    }
    let mask = if bytes >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * bytes)) - 1
    };
    Ok(cur & mask)
}

/// Atomically replaces the `bytes`-byte (1, 2, 4 or 8) value `m` at guest
/// address `addr` with `op(m, v)` and returns `m`: a loop of guarded
/// compare-and-swaps, so it is atomic against other host threads and a
/// fault (also on a read-only page) is reported, never fatal.
#[inline]
pub fn atomic_rmw(addr: u64, bytes: u32, op: crate::ops::RmwOp, v: u128) -> Result<u128, Fault> {
    let mut cur = load(addr, bytes)?;
    loop {
        let new = op.apply(cur, v, 8 * bytes);
        let found = cmpxchg(addr, bytes, cur, new)?;
        if found == cur {
            return Ok(cur);
        }
        cur = found;
    }
}

/// Called by the host SIGSEGV/SIGBUS handler. If the fault happened inside
/// a guarded access routine, redirects it to return a fault status and
/// returns true; otherwise returns false (a fault elsewhere is not ours to
/// fix).
///
/// # Safety
/// `uc` must be the `ucontext_t` the kernel passed to the handler.
pub unsafe fn fixup(uc: *mut libc::ucontext_t, fault_addr: u64) -> bool {
    // SAFETY: the caller passes the handler's ucontext, which is writable.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as u64;
    let begin = xarch_guest_mem_begin as *const () as u64;
    let end = xarch_guest_mem_end as *const () as u64;
    if rip < begin || rip >= end {
        return false;
    }
    // Which routine faulted tells whether it was a write (the x86 error
    // code does not for general-protection faults).
    let write = rip >= xarch_guest_stores_begin as *const () as u64;
    // A non-canonical address raises #GP, for which the kernel reports
    // address 0: report the guest's address instead, as arm64 would.
    let addr = if fault_addr == 0 {
        gregs[libc::REG_RDI as usize] as u64
    } else {
        fault_addr
    };
    gregs[libc::REG_RAX as usize] = 1 | ((write as i64) << 1);
    gregs[libc::REG_RDX as usize] = addr as i64;
    let landing = if rip >= xarch_guest_cas128_start as *const () as u64 {
        xarch_guest_cas128_landing as *const () as i64
    } else {
        xarch_guest_mem_landing as *const () as i64
    };
    gregs[libc::REG_RIP as usize] = landing;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_work_on_valid_memory() {
        let mut buf = [0u8; 32];
        let a = buf.as_mut_ptr() as u64;
        store(a + 3, 4, 0xdead_beef).unwrap();
        assert_eq!(load(a + 3, 4).unwrap(), 0xdead_beef);
        assert_eq!(load(a + 4, 1).unwrap(), 0xbe);
        store(a + 8, 16, u128::MAX - 5).unwrap();
        assert_eq!(load(a + 8, 16).unwrap(), u128::MAX - 5);
        assert_eq!(load(a + 8, 8).unwrap(), u64::MAX as u128 - 5);
    }

    extern "C" fn on_segv(_: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
        // SAFETY: the kernel passes valid siginfo and ucontext pointers.
        let handled = unsafe { fixup(uc as *mut libc::ucontext_t, (*info).si_addr() as u64) };
        assert!(handled, "fault outside guarded accesses");
    }

    #[test]
    fn faults_are_reported_not_fatal() {
        // SAFETY: installs a process-wide handler that only redirects faults
        // inside the guarded routines; the sigaction struct is zeroed first.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = on_segv as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSEGV, &sa, core::ptr::null_mut());
        }
        assert_eq!(
            load(8, 8),
            Err(Fault {
                addr: 8,
                write: false
            })
        );
        assert_eq!(
            load(0x10, 16),
            Err(Fault {
                addr: 0x10,
                write: false
            })
        );
        assert_eq!(
            store(0x20, 4, 1),
            Err(Fault {
                addr: 0x20,
                write: true
            })
        );
        // Compare-and-swap: success, failure, and faults.
        let mut buf = [0u128; 2];
        let a = buf.as_mut_ptr() as u64;
        for bytes in [1, 2, 4, 8, 16] {
            buf[0] = 0;
            assert_eq!(cmpxchg(a, bytes, 1, 7), Ok(0));
            assert_eq!(buf[0], 0);
            assert_eq!(cmpxchg(a, bytes, 0, 7), Ok(0));
            assert_eq!(buf[0], 7);
            assert_eq!(
                cmpxchg(0x40, bytes, 0, 1),
                Err(Fault {
                    addr: 0x40,
                    write: true
                })
            );
        }
        assert!(cmpxchg(a + 8, 16, 0, 1).is_err(), "misaligned 16-byte CAS");
        // A read-only page faults on write only.
        static RO: [u8; 8] = [7; 8];
        assert_eq!(load(RO.as_ptr() as u64, 1), Ok(7));
        let r = store(RO.as_ptr() as u64, 1, 1);
        assert_eq!(
            r,
            Err(Fault {
                addr: RO.as_ptr() as u64,
                write: true
            })
        );
    }
}
