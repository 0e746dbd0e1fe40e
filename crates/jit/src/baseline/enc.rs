//! Compact encodings of the baseline tier's most frequent instructions,
//! the loads and stores of guest state and guest memory. dynasm gives a
//! dynamic base register a SIB byte and every runtime displacement 32
//! bits (`mov r64, [r8 + 0]` takes 8 bytes, `mov r64, [rbx + 0x10]` 7);
//! these pick the shortest ModRM form (3 and 4 bytes), which keeps hot
//! code denser in the instruction cache and the decoders. The forms are
//! the plain ones every x86-64 decoder, ours included
//! (`crate::x86_addr`), reads.

use dynasmrt::x64::{Rq, X64Relocation};
use dynasmrt::{DynasmApi, VecAssembler};

type Ops = VecAssembler<X64Relocation>;

/// An instruction form: the operand-size prefix (16-bit), REX.W, an
/// 8-bit register operand (SPL..DIL need a REX prefix), the opcode.
pub(super) struct Form {
    w16: bool,
    w64: bool,
    byte_reg: bool,
    opcode: &'static [u8],
}

const fn form(w16: bool, w64: bool, byte_reg: bool, opcode: &'static [u8]) -> Form {
    Form {
        w16,
        w64,
        byte_reg,
        opcode,
    }
}

/// Loads, by width: MOVZX r32, m8 / m16; MOV r32, m32; MOV r64, m64.
const LOADS: [Form; 4] = [
    form(false, false, false, &[0x0f, 0xb6]),
    form(false, false, false, &[0x0f, 0xb7]),
    form(false, false, false, &[0x8b]),
    form(false, true, false, &[0x8b]),
];
/// Stores of a register, by width: MOV m8, r8 / m16, r16 / m32, r32 /
/// m64, r64.
const STORES: [Form; 4] = [
    form(false, false, true, &[0x88]),
    form(true, false, false, &[0x89]),
    form(false, false, false, &[0x89]),
    form(false, true, false, &[0x89]),
];
/// Stores of an immediate, by width: MOV m8, imm8 / m16, imm16 / m32,
/// imm32 / m64, imm32 (sign-extended); the ModRM digit is 0.
const STORE_IMMS: [Form; 4] = [
    form(false, false, false, &[0xc6]),
    form(true, false, false, &[0xc7]),
    form(false, false, false, &[0xc7]),
    form(false, true, false, &[0xc7]),
];

/// CMPXCHG m, r (rax: the expected value, then the value found), by
/// width.
pub(super) const CMPXCHG: [Form; 4] = [
    form(false, false, true, &[0x0f, 0xb0]),
    form(true, false, false, &[0x0f, 0xb1]),
    form(false, false, false, &[0x0f, 0xb1]),
    form(false, true, false, &[0x0f, 0xb1]),
];
/// XADD m, r (r: the addend, then the old value), by width.
pub(super) const XADD: [Form; 4] = [
    form(false, false, true, &[0x0f, 0xc0]),
    form(true, false, false, &[0x0f, 0xc1]),
    form(false, false, false, &[0x0f, 0xc1]),
    form(false, true, false, &[0x0f, 0xc1]),
];
/// XCHG m, r (locked without a prefix), by width.
pub(super) const XCHG: [Form; 4] = [
    form(false, false, true, &[0x86]),
    form(true, false, false, &[0x87]),
    form(false, false, false, &[0x87]),
    form(false, true, false, &[0x87]),
];

/// Index of a width of 1, 2, 4 or 8 bytes in the tables above.
fn width(bytes: u32) -> usize {
    match bytes {
        1 => 0,
        2 => 1,
        4 => 2,
        _ => 3,
    }
}

