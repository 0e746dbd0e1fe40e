//! Vector ops for compiled code: the host features the templates may
//! use, and the `extern "C"` entry points both tiers call for vector ops
//! they do not emit inline. The entry points only move operands: the
//! lane semantics are the IR crate's ([`xarch_ir::vector::eval`],
//! [`xarch_ir::crypto::host`]), so every tier agrees with the
//! interpreter by construction.

use core::arch::x86_64::__m128i;
use xarch_ir::crypto::host;
use xarch_ir::vector::{self, VecOp};

/// The optional x86 instruction sets inline vector templates may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFeatures {
    /// PSHUFB (byte permutes, table lookups).
    pub ssse3: bool,
    /// PCMPEQQ, PMULLD, PMAXUD, ...
    pub sse41: bool,
    /// AES-NI.
    pub aes: bool,
    /// PCLMULQDQ.
    pub pclmul: bool,
}

impl HostFeatures {
    /// What this CPU has: the bits of CPUID leaf 1 (none of these needs
    /// the OS's consent, unlike AVX), read once per process (every block
    /// compiled asks). One CPUID instruction: std's feature detection
    /// asks about several leaves on first use, and every CPUID traps to
    /// the hypervisor in a VM (6.5 us each here).
    pub fn detect() -> HostFeatures {
        static FEATURES: std::sync::OnceLock<HostFeatures> = std::sync::OnceLock::new();
        *FEATURES.get_or_init(|| {
            let ecx = core::arch::x86_64::__cpuid(1).ecx;
            let bit = |n: u32| ecx & (1 << n) != 0;
            HostFeatures {
                ssse3: bit(9),
                sse41: bit(19),
                aes: bit(25),
                pclmul: bit(1),
            }
        })
    }

    /// Only SSE2 (every x86-64): the templates that need more fall back
    /// to calls (for tests of those paths).
    pub fn sse2_only() -> HostFeatures {
        HostFeatures {
            ssse3: false,
            sse41: false,
            aes: false,
            pclmul: false,
        }
    }
}

/// The operand passed for unused vector operands.
pub(crate) static ZERO: u128 = 0;

/// [`vector::eval`] of `*op` on 128-bit values in memory (baseline slots).
///
/// # Safety
/// `op` points at a live `VecOp`, `a`, `b`, `c` are readable and `dst`
/// writable for 16 bytes.
pub(crate) unsafe extern "C" fn vec_mem(
    op: *const VecOp,
    esize: u64,
    a: *const u128,
    b: *const u128,
    c: *const u128,
    dst: *mut u128,
) {
    // SAFETY: guaranteed by the caller (compiled code passes the op of
    // its block, which outlives the code, and slot addresses).
    unsafe {
        let r = vector::eval(
            *op,
            esize as u8,
            a.read_unaligned(),
            b.read_unaligned(),
            c.read_unaligned(),
        );
        dst.write_unaligned(r);
    }
}

/// A 128-bit value returned in rax:rdx (low, high) by the System V ABI.
#[repr(C)]
pub(crate) struct Pair {
    lo: u64,
    hi: u64,
}

fn join(lo: u64, hi: u64) -> u128 {
    lo as u128 | (hi as u128) << 64
}

fn pair(x: u128) -> Pair {
    Pair {
        lo: x as u64,
        hi: (x >> 64) as u64,
    }
}

/// [`vector::eval`] on operands passed as 64-bit halves (the optimizing
/// tier's form).
///
/// # Safety
/// `op` points at a live `VecOp`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn vec_vals(
    op: *const VecOp,
    esize: u64,
    alo: u64,
    ahi: u64,
    blo: u64,
    bhi: u64,
    clo: u64,
    chi: u64,
) -> Pair {
    // SAFETY: guaranteed by the caller.
    let op = unsafe { *op };
    pair(vector::eval(
        op,
        esize as u8,
        join(alo, ahi),
        join(blo, bhi),
        join(clo, chi),
    ))
}

