//! The code around a region's Cranelift function, and fault recovery.
//!
//! Layout in the code cache: `[stub][PC table][Cranelift function]`.
//!
//! ```text
//! entry:  push rbx, r12, r13, r14, r15        ; the baseline frame
//!         mov rbx, rdi; mov r12, rsi; mov r13, rdx
//! body:   (complete deferred baseline flags)   ; chained code jumps here
//!         (store rbp, r15, r14 to the pinned state fields)
//!         push rbx, r12, r13, rbp
//!         mov [r13 + host_sp], rsp
//!         call func(state, ctx, slots)         ; Winch convention
//! after:  pop rbp, r13, r12, rbx
//!         (load rbp, r15, r14 from the pinned state fields)
//!         kind == NEXT: interrupt check; region_exit = cell + 1: jump
//!           through the cell; 0: IBTC lookup
//!         kind == OPT_FAULT: kind = FAULT, from the mark in opt_scratch:
//!           fault_pc = table[mark.from], opt_scratch = table[mark.access]
//! epilogue: `emit_epilogue`
//! ```
//!
//! The function follows Winch's convention, which has no callee-saved
//! registers: the stub keeps what the baseline frame needs across it
//! (rbx, r12 and r13; rbp, r15 and r14, which baseline code keeps the
//! pinned state fields in, `ChainConfig::pinned`, go through the state
//! block around the call). Under System V the
//! function saved and restored five registers of its own on every entry,
//! on top of the stub's. A guest access in the Cranelift code that faults
//! is redirected by [`redirect_fault`] to `after` with the stack pointer
//! reset to `host_sp`: the four pops restore what the abandoned Cranelift
//! frame may have clobbered.

use super::OptError;
use super::lower::EntryFlags;
use crate::JitCtx;
use crate::baseline::{
    BlockFn, CTX_FAULT_PC, CTX_HOST_SP, CTX_KIND, CTX_OPT_SCRATCH, CTX_REGION_EXIT, ChainConfig,
    EntryFn, Exit, KIND_FAULT, STATE_BIAS, emit_complete_if_pending, emit_drop_return_stack,
    emit_epilogue, emit_ibtc_jump, emit_pinned_load, emit_pinned_store, emit_poll, emit_prologue,
    emit_return_through_stack,
};
use crate::cache::CodeCache;
use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynasmApi, DynasmLabelApi, VecAssembler, dynasm};

/// `ctx.kind` set by the fault handler; the stub turns it into
/// [`KIND_FAULT`] after filling in the guest PC.
const KIND_OPT_FAULT: u64 = 0x100;

pub(crate) struct Installed {
    pub entry: EntryFn,
    pub body: u64,
    pub bytes: usize,
    pub exits: Vec<Exit>,
}

