//! Tests of the loads and stores group. Instruction words come from
//! `aarch64-linux-gnu-as` (the assembly is in the comment next to each);
//! expected values are read from the test buffer by plain Rust, so they do
//! not depend on the lifter. The CONSTRAINED UNPREDICTABLE cases expect
//! what qemu-aarch64 does.

#![allow(clippy::field_reassign_with_default)]

use crate::lift::{Ctx, LiftError, LiftResult, translate_insn};
use crate::state::A64State;
use crate::testing::run;
use xarch_ir::Builder;

/// A 16-byte aligned guest memory area; byte `k` starts as `0x80 + k`, so
/// that signed loads see negative values.
#[repr(C, align(16))]
struct Mem([u8; 256]);

impl Mem {
    fn new() -> Box<Mem> {
        let mut m = Box::new(Mem([0; 256]));
        for (k, b) in m.0.iter_mut().enumerate() {
            *b = 0x80u8.wrapping_add(k as u8);
        }
        m
    }

    /// Guest address of byte `off`.
    fn at(&mut self, off: usize) -> u64 {
        self.0.as_mut_ptr() as u64 + off as u64
    }

    /// Little-endian value of `n` bytes at `off`.
    fn le(&self, off: usize, n: usize) -> u128 {
        let mut b = [0u8; 16];
        b[..n].copy_from_slice(&self.0[off..off + n]);
        u128::from_le_bytes(b)
    }

    fn u64(&self, off: usize) -> u64 {
        self.le(off, 8) as u64
    }
}

/// Sign-extends the low `bits` of `x` to 64 bits.
fn sx(x: u128, bits: u32) -> u64 {
    (((x as u64) << (64 - bits)) as i64 >> (64 - bits)) as u64
}

/// Runs `code` from `s`, which must not exit.
fn exec(s: &mut A64State, code: &[u32]) {
    assert_eq!(run(s, code), None, "code {code:x?} did not run to the end");
}

/// A state with X1 pointing at `off` in `m` and the given other registers.
fn st(m: &mut Mem, off: usize, regs: &[(usize, u64)]) -> A64State {
    let mut s = A64State::default();
    s.x[1] = m.at(off);
    for &(r, v) in regs {
        s.x[r] = v;
    }
    s
}

/// Lifts one instruction on its own.
fn lift(insn: u32) -> LiftResult {
    let mut c = Ctx {
        b: Builder::new(),
        pc: 0x1000,
        term: None,
    };
    translate_insn(&mut c, insn)
}

// ---- Load/store register: unsigned immediate -------------------------------

#[test]
fn unsigned_immediate_loads_extend_by_size_and_sign() {
    let mut m = Mem::new();
    // Every load starts with X0 holding garbage, which must vanish.
    let cases: &[(u32, u64)] = &[
        (0xf9400420, m.u64(8)),                         // ldr x0, [x1, #8]
        (0xb9400420, m.le(4, 4) as u64),                // ldr w0, [x1, #4]
        (0x39400c20, m.le(3, 1) as u64),                // ldrb w0, [x1, #3]
        (0x79400420, m.le(2, 2) as u64),                // ldrh w0, [x1, #2]
        (0x39800020, sx(m.le(0, 1), 8)),                // ldrsb x0, [x1]
        (0x39c00020, sx(m.le(0, 1), 8) as u32 as u64),  // ldrsb w0, [x1]
        (0x79800420, sx(m.le(2, 2), 16)),               // ldrsh x0, [x1, #2]
        (0x79c00420, sx(m.le(2, 2), 16) as u32 as u64), // ldrsh w0, [x1, #2]
        (0xb9800420, sx(m.le(4, 4), 32)),               // ldrsw x0, [x1, #4]
    ];
    for &(insn, want) in cases {
        let mut s = st(&mut m, 0, &[(0, 0xdead_beef_dead_beef)]);
        exec(&mut s, &[insn]);
        assert_eq!(s.x[0], want, "{insn:#010x}");
        assert_eq!(s.x[1], m.at(0), "{insn:#010x} must not write back");
    }
    assert_eq!(m.le(0, 1), 0x80, "sign-extension cases are really negative");
}

#[test]
fn unsigned_immediate_stores_write_exactly_their_size() {
    let cases: &[(u32, usize, usize)] = &[
        (0xf9000822, 16, 8), // str x2, [x1, #16]
        (0xb9001022, 16, 4), // str w2, [x1, #16]
        (0x39004422, 17, 1), // strb w2, [x1, #17]
        (0x79002422, 18, 2), // strh w2, [x1, #18]
    ];
    for &(insn, off, n) in cases {
        let mut m = Mem::new();
        let before = Mem::new();
        let v = 0x1122_3344_5566_7788u64;
        let mut s = st(&mut m, 0, &[(2, v)]);
        exec(&mut s, &[insn]);
        let mask = if n == 8 { u64::MAX } else { (1 << (8 * n)) - 1 };
        assert_eq!(m.le(off, n) as u64, v & mask, "{insn:#010x}");
        assert_eq!(
            m.le(off + n, 8),
            before.le(off + n, 8),
            "{insn:#010x} overran"
        );
        assert_eq!(m.le(off - 8, 8), before.le(off - 8, 8));
    }
}

#[test]
fn register_31_is_sp_as_base_and_zr_as_data() {
    let mut m = Mem::new();
    let mut s = A64State::default();
    s.sp = m.at(16);
    exec(&mut s, &[0xf94007e0]); // ldr x0, [sp, #8]
    assert_eq!(s.x[0], m.u64(24));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xf900003f]); // str xzr, [x1]
    assert_eq!(m.u64(0), 0);
}

#[test]
fn prefetch_is_a_nop_even_on_bad_addresses() {
    // x1 = 0 and x2 = 8: a real access would fault.
    for insn in [
        0xf9800420u32, // prfm pldl1keep, [x1, #8]
        0xf89ff020,    // prfum pldl1keep, [x1, #-1]
        0xf8a26820,    // prfm pldl1keep, [x1, x2]
    ] {
        let mut s = A64State::default();
        s.x[2] = 8;
        exec(&mut s, &[insn]);
        assert_eq!((s.x[0], s.x[1], s.x[2]), (0, 0, 8));
    }
    // prfm pldl1keep, .+0x1000 (literal): no access either.
    let mut s = A64State::default();
    exec(&mut s, &[0xd8008000]);
}

