//! Baseline templates for vector ops and 128-bit integer ops: SSE
//! instructions on the 16-byte slots where x86 has the same operation
//! (checked against the interpreter by `tests/vector.rs`), otherwise a
//! direct call of [`xarch_ir::vector::eval`] through
//! [`crate::vector::vec_mem`]. Templates that need more than SSE2 are
//! used only when [`HostFeatures`] says the CPU has them.

use super::{Emitter, slot};
use crate::vector::{ZERO, byte_permutation, uniform_shift, vec_mem};
use dynasmrt::x64::Rx;
use dynasmrt::{DynasmApi, DynasmLabelApi, dynasm};
use xarch_ir::{Block, CryptoOp, Op, Type, Value, VecOp};

impl Emitter {
    fn xload(&mut self, reg: Rx, v: Value) {
        let o = slot(v);
        dynasm!(self.ops ; .arch x64 ; movdqu Rx(reg), [r12 + o]);
    }

    fn xstore(&mut self, reg: Rx, i: usize) {
        let o = (i as i32) * 16;
        dynasm!(self.ops ; .arch x64 ; movdqu [r12 + o], Rx(reg));
    }

    /// A 16-byte aligned constant after the code, for memory operands.
    fn xconst(&mut self, x: u128) -> dynasmrt::DynamicLabel {
        if let Some(&(l, _)) = self.consts.iter().find(|(_, c)| *c == x) {
            return l;
        }
        let l = self.ops.new_dynamic_label();
        self.consts.push((l, x));
        l
    }

    /// Emits the constants collected by [`Self::xconst`].
    pub(super) fn emit_consts(&mut self) {
        let consts = std::mem::take(&mut self.consts);
        for (l, x) in consts {
            let (lo, hi) = (x as u64 as i64, (x >> 64) as u64 as i64);
            dynasm!(self.ops
                ; .arch x64
                ; .align 16
                ; =>l
                ; .i64 lo
                ; .i64 hi
            );
        }
    }