/// `[prefix] [REX] opcode ModRM [SIB] [disp8|disp32]` for register (or
/// opcode extension) `reg` and the memory operand `[base + disp]`.
fn mem(ops: &mut Ops, f: &Form, reg: u8, base: Rq, disp: i32) {
    let base = base as u8;
    if f.w16 {
        ops.push(0x66);
    }
    let rex = 0x40 | (f.w64 as u8) << 3 | (reg >> 3) << 2 | (base >> 3);
    if rex != 0x40 || (f.byte_reg && (4..8).contains(&reg)) {
        ops.push(rex);
    }
    ops.extend(f.opcode.iter().copied());
    // mod 00 with rm 101 (rbp, r13) means RIP-relative: those bases
    // always carry a displacement.
    let md: u8 = if disp == 0 && base & 7 != 5 {
        0
    } else if i8::try_from(disp).is_ok() {
        1
    } else {
        2
    };
    ops.push(md << 6 | (reg & 7) << 3 | (base & 7));
    if base & 7 == 4 {
        // rsp, r12: the SIB byte "base only".
        ops.push(0x24);
    }
    match md {
        1 => ops.push(disp as i8 as u8),
        2 => ops.extend(disp.to_le_bytes()),
        _ => {}
    }
}

/// `[lock] op [base + disp], reg` of `bytes` for one of the forms above
/// ([`CMPXCHG`], [`XADD`], [`XCHG`]).
pub(super) fn atomic(
    ops: &mut Ops,
    forms: &[Form; 4],
    lock: bool,
    bytes: u32,
    reg: Rq,
    base: Rq,
    disp: i32,
) {
    if lock {
        ops.push(0xf0);
    }
    mem(ops, &forms[width(bytes)], reg as u8, base, disp);
}

/// `sub dword [rip + disp], 1` with a zero displacement, to be pointed at
/// a counter at installation (`cache::point_at_counter`); returns the
/// displacement's offset (the instruction ends one byte after it).
pub(super) fn sub_rip_dword_1(ops: &mut Ops) -> usize {
    ops.extend([0x83, 0x2d]);
    let at = ops.offset().0;
    ops.extend([0, 0, 0, 0, 1]);
    at
}

/// `dst = zero-extended [base + disp]` of `bytes` (1, 2, 4 or 8).
pub(super) fn load(ops: &mut Ops, bytes: u32, dst: Rq, base: Rq, disp: i32) {
    mem(ops, &LOADS[width(bytes)], dst as u8, base, disp);
}

/// `[base + disp] = the low `bytes` of src`.
pub(super) fn store(ops: &mut Ops, bytes: u32, src: Rq, base: Rq, disp: i32) {
    mem(ops, &STORES[width(bytes)], src as u8, base, disp);
}

/// `[base + disp] = imm` on `bytes` (8: `imm` sign-extended).
pub(super) fn store_imm(ops: &mut Ops, bytes: u32, imm: i32, base: Rq, disp: i32) {
    let w = width(bytes);
    mem(ops, &STORE_IMMS[w], 0, base, disp);
    match w {
        0 => ops.push(imm as i8 as u8),
        1 => ops.extend((imm as i16).to_le_bytes()),
        _ => ops.extend(imm.to_le_bytes()),
    }
}

/// `mov dst32, imm` (the upper half cleared), with a REX prefix only for
/// r8-r15: dynasm gives a register chosen at run time one always.
pub(super) fn mov_r32_imm(ops: &mut Ops, dst: Rq, imm: u32) {
    let d = dst as u8;
    if d >= 8 {
        ops.push(0x41);
    }
    ops.push(0xb8 | (d & 7));
    ops.extend(imm.to_le_bytes());
}

/// [`alu_imm`] on 32 bits (the upper half of `dst` cleared): no REX.W,
/// and no REX at all for r0-r7.
pub(super) fn alu_imm32(ops: &mut Ops, digit: u8, dst: Rq, imm: i32) {
    alu_imm_sized(ops, digit, dst, imm, false);
}

/// `op dst, imm` on 64 bits for the group-1 ALU op with ModRM digit
/// `digit` (add 0, or 1, adc 2, and 4, sub 5, xor 6, cmp 7), with an
/// 8-bit immediate when `imm` fits one (dynasm always encodes 32 bits).
pub(super) fn alu_imm(ops: &mut Ops, digit: u8, dst: Rq, imm: i32) {
    alu_imm_sized(ops, digit, dst, imm, true);
}