// The crypto entry points below take and return `__m128i`: C's type of
// the same name, which the System V ABI passes in XMM registers, as
// Cranelift passes `i8x16` (rustc's FFI lint does not know SIMD types;
// tests/vector.rs runs these calls).

fn u(x: __m128i) -> u128 {
    // SAFETY: both are 16 plain bytes; little-endian u128 byte i is
    // vector byte i.
    unsafe { core::mem::transmute::<__m128i, u128>(x) }
}

fn m(x: u128) -> __m128i {
    // SAFETY: as in `u`.
    unsafe { core::mem::transmute::<u128, __m128i>(x) }
}

/// Arm AESE for compiled code (operands and result in XMM registers).
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
#[allow(improper_ctypes_definitions)] // __m128i: see above
pub(crate) unsafe extern "C" fn aese(a: __m128i, b: __m128i) -> __m128i {
    // SAFETY: forwarded from the caller.
    m(unsafe { host::sub_shift(u(a) ^ u(b)) })
}

/// Arm AESD, as [`aese`].
///
/// # Safety
/// As [`aese`].
#[target_feature(enable = "aes")]
#[allow(improper_ctypes_definitions)] // __m128i: see above
pub(crate) unsafe extern "C" fn aesd(a: __m128i, b: __m128i) -> __m128i {
    // SAFETY: forwarded from the caller.
    m(unsafe { host::inv_sub_shift(u(a) ^ u(b)) })
}

/// Arm AESMC, as [`aese`].
///
/// # Safety
/// As [`aese`].
#[target_feature(enable = "aes")]
#[allow(improper_ctypes_definitions)] // __m128i: see above
pub(crate) unsafe extern "C" fn aesmc(a: __m128i) -> __m128i {
    // SAFETY: forwarded from the caller.
    m(unsafe { host::mix(u(a)) })
}

/// Arm AESIMC, as [`aese`].
///
/// # Safety
/// As [`aese`].
#[target_feature(enable = "aes")]
#[allow(improper_ctypes_definitions)] // __m128i: see above
pub(crate) unsafe extern "C" fn aesimc(a: __m128i) -> __m128i {
    // SAFETY: forwarded from the caller.
    m(unsafe { host::inv_mix(u(a)) })
}

/// Arm AESE then AESMC on its result, as [`aese`].
///
/// # Safety
/// As [`aese`].
#[target_feature(enable = "aes")]
#[allow(improper_ctypes_definitions)] // __m128i: see above
pub(crate) unsafe extern "C" fn aese_mc(a: __m128i, b: __m128i) -> __m128i {
    // SAFETY: forwarded from the caller.
    m(unsafe { host::sub_shift_mix(u(a) ^ u(b)) })
}

/// Arm AESD then AESIMC on its result, as [`aese`].
///
/// # Safety
/// As [`aese`].
#[target_feature(enable = "aes")]
#[allow(improper_ctypes_definitions)] // __m128i: see above
pub(crate) unsafe extern "C" fn aesd_imc(a: __m128i, b: __m128i) -> __m128i {
    // SAFETY: forwarded from the caller.
    m(unsafe { host::inv_sub_shift_mix(u(a) ^ u(b)) })
}

/// Arm PMULL (64-bit lanes: the low halves) through PCLMULQDQ, as
/// [`aese`].
///
/// # Safety
/// The CPU must have PCLMULQDQ.
#[target_feature(enable = "pclmulqdq")]
#[allow(improper_ctypes_definitions)] // __m128i: see above
pub(crate) unsafe extern "C" fn pmull64(a: __m128i, b: __m128i) -> __m128i {
    // SAFETY: forwarded from the caller.
    m(unsafe { host::clmul(u(a) as u64, u(b) as u64) })
}

