//! The code around a region's Cranelift function, and fault recovery.
//!
//! Layout in the code cache: `[stub][PC table][Cranelift function]`.
//!
//! ```text
//! entry:  push rbx; push r12; push r13       ; the baseline frame
//!         mov rbx, rdi; mov r12, rsi; mov r13, rdx
//! body:   push rbx, r12, r13, r14, r15, rbp  ; chained code jumps here
//!         mov [r13 + host_sp], rsp
//!         call func(state, ctx, slots)
//! after:  pop rbp, r15, r14, r13, r12, rbx
//!         kind == NEXT: interrupt check, IBTC lookup, jump to the target
//!         kind == OPT_FAULT: kind = FAULT, fault_pc = table[opt_scratch]
//! epilogue: pop r13; pop r12; pop rbx; ret
//! ```
//!
//! A guest access in the Cranelift code that faults is redirected by
//! [`redirect_fault`] to `after` with the stack pointer reset to
//! `host_sp`: the six pops restore every callee-saved register the
//! abandoned Cranelift frame may have clobbered.

use super::OptError;
use super::lower::{CTX_FAULT_PC, CTX_HOST_SP, CTX_KIND, CTX_OPT_SCRATCH};
use crate::JitCtx;
use crate::baseline::{BlockFn, ChainConfig, EntryFn, IBTC_ENTRIES, KIND_FAULT};
use crate::cache::CodeCache;
use core::sync::atomic::{AtomicUsize, Ordering};
use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynasmApi, DynasmLabelApi, VecAssembler, dynasm};

/// `ctx.kind` set by the fault handler; the stub turns it into
/// [`KIND_FAULT`] after filling in the guest PC.
const KIND_OPT_FAULT: u64 = 0x100;

pub(crate) struct Installed {
    pub entry: EntryFn,
    pub body: u64,
    pub bytes: usize,
}

/// Code cache ranges that may hold region code (checked by the handler).
static RANGES: [(AtomicUsize, AtomicUsize); 32] =
    [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 32];

fn register(range: (usize, usize)) -> Result<(), OptError> {
    for (s, e) in &RANGES {
        if s.load(Ordering::Acquire) == range.0 && e.load(Ordering::Acquire) == range.1 {
            return Ok(());
        }
    }
    for (s, e) in &RANGES {
        if s.compare_exchange(0, range.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            e.store(range.1, Ordering::Release);
            return Ok(());
        }
    }
    Err(OptError::Unsupported("too many code caches"))
}

fn in_ranges(rip: usize) -> bool {
    RANGES.iter().any(|(s, e)| {
        let s = s.load(Ordering::Acquire);
        s != 0 && rip >= s && rip < e.load(Ordering::Acquire)
    })
}

