//! Differential tests of the A64 frontend (lifter + IR interpreter) against
//! qemu-aarch64, one per instruction group and one mixing all of them; see
//! tests/common/mod.rs for how cases are generated and run.
//!
//! The default run is a fixed-seed sample sized for CI. For the long run:
//!
//! ```sh
//! XARCH_QDIFF_INSNS=10000000 cargo test --release -p xarch-a64 --test qemu_diff
//! ```
//!
//! runs that many instructions in *each* test (`XARCH_QDIFF_SEED` picks
//! another seed). Needs `aarch64-linux-gnu-as`, `aarch64-linux-gnu-ld` and
//! `qemu-aarch64` (Debian: binutils-aarch64-linux-gnu, qemu-user); skipped
//! with a message when they are missing.

mod common;

use common::{Config, Group, run_diff};

#[test]
fn dp_imm_matches_qemu() {
    run_diff(&Config {
        name: "dp_imm",
        slot: 0,
        groups: &[Group::DpImm],
        seed: 0x1d_0001,
        insns: 40_000,
        per_case: 8,
    });
}

#[test]
fn dp_reg_matches_qemu() {
    run_diff(&Config {
        name: "dp_reg",
        slot: 1,
        groups: &[Group::DpReg],
        seed: 0x1d_0002,
        insns: 40_000,
        per_case: 8,
    });
}

#[test]
fn branch_system_matches_qemu() {
    run_diff(&Config {
        name: "branch",
        slot: 2,
        groups: &[Group::Branch, Group::DpImm, Group::DpReg],
        seed: 0x1d_0003,
        insns: 40_000,
        per_case: 8,
    });
}

#[test]
fn ldst_matches_qemu() {
    run_diff(&Config {
        name: "ldst",
        slot: 3,
        groups: &[Group::Ldst],
        seed: 0x1d_0004,
        insns: 40_000,
        per_case: 8,
    });
}

#[test]
fn simd_matches_qemu() {
    run_diff(&Config {
        name: "simd",
        slot: 4,
        groups: &[Group::Simd],
        seed: 0x1d_0005,
        insns: 40_000,
        per_case: 8,
    });
}

#[test]
fn mixed_matches_qemu() {
    run_diff(&Config {
        name: "mixed",
        slot: 5,
        groups: &[
            Group::DpImm,
            Group::DpReg,
            Group::Branch,
            Group::Ldst,
            Group::Simd,
        ],
        seed: 0x1d_0006,
        insns: 40_000,
        per_case: 8,
    });
}

// Regression tests: mismatches found by the tests above, each reduced to
// one case and compared strictly. Open xarch bugs are `#[ignore]`d with the
// instruction word; the generator keeps away from them (common::KNOWN_BUGS
// and the AVOID_*/IGNORE_* switches) so that the samples above stay green.
// Un-ignore a test and drop its switch when the bug is fixed. Slots 16 up.

use common::{Case, check};

/// FPCR.FZ16 (bit 19) is RES0 without FEAT_FP16, which xarch does not
/// advertise (found by this tester; fixed in sysregs::write_mask).
#[test]
fn fpcr_fz16_is_res0() {
    let mut c = Case::zero(&[0xd51b_4400, 0xd53b_4401]); // msr fpcr, x0; mrs x1, fpcr
    c.x[0] = 1 << 19;
    check("fpcr_fz16", 16, &c);
}

/// The FPCR bits xarch and QEMU agree on round-trip through MSR/MRS.
#[test]
fn fpcr_fpsr_round_trip() {
    // msr fpcr, x0; mrs x1, fpcr; msr fpsr, x2; mrs x3, fpsr
    let mut c = Case::zero(&[0xd51b_4400, 0xd53b_4401, 0xd51b_4422, 0xd53b_4423]);
    c.x[0] = 0x07c0_0000;
    c.x[2] = 0x0800_009f;
    check("fpcr_fpsr", 17, &c);
}

/// SMAX/SMIN/UMAX/UMIN (vector) with size = 11 are reserved; xarch lifted
/// the 128-bit (.2d) form. Found on the `simd` branch.
#[test]
fn simd_minmax_2d_is_reserved() {
    check("minmax_2d", 18, &Case::zero(&[0x4ee1_64cc]));
}

/// A saturating 64-bit vector operation must set FPSR.QC only for the
/// lanes it computes, not for the upper half of the register.
#[test]
fn simd_qc_from_upper_half() {
    let mut c = Case::zero(&[0x0e22_0c20]);
    c.v[1] = 0x7f << 64;
    c.v[2] = 0x01 << 64;
    check("qc_upper", 19, &c);
}

/// Overflow under round-towards-zero gives the largest finite number and
/// must still raise OFC (with IXC).
#[test]
fn fp_overflow_to_max_normal_sets_ofc() {
    let mut c = Case::zero(&[0x1e22_0820]);
    c.fpcr = 3 << 22;
    c.v[1] = 0x7f7f_ffff;
    c.v[2] = 0x4000_0000;
    check("ofc_rz", 20, &c);
}

/// Arm detects tininess before rounding: a fused multiply-add whose exact
/// result is just below the smallest normal rounds to it but must still
/// raise UFC (with IXC).
#[test]
fn fp_tiny_before_rounding_sets_ufc() {
    let mut c = Case::zero(&[0x1f62_8c20]);
    c.v[1] = 0x1a70_0000_0000_0000; // 2^-600
    c.v[2] = 0x1a70_0000_0000_0000;
    c.v[3] = 0x0010_0000_0000_0000; // 2^-1022
    check("tiny_ufc", 21, &c);
}

