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
use super::{CTX_COMPLETE_ROUTINE, CTX_LAZY_A, CTX_LAZY_B, CTX_LAZY_INFO, STATE_BIAS};
use super::{Emitter, enc};
use crate::flags::{complete_flags, width_code};
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
        );
        let near = self.near(slow);
        super::jnz_to(&mut self.ops, slow, near);
        dynasm!(self.ops ; .arch x64 ; =>back);
        self.flag_stubs.push((slow, back));
    }

    /// The out-of-line calls of [`Self::complete_pending_flags`]: the
    /// shared routine keeps the pool registers.
    pub(super) fn emit_flag_stubs(&mut self) {
        for (slow, back) in std::mem::take(&mut self.flag_stubs) {
            dynasm!(self.ops
                ; .arch x64
                ; =>slow
                ; call QWORD [BYTE r13 + CTX_COMPLETE_ROUTINE as i8]
            );
            if self.near(back) {
                dynasm!(self.ops ; .arch x64 ; jmp BYTE =>back);
            } else {
                dynasm!(self.ops ; .arch x64 ; jmp =>back);
            }
        }
    }
}

/// [`super::SharedRoutines::complete`], entered by a call from block
/// code (the stack 16-byte aligned before it) with the state in rbx and
/// the context in r13.
pub(super) fn emit_complete_routine(ops: &mut VecAssembler<X64Relocation>) {
    use crate::flags::{LAZY_ADD, LAZY_ADD_CARRY, LAZY_LOGIC, LAZY_SUB};
    let (sub64, sub32, add64, add32, adc64, adc32, logic64, logic32) = (
        ops.new_dynamic_label(),
        ops.new_dynamic_label(),
        ops.new_dynamic_label(),
        ops.new_dynamic_label(),
        ops.new_dynamic_label(),
        ops.new_dynamic_label(),
        ops.new_dynamic_label(),
        ops.new_dynamic_label(),
    );
    let (pack, done) = (ops.new_dynamic_label(), ops.new_dynamic_label());
    // Kind and width code (`crate::flags`) of each fast case.
    let w = |kind: u64, bits: u32| (kind | width_code(bits) << 4) as i32;
    dynasm!(ops
        ; .arch x64
        ; mov rcx, QWORD [BYTE r13 + CTX_LAZY_INFO as i8]
        ; test rcx, rcx
        ; jz =>done
        ; and ecx, 0x3f
        ; mov rdx, QWORD [BYTE r13 + CTX_LAZY_A as i8]
        ; mov rsi, QWORD [BYTE r13 + CTX_LAZY_B as i8]
        ; cmp ecx, w(LAZY_SUB, 64) ; je =>sub64
        ; cmp ecx, w(LAZY_SUB, 32) ; je =>sub32
        ; cmp ecx, w(LAZY_LOGIC, 64) ; je =>logic64
        ; cmp ecx, w(LAZY_LOGIC, 32) ; je =>logic32
        ; cmp ecx, w(LAZY_ADD, 64) ; je =>add64
        ; cmp ecx, w(LAZY_ADD, 32) ; je =>add32
        ; cmp ecx, w(LAZY_ADD_CARRY, 64) ; je =>adc64
        ; cmp ecx, w(LAZY_ADD_CARRY, 32) ; je =>adc32
        // Anything else by the interpreter's definitions, keeping the
        // caller-saved pool registers (the call left rsp 8 below a
        // 16-byte boundary: 40 more bytes align it).
        ; push r8
        ; push r9
        ; push r10
        ; push r11
        ; sub rsp, 8
        ; lea rdi, [rbx - STATE_BIAS]
        ; mov rsi, r13
        ; mov rax, QWORD complete_flags as *const () as i64
        ; call rax
        ; add rsp, 8
        ; pop r11
        ; pop r10
        ; pop r9
        ; pop r8
        ; =>done
        ; ret
        // The host's flags after the same operation: N = SF, Z = ZF,
        // V = OF, and C = CF, but NOT CF after a subtraction (Arm's carry
        // is "no borrow").
        ; =>sub64
        ; cmp rdx, rsi
        ; setnc dl
        ; jmp =>pack
        ; =>sub32
        ; cmp edx, esi
        ; setnc dl
        ; jmp =>pack
        ; =>add64
        ; add rdx, rsi
        ; setc dl
        ; jmp =>pack
        ; =>add32
        ; add edx, esi
        ; setc dl
        ; jmp =>pack
        ; =>adc64
        ; stc
        ; adc rdx, rsi
        ; setc dl
        ; jmp =>pack
        ; =>adc32
        ; stc
        ; adc edx, esi
        ; setc dl
        ; jmp =>pack
        ; =>logic64
        ; test rdx, rdx
        ; mov edx, 0
        ; jmp =>pack
        ; =>logic32
        ; test edx, edx
        ; mov edx, 0
        // (A logical result's V is 0: OF is clear after TEST.)
        ; =>pack
        ; sets al
        ; setz cl
        ; seto dil
        ; movzx eax, al
        ; movzx ecx, cl
        ; movzx edx, dl
        ; movzx edi, dil
        ; shl eax, 31
        ; shl ecx, 30
        ; shl edx, 29
        ; shl edi, 28
        ; or eax, ecx
        ; or eax, edx
        ; or eax, edi
        ; mov rcx, QWORD [BYTE r13 + CTX_LAZY_INFO as i8]
        ; shr rcx, 8
        ; mov QWORD [rbx + rcx - STATE_BIAS], rax
        ; mov QWORD [BYTE r13 + CTX_LAZY_INFO as i8], 0
        ; ret
    );
}