/// Installs the stub, the PC table and the Cranelift code.
pub(crate) fn install(
    code: &[u8],
    pcs: &[u64],
    cache: &mut CodeCache,
    chain: ChainConfig,
) -> Result<Installed, OptError> {
    register(cache.range())?;
    let mut ops = VecAssembler::<X64Relocation>::new(0);
    let body = ops.new_dynamic_label();
    let func = ops.new_dynamic_label();
    let not_next = ops.new_dynamic_label();
    let epilogue = ops.new_dynamic_label();
    let table = ops.new_dynamic_label();
    let (int_off, info_off) = (chain.interrupt, chain.exit_info);
    dynasm!(ops
        ; .arch x64
        ; push rbx
        ; push r12
        ; push r13
        ; mov rbx, rdi
        ; mov r12, rsi
        ; mov r13, rdx
        ; =>body
        ; push rbx
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; push rbp
        ; mov QWORD [r13 + CTX_HOST_SP], rsp
        ; mov rdi, rbx
        ; mov rsi, r13
        ; mov rdx, r12
        ; call =>func
        ; pop rbp
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbx
        ; mov rcx, QWORD [r13 + CTX_KIND]
        ; test rcx, rcx
        ; jnz =>not_next
        ; mov rcx, QWORD [rbx + int_off]
        ; or rcx, QWORD [rbx + info_off]
        ; jnz =>epilogue
    );
    if chain.ibtc != 0 {
        let mask = (IBTC_ENTRIES - 1) as i32;
        let t = chain.ibtc as i64;
        dynasm!(ops
            ; .arch x64
            ; mov rcx, rax
            ; shr rcx, 2
            ; and ecx, mask
            ; shl rcx, 4
            ; mov rdx, QWORD t
            ; add rdx, rcx
            ; cmp QWORD [rdx], rax
            ; jne =>epilogue
            ; jmp QWORD [rdx + 8]
        );
    } else {
        dynasm!(ops ; .arch x64 ; jmp =>epilogue);
    }
    dynasm!(ops
        ; .arch x64
        ; =>not_next
        ; cmp rcx, KIND_OPT_FAULT as i32
        ; jne =>epilogue
        ; mov QWORD [r13 + CTX_KIND], KIND_FAULT as i32
        ; mov rcx, QWORD [r13 + CTX_OPT_SCRATCH]
        ; lea rdx, [=>table]
        ; mov rax, QWORD [rdx + rcx * 8]
        ; mov QWORD [r13 + CTX_FAULT_PC], rax
        ; =>epilogue
        ; pop r13
        ; pop r12
        ; pop rbx
        ; ret
        ; .align 8
        ; =>table
    );
    for &pc in pcs {
        dynasm!(ops ; .arch x64 ; .u64 pc);
    }
    dynasm!(ops ; .arch x64 ; .align 16 ; =>func);
    let body_off = ops
        .labels()
        .resolve_dynamic(body)
        .map_err(|e| OptError::Codegen(e.to_string()))?
        .0;
    ops.extend(code.iter().copied());
    let bytes = ops
        .finalize()
        .map_err(|e| OptError::Codegen(format!("{e:?}")))?;
    let start = cache.install(&bytes).ok_or(OptError::CacheFull)?;
    // SAFETY: `start` is the stub just installed, which follows the
    // baseline block calling convention (System V, three pointers, u64).
    let f: BlockFn = unsafe { core::mem::transmute::<*const u8, BlockFn>(start) };
    Ok(Installed {
        entry: EntryFn::from_fn(f),
        body: start as u64 + body_off as u64,
        bytes: bytes.len(),
    })
}

/// To be called by the host SIGSEGV/SIGBUS handler (async-signal-safe: no
/// locks, no allocation). If the fault is a guest memory access of
/// optimizing-tier code, makes the region return it as a guest fault
/// (`ctx.kind` = [`KIND_FAULT`]) and returns true.
///
/// # Safety
/// `uc` must be the `ucontext_t` the kernel passed to the handler.
pub unsafe fn redirect_fault(uc: *mut libc::ucontext_t, fault_addr: u64) -> bool {
    // SAFETY: the caller passes the handler's ucontext, which is writable.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as usize;
    if !in_ranges(rip) {
        return false;
    }
    // Region code keeps frame pointers: the Cranelift frame's rbp points
    // at its saved rbp, above it the return address into the stub, and
    // above that the stub's six saved registers (ctx = saved r13).
    let rbp = gregs[libc::REG_RBP as usize] as u64;
    if !rbp.is_multiple_of(8) || rbp < 4096 {
        return false;
    }
    let host_sp = rbp + 16;
    // SAFETY: when rip is in region code, rbp is its frame pointer and
    // these words are the stub's frame on the same stack.
    let (ret, ctx) = unsafe {
        (
            *((rbp + 8) as *const u64),
            *((host_sp + 24) as *const *mut JitCtx),
        )
    };
    // SAFETY: a non-null ctx saved by the stub is the running JitCtx;
    // the host_sp check rejects anything else.
    unsafe {
        if ctx.is_null() || !(ctx as usize).is_multiple_of(8) || (*ctx).host_sp != host_sp {
            return false;
        }
        let err = gregs[libc::REG_ERR as usize] as u64;
        (*ctx).fault_status = 1 | (err & 2);
        (*ctx).fault_addr = fault_addr;
        (*ctx).kind = KIND_OPT_FAULT;
    }
    gregs[libc::REG_RSP as usize] = host_sp as i64;
    gregs[libc::REG_RIP as usize] = ret as i64;
    true
}