// ---- Unscaled, pre/post-index, unprivileged --------------------------------

#[test]
fn unscaled_offsets_are_signed_bytes() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 16, &[]);
    exec(&mut s, &[0xf85f8020]); // ldur x0, [x1, #-8]
    assert_eq!(s.x[0], m.u64(8));
    let mut s = st(&mut m, 16, &[]);
    exec(&mut s, &[0x38dff020]); // ldursb w0, [x1, #-1]
    assert_eq!(s.x[0], sx(m.le(15, 1), 8) as u32 as u64);
    let mut s = st(&mut m, 0, &[(2, 0xaabb_ccdd)]);
    exec(&mut s, &[0xb8003022]); // stur w2, [x1, #3]
    assert_eq!(m.le(3, 4), 0xaabb_ccdd);
    assert_eq!(m.le(7, 1), 0x87);
}

#[test]
fn pre_and_post_index_write_back_the_base() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xf8408c20]); // ldr x0, [x1, #8]!
    assert_eq!((s.x[0], s.x[1]), (m.u64(8), m.at(8)));
    let mut s = st(&mut m, 16, &[]);
    exec(&mut s, &[0xf85f8420]); // ldr x0, [x1], #-8
    assert_eq!((s.x[0], s.x[1]), (m.u64(16), m.at(8)));
    let mut s = st(&mut m, 8, &[]);
    exec(&mut s, &[0xb8804420]); // ldrsw x0, [x1], #4
    assert_eq!((s.x[0], s.x[1]), (sx(m.le(8, 4), 32), m.at(12)));
    let mut s = st(&mut m, 8, &[]);
    exec(&mut s, &[0x785fec20]); // ldrh w0, [x1, #-2]!
    assert_eq!((s.x[0], s.x[1]), (m.le(6, 2) as u64, m.at(6)));
    let mut s = A64State::default();
    s.sp = m.at(32);
    s.x[2] = 0x0123_4567_89ab_cdef;
    exec(&mut s, &[0xf81f0fe2]); // str x2, [sp, #-16]!
    assert_eq!((m.u64(16), s.sp), (0x0123_4567_89ab_cdef, m.at(16)));
}

#[test]
fn writeback_overlapping_the_data_register_behaves_like_qemu() {
    let mut m = Mem::new();
    // Load: the written-back address wins over the loaded value.
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xf8408421]); // ldr x1, [x1], #8
    assert_eq!(s.x[1], m.at(8));
    // Store: the value before the writeback is stored.
    let base = m.at(0);
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xf8008c21]); // str x1, [x1, #8]!
    assert_eq!((m.u64(8), s.x[1]), (base, m.at(8)));
}

#[test]
fn unprivileged_forms_behave_as_normal_at_el0() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xf8408820]); // ldtr x0, [x1, #8]
    assert_eq!((s.x[0], s.x[1]), (m.u64(8), m.at(0)));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x38c00820]); // ldtrsb w0, [x1]
    assert_eq!(s.x[0], 0xffff_ff80);
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xb8804820]); // ldtrsw x0, [x1, #4]
    assert_eq!(s.x[0], sx(m.le(4, 4), 32));
    let mut s = st(&mut m, 8, &[(2, 0x1234_5678)]);
    exec(&mut s, &[0x781fe822]); // sttrh w2, [x1, #-2]
    assert_eq!(m.le(6, 2), 0x5678);
}

// ---- Register offset ------------------------------------------------------

#[test]
fn register_offset_extends_and_scales_the_index() {
    let mut m = Mem::new();
    let cases: &[(u32, usize, u64, u64)] = &[
        // (insn, base offset, x2, expected x0)
        (0xf8627820, 0, 2, m.u64(16)), // ldr x0, [x1, x2, lsl #3]
        (0xf8626820, 0, 3, m.u64(3)),  // ldr x0, [x1, x2]
        // uxtw ignores the upper half of x2
        (0xb8625820, 0, 0xffff_ffff_0000_0001, m.le(4, 4) as u64), // ldr w0, [x1, w2, uxtw #2]
        (0xf862d820, 16, 0xffff_ffff, m.u64(8)),                   // ldr x0, [x1, w2, sxtw #3]
        (0x3862e820, 16, u64::MAX, m.le(15, 1) as u64),            // ldrb w0, [x1, x2, sxtx]
        (0x7862d820, 16, 0x5_ffff_fffe, m.le(12, 2) as u64),       // ldrh w0, [x1, w2, sxtw #1]
        (0x38a27820, 0, 5, sx(m.le(5, 1), 8)),                     // ldrsb x0, [x1, x2, lsl #0]
        (0xf87f6820, 8, 99, m.u64(8)),                             // ldr x0, [x1, xzr]
    ];
    for &(insn, base, x2, want) in cases {
        let mut s = st(&mut m, base, &[(2, x2)]);
        exec(&mut s, &[insn]);
        assert_eq!(s.x[0], want, "{insn:#010x}");
    }
    let mut s = st(&mut m, 0, &[(2, 7), (3, 0xabcd)]);
    exec(&mut s, &[0x38226823]); // strb w3, [x1, x2]
    assert_eq!(m.le(7, 2), 0x88cd);
    // option = 000 (UXTB) is unallocated for addressing.
    assert_eq!(lift(0xf8620820), Err(LiftError::Unallocated));
}

// ---- Literal --------------------------------------------------------------

#[test]
fn literal_loads_are_pc_relative() {
    let (lo, hi) = (0x8899_aabb_ccdd_eeffu64, 0x0011_2233_4455_6677u64);
    let data = [lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32];
    // insn; b .+20 (past the data); 4 data words.
    let code = |insn: u32| [insn, 0x14000005, data[0], data[1], data[2], data[3]];
    // The literal is at .+8 in each case.
    let mut s = A64State::default();
    exec(&mut s, &code(0x58000040)); // ldr x0, .+8
    assert_eq!(s.x[0], lo);
    let mut s = A64State::default();
    s.x[0] = u64::MAX;
    exec(&mut s, &code(0x18000040)); // ldr w0, .+8
    assert_eq!(s.x[0], lo as u32 as u64);
    let mut s = A64State::default();
    exec(&mut s, &code(0x98000040)); // ldrsw x0, .+8
    assert_eq!(s.x[0], sx(lo as u128, 32));
    let mut s = A64State::default();
    s.v[0] = u128::MAX;
    exec(&mut s, &code(0x1c000040)); // ldr s0, .+8
    assert_eq!(s.v[0], lo as u32 as u128);
    let mut s = A64State::default();
    s.v[0] = u128::MAX;
    exec(&mut s, &code(0x5c000040)); // ldr d0, .+8
    assert_eq!(s.v[0], lo as u128);
    let mut s = A64State::default();
    exec(&mut s, &code(0x9c000040)); // ldr q0, .+8
    assert_eq!(s.v[0], (hi as u128) << 64 | lo as u128);
    // Backwards: b .+12; data; data; ldr x0, .-8
    let mut s = A64State::default();
    exec(&mut s, &[0x14000003, data[0], data[1], 0x58ffffc0]);
    assert_eq!(s.x[0], lo);
    // opc = 11 with V = 1 is unallocated.
    assert_eq!(lift(0xdc000040), Err(LiftError::Unallocated));
}