/// For a byte permutation `op` (each result byte a copy of one operand
/// byte or zero, as for ZIP/UZP/TRN/REV/XTN/UXTL), the source of each
/// result byte: 0..16 from `a`, 16..32 from `b`, 0x80 for zero. Found by running the reference semantics
/// on operands whose bytes are their own indices; `None` if the op is
/// not such a permutation for this lane size.
pub fn byte_permutation(op: VecOp, esize: u8) -> Option<[u8; 16]> {
    let is_perm = matches!(
        op,
        VecOp::Zip1
            | VecOp::Zip2
            | VecOp::Uzp1
            | VecOp::Uzp2
            | VecOp::Trn1
            | VecOp::Trn2
            | VecOp::Rev16
            | VecOp::Rev32
            | VecOp::Rev64
            | VecOp::Xtn
            | VecOp::Uxtl
    );
    if !is_perm || !matches!(esize, 8 | 16 | 32 | 64) {
        return None;
    }
    let a = u128::from_le_bytes(core::array::from_fn(|k| k as u8));
    let b = u128::from_le_bytes(core::array::from_fn(|k| 16 + k as u8));
    let r = vector::eval(op, esize, a, b, 0).to_le_bytes();
    // A second probe (other byte values) must give the same map: the
    // result is then a pure byte copy.
    let a2 = u128::from_le_bytes(core::array::from_fn(|k| 0x40 + k as u8));
    let b2 = u128::from_le_bytes(core::array::from_fn(|k| 0x50 + k as u8));
    let r2 = vector::eval(op, esize, a2, b2, 0).to_le_bytes();
    let mut out = [0u8; 16];
    for k in 0..16 {
        out[k] = match (r[k], r2[k]) {
            (x, y) if x < 32 && y == x + 0x40 => x,
            (0, 0) => 0x80,
            _ => return None,
        };
    }
    Some(out)
}

/// The shift amount of `UShl`/`SShl` when every lane of the amount
/// operand `b` has the same value (the lifter's shifts by an immediate):
/// the signed low byte of the lanes.
pub fn uniform_shift(b: u128, esize: u8) -> Option<i32> {
    let n = vector::extract_lane(b, esize, 0) as u8 as i8;
    (0..128 / esize as u32)
        .all(|k| vector::extract_lane(b, esize, k as u8) as u8 as i8 == n)
        .then_some(n as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_from_the_reference() {
        let zip1 = byte_permutation(VecOp::Zip1, 8).unwrap();
        assert_eq!(&zip1[..4], &[0, 16, 1, 17]);
        let rev64 = byte_permutation(VecOp::Rev64, 32).unwrap();
        assert_eq!(&rev64[..8], &[4, 5, 6, 7, 0, 1, 2, 3]);
        assert!(byte_permutation(VecOp::Add, 8).is_none());
        assert!(byte_permutation(VecOp::Tbx, 8).is_none());
        let xtn = byte_permutation(VecOp::Xtn, 8).unwrap();
        assert_eq!(
            &xtn[..],
            &[
                0, 2, 4, 6, 8, 10, 12, 14, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80
            ]
        );
    }

    #[test]
    fn uniform_shifts() {
        assert_eq!(uniform_shift(vector::dup(0xfd, 16), 16), Some(-3));
        assert_eq!(uniform_shift(vector::dup(5, 8), 8), Some(5));
        assert_eq!(uniform_shift(1, 32), None);
    }

    /// The CPUID bits read are the features std finds.
    #[test]
    fn detected_features_agree_with_std() {
        let f = HostFeatures::detect();
        assert_eq!(f.ssse3, std::is_x86_feature_detected!("ssse3"));
        assert_eq!(f.sse41, std::is_x86_feature_detected!("sse4.1"));
        assert_eq!(f.aes, std::is_x86_feature_detected!("aes"));
        assert_eq!(f.pclmul, std::is_x86_feature_detected!("pclmulqdq"));
    }
}