    /// Templates for `Op::Vector`, `ExtractLane`, `InsertLane`, `Dup`
    /// and the 128-bit integer ops; false if instruction `i` is none of
    /// these (or has no template and no direct call).
    pub(super) fn vector(&mut self, block: &Block, i: usize) -> bool {
        let inst = &block.insts[i];
        let o = (i as i32) * 16;
        match &inst.op {
            Op::Vector(op, e, args) => {
                if !self.vec_inline(block, *op, *e, args, i) {
                    self.vec_call(op, *e, args, i);
                }
            }
            Op::ExtractLane(x, e, idx) => {
                let src = slot(*x) + (*e as i32 / 8) * *idx as i32;
                match e {
                    8 => dynasm!(self.ops ; .arch x64 ; movzx eax, BYTE [r12 + src]),
                    16 => dynasm!(self.ops ; .arch x64 ; movzx eax, WORD [r12 + src]),
                    32 => dynasm!(self.ops ; .arch x64 ; mov eax, DWORD [r12 + src]),
                    64 => dynasm!(self.ops ; .arch x64 ; mov rax, QWORD [r12 + src]),
                    _ => {
                        self.xload(Rx::XMM0, *x);
                        self.xstore(Rx::XMM0, i);
                        return true;
                    }
                }
                dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o], rax);
                if inst.ty == Type::I128 {
                    dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o + 8], 0);
                }
            }
            Op::InsertLane(x, s, e, idx) => {
                if *e == 128 {
                    if block.ty(*s) != Type::I128 {
                        return false;
                    }
                    self.xload(Rx::XMM0, *s);
                    self.xstore(Rx::XMM0, i);
                    return true;
                }
                self.xload(Rx::XMM0, *x);
                self.xstore(Rx::XMM0, i);
                self.load_rax(*s);
                let d = o + (*e as i32 / 8) * *idx as i32;
                match e {
                    8 => dynasm!(self.ops ; .arch x64 ; mov BYTE [r12 + d], al),
                    16 => dynasm!(self.ops ; .arch x64 ; mov WORD [r12 + d], ax),
                    32 => dynasm!(self.ops ; .arch x64 ; mov DWORD [r12 + d], eax),
                    _ => dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + d], rax),
                }
            }
            Op::Dup(s, e) => {
                self.load_rax(*s);
                match e {
                    8 => dynasm!(self.ops
                        ; .arch x64
                        ; movzx eax, al
                        ; imul eax, eax, 0x0101_0101
                        ; movd xmm0, eax
                        ; pshufd xmm0, xmm0, 0
                    ),
                    16 => dynasm!(self.ops
                        ; .arch x64
                        ; movd xmm0, eax
                        ; pshuflw xmm0, xmm0, 0
                        ; pshufd xmm0, xmm0, 0
                    ),
                    32 => dynasm!(self.ops
                        ; .arch x64
                        ; movd xmm0, eax
                        ; pshufd xmm0, xmm0, 0
                    ),
                    _ => dynasm!(self.ops
                        ; .arch x64
                        ; movq xmm0, rax
                        ; punpcklqdq xmm0, xmm0
                    ),
                }
                self.xstore(Rx::XMM0, i);
            }
            Op::And(a, b) | Op::Or(a, b) | Op::Xor(a, b) if inst.ty == Type::I128 => {
                self.xload(Rx::XMM0, *a);
                self.xload(Rx::XMM1, *b);
                match inst.op {
                    Op::And(..) => dynasm!(self.ops ; .arch x64 ; pand xmm0, xmm1),
                    Op::Or(..) => dynasm!(self.ops ; .arch x64 ; por xmm0, xmm1),
                    _ => dynasm!(self.ops ; .arch x64 ; pxor xmm0, xmm1),
                }
                self.xstore(Rx::XMM0, i);
            }
            Op::Not(a) if inst.ty == Type::I128 => {
                self.xload(Rx::XMM0, *a);
                dynasm!(self.ops ; .arch x64 ; pcmpeqd xmm1, xmm1 ; pxor xmm0, xmm1);
                self.xstore(Rx::XMM0, i);
            }
            Op::Shl(a, b) | Op::LShr(a, b) if inst.ty == Type::I128 => {
                let Op::Const(n) = block.insts[b.0 as usize].op else {
                    return false;
                };
                let left = matches!(inst.op, Op::Shl(..));
                self.shift128_const(*a, (n % 128) as u8, left, i);
            }
            _ => return false,
        }
        true
    }

    /// A 128-bit shift by a constant: whole bytes in an XMM register,
    /// other amounts with SHLD/SHRD.
    fn shift128_const(&mut self, a: Value, n: u8, left: bool, i: usize) {
        let o = (i as i32) * 16;
        let oa = slot(a);
        if n.is_multiple_of(8) {
            self.xload(Rx::XMM0, a);
            let k = (n / 8) as i8;
            match (k, left) {
                (0, _) => {}
                (_, true) => dynasm!(self.ops ; .arch x64 ; pslldq xmm0, k),
                (_, false) => dynasm!(self.ops ; .arch x64 ; psrldq xmm0, k),
            }
            self.xstore(Rx::XMM0, i);
            return;
        }
        let k = (n % 64) as i8;
        dynasm!(self.ops
            ; .arch x64
            ; mov rax, QWORD [r12 + oa]
            ; mov rdx, QWORD [r12 + oa + 8]
        );
        match (n >= 64, left) {
            (false, true) => dynasm!(self.ops
                ; .arch x64
                ; shld rdx, rax, k
                ; shl rax, k
            ),
            (false, false) => dynasm!(self.ops
                ; .arch x64
                ; shrd rax, rdx, k
                ; shr rdx, k
            ),
            (true, true) => dynasm!(self.ops
                ; .arch x64
                ; shl rax, k
                ; mov rdx, rax
                ; xor eax, eax
            ),
            (true, false) => dynasm!(self.ops
                ; .arch x64
                ; shr rdx, k
                ; mov rax, rdx
                ; xor edx, edx
            ),
        }
        dynasm!(self.ops
            ; .arch x64
            ; mov QWORD [r12 + o], rax
            ; mov QWORD [r12 + o + 8], rdx
        );
    }

    /// Direct call of the reference semantics on the slots.
    fn vec_call(&mut self, op: &VecOp, e: u8, args: &[Value; 3], i: usize) {
        // The code points at `op` in the IR.
        self.refs_ir = true;
        let n = op.arity();
        let zero = &ZERO as *const u128 as i64;
        let o = (i as i32) * 16;
        let (oa, ob, oc) = (slot(args[0]), slot(args[1]), slot(args[2]));
        dynasm!(self.ops
            ; .arch x64
            ; mov rdi, QWORD op as *const VecOp as i64
            ; mov esi, e as i32
            ; lea rdx, [r12 + oa]
            ; lea r9, [r12 + o]
        );
        if n > 1 {
            dynasm!(self.ops ; .arch x64 ; lea rcx, [r12 + ob]);
        } else {
            dynasm!(self.ops ; .arch x64 ; mov rcx, QWORD zero);
        }
        if n > 2 {
            dynasm!(self.ops ; .arch x64 ; lea r8, [r12 + oc]);
        } else {
            dynasm!(self.ops ; .arch x64 ; mov r8, QWORD zero);
        }
        self.call_abs(vec_mem as *const () as usize);
    }

    /// The lane op `op` on xmm0 (a) and xmm1 (b) into xmm0 (may clobber
    /// xmm1..xmm3); with `emit` false only whether there is a template.
    fn lane2(&mut self, op: VecOp, e: u8, emit: bool) -> bool {
        let f = self.feat;
        macro_rules! one {
            ($($t:tt)*) => {{
                if emit {
                    dynasm!(self.ops ; .arch x64 ; $($t)*);
                }
                true
            }};
        }
        match (op, e) {
            (VecOp::Add | VecOp::AddP, 8) => one!(paddb xmm0, xmm1),
            (VecOp::Add | VecOp::AddP, 16) => one!(paddw xmm0, xmm1),
            (VecOp::Add | VecOp::AddP, 32) => one!(paddd xmm0, xmm1),
            (VecOp::Add | VecOp::AddP, 64) => one!(paddq xmm0, xmm1),
            (VecOp::Sub, 8) => one!(psubb xmm0, xmm1),
            (VecOp::Sub, 16) => one!(psubw xmm0, xmm1),
            (VecOp::Sub, 32) => one!(psubd xmm0, xmm1),
            (VecOp::Sub, 64) => one!(psubq xmm0, xmm1),
            (VecOp::CmEq, 8) => one!(pcmpeqb xmm0, xmm1),
            (VecOp::CmEq, 16) => one!(pcmpeqw xmm0, xmm1),
            (VecOp::CmEq, 32) => one!(pcmpeqd xmm0, xmm1),
            (VecOp::CmEq, 64) if f.sse41 => one!(pcmpeqq xmm0, xmm1),
            (VecOp::CmGt, 8) => one!(pcmpgtb xmm0, xmm1),
            (VecOp::CmGt, 16) => one!(pcmpgtw xmm0, xmm1),
            (VecOp::CmGt, 32) => one!(pcmpgtd xmm0, xmm1),
            // a >= b (signed) = NOT (b > a).
            (VecOp::CmGe, 8) => one!(
                pcmpgtb xmm1, xmm0 ; pcmpeqb xmm0, xmm0 ; pxor xmm0, xmm1
            ),
            (VecOp::CmGe, 16) => one!(
                pcmpgtw xmm1, xmm0 ; pcmpeqw xmm0, xmm0 ; pxor xmm0, xmm1
            ),
            (VecOp::CmGe, 32) => one!(
                pcmpgtd xmm1, xmm0 ; pcmpeqd xmm0, xmm0 ; pxor xmm0, xmm1
            ),
            // a >= b (unsigned) = (max(a, b) == a): glibc's string
            // functions compare bytes this way (cc1's start ran 9000 of
            // them through the interpreter's definition, 1300
            // instructions each).
            (VecOp::CmHs, 8) => one!(movdqa xmm2, xmm0 ; pmaxub xmm2, xmm1 ; pcmpeqb xmm0, xmm2),
            (VecOp::CmHs, 16) if f.sse41 => {
                one!(movdqa xmm2, xmm0 ; pmaxuw xmm2, xmm1 ; pcmpeqw xmm0, xmm2)
            }
            (VecOp::CmHs, 32) if f.sse41 => {
                one!(movdqa xmm2, xmm0 ; pmaxud xmm2, xmm1 ; pcmpeqd xmm0, xmm2)
            }
            // a > b (unsigned) = NOT (max(a, b) == b).
            (VecOp::CmHi, 8) => one!(
                pmaxub xmm0, xmm1 ; pcmpeqb xmm0, xmm1 ; pcmpeqb xmm1, xmm1 ; pxor xmm0, xmm1
            ),
            (VecOp::CmHi, 16) if f.sse41 => one!(
                pmaxuw xmm0, xmm1 ; pcmpeqw xmm0, xmm1 ; pcmpeqw xmm1, xmm1 ; pxor xmm0, xmm1
            ),
            (VecOp::CmHi, 32) if f.sse41 => one!(
                pmaxud xmm0, xmm1 ; pcmpeqd xmm0, xmm1 ; pcmpeqd xmm1, xmm1 ; pxor xmm0, xmm1
            ),
            (VecOp::CmTst, 8) => one!(
                pand xmm0, xmm1 ; pxor xmm1, xmm1 ; pcmpeqb xmm0, xmm1
                ; pcmpeqb xmm1, xmm1 ; pxor xmm0, xmm1
            ),
            (VecOp::CmTst, 16) => one!(
                pand xmm0, xmm1 ; pxor xmm1, xmm1 ; pcmpeqw xmm0, xmm1
                ; pcmpeqw xmm1, xmm1 ; pxor xmm0, xmm1
            ),
            (VecOp::CmTst, 32) => one!(
                pand xmm0, xmm1 ; pxor xmm1, xmm1 ; pcmpeqd xmm0, xmm1
                ; pcmpeqd xmm1, xmm1 ; pxor xmm0, xmm1
            ),
            (VecOp::Mul, 16) => one!(pmullw xmm0, xmm1),
            (VecOp::Mul, 32) if f.sse41 => one!(pmulld xmm0, xmm1),
            // a * b mod 2^64 = alo*blo + ((ahi*blo + alo*bhi) << 32).
            (VecOp::Mul, 64) => one!(
                movdqa xmm2, xmm0 ; psrlq xmm2, 32 ; pmuludq xmm2, xmm1
                ; movdqa xmm3, xmm1 ; psrlq xmm3, 32 ; pmuludq xmm3, xmm0
                ; paddq xmm2, xmm3 ; psllq xmm2, 32
                ; pmuludq xmm0, xmm1 ; paddq xmm0, xmm2
            ),
            (VecOp::UMax | VecOp::UMaxP, 8) => one!(pmaxub xmm0, xmm1),
            (VecOp::UMin | VecOp::UMinP, 8) => one!(pminub xmm0, xmm1),
            (VecOp::SMax | VecOp::SMaxP, 16) => one!(pmaxsw xmm0, xmm1),
            (VecOp::SMin | VecOp::SMinP, 16) => one!(pminsw xmm0, xmm1),
            (VecOp::UMax | VecOp::UMaxP, 16) if f.sse41 => one!(pmaxuw xmm0, xmm1),
            (VecOp::UMin | VecOp::UMinP, 16) if f.sse41 => one!(pminuw xmm0, xmm1),
            (VecOp::UMax | VecOp::UMaxP, 32) if f.sse41 => one!(pmaxud xmm0, xmm1),
            (VecOp::UMin | VecOp::UMinP, 32) if f.sse41 => one!(pminud xmm0, xmm1),
            (VecOp::SMax | VecOp::SMaxP, 8) if f.sse41 => one!(pmaxsb xmm0, xmm1),
            (VecOp::SMin | VecOp::SMinP, 8) if f.sse41 => one!(pminsb xmm0, xmm1),
            (VecOp::SMax | VecOp::SMaxP, 32) if f.sse41 => one!(pmaxsd xmm0, xmm1),
            (VecOp::SMin | VecOp::SMinP, 32) if f.sse41 => one!(pminsd xmm0, xmm1),
            (VecOp::UQAdd, 8) => one!(paddusb xmm0, xmm1),
            (VecOp::UQAdd, 16) => one!(paddusw xmm0, xmm1),
            (VecOp::UQSub, 8) => one!(psubusb xmm0, xmm1),
            (VecOp::UQSub, 16) => one!(psubusw xmm0, xmm1),
            (VecOp::SQAdd, 8) => one!(paddsb xmm0, xmm1),
            (VecOp::SQAdd, 16) => one!(paddsw xmm0, xmm1),
            (VecOp::SQSub, 8) => one!(psubsb xmm0, xmm1),
            (VecOp::SQSub, 16) => one!(psubsw xmm0, xmm1),
            (VecOp::URHAdd, 8) => one!(pavgb xmm0, xmm1),
            (VecOp::URHAdd, 16) => one!(pavgw xmm0, xmm1),
            _ => false,
        }
    }

    /// Byte permutation `perm` (as [`byte_permutation`]) of xmm0 (a)
    /// and xmm1 (b) into xmm0; needs SSSE3.
    fn permute(&mut self, perm: &[u8; 16]) {
        let pick = |lo: u8| -> u128 {
            u128::from_le_bytes(core::array::from_fn(|k| {
                let s = perm[k];
                if s >= lo && s < lo + 16 { s - lo } else { 0x80 }
            }))
        };
        let la = self.xconst(pick(0));
        dynasm!(self.ops ; .arch x64 ; pshufb xmm0, [=>la]);
        if perm.iter().any(|&s| (16..32).contains(&s)) {
            let lb = self.xconst(pick(16));
            dynasm!(self.ops
                ; .arch x64
                ; pshufb xmm1, [=>lb]
                ; por xmm0, xmm1
            );
        }
    }

    /// Inline SSE for `op`; false (nothing emitted) if there is none.
    fn vec_inline(&mut self, block: &Block, op: VecOp, e: u8, args: &[Value; 3], i: usize) -> bool {
        let f = self.feat;
        let [a, b, c] = *args;
        match op {
            VecOp::And | VecOp::Or | VecOp::Xor | VecOp::Bic | VecOp::Orn => {
                self.xload(Rx::XMM0, a);
                self.xload(Rx::XMM1, b);
                match op {
                    VecOp::And => dynasm!(self.ops ; .arch x64 ; pand xmm0, xmm1),
                    VecOp::Or => dynasm!(self.ops ; .arch x64 ; por xmm0, xmm1),
                    VecOp::Xor => dynasm!(self.ops ; .arch x64 ; pxor xmm0, xmm1),
                    VecOp::Bic => {
                        dynasm!(self.ops ; .arch x64 ; pandn xmm1, xmm0 ; movdqa xmm0, xmm1)
                    }
                    _ => dynasm!(self.ops
                        ; .arch x64
                        ; pcmpeqd xmm2, xmm2
                        ; pxor xmm1, xmm2
                        ; por xmm0, xmm1
                    ),
                }
            }
            VecOp::Not => {
                self.xload(Rx::XMM0, a);
                dynasm!(self.ops ; .arch x64 ; pcmpeqd xmm1, xmm1 ; pxor xmm0, xmm1);
            }
            VecOp::Bsl | VecOp::Eor3 | VecOp::Bcax => {
                self.xload(Rx::XMM0, a);
                self.xload(Rx::XMM1, b);
                self.xload(Rx::XMM2, c);
                match op {
                    // (a & c) | (b & !c)
                    VecOp::Bsl => dynasm!(self.ops
                        ; .arch x64
                        ; pand xmm0, xmm2
                        ; pandn xmm2, xmm1
                        ; por xmm0, xmm2
                    ),
                    VecOp::Eor3 => dynasm!(self.ops
                        ; .arch x64
                        ; pxor xmm0, xmm1
                        ; pxor xmm0, xmm2
                    ),
                    // a ^ (b & !c)
                    _ => dynasm!(self.ops
                        ; .arch x64
                        ; pandn xmm2, xmm1
                        ; pxor xmm0, xmm2
                    ),
                }
            }
            VecOp::Neg if matches!(e, 8 | 16 | 32 | 64) => {
                self.xload(Rx::XMM1, a);
                dynasm!(self.ops ; .arch x64 ; pxor xmm0, xmm0);
                self.lane2(VecOp::Sub, e, true);
            }
            VecOp::UShl | VecOp::SShl => {
                let Op::Const128(k) = block.insts[b.0 as usize].op else {
                    return false;
                };
                let Some(n) = uniform_shift(k.get(), e) else {
                    return false;
                };
                return self.shift_imm(op == VecOp::SShl, e, a, n, i);
            }
            VecOp::AddP | VecOp::UMaxP | VecOp::UMinP | VecOp::SMaxP | VecOp::SMinP
                if f.ssse3 && self.lane2(op, e, false) =>
            {
                // Pair i of the concatenation b:a is (UZP1, UZP2) lane i.
                let (Some(p1), Some(p2)) = (
                    byte_permutation(VecOp::Uzp1, e),
                    byte_permutation(VecOp::Uzp2, e),
                ) else {
                    return false;
                };
                self.xload(Rx::XMM0, a);
                self.xload(Rx::XMM1, b);
                self.permute(&p1);
                dynasm!(self.ops ; .arch x64 ; movdqa xmm3, xmm0);
                self.xload(Rx::XMM0, a);
                self.xload(Rx::XMM1, b);
                self.permute(&p2);
                dynasm!(self.ops ; .arch x64 ; movdqa xmm1, xmm0 ; movdqa xmm0, xmm3);
                self.lane2(op, e, true);
            }
            VecOp::Uxtl if matches!(e, 16 | 32 | 64) => {
                self.xload(Rx::XMM0, a);
                dynasm!(self.ops ; .arch x64 ; pxor xmm1, xmm1);
                match e {
                    16 => dynasm!(self.ops ; .arch x64 ; punpcklbw xmm0, xmm1),
                    32 => dynasm!(self.ops ; .arch x64 ; punpcklwd xmm0, xmm1),
                    _ => dynasm!(self.ops ; .arch x64 ; punpckldq xmm0, xmm1),
                }
            }
            VecOp::Tbx if f.ssse3 && e == 8 => {
                // pshufb gives 0 where the index byte has bit 7 set:
                // t = c +sat 0x70 has it exactly where c >= 16.
                let k70 = self.xconst(u128::from_le_bytes([0x70; 16]));
                self.xload(Rx::XMM2, c);
                self.xload(Rx::XMM1, b);
                self.xload(Rx::XMM0, a);
                dynasm!(self.ops
                    ; .arch x64
                    ; movdqa xmm3, [=>k70]
                    ; paddusb xmm2, xmm3
                    ; pshufb xmm1, xmm2
                    ; pxor xmm3, xmm3
                    ; pcmpgtb xmm3, xmm2
                    ; pand xmm0, xmm3
                    ; por xmm0, xmm1
                );
            }
            VecOp::Crypto(CryptoOp::AesE | CryptoOp::AesD) if f.aes => {
                self.xload(Rx::XMM0, a);
                self.xload(Rx::XMM1, b);
                dynasm!(self.ops ; .arch x64 ; pxor xmm0, xmm1 ; pxor xmm1, xmm1);
                if op == VecOp::Crypto(CryptoOp::AesE) {
                    dynasm!(self.ops ; .arch x64 ; aesenclast xmm0, xmm1);
                } else {
                    dynasm!(self.ops ; .arch x64 ; aesdeclast xmm0, xmm1);
                }
            }
            VecOp::Crypto(CryptoOp::AesMc) if f.aes => {
                // MixColumns = AESENC(AESDECLAST(x, 0), 0) (see
                // xarch_ir::crypto::host::mix).
                self.xload(Rx::XMM0, a);
                dynasm!(self.ops
                    ; .arch x64
                    ; pxor xmm1, xmm1
                    ; aesdeclast xmm0, xmm1
                    ; aesenc xmm0, xmm1
                );
            }
            VecOp::Crypto(CryptoOp::AesImc) if f.aes => {
                self.xload(Rx::XMM0, a);
                dynasm!(self.ops ; .arch x64 ; aesimc xmm0, xmm0);
            }
            VecOp::PMull if f.pclmul && e == 64 => {
                self.xload(Rx::XMM0, a);
                self.xload(Rx::XMM1, b);
                dynasm!(self.ops ; .arch x64 ; pclmulqdq xmm0, xmm1, 0);
            }
            _ => {
                if f.ssse3
                    && let Some(p) = byte_permutation(op, e)
                {
                    self.xload(Rx::XMM0, a);
                    if op.arity() > 1 {
                        self.xload(Rx::XMM1, b);
                    }
                    self.permute(&p);
                } else if op.arity() == 2
                    && !matches!(
                        op,
                        VecOp::AddP | VecOp::UMaxP | VecOp::UMinP | VecOp::SMaxP | VecOp::SMinP
                    )
                    && self.lane2(op, e, false)
                {
                    self.xload(Rx::XMM0, a);
                    self.xload(Rx::XMM1, b);
                    self.lane2(op, e, true);
                } else {
                    return false;
                }
            }
        }
        self.xstore(Rx::XMM0, i);
        true
    }

    /// `UShl`/`SShl` by the same amount `n` in every lane (left if
    /// positive, else right): SSE shifts by an immediate.
    fn shift_imm(&mut self, signed: bool, e: u8, a: Value, n: i32, i: usize) -> bool {
        let esize = e as i32;
        // Amounts of esize or more leave 0, except arithmetic right
        // shifts, which leave copies of the sign.
        if n >= esize || (n <= -esize && !signed) {
            dynasm!(self.ops ; .arch x64 ; pxor xmm0, xmm0);
            self.xstore(Rx::XMM0, i);
            return true;
        }
        let right = n < 0;
        // SSE has no arithmetic right shift of 8- or 64-bit lanes.
        if right && signed && !matches!(e, 16 | 32) {
            return false;
        }
        let k = n.unsigned_abs().min(esize as u32 - 1) as i8;
        self.xload(Rx::XMM0, a);
        if n == 0 {
            self.xstore(Rx::XMM0, i);
            return true;
        }
        match (e, right, signed) {
            (8, false, _) => {
                let l = self.xconst(u128::from_le_bytes([0xffu8 << k; 16]));
                dynasm!(self.ops ; .arch x64 ; psllw xmm0, k ; pand xmm0, [=>l]);
            }
            (8, true, _) => {
                let l = self.xconst(u128::from_le_bytes([0xffu8 >> k; 16]));
                dynasm!(self.ops ; .arch x64 ; psrlw xmm0, k ; pand xmm0, [=>l]);
            }
            (16, false, _) => dynasm!(self.ops ; .arch x64 ; psllw xmm0, k),
            (32, false, _) => dynasm!(self.ops ; .arch x64 ; pslld xmm0, k),
            (_, false, _) => dynasm!(self.ops ; .arch x64 ; psllq xmm0, k),
            (16, true, false) => dynasm!(self.ops ; .arch x64 ; psrlw xmm0, k),
            (32, true, false) => dynasm!(self.ops ; .arch x64 ; psrld xmm0, k),
            (_, true, false) => dynasm!(self.ops ; .arch x64 ; psrlq xmm0, k),
            (16, true, true) => dynasm!(self.ops ; .arch x64 ; psraw xmm0, k),
            _ => dynasm!(self.ops ; .arch x64 ; psrad xmm0, k),
        }
        self.xstore(Rx::XMM0, i);
        true
    }
}