// ---- Pairs ----------------------------------------------------------------

#[test]
fn load_pair_forms() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xa9410820]); // ldp x0, x2, [x1, #16]
    assert_eq!((s.x[0], s.x[2], s.x[1]), (m.u64(16), m.u64(24), m.at(0)));
    let mut s = st(&mut m, 16, &[(0, u64::MAX), (2, u64::MAX)]);
    exec(&mut s, &[0x297f0820]); // ldp w0, w2, [x1, #-8]
    assert_eq!((s.x[0], s.x[2]), (m.le(8, 4) as u64, m.le(12, 4) as u64));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x69400820]); // ldpsw x0, x2, [x1]
    assert_eq!((s.x[0], s.x[2]), (sx(m.le(0, 4), 32), sx(m.le(4, 4), 32)));
    assert!(s.x[0] >> 63 == 1, "the test really sign-extends");
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xa8c10820]); // ldp x0, x2, [x1], #16
    assert_eq!((s.x[0], s.x[2], s.x[1]), (m.u64(0), m.u64(8), m.at(16)));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x69c10820]); // ldpsw x0, x2, [x1, #8]!
    assert_eq!(
        (s.x[0], s.x[2], s.x[1]),
        (sx(m.le(8, 4), 32), sx(m.le(12, 4), 32), m.at(8))
    );
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xa8408820]); // ldnp x0, x2, [x1, #8]
    assert_eq!((s.x[0], s.x[2], s.x[1]), (m.u64(8), m.u64(16), m.at(0)));
}

#[test]
fn store_pair_forms() {
    let mut m = Mem::new();
    let (a, b) = (0x1111_2222_3333_4444u64, 0x5555_6666_7777_8888u64);
    let mut s = A64State::default();
    s.sp = m.at(32);
    s.x[2] = a;
    s.x[3] = b;
    exec(&mut s, &[0xa9bf0fe2]); // stp x2, x3, [sp, #-16]!
    assert_eq!((m.u64(16), m.u64(24), s.sp), (a, b, m.at(16)));
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[(2, a), (3, b)]);
    exec(&mut s, &[0x28008c22]); // stnp w2, w3, [x1, #4]
    assert_eq!(m.u64(4), (b as u32 as u64) << 32 | a as u32 as u64);
    assert_eq!((m.le(0, 4), m.le(12, 4)), (0x8382_8180, 0x8f8e_8d8c));
    let mut s = st(&mut m, 16, &[(2, a), (3, b)]);
    exec(&mut s, &[0x28bf0c22]); // stp w2, w3, [x1], #-8
    assert_eq!(
        (m.le(16, 4) as u64, m.le(20, 4) as u64),
        (a & 0xffff_ffff, b & 0xffff_ffff)
    );
    assert_eq!(s.x[1], m.at(8));
}

#[test]
fn pair_overlaps_behave_like_qemu() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xa8c10420]); // ldp x0, x1, [x1], #16
    assert_eq!((s.x[0], s.x[1]), (m.u64(0), m.at(16)));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xa9400020]); // ldp x0, x0, [x1]
    assert_eq!(s.x[0], m.u64(8));
}

#[test]
fn pair_unallocated_encodings() {
    assert_eq!(lift(0x68400820), Err(LiftError::Unallocated)); // ldnp with opc=01 (LDPSW)
    assert_eq!(lift(0x69000820), Err(LiftError::Unallocated)); // stgp (MTE)
    assert_eq!(lift(0xe9410820), Err(LiftError::Unallocated)); // opc = 11
    assert_eq!(lift(0xed400420), Err(LiftError::Unallocated)); // opc = 11, V = 1
}

// ---- SIMD&FP registers ----------------------------------------------------

#[test]
fn fp_scalar_loads_zero_the_rest_of_the_register() {
    let mut m = Mem::new();
    let cases: &[(u32, usize, usize)] = &[
        (0x3d400420, 1, 1),   // ldr b0, [x1, #1]
        (0x7d400420, 2, 2),   // ldr h0, [x1, #2]
        (0xbd400420, 4, 4),   // ldr s0, [x1, #4]
        (0xfd400420, 8, 8),   // ldr d0, [x1, #8]
        (0x3dc00420, 16, 16), // ldr q0, [x1, #16]
    ];
    for &(insn, off, n) in cases {
        let mut s = st(&mut m, 0, &[]);
        s.v[0] = u128::MAX;
        exec(&mut s, &[insn]);
        assert_eq!(s.v[0], m.le(off, n), "{insn:#010x}");
    }
    let mut s = st(&mut m, 16, &[]);
    exec(&mut s, &[0x3cdff020]); // ldur q0, [x1, #-1]
    assert_eq!(s.v[0], m.le(15, 16));
    let mut s = st(&mut m, 0, &[(2, 2)]);
    exec(&mut s, &[0x3ce27820]); // ldr q0, [x1, x2, lsl #4]
    assert_eq!(s.v[0], m.le(32, 16));
    let mut s = st(&mut m, 8, &[(2, 0xffff_ffff)]);
    exec(&mut s, &[0x7c62d820]); // ldr h0, [x1, w2, sxtw #1]
    assert_eq!(s.v[0], m.le(6, 2));
    let mut s = st(&mut m, 8, &[]);
    exec(&mut s, &[0xfc408420]); // ldr d0, [x1], #8
    assert_eq!((s.v[0], s.x[1]), (m.le(8, 8), m.at(16)));
    let mut s = st(&mut m, 32, &[]);
    exec(&mut s, &[0x3cdf0c20]); // ldr q0, [x1, #-16]!
    assert_eq!((s.v[0], s.x[1]), (m.le(16, 16), m.at(16)));
}