/// Completes pending flags if there are any, through the shared routine
/// as block code does (the stack 16-byte aligned; clobbers rcx, rdx, rsi
/// and rdi). `keeps_rax`: at an exit, where rax holds the next PC, it is
/// kept, so that the engine always finds the flags in the state.
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
    dynasm!(ops ; .arch x64 ; call QWORD [BYTE r13 + CTX_COMPLETE_ROUTINE as i8]);
    if keeps_rax {
        dynasm!(ops ; .arch x64 ; add rsp, 8 ; pop rax);
    }
    dynasm!(ops ; .arch x64 ; =>done);
}

#[cfg(test)]
mod tests {
    use super::super::{JitCtx, SharedRoutines};
    use crate::flags::{LAZY_ADD, LAZY_ADD_CARRY, LAZY_LOGIC, LAZY_PACKED, LAZY_SUB, pack_flags};
    use dynasmrt::{DynasmApi, dynasm};

    /// The shared completion routine packs every kind at every width as
    /// `pack_flags` does (its fast paths and the call it falls back to),
    /// writes the field named in `lazy_info`, marks nothing pending, and
    /// keeps the pool registers.
    #[test]
    fn the_shared_routine_packs_like_pack_flags() {
        // A System V function (state, ctx) -> r8 ^ r11 ^ r14 ^ r15 after
        // the call, entering the routine as block code does.
        let mut ops = dynasmrt::x64::Assembler::new().expect("assembler");
        let start = ops.offset();
        dynasm!(ops
            ; .arch x64
            ; push rbx
            ; push r13
            ; push r14
            ; push r15
            ; sub rsp, 8
            ; lea rbx, [rdi + super::super::STATE_BIAS]
            ; mov r13, rsi
            ; mov r8, 0x11
            ; mov r9, 0x22
            ; mov r10, 0x44
            ; mov r11, 0x88
            ; mov r14, 0x100
            ; mov r15, 0x200
            ; call QWORD [r13 + super::CTX_COMPLETE_ROUTINE]
            ; mov rax, r8
            ; add rax, r9
            ; add rax, r10
            ; add rax, r11
            ; add rax, r14
            ; add rax, r15
            ; add rsp, 8
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop rbx
            ; ret
        );
        let code = ops.finalize().expect("finalizes");
        // SAFETY: the code above follows the System V convention.
        let f: extern "C" fn(*mut u64, *mut JitCtx) -> u64 =
            unsafe { core::mem::transmute(code.ptr(start)) };
        assert_ne!(SharedRoutines::get().complete, 0);
        for kind in [LAZY_SUB, LAZY_ADD, LAZY_ADD_CARRY, LAZY_LOGIC, LAZY_PACKED] {
            for width in 0..4u64 {
                for a in xarch_ir::testing::EDGES {
                    for b in xarch_ir::testing::EDGES {
                        let mut state = [7u64; 4];
                        let info = kind | width << 4 | 16 << 8;
                        let mut ctx = JitCtx {
                            lazy_a: a,
                            lazy_b: b,
                            lazy_info: info,
                            ..JitCtx::default()
                        };
                        let kept = f(state.as_mut_ptr(), &mut ctx);
                        assert_eq!(kept, 0x3ff, "pool registers");
                        let want = pack_flags(a, b, info);
                        assert_eq!(state, [7, 7, want, 7], "{kind} {width} {a:x} {b:x}");
                        assert_eq!(ctx.lazy_info, 0);
                        // Nothing pending: nothing written.
                        let mut state = [7u64; 4];
                        f(state.as_mut_ptr(), &mut ctx);
                        assert_eq!(state, [7; 4]);
                    }
                }
            }
        }
    }
}
