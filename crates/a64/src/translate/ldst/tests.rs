//! Tests of the loads and stores group. Instruction words come from
//! `aarch64-linux-gnu-as` (the assembly is in the comment next to each);
//! expected values are read from the test buffer by plain Rust, so they do
//! not depend on the lifter. The CONSTRAINED UNPREDICTABLE cases expect
//! what qemu-aarch64 does.

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