#[test]
fn fp_scalar_stores_write_their_size() {
    let q = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100u128;
    let cases: &[(u32, usize, usize)] = &[
        (0x3d800820, 32, 16), // str q0, [x1, #32]
        (0x3d001420, 5, 1),   // str b0, [x1, #5]
        (0x7d000c20, 6, 2),   // str h0, [x1, #6]
        (0x3c801020, 1, 16),  // stur q0, [x1, #1]
    ];
    for &(insn, off, n) in cases {
        let mut m = Mem::new();
        let before = Mem::new();
        let mut s = st(&mut m, 0, &[]);
        s.v[0] = q;
        exec(&mut s, &[insn]);
        let mask = if n == 16 {
            u128::MAX
        } else {
            (1 << (8 * n)) - 1
        };
        assert_eq!(m.le(off, n), q & mask, "{insn:#010x}");
        assert_eq!(m.le(off + n, 1), before.le(off + n, 1), "{insn:#010x}");
    }
    let mut m = Mem::new();
    let mut s = st(&mut m, 8, &[]);
    s.v[0] = q;
    exec(&mut s, &[0xbc1fcc20]); // str s0, [x1, #-4]!
    assert_eq!((m.le(4, 4), s.x[1]), (0x0302_0100, m.at(4)));
    let mut s = st(&mut m, 8, &[]);
    s.v[0] = q;
    exec(&mut s, &[0xfc008420]); // str d0, [x1], #8
    assert_eq!((m.le(8, 8), s.x[1]), (q as u64 as u128, m.at(16)));
}

#[test]
fn fp_pairs() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = u128::MAX;
    s.v[1] = u128::MAX;
    exec(&mut s, &[0x2d400420]); // ldp s0, s1, [x1]
    assert_eq!((s.v[0], s.v[1]), (m.le(0, 4), m.le(4, 4)));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x6dc08420]); // ldp d0, d1, [x1, #8]!
    assert_eq!((s.v[0], s.v[1], s.x[1]), (m.le(8, 8), m.le(16, 8), m.at(8)));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0xacc10420]); // ldp q0, q1, [x1], #32
    assert_eq!(
        (s.v[0], s.v[1], s.x[1]),
        (m.le(0, 16), m.le(16, 16), m.at(32))
    );
    let mut s = st(&mut m, 16, &[]);
    exec(&mut s, &[0xac400420]); // ldnp q0, q1, [x1]
    assert_eq!((s.v[0], s.v[1]), (m.le(16, 16), m.le(32, 16)));
    let mut s = st(&mut m, 64, &[]);
    s.v[2] = 0x1234u128 << 100 | 7;
    s.v[3] = 0x5678u128 << 90 | 9;
    exec(&mut s, &[0xad3f0c22]); // stp q2, q3, [x1, #-32]
    assert_eq!((m.le(32, 16), m.le(48, 16)), (s.v[2], s.v[3]));
}

#[test]
fn fp_register_unallocated_encodings() {
    // ldr with size = 01 and opc = 11 (no 128-bit H form)
    assert_eq!(lift(0x7dc00420), Err(LiftError::Unallocated));
    // ldtr with V = 1
    assert_eq!(lift(0xfc400820), Err(LiftError::Unallocated));
    // ldr x (pre-index) with opc = 10: no PRFM with writeback
    assert_eq!(lift(0xf8808c20), Err(LiftError::Unallocated));
    // ldrsw with opc = 11
    assert_eq!(lift(0xb9c00420), Err(LiftError::Unallocated));
}

// ---- Exclusives and ordered accesses --------------------------------------

#[test]
fn exclusive_pairs_of_every_size_succeed_and_clear_the_monitor() {
    // (load-exclusive, store-exclusive, size)
    let cases: &[(u32, u32, usize)] = &[
        (0xc85f7c20, 0xc8037c22, 8), // ldxr x0, [x1]; stxr w3, x2, [x1]
        (0x885f7c20, 0x88037c22, 4), // ldxr w0; stxr w3, w2
        (0x085f7c20, 0x08037c22, 1), // ldxrb w0; stxrb w3, w2
        (0x485f7c20, 0x48037c22, 2), // ldxrh w0; stxrh w3, w2
        (0xc85ffc20, 0xc803fc22, 8), // ldaxr x0; stlxr w3, x2
        (0x085ffc20, 0x08037c22, 1), // ldaxrb w0; stxrb w3, w2
        (0x485f7c20, 0x4803fc22, 2), // ldxrh w0; stlxrh w3, w2
    ];
    for &(ld, stx, n) in cases {
        let mut m = Mem::new();
        let before = Mem::new();
        let new = 0x0102_0304_0506_0708u64;
        let mut s = st(&mut m, 8, &[(0, u64::MAX), (2, new), (3, 77)]);
        exec(&mut s, &[ld]);
        assert_eq!(s.x[0], m.le(8, n) as u64, "{ld:#010x} zero-extends");
        assert_eq!((s.excl_addr, s.excl_size), (m.at(8), n as u64));
        assert_eq!(s.excl_value, m.le(8, n));
        exec(&mut s, &[stx]);
        assert_eq!(s.x[3], 0, "{stx:#010x} succeeds");
        let mask = if n == 8 { u64::MAX } else { (1 << (8 * n)) - 1 };
        assert_eq!(m.le(8, n) as u64, new & mask);
        assert_eq!(m.le(8 + n, 1), before.le(8 + n, 1), "{stx:#010x} overran");
        assert_eq!(s.excl_addr, u64::MAX, "monitor cleared");
        // A second store-exclusive finds the monitor closed.
        s.x[2] = 0;
        exec(&mut s, &[stx]);
        assert_eq!(s.x[3], 1);
        assert_eq!(m.le(8, n) as u64, new & mask);
    }
}