/// Installs the stub, the PC table and the Cranelift code.
pub(crate) fn install(
    code: &[u8],
    pcs: &[u64],
    fault_sites: &[(u32, u32)],
    exit_targets: &[u64],
    entry_flags: EntryFlags,
    cache: &mut CodeCache,
    chain: ChainConfig,
) -> Result<Installed, OptError> {
    let mut ops = VecAssembler::<X64Relocation>::new(0);
    let body = ops.new_dynamic_label();
    let func = ops.new_dynamic_label();
    let not_next = ops.new_dynamic_label();
    let epilogue = ops.new_dynamic_label();
    let table = ops.new_dynamic_label();
    let cells = ops.new_dynamic_label();
    let indirect = ops.new_dynamic_label();
    // The baseline frame, so chained baseline code can jump to `body`.
    emit_prologue(&mut ops, body);
    if entry_flags == EntryFlags::Complete {
        // Chained baseline code may have left its flags deferred, and the
        // region reads the state's. The stack is aligned here.
        emit_complete_if_pending(&mut ops, false);
    }
    // The region reads and writes the pinned fields (the guest stack
    // pointer, X0 and X2) in the state block: chained baseline code kept
    // them in registers.
    emit_pinned_store(&mut ops, chain.pinned);
    dynasm!(ops
        ; .arch x64
        // (An even number of pushes: the call keeps the stack aligned.)
        ; push rbx
        ; push r12
        ; push r13
        ; push rbp
        ; mov QWORD [r13 + CTX_HOST_SP], rsp
        ; lea rdi, [rbx - STATE_BIAS]
        ; mov rsi, r13
        ; mov rdx, r12
        ; call =>func
        ; pop rbp
        ; pop r13
        ; pop r12
        ; pop rbx
    );
    // What the region left there (at a fault: as of the state it reports)
    // is the fields' value from here on, in baseline code and on the way
    // out.
    emit_pinned_load(&mut ops, chain.pinned);
    dynasm!(ops
        ; .arch x64
        ; mov rcx, QWORD [r13 + CTX_KIND]
        ; test rcx, rcx
        ; jnz =>not_next
    );
    emit_poll(&mut ops, chain, epilogue, false);
    dynasm!(ops
        ; .arch x64
        // A direct exit continues through its link cell.
        ; mov rdx, QWORD [r13 + CTX_REGION_EXIT]
        ; test rdx, rdx
        ; jz =>indirect
        ; lea rcx, [=>cells]
        ; jmp QWORD [rcx + rdx * 8 - 8]
        ; =>indirect
    );
    if chain.link.is_some() {
        // A region's returns (its indirect exits carry no hint) leave the
        // entry of the call that baseline code made.
        emit_return_through_stack(&mut ops);
    }
    if chain.ibtc {
        emit_ibtc_jump(&mut ops, epilogue, false);
    } else {
        dynasm!(ops ; .arch x64 ; jmp =>epilogue);
    }
    dynasm!(ops
        ; .arch x64
        ; =>not_next
        ; cmp rcx, KIND_OPT_FAULT as i32
        ; jne =>epilogue
        ; mov QWORD [r13 + CTX_KIND], KIND_FAULT as i32
        // The mark (`super::Mark`): the access's PC goes to opt_scratch,
        // the PC of the state (its own, or the replay point) to fault_pc.
        ; mov rcx, QWORD [r13 + CTX_OPT_SCRATCH]
        ; lea rdx, [=>table]
        ; mov rax, rcx
        ; shr rax, 16
        ; mov rax, QWORD [rdx + rax * 8]
        ; mov QWORD [r13 + CTX_OPT_SCRATCH], rax
        ; shr rcx, 2
        ; and ecx, super::Mark::MAX_INDEX as i32
        ; mov rax, QWORD [rdx + rcx * 8]
        ; mov QWORD [r13 + CTX_FAULT_PC], rax
        ; =>epilogue
    );
    // Deferred flags (the region's own at a fault, or those of baseline
    // code before it that it did not take) go into the state before the
    // engine sees it, on the stack the engine left.
    emit_drop_return_stack(&mut ops);
    emit_complete_if_pending(&mut ops, true);
    emit_epilogue(&mut ops);
    dynasm!(ops
        ; .arch x64
        ; .align 8
        ; =>table
    );
    for &pc in pcs {
        dynasm!(ops ; .arch x64 ; .u64 pc);
    }
    dynasm!(ops ; .arch x64 ; =>cells);
    for _ in exit_targets {
        dynasm!(ops ; .arch x64 ; .u64 0);
    }
    dynasm!(ops ; .arch x64 ; .align 16 ; =>func);
    let resolve = |ops: &VecAssembler<X64Relocation>, l| {
        ops.labels()
            .resolve_dynamic(l)
            .map(|o| o.0)
            .map_err(|e| OptError::Codegen(e.to_string()))
    };
    let cells_off = resolve(&ops, cells)?;
    let func_off = resolve(&ops, func)?;
    let epilogue_off = resolve(&ops, epilogue)?;
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
    for &(at, mark) in fault_sites {
        cache.add_region_site(start as usize + func_off + at as usize, mark);
    }
    let unlinked = start as u64 + epilogue_off as u64;
    let exits = exit_targets
        .iter()
        .enumerate()
        .map(|(k, &target)| {
            let cell = start.wrapping_add(cells_off + 8 * k) as *mut u64;
            // SAFETY: the cell is an aligned word of the code just
            // installed, which nothing runs yet.
            unsafe { cell.write(unlinked) };
            Exit::new(target, cell, unlinked)
        })
        .collect();
    // SAFETY: `start` is the stub just installed, which follows the
    // baseline block calling convention (System V, three pointers, u64).
    let f: BlockFn = unsafe { core::mem::transmute::<*const u8, BlockFn>(start) };
    Ok(Installed {
        entry: EntryFn::from_fn(f),
        body: start as u64 + body_off as u64,
        bytes: bytes.len(),
        exits,
    })
}

