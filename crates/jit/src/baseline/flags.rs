//! Deferred guest flags in baseline code (see `crate::flags`).
//!
//! A flags value the block only writes to the flags field (`Regs`'s
//! deferred values; condition tests on it were turned into comparisons
//! by `xarch_ir::simplify`) is never packed: its write stores the
//! operands and kind in the context. Anything that may read the field
//! first completes pending flags: a read of the field, a partial write,
//! a helper call, and the epilogue (every return to the engine); a full
//! write of other flags marks nothing pending.

use super::regs::{Deferred, Loc, POOL, RAX, imm32};
use super::{CTX_LAZY_A, CTX_LAZY_B, CTX_LAZY_INFO};
use super::{Emitter, enc};
use crate::flags::{complete_flags, width_code};
use crate::portable::RelocKind;
use dynasmrt::x64::{Rq, X64Relocation};
use dynasmrt::{DynasmApi, DynasmLabelApi, VecAssembler, dynasm};
use xarch_ir::{Block, Op, Type, Value};

/// What instruction `i` does to the flags field at `flags`.
pub(super) enum FlagsAccess {
    /// Nothing.
    None,
    /// Reads it or writes part of it: pending flags must be completed
    /// first (then the instruction runs as usual).
    Complete,
    /// Writes all of it with a deferred value.
    Defer(Deferred),
    /// Writes all of it with a value of its own: nothing pending after.
    Replace,
}

pub(super) fn access(
    block: &Block,
    i: usize,
    flags: u32,
    deferred: Option<Deferred>,
) -> FlagsAccess {
    let overlaps = |off: u32, bytes: u32| off < flags + 8 && off + bytes.max(1) > flags;
    let inst = &block.insts[i];
    match inst.op {
        Op::GetState(off) if overlaps(off, inst.ty.bytes()) => FlagsAccess::Complete,
        Op::SetState(off, v) if overlaps(off, block.ty(v).bytes()) => {
            if off != flags || block.ty(v) != Type::I64 {
                FlagsAccess::Complete
            } else if let Some(d) = deferred {
                FlagsAccess::Defer(d)
            } else {
                FlagsAccess::Replace
            }
        }
        // Helpers see the whole state.
        Op::Call(..) => FlagsAccess::Complete,
        _ => FlagsAccess::None,
    }
}

impl Emitter {
    /// Stores value `v` (zero-extended) at `[r13 + off]`.
    fn store_ctx(&mut self, v: Value, off: i32) {
        match self.regs.loc(v) {
            Loc::Reg(k) => enc::store(&mut self.ops, 8, POOL[k], Rq::R13, off),
            Loc::Imm(x) if imm32(x).is_some() => {
                enc::store_imm(&mut self.ops, 8, x as i32, Rq::R13, off)
            }
            _ => {
                self.get(v, RAX);
                enc::store(&mut self.ops, 8, RAX, Rq::R13, off);
            }
        }
    }

    /// The write of a deferred flags value: its operands and kind go to
    /// the context instead of the packed flags to the state.
    pub(super) fn defer_flags(&mut self, d: Deferred, flags: u32) {
        self.store_ctx(d.a, CTX_LAZY_A);
        if let Some(b) = d.b {
            self.store_ctx(b, CTX_LAZY_B);
        }
        let info = d.kind | width_code(d.ty.bits()) << 4 | (flags as u64) << 8;
        let info = i32::try_from(info).expect("flags field offset below 2^23");
        dynasm!(self.ops ; .arch x64 ; mov QWORD [BYTE r13 + CTX_LAZY_INFO as i8], info);
    }

    /// After a full write of the flags field: nothing pending.
    pub(super) fn flags_replaced(&mut self) {
        dynasm!(self.ops ; .arch x64 ; mov QWORD [BYTE r13 + CTX_LAZY_INFO as i8], 0);
    }

    /// Completes pending flags (the call, out of line, keeps the
    /// caller-saved pool registers).
    pub(super) fn complete_pending_flags(&mut self) {
        let slow = self.ops.new_dynamic_label();
        let back = self.ops.new_dynamic_label();
        dynasm!(self.ops
            ; .arch x64
            ; cmp QWORD [BYTE r13 + CTX_LAZY_INFO as i8], 0
            ; jne =>slow
            ; =>back
        );
        self.flag_stubs.push((slow, back));
    }

    /// The out-of-line calls of [`Self::complete_pending_flags`]. The
    /// stack is 16-byte aligned in block code; four pushes keep it so.
    pub(super) fn emit_flag_stubs(&mut self) {
        for (slow, back) in std::mem::take(&mut self.flag_stubs) {
            dynasm!(self.ops
                ; .arch x64
                ; =>slow
                ; push r8
                ; push r9
                ; push r10
                ; push r11
            );
            self.call_complete();
            dynasm!(self.ops
                ; .arch x64
                ; pop r11
                ; pop r10
                ; pop r9
                ; pop r8
                ; jmp =>back
            );
        }
    }

    fn call_complete(&mut self) {
        let at = emit_complete_call(&mut self.ops);
        self.relocs.push(crate::portable::Reloc {
            at,
            kind: RelocKind::Helper,
        });
    }
}

/// Calls [`complete_flags`] on the state (rbx) and context (r13), from
/// a 16-byte aligned stack; clobbers the caller-saved registers. Returns
/// the offset of the routine's address in the code (for relocation).
fn emit_complete_call(ops: &mut VecAssembler<X64Relocation>) -> u32 {
    let f = complete_flags as *const () as usize;
    dynasm!(ops
        ; .arch x64
        ; mov rdi, rbx
        ; mov rsi, r13
        ; mov rax, QWORD f as i64
    );
    let at = (ops.offset().0 - 8) as u32;
    dynasm!(ops ; .arch x64 ; call rax);
    at
}

/// Completes pending flags if there are any (the stack 16-byte aligned;
/// the routine's address is absolute: for code that is never stored).
/// `keeps_rax`: at an exit, where rax holds the next PC, it is kept, so
/// that the engine always finds the flags in the state.
pub(crate) fn emit_complete_if_pending(ops: &mut VecAssembler<X64Relocation>, keeps_rax: bool) {
    let done = ops.new_dynamic_label();
    dynasm!(ops
        ; .arch x64
        ; cmp QWORD [BYTE r13 + CTX_LAZY_INFO as i8], 0
        ; je =>done
    );
    if keeps_rax {
        dynasm!(ops ; .arch x64 ; push rax ; sub rsp, 8);
    }
    emit_complete_call(ops);
    if keeps_rax {
        dynasm!(ops ; .arch x64 ; add rsp, 8 ; pop rax);
    }
    dynasm!(ops ; .arch x64 ; =>done);
}