#[test]
fn store_exclusive_fails_without_a_matching_load() {
    let mut m = Mem::new();
    // No load-exclusive at all.
    let mut s = st(&mut m, 0, &[(2, 5)]);
    exec(&mut s, &[0xc8037c22]); // stxr w3, x2, [x1]
    assert_eq!((s.x[3], m.u64(0)), (1, Mem::new().u64(0)));
    // Different address.
    let mut s = st(&mut m, 0, &[(2, 5)]);
    exec(&mut s, &[0xc85f7c20]); // ldxr x0, [x1]
    s.x[1] = m.at(8);
    exec(&mut s, &[0xc8037c22]); // stxr w3, x2, [x1]
    assert_eq!((s.x[3], m.u64(8)), (1, Mem::new().u64(8)));
    assert_eq!(s.excl_addr, u64::MAX);
    // Different size.
    let mut s = st(&mut m, 0, &[(2, 5)]);
    exec(&mut s, &[0xc85f7c20]); // ldxr x0, [x1]
    exec(&mut s, &[0x88037c22]); // stxr w3, w2, [x1]
    assert_eq!((s.x[3], m.u64(0)), (1, Mem::new().u64(0)));
    // CLREX in between.
    let mut s = st(&mut m, 0, &[(2, 5)]);
    exec(&mut s, &[0xc85f7c20, 0xd5033f5f, 0xc8037c22]); // ldxr; clrex; stxr
    assert_eq!((s.x[3], m.u64(0)), (1, Mem::new().u64(0)));
}

#[test]
fn store_exclusive_fails_if_another_store_intervened() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[(2, 5)]);
    exec(&mut s, &[0xc85f7c20]); // ldxr x0, [x1]
    m.0[3] ^= 1; // another thread's store
    let changed = m.u64(0);
    exec(&mut s, &[0xc8037c22]); // stxr w3, x2, [x1]
    assert_eq!((s.x[3], m.u64(0)), (1, changed));
}

#[test]
fn exclusive_pairs() {
    let mut m = Mem::new();
    let (a, b) = (0x1111_2222_3333_4444u64, 0x5555_6666_7777_8888u64);
    let mut s = st(&mut m, 16, &[(4, a), (5, b)]);
    exec(&mut s, &[0xc87f0820]); // ldxp x0, x2, [x1]
    assert_eq!((s.x[0], s.x[2], s.excl_size), (m.u64(16), m.u64(24), 16));
    exec(&mut s, &[0xc8231424]); // stxp w3, x4, x5, [x1]
    assert_eq!((s.x[3], m.u64(16), m.u64(24)), (0, a, b));
    exec(&mut s, &[0xc8231424]);
    assert_eq!(s.x[3], 1, "monitor was cleared");

    let mut m = Mem::new();
    let mut s = st(&mut m, 8, &[(0, u64::MAX), (2, u64::MAX), (4, a), (5, b)]);
    exec(&mut s, &[0x887f0820]); // ldxp w0, w2, [x1]
    assert_eq!(
        (s.x[0], s.x[2], s.excl_size),
        (m.le(8, 4) as u64, m.le(12, 4) as u64, 8)
    );
    exec(&mut s, &[0x88231424]); // stxp w3, w4, w5, [x1]
    assert_eq!(s.x[3], 0);
    assert_eq!(m.u64(8), (b as u32 as u64) << 32 | a as u32 as u64);
    assert_eq!(m.u64(16), Mem::new().u64(16));

    // Acquire/release forms, and a pair changed in its upper half fails.
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[(4, a), (5, b)]);
    exec(&mut s, &[0xc87f8820]); // ldaxp x0, x2, [x1]
    m.0[15] ^= 0x40;
    exec(&mut s, &[0xc8239424]); // stlxp w3, x4, x5, [x1]
    assert_eq!(s.x[3], 1);
    exec(&mut s, &[0xc87f8820, 0xc8239424]);
    assert_eq!((s.x[3], m.u64(0), m.u64(8)), (0, a, b));
}

#[test]
fn exclusive_increments_are_atomic_across_threads() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const N: u64 = 20000;
    const THREADS: u64 = 4;
    let counter = Box::new(AtomicU64::new(0));
    let addr = counter.as_ptr() as u64;
    let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let code = [
                    0xc85f7c20, // loop: ldxr x0, [x1]
                    0x91000400, // add x0, x0, #1
                    0x14000001, // b .+4 (a block boundary widens the race window)
                    0xc8037c20, // stxr w3, x0, [x1]
                    0x35ffff83, // cbnz w3, loop
                    0xf1000442, // subs x2, x2, #1
                    0x54ffff41, // b.ne loop
                ];
                let mut s = A64State::default();
                s.x[1] = addr;
                s.x[2] = N;
                exec(&mut s, &code);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), N * THREADS);
}

#[test]
fn load_acquire_store_release() {
    let mut m = Mem::new();
    let cases: &[(u32, usize)] = &[
        (0xc8dffc20, 8), // ldar x0, [x1]
        (0x88dffc20, 4), // ldar w0, [x1]
        (0x08dffc20, 1), // ldarb w0, [x1]
        (0x48dffc20, 2), // ldarh w0, [x1]
    ];
    for &(insn, n) in cases {
        let mut s = st(&mut m, 8, &[(0, u64::MAX)]);
        exec(&mut s, &[insn]);
        assert_eq!(s.x[0], m.le(8, n) as u64, "{insn:#010x}");
    }
    let cases: &[(u32, usize)] = &[
        (0xc89ffc22, 8), // stlr x2, [x1]
        (0x889ffc22, 4), // stlr w2, [x1]
        (0x089ffc22, 1), // stlrb w2, [x1]
        (0x489ffc22, 2), // stlrh w2, [x1]
    ];
    for &(insn, n) in cases {
        let mut m = Mem::new();
        let v = 0xa1a2_a3a4_a5a6_a7a8u64;
        let mut s = st(&mut m, 8, &[(2, v)]);
        exec(&mut s, &[insn]);
        let mask = if n == 8 { u64::MAX } else { (1 << (8 * n)) - 1 };
        assert_eq!(m.le(8, n) as u64, v & mask, "{insn:#010x}");
        assert_eq!(m.le(8 + n, 1), Mem::new().le(8 + n, 1));
    }
}

#[test]
fn unadvertised_extensions_are_unimplemented() {
    for insn in [
        0xc8df7c20u32, // ldlar x0, [x1]
        0xc89f7c20,    // stllr x0, [x1]
        0xd9408020,    // ldapur x0, [x1, #8]
        0x99000020,    // stlur w0, [x1]
    ] {
        assert!(
            matches!(lift(insn), Err(LiftError::Unimplemented(_))),
            "{insn:#010x}: {:?}",
            lift(insn)
        );
    }
}