/// [`alu_imm`] (`wide`) or [`alu_imm32`].
fn alu_imm_sized(ops: &mut Ops, digit: u8, dst: Rq, imm: i32, wide: bool) {
    let d = dst as u8;
    let rex = if wide { 0x48 } else { 0x40 } | (d >> 3);
    if rex != 0x40 {
        ops.push(rex);
    }
    match i8::try_from(imm) {
        Ok(b) => {
            ops.push(0x83);
            ops.push(0xc0 | digit << 3 | (d & 7));
            ops.push(b as u8);
        }
        Err(_) => {
            ops.push(0x81);
            ops.push(0xc0 | digit << 3 | (d & 7));
            ops.extend(imm.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CodeCache;
    use dynasmrt::dynasm;

    /// Code for [`call`]'s body.
    type Body = Box<dyn FnOnce(&mut Ops)>;

    /// Every register but rsp (the test's own stack).
    const REGS: [Rq; 15] = [
        Rq::RAX,
        Rq::RCX,
        Rq::RDX,
        Rq::RBX,
        Rq::RBP,
        Rq::RSI,
        Rq::RDI,
        Rq::R8,
        Rq::R9,
        Rq::R10,
        Rq::R11,
        Rq::R12,
        Rq::R13,
        Rq::R14,
        Rq::R15,
    ];
    const DISPS: [i32; 6] = [0, 8, -8, 127, -128, 1000];

    /// Runs `body` as `fn(base: u64, value: u64) -> u64` with `base` in
    /// register `b`, `value` in `v` and the result taken from `r`, all
    /// callee-saved registers preserved.
    fn call(
        cache: &mut CodeCache,
        b: Rq,
        v: Rq,
        r: Rq,
        body: impl FnOnce(&mut Ops),
        base: u64,
        value: u64,
    ) -> u64 {
        let mut ops = Ops::new(0);
        dynasm!(ops
            ; .arch x64
            ; push rbx ; push rbp ; push r12 ; push r13 ; push r14 ; push r15
            ; push rdi ; push rsi ; pop Rq(v) ; pop Rq(b)
        );
        body(&mut ops);
        dynasm!(ops
            ; .arch x64
            ; mov rax, Rq(r)
            ; pop r15 ; pop r14 ; pop r13 ; pop r12 ; pop rbp ; pop rbx
            ; ret
        );
        let code = ops.finalize().expect("no labels");
        let at = cache.install(&code).expect("room");
        // SAFETY: code just assembled with the C calling convention,
        // saving every callee-saved register it uses.
        let f: extern "C" fn(u64, u64) -> u64 = unsafe { core::mem::transmute(at) };
        f(base, value)
    }

    /// Each compact load and store does what dynasm's long form of the
    /// same instruction does, for every base, register, width and
    /// displacement size (the ModRM special cases: rsp/r12 need a SIB
    /// byte, rbp/r13 a displacement).
    #[test]
    fn compact_forms_do_what_dynasms_do() {
        let mut cache = CodeCache::new(64 << 20).expect("code cache");
        // Written by the generated code through `middle`: one heap
        // buffer that never moves, restored by copying.
        let mut buf = vec![0u8; 4096];
        for (i, x) in buf.iter_mut().enumerate() {
            *x = (i * 37 + 11) as u8;
        }
        let middle = buf.as_mut_ptr() as u64 + 2048;
        let value = 0x8877_6655_4433_2211u64;
        for &base in &REGS {
            for &reg in &REGS {
                for &disp in &DISPS {
                    let at = middle.wrapping_sub(disp as i64 as u64);
                    for bytes in [1u32, 2, 4, 8] {
                        // Loads: `reg` gets the value (the base register
                        // may be overwritten when it is `reg`).
                        let ours = call(
                            &mut cache,
                            base,
                            reg,
                            reg,
                            |o| load(o, bytes, reg, base, disp),
                            at,
                            value,
                        );
                        let theirs = call(
                            &mut cache,
                            base,
                            reg,
                            reg,
                            |o| match bytes {
                                1 => dynasm!(o ; .arch x64 ; movzx Rd(reg), BYTE [Rq(base) + disp]),
                                2 => dynasm!(o ; .arch x64 ; movzx Rd(reg), WORD [Rq(base) + disp]),
                                4 => dynasm!(o ; .arch x64 ; mov Rd(reg), DWORD [Rq(base) + disp]),
                                _ => dynasm!(o ; .arch x64 ; mov Rq(reg), QWORD [Rq(base) + disp]),
                            },
                            at,
                            value,
                        );
                        assert_eq!(ours, theirs, "load {bytes} {reg:?} [{base:?} + {disp}]");
                        if reg == base {
                            continue;
                        }
                        // Stores, of the register and of an immediate:
                        // the same bytes written.
                        let imm = -0x1234_5679;
                        let stores: [(&str, Body, Body); 2] = [
                            (
                                "register",
                                Box::new(move |o| store(o, bytes, reg, base, disp)),
                                Box::new(move |o| match bytes {
                                    1 => {
                                        dynasm!(o ; .arch x64 ; mov BYTE [Rq(base) + disp], Rb(reg))
                                    }
                                    2 => {
                                        dynasm!(o ; .arch x64 ; mov WORD [Rq(base) + disp], Rw(reg))
                                    }
                                    4 => {
                                        dynasm!(o ; .arch x64 ; mov DWORD [Rq(base) + disp], Rd(reg))
                                    }
                                    _ => {
                                        dynasm!(o ; .arch x64 ; mov QWORD [Rq(base) + disp], Rq(reg))
                                    }
                                }),
                            ),
                            (
                                "immediate",
                                Box::new(move |o| store_imm(o, bytes, imm, base, disp)),
                                Box::new(move |o| match bytes {
                                    1 => {
                                        dynasm!(o ; .arch x64 ; mov BYTE [Rq(base) + disp], imm as i8)
                                    }
                                    2 => {
                                        dynasm!(o ; .arch x64 ; mov WORD [Rq(base) + disp], imm as i16)
                                    }
                                    4 => dynasm!(o ; .arch x64 ; mov DWORD [Rq(base) + disp], imm),
                                    _ => dynasm!(o ; .arch x64 ; mov QWORD [Rq(base) + disp], imm),
                                }),
                            ),
                        ];
                        for (what, ours, theirs) in stores {
                            let before = buf.clone();
                            call(&mut cache, base, reg, reg, ours, at, value);
                            let after_ours = buf.clone();
                            buf.copy_from_slice(&before);
                            call(&mut cache, base, reg, reg, theirs, at, value);
                            assert_eq!(
                                after_ours, buf,
                                "store {bytes} of the {what} -> [{base:?} + {disp}]"
                            );
                            assert_ne!(after_ours, before, "the {what} store wrote");
                            buf.copy_from_slice(&before);
                        }
                    }
                }
            }
            cache.reset();
        }
    }

    /// The ALU forms with an 8-bit immediate give dynasm's result and
    /// flags for every register and op, on 64 and on 32 bits.
    #[test]
    fn short_immediates_do_what_dynasms_do() {
        let mut cache = CodeCache::new(16 << 20).expect("code cache");
        for &reg in &REGS {
            for digit in [0u8, 1, 2, 4, 5, 6, 7] {
                for imm in [0, 1, -1, 127, -128, 128, -129, 0x7fff_ffff, i32::MIN] {
                    for start in [0u64, 5, u64::MAX, 0x8000_0000_0000_0000] {
                        // Result and flags (pushfq) with CF set first (adc).
                        let with = |cache: &mut CodeCache, ours: bool, wide: bool| {
                            let mut ops = Ops::new(0);
                            dynasm!(ops
                                ; .arch x64
                                ; push rbx ; push rbp ; push r12 ; push r13 ; push r14 ; push r15
                                ; push rsi
                                ; mov Rq(reg), rdi
                                ; stc
                            );
                            // dynasm's encoding with registers of `$size`.
                            macro_rules! theirs {
                                ($size:ident) => {
                                    match digit {
                                        0 => dynasm!(ops ; .arch x64 ; add $size(reg), imm),
                                        1 => dynasm!(ops ; .arch x64 ; or $size(reg), imm),
                                        2 => dynasm!(ops ; .arch x64 ; adc $size(reg), imm),
                                        4 => dynasm!(ops ; .arch x64 ; and $size(reg), imm),
                                        5 => dynasm!(ops ; .arch x64 ; sub $size(reg), imm),
                                        6 => dynasm!(ops ; .arch x64 ; xor $size(reg), imm),
                                        _ => dynasm!(ops ; .arch x64 ; cmp $size(reg), imm),
                                    }
                                };
                            }
                            match (ours, wide) {
                                (true, true) => alu_imm(&mut ops, digit, reg, imm),
                                (true, false) => alu_imm32(&mut ops, digit, reg, imm),
                                (false, true) => theirs!(Rq),
                                (false, false) => theirs!(Rd),
                            }
                            dynasm!(ops
                                ; .arch x64
                                ; pushfq ; push Rq(reg)
                                ; pop rax ; pop rdx ; pop rsi
                                ; mov [rsi], rax
                                ; mov rax, rdx ; and eax, 0x8d5
                                ; pop r15 ; pop r14 ; pop r13 ; pop r12 ; pop rbp ; pop rbx
                                ; ret
                            );
                            let code = ops.finalize().expect("no labels");
                            let at = cache.install(&code).expect("room");
                            let mut out = 0u64;
                            // SAFETY: C calling convention, callee-saved
                            // registers preserved.
                            let f: extern "C" fn(u64, *mut u64) -> u64 =
                                unsafe { core::mem::transmute(at) };
                            let flags = f(start, &mut out);
                            (out, flags)
                        };
                        for wide in [true, false] {
                            let ours = with(&mut cache, true, wide);
                            let theirs = with(&mut cache, false, wide);
                            assert_eq!(
                                ours, theirs,
                                "op {digit} {reg:?}, {imm} from {start:#x} (64: {wide})"
                            );
                        }
                    }
                }
            }
            cache.reset();
        }
    }

    /// `mov r32, imm32` sets every register as dynasm's does, one byte
    /// shorter below r8.
    #[test]
    fn moves_of_32_bit_immediates_do_what_dynasms_do() {
        let mut cache = CodeCache::new(1 << 20).expect("code cache");
        let len = |f: &dyn Fn(&mut Ops)| {
            let mut o = Ops::new(0);
            f(&mut o);
            o.finalize().expect("no labels").len()
        };
        for &reg in &REGS {
            for imm in [0u32, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
                let ours_code = |o: &mut Ops| mov_r32_imm(o, reg, imm);
                let theirs_code = |o: &mut Ops| dynasm!(o ; .arch x64 ; mov Rd(reg), imm as i32);
                // (`reg` starts with all bits set.)
                let ours = call(&mut cache, reg, reg, reg, ours_code, !0, !0);
                let theirs = call(&mut cache, reg, reg, reg, theirs_code, !0, !0);
                assert_eq!(ours, theirs, "{reg:?} {imm:#x}");
                assert_eq!(ours, u64::from(imm));
                let ours_len = len(&ours_code);
                assert_eq!(ours_len, if (reg as u8) < 8 { 5 } else { 6 }, "{reg:?}");
                assert!(ours_len <= len(&theirs_code));
            }
        }
    }

    #[test]
    fn state_accesses_are_short() {
        let len = |f: &dyn Fn(&mut Ops)| {
            let mut o = Ops::new(0);
            f(&mut o);
            o.finalize().expect("no labels").len()
        };
        assert_eq!(len(&|o| load(o, 8, Rq::R8, Rq::RBX, 0x10)), 4);
        assert_eq!(len(&|o| load(o, 8, Rq::R9, Rq::R8, 0)), 3);
        assert_eq!(len(&|o| store(o, 4, Rq::RAX, Rq::RBX, 0x100)), 6);
        assert_eq!(len(&|o| load(o, 8, Rq::RAX, Rq::R12, 0)), 4);
        assert_eq!(len(&|o| load(o, 8, Rq::RAX, Rq::R13, 0)), 4);
    }
}