/// To be called by the host SIGSEGV/SIGBUS handler (async-signal-safe: no
/// locks, no allocation). If the fault is a guest memory access of
/// optimizing-tier code, makes the region return it as a guest fault
/// (`ctx.kind` = [`KIND_FAULT`]) and returns true. Only code of the cache
/// activated on this thread (`CodeCache::activate`) is recognised.
///
/// # Safety
/// `uc` must be the `ucontext_t` the kernel passed to the handler.
pub unsafe fn redirect_fault(uc: *mut libc::ucontext_t, fault_addr: u64) -> bool {
    // SAFETY: the caller passes the handler's ucontext, which is writable.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as usize;
    // Only guest accesses fault in region code (their sites are in the
    // code cache); anything else there is an xarch bug, not redirected.
    let Some(mark) = crate::cache::active_region_site(rip) else {
        return false;
    };
    // Region code keeps frame pointers: the Cranelift frame's rbp points
    // at its saved rbp, above it the return address into the stub, and
    // above that the stub's four saved registers: rbp, r13 (ctx), r12,
    // rbx.
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
            *((host_sp + 8) as *const *mut JitCtx),
        )
    };
    // SAFETY: a non-null ctx saved by the stub is the running JitCtx;
    // the host_sp check rejects anything else.
    unsafe {
        if ctx.is_null() || !(ctx as usize).is_multiple_of(8) || (*ctx).host_sp != host_sp {
            return false;
        }
        // The access's mark: its guest PC (index in the stub's table)
        // and kind, exact also for #GP, which has no error code; unless
        // the region stored it before the access.
        if mark != super::STORED_MARK {
            (*ctx).opt_scratch = u64::from(mark);
        }
        // Bit 0 of the mark: a write; bit 1: a replay (FAULT_REPLAY);
        // the passes bit goes to the status, out of the stub's way.
        let passes = u64::from(super::Mark::PASSES);
        let through_loop = (*ctx).opt_scratch & passes != 0;
        (*ctx).opt_scratch &= !passes;
        (*ctx).fault_status = 1
            | (((*ctx).opt_scratch & 3) << 1)
            | if through_loop {
                crate::FAULT_REPLAY_PASSES
            } else {
                0
            };
        // A non-canonical address raises #GP, for which the kernel
        // reports address 0: compute it from the faulting instruction.
        (*ctx).fault_addr = if fault_addr == 0 {
            crate::x86_addr::effective_address(rip as *const u8, gregs).unwrap_or(0)
        } else {
            fault_addr
        };
        (*ctx).kind = KIND_OPT_FAULT;
    }
    gregs[libc::REG_RSP as usize] = host_sp as i64;
    gregs[libc::REG_RIP as usize] = ret as i64;
    true
}

// The mark's replay bit (1) lands on FAULT_REPLAY in `redirect_fault`.
const _: () = assert!(crate::FAULT_REPLAY == 2 << 1);