// ---- Advanced SIMD structures ---------------------------------------------

/// A vector of `n` lanes of `eb` bytes, lane `j` being `f(j)`.
fn vec_of(eb: usize, n: usize, f: impl Fn(usize) -> u128) -> u128 {
    let m = if eb == 16 {
        u128::MAX
    } else {
        (1u128 << (8 * eb)) - 1
    };
    (0..n).fold(0, |acc, j| acc | (f(j) & m) << (8 * eb * j))
}

/// Distinct, recognisable register contents for stores.
fn pattern(r: usize) -> u128 {
    (0..16).fold(0u128, |acc, k| {
        acc | ((0x10 * r as u128 + k as u128) & 0xff) << (8 * k)
    })
}

#[test]
fn ld1_multiple_registers() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4c407020]); // ld1 {v0.16b}, [x1]
    assert_eq!(s.v[0], m.le(0, 16));
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = u128::MAX;
    exec(&mut s, &[0x0c407020]); // ld1 {v0.8b}, [x1]
    assert_eq!(s.v[0], m.le(0, 8), "upper half zeroed");
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4cdfac20]); // ld1 {v0.2d, v1.2d}, [x1], #32
    assert_eq!(
        (s.v[0], s.v[1], s.x[1]),
        (m.le(0, 16), m.le(16, 16), m.at(32))
    );
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4c40683e]); // ld1 {v30.4s, v31.4s, v0.4s}, [x1]
    assert_eq!(
        (s.v[30], s.v[31], s.v[0]),
        (m.le(0, 16), m.le(16, 16), m.le(32, 16))
    );
    let mut s = st(&mut m, 0, &[(2, 100)]);
    s.v = [u128::MAX; 32];
    exec(&mut s, &[0x0cc22c20]); // ld1 {v0.1d-v3.1d}, [x1], x2
    for k in 0..4 {
        assert_eq!(s.v[k], m.le(8 * k, 8));
    }
    assert_eq!((s.v[4], s.x[1]), (u128::MAX, m.at(100)));
}

#[test]
fn ld2_ld3_ld4_deinterleave() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4c408420]); // ld2 {v0.8h, v1.8h}, [x1]
    assert_eq!(s.v[0], vec_of(2, 8, |j| m.le(4 * j, 2)));
    assert_eq!(s.v[1], vec_of(2, 8, |j| m.le(4 * j + 2, 2)));
    let mut s = st(&mut m, 0, &[(2, 48)]);
    exec(&mut s, &[0x4cc24820]); // ld3 {v0.4s-v2.4s}, [x1], x2
    for r in 0..3 {
        assert_eq!(s.v[r], vec_of(4, 4, |j| m.le((3 * j + r) * 4, 4)), "v{r}");
    }
    assert_eq!(s.x[1], m.at(48));
    let mut s = st(&mut m, 0, &[]);
    s.v = [u128::MAX; 32];
    exec(&mut s, &[0x0cdf0020]); // ld4 {v0.8b-v3.8b}, [x1], #32
    for r in 0..4 {
        assert_eq!(s.v[r], vec_of(1, 8, |j| m.le(4 * j + r, 1)), "v{r}");
    }
    assert_eq!(s.x[1], m.at(32));
    let mut s = A64State::default();
    s.sp = m.at(32);
    exec(&mut s, &[0x4c408fe4]); // ld2 {v4.2d, v5.2d}, [sp]
    assert_eq!(s.v[4], vec_of(8, 2, |j| m.le(32 + 16 * j, 8)));
    assert_eq!(s.v[5], vec_of(8, 2, |j| m.le(40 + 16 * j, 8)));
}

#[test]
fn st1_to_st4_interleave() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = pattern(1);
    exec(&mut s, &[0x4c007020]); // st1 {v0.16b}, [x1]
    assert_eq!(m.le(0, 16), pattern(1));

    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = pattern(1);
    s.v[1] = pattern(2);
    exec(&mut s, &[0x0c9fa420]); // st1 {v0.4h, v1.4h}, [x1], #16
    assert_eq!(
        (m.le(0, 8), m.le(8, 8)),
        (pattern(1) as u64 as u128, pattern(2) as u64 as u128)
    );
    assert_eq!((m.le(16, 1), s.x[1]), (0x90, m.at(16)));

    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = pattern(1);
    s.v[1] = pattern(2);
    exec(&mut s, &[0x4c008020]); // st2 {v0.16b, v1.16b}, [x1]
    for j in 0..16 {
        assert_eq!(m.0[2 * j] as u128, pattern(1) >> (8 * j) & 0xff);
        assert_eq!(m.0[2 * j + 1] as u128, pattern(2) >> (8 * j) & 0xff);
    }

    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    for r in 0..3 {
        s.v[r] = pattern(r + 1);
    }
    exec(&mut s, &[0x0c9f4020]); // st3 {v0.8b-v2.8b}, [x1], #24
    for j in 0..8 {
        for r in 0..3 {
            assert_eq!(m.0[3 * j + r] as u128, pattern(r + 1) >> (8 * j) & 0xff);
        }
    }
    assert_eq!((m.le(24, 1), s.x[1]), (0x98, m.at(24)));

    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    for r in 0..4 {
        s.v[r] = pattern(r + 1);
    }
    exec(&mut s, &[0x4c000820]); // st4 {v0.4s-v3.4s}, [x1]
    for j in 0..4 {
        for r in 0..4 {
            assert_eq!(
                m.le((4 * j + r) * 4, 4),
                pattern(r + 1) >> (32 * j) & 0xffff_ffff
            );
        }
    }
    assert_eq!(m.le(64, 1), 0xc0);
}