/// With FPCR.FZ, a result that is tiny before rounding is flushed to zero
/// (UFC only), even if rounding would have made it the smallest normal.
#[test]
fn fp_fz_flushes_tiny_before_rounding() {
    let mut c = Case::zero(&[0x1f62_8c20]);
    c.fpcr = 1 << 24;
    c.v[1] = 0x1a70_0000_0000_0000;
    c.v[2] = 0x1a70_0000_0000_0000;
    c.v[3] = 0x0010_0000_0000_0000;
    check("fz_tiny", 22, &c);
}

/// A result flushed to zero by FPCR.FZ raises UFC and not IXC.
#[test]
fn fp_fz_flush_sets_only_ufc() {
    let mut c = Case::zero(&[0x1e62_1820]);
    c.fpcr = 1 << 24;
    c.v[1] = 0x0170_0000_0000_0000; // 2^-1000
    c.v[2] = 0x4630_0000_0000_0000; // 2^100
    check("fz_ixc", 23, &c);
}

/// FCVT to and from half precision must honour FPCR.AHP (alternative
/// half-precision: no infinities or NaNs; converting them raises IOC).
#[test]
fn fp_fcvt_half_honours_ahp() {
    // fcvt h0, s1; fcvt s2, h3
    let mut c = Case::zero(&[0x1e23_c020, 0x1ee2_4062]);
    c.fpcr = 1 << 26;
    c.v[1] = 0x7f80_0000; // +inf
    c.v[3] = 0x7c00; // 65536.0 in the alternative format
    check("fcvt_ahp", 24, &c);
}

/// FRSQRTS raises IXC for inexact results: 3 - a * a for a subnormal a
/// (xarch computed it in binary128 and dropped the status).
#[test]
fn frsqrts_sets_ixc() {
    let mut c = Case::zero(&[0x5ef3_fe7a]); // frsqrts d26, d19, d19
    c.v[19] = 0x13;
    check("frsqrts_ixc", 25, &c);
}

/// UQSHL/UQRSHL (register) with 64-bit lanes and a large positive shift
/// must saturate to all ones.
#[test]
fn saturating_shift_reg_64bit_lanes() {
    let mut c = Case::zero(&[0x7eee_4ec0]); // uqshl d0, d22, d14
    c.v[22] = 0xfff8_0000_7fa0_0001;
    c.v[14] = 0x4332_d3b6_9604_f357;
    check("uqshl_d", 26, &c);
}

/// SQSHL, UQSHL, SQRSHL, UQRSHL (register), vector and scalar, every lane
/// size, with shifts of at least the lane size in both directions.
#[test]
fn saturating_shift_reg_all_sizes() {
    let code = [
        0x4ee2_4c20, // sqshl v0.2d, v1.2d, v2.2d
        0x6ee2_4c23, // uqshl v3.2d, v1.2d, v2.2d
        0x4ee2_5c24, // sqrshl v4.2d, v1.2d, v2.2d
        0x6ee2_5c25, // uqrshl v5.2d, v1.2d, v2.2d
        0x5ee2_4c26, // sqshl d6, d1, d2
        0x4ea2_5c27, // sqrshl v7.4s, v1.4s, v2.4s
        0x6e62_4c28, // uqshl v8.8h, v1.8h, v2.8h
        0x4e22_4c29, // sqshl v9.16b, v1.16b, v2.16b
        0x7ea2_5c2a, // uqrshl s10, s1, s2
    ];
    let mut c = Case::zero(&code);
    c.v[1] = 0x7fff_ffff_0000_0001_8000_0000_0000_0001;
    for (k, shifts) in [
        (29, 0x3f40_7f20_1081_c0ff_4141_0808_1011_7f40),
        (30, 0xc0bf_8180_f0e0_c0c1_8080_c0bf_e0e1_bfc0),
    ] {
        c.v[2] = shifts;
        check("sat_shift_all", k, &c);
    }
}

/// FPCR.AHP in every half-precision conversion: scalar and vector, both
/// directions, rounding to nearest and towards zero; exponent 31 holds
/// normal numbers, too large a value gives 131008 with IOC, a NaN gives
/// zero with IOC.
#[test]
fn fp_fcvt_alternative_half_precision() {
    let code = [
        0x1e23_c020, // fcvt h0, s1
        0x1e63_c062, // fcvt h2, d3
        0x1e23_c0a4, // fcvt h4, s5
        0x0e21_68e6, // fcvtn v6.4h, v7.4s
        0x0e21_7928, // fcvtl v8.4s, v9.4h
        0x1ee2_c16a, // fcvt d10, h11
        0x4e21_68ec, // fcvtn2 v12.8h, v7.4s
    ];
    let mut c = Case::zero(&code);
    c.v[1] = 0x47c3_5000; // 100000.0
    c.v[3] = 1e6f64.to_bits() as u128;
    c.v[5] = 0x7fc0_0000; // qNaN
    // 131008.0, 131072.0, -65536.0, 1e-10
    c.v[7] = 0x2edb_e6ff_c780_0000_4800_0000_47ff_e000;
    c.v[9] = 0x3c00_7e00_fc00_7fff;
    c.v[11] = 0xfe1a;
    c.v[12] = 0x1234_5678_9abc_def0;
    for (k, fpcr) in [(27, 1 << 26), (28, 1 << 26 | 3 << 22)] {
        c.fpcr = fpcr;
        check("fcvt_ahp_all", k, &c);
    }
}