#[test]
fn single_lane_loads_keep_the_other_lanes() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = pattern(1);
    exec(&mut s, &[0x0d409020]); // ld1 {v0.s}[1], [x1]
    let keep = !(0xffff_ffffu128 << 32);
    assert_eq!(s.v[0], pattern(1) & keep | m.le(0, 4) << 32);
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = pattern(1);
    exec(&mut s, &[0x4ddf8420]); // ld1 {v0.d}[1], [x1], #8
    assert_eq!(
        (s.v[0], s.x[1]),
        (pattern(1) as u64 as u128 | m.le(0, 8) << 64, m.at(8))
    );
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = pattern(1);
    s.v[1] = pattern(2);
    exec(&mut s, &[0x4d604820]); // ld2 {v0.h, v1.h}[5], [x1]
    let keep = !(0xffffu128 << 80);
    assert_eq!(s.v[0], pattern(1) & keep | m.le(0, 2) << 80);
    assert_eq!(s.v[1], pattern(2) & keep | m.le(2, 2) << 80);
    let mut s = st(&mut m, 0, &[(2, 7)]);
    exec(&mut s, &[0x4de23c20]); // ld4 {v0.b-v3.b}[15], [x1], x2
    for r in 0..4 {
        assert_eq!(s.v[r], m.le(r, 1) << 120);
    }
    assert_eq!(s.x[1], m.at(7));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4ddfb020]); // ld3 {v0.s-v2.s}[3], [x1], #12
    for r in 0..3 {
        assert_eq!(s.v[r], m.le(4 * r, 4) << 96);
    }
    assert_eq!(s.x[1], m.at(12));
}

#[test]
fn single_lane_stores() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = pattern(1);
    exec(&mut s, &[0x4d009020]); // st1 {v0.s}[3], [x1]
    assert_eq!((m.le(0, 4), m.le(4, 1)), (pattern(1) >> 96, 0x84));
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    for r in 0..4 {
        s.v[r] = pattern(r + 1);
    }
    exec(&mut s, &[0x0d9f7020]); // st3 {v0.h-v2.h}[2], [x1], #6
    for r in 0..3 {
        assert_eq!(m.le(2 * r, 2), pattern(r + 1) >> 32 & 0xffff);
    }
    assert_eq!((m.le(6, 1), s.x[1]), (0x86, m.at(6)));
    exec(&mut s, &[0x4d208420]); // st2 {v0.d, v1.d}[1], [x1]
    assert_eq!(
        (m.le(6, 8), m.le(14, 8)),
        (pattern(1) >> 64, pattern(2) >> 64)
    );
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    for r in 0..4 {
        s.v[r] = pattern(r + 1);
    }
    exec(&mut s, &[0x4d202420]); // st4 {v0.b-v3.b}[9], [x1]
    for r in 0..4 {
        assert_eq!(m.le(r, 1), pattern(r + 1) >> 72 & 0xff);
    }
    assert_eq!(m.le(4, 1), 0x84);
}

#[test]
fn load_and_replicate() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4d40c820]); // ld1r {v0.4s}, [x1]
    assert_eq!(s.v[0], vec_of(4, 4, |_| m.le(0, 4)));
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = u128::MAX;
    exec(&mut s, &[0x0d40c020]); // ld1r {v0.8b}, [x1]
    assert_eq!(s.v[0], vec_of(1, 8, |_| m.le(0, 1)));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4dffcc20]); // ld2r {v0.2d, v1.2d}, [x1], #16
    assert_eq!(
        (s.v[0], s.v[1]),
        (vec_of(8, 2, |_| m.le(0, 8)), vec_of(8, 2, |_| m.le(8, 8)))
    );
    assert_eq!(s.x[1], m.at(16));
    let mut s = st(&mut m, 0, &[(2, 8)]);
    s.v = [u128::MAX; 32];
    exec(&mut s, &[0x0de2e420]); // ld4r {v0.4h-v3.4h}, [x1], x2
    for r in 0..4 {
        assert_eq!(s.v[r], vec_of(2, 4, |_| m.le(2 * r, 2)));
    }
    assert_eq!(s.x[1], m.at(8));
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4ddfe020]); // ld3r {v0.16b-v2.16b}, [x1], #3
    for r in 0..3 {
        assert_eq!(s.v[r], vec_of(1, 16, |_| m.le(r, 1)));
    }
    assert_eq!(s.x[1], m.at(3));
    let mut s = st(&mut m, 0, &[]);
    s.v[0] = u128::MAX;
    exec(&mut s, &[0x0d40cc20]); // ld1r {v0.1d}, [x1]
    assert_eq!(s.v[0], m.le(0, 8));
}

#[test]
fn structure_roundtrip_ld4_st4() {
    let mut m = Mem::new();
    let mut s = st(&mut m, 0, &[]);
    exec(&mut s, &[0x4c400820]); // ld4 {v0.4s-v3.4s}, [x1]
    s.x[1] = m.at(128);
    exec(&mut s, &[0x4c000820]); // st4 {v0.4s-v3.4s}, [x1]
    assert_eq!(m.0[..64], m.0[128..192]);
}

#[test]
fn structure_unallocated_encodings() {
    for insn in [
        0x4c401020u32, // multiple, opcode 0001
        0x0c408fe4,    // ld2 {.1d}
        0x4c417020,    // ld1 without post-index but Rm != 0
        0x4d40d820,    // ld1r with S = 1
        0x4d00c820,    // "st1r"
        0x4d604420,    // ld2 {h} with size<0> = 1
        0x0d409820,    // ld1 {s} with size<1> = 1
        0x4ddf9420,    // ld1 {d} with S = 1
    ] {
        assert_eq!(lift(insn), Err(LiftError::Unallocated), "{insn:#010x}");
    }
}

// ---- Faults ---------------------------------------------------------------

extern "C" fn on_segv(sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // SAFETY: the kernel passes valid siginfo and ucontext pointers.
    let ours = unsafe {
        xarch_ir::guest_mem::fixup(uc as *mut libc::ucontext_t, (*info).si_addr() as u64)
    };
    if !ours {
        // Not a guest access: let the fault happen again with the default
        // action, so a real bug still kills the test.
        // SAFETY: restoring the default disposition is always allowed.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Two pages, the second inaccessible; returns the address of the second.
fn guard_page() -> u64 {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        // SAFETY: installs a handler that only redirects faults inside the
        // guarded guest-memory routines.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = on_segv as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSEGV, &sa, core::ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &sa, core::ptr::null_mut());
        }
    });
    // SAFETY: a fresh anonymous mapping (never unmapped: tests are short
    // lived), then the second page made inaccessible; results checked.
    unsafe {
        let p = libc::mmap(
            core::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let guard = p as u64 + 4096;
        assert_eq!(
            libc::mprotect(guard as *mut libc::c_void, 4096, libc::PROT_NONE),
            0
        );
        guard
    }
}

/// Runs one instruction that must fault; returns the faulting address.
fn run_fault(s: &mut A64State, insn: u32) -> u64 {
    let code = [insn];
    let base = code.as_ptr() as u64;
    let block = crate::lift_block(base, |a| (a == base).then_some(insn)).unwrap();
    let mut interp = xarch_ir::Interpreter::new();
    // SAFETY: the block was lifted for A64State and the state is valid.
    match unsafe { interp.run(&block, s as *mut A64State as *mut u8) } {
        xarch_ir::BlockResult::Fault { pc, fault } => {
            assert_eq!(pc, base);
            fault.addr
        }
        r => panic!("{insn:#010x} did not fault: {r:?}"),
    }
}

#[test]
fn a_faulting_access_leaves_registers_and_base_unchanged() {
    let guard = guard_page();
    let cases: &[(u32, u64)] = &[
        (0xf8408c21, 8),  // ldr x1, [x1, #8]!
        (0xa8c10820, 8),  // ldp x0, x2, [x1], #16 (second access faults)
        (0x4cdfa020, 16), // ld1 {v0.16b, v1.16b}, [x1], #32
        (0x3cc10420, 8),  // ldr q0, [x1], #16 (straddles into the guard)
        (0xf8008c22, 8),  // str x2, [x1, #8]!
        (0x4cdf0820, 32), // ld4 {v0.4s-v3.4s}, [x1], #64
    ];
    for &(insn, below) in cases {
        let mut s = A64State::default();
        s.x[0] = 0x1234;
        s.x[1] = guard - below;
        s.x[2] = 0x5678;
        for (k, v) in s.v.iter_mut().enumerate() {
            *v = k as u128 * 0x0101;
        }
        let before = s.clone();
        let addr = run_fault(&mut s, insn);
        assert!(
            (guard..guard + 16).contains(&addr),
            "{insn:#010x}: {addr:#x}"
        );
        assert_eq!(s.x, before.x, "{insn:#010x}");
        assert_eq!(s.v, before.v, "{insn:#010x}");
    }
}

// ---- LSE atomics ----------------------------------------------------------

#[test]
fn malformed_atomics_are_unallocated() {
    for insn in [
        0xc8a07822u32, // cas with Rt2 != 11111
        0x48217c22,    // casp with odd Rs
        0x48207c23,    // casp with odd Rt
        0xf8a0c022,    // ldapr with Rs != 11111
        0xf8209022,    // o3=1 opc=001
    ] {
        assert_eq!(lift(insn), Err(LiftError::Unallocated), "{insn:#010x}");
    }
}

#[test]
fn atomics_fault_without_changing_registers() {
    let guard = guard_page();
    for insn in [
        0xf8210022u32, // ldadd x1, x2, [x1]
        0xf8e18022,    // swpal x1, x2, [x1]
        0xc8a07c22,    // cas x0, x2, [x1]
        0x48207c22,    // casp x0, x1, x2, x3, [x1]
        0xf8bfc022,    // ldapr x2, [x1]
    ] {
        let mut s = A64State::default();
        s.x[0] = 7;
        s.x[1] = guard;
        s.x[2] = 9;
        let before = s.clone();
        assert_eq!(run_fault(&mut s, insn), guard, "{insn:#010x}");
        assert_eq!(s.x, before.x, "{insn:#010x}");
    }
}

/// Four host threads each add 1 to a shared counter 2000 times with
/// LDADDAL and count a second one up with a CAS loop: no update is lost.
#[test]
fn atomics_are_atomic_across_threads() {
    #[repr(C, align(16))]
    struct Shared([u64; 2]);
    let shared = Box::leak(Box::new(Shared([0, 0])));
    let addr = shared.0.as_mut_ptr() as u64;
    const N: u64 = 2000;
    let code: &'static [u32] = &[
        0xf8e100a2, // ldaddal x1, x2, [x5]
        // CAS loop on [x6]: x0 = old; x4 = x0 + 1; casal x0, x4, [x6];
        // retry while the value found differs from the one expected.
        0xf94000c0, // ldr x0, [x6]
        0x91000404, // 1: add x4, x0, #1
        0xaa0003e7, // mov x7, x0
        0xc8e0fcc4, // casal x0, x4, [x6]
        0xeb0000ff, // cmp x7, x0
        0x54ffff81, // b.ne 1b
        0xf1000463, // subs x3, x3, #1
        0x54ffff01, // b.ne (start)
    ];
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = A64State::default();
                s.x[1] = 1;
                s.x[3] = N;
                s.x[5] = addr;
                s.x[6] = addr + 8;
                exec(&mut s, code);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(shared.0, [4 * N, 4 * N]);
}

// ---- Barriers ---------------------------------------------------------------

/// The fences of one instruction, in order.
fn fences(insn: u32) -> Vec<xarch_ir::FenceKind> {
    let b = crate::lift::lift_block(0x1000, |a| (a == 0x1000).then_some(insn)).expect("lifts");
    b.insts
        .iter()
        .filter_map(|i| match i.op {
            xarch_ir::Op::Fence(k) => Some(k),
            _ => None,
        })
        .collect()
}

/// Acquire loads and release stores order only what Arm says (backends
/// on TSO hosts emit nothing for those), and a release store keeps a
/// later acquire load after it with a full fence (RCsc); DMB orders by
/// its type.
#[test]
fn barriers_order_what_arm_says() {
    use xarch_ir::FenceKind::{Acquire, Full, Release};
    for (insn, want, what) in [
        (0xc8dffc20u32, &[Acquire][..], "ldar x0, [x1]"),
        (0xc89ffc20, &[Release, Full][..], "stlr x0, [x1]"),
        (0xc85ffc20, &[Acquire][..], "ldaxr x0, [x1]"),
        (0xc802fc20, &[Release][..], "stlxr w2, x0, [x1]"),
        (0xc85f7c20, &[][..], "ldxr x0, [x1]"),
        (0xd50339bf, &[Acquire][..], "dmb ishld"),
        (0xd5033abf, &[Release][..], "dmb ishst"),
        (0xd5033bbf, &[Full][..], "dmb ish"),
        (0xd5033fbf, &[Full][..], "dmb sy"),
        (0xd5033b9f, &[Full][..], "dsb ish"),
        (0xd5033fdf, &[Full][..], "isb"),
    ] {
        assert_eq!(fences(insn), want, "{what}");
    }
}
