//! System registers visible at EL0 and the CPU identity xarch presents.
//!
//! The ID register values and the AT_HWCAP bits come from one place so that
//! what MRS reports, what the auxiliary vector advertises and what
//! /proc/cpuinfo prints always agree — and only list what is implemented.

use crate::state;

/// How an MRS/MSR register is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysReg {
    /// A field of the guest state block at this offset.
    State(u32),
    /// A constant (ID registers and other read-only values).
    Const(u64),
    /// The virtual counter (CNTVCT_EL0), ticking at [`CNTFRQ`].
    Counter,
}

/// Counter frequency: 1 GHz, as Armv8.6+ CPUs have.
pub const CNTFRQ: u64 = 1_000_000_000;

/// Bytes zeroed by `DC ZVA` (DCZID_EL0.BS = 4: 16 words).
pub const DCZVA_BYTES: u64 = 64;

/// AT_HWCAP bit: floating point.
pub const HWCAP_FP: u64 = 1 << 0;
/// AT_HWCAP bit: Advanced SIMD.
pub const HWCAP_ASIMD: u64 = 1 << 1;
/// AT_HWCAP bit: EL0 access to ID registers is emulated.
pub const HWCAP_CPUID: u64 = 1 << 11;

/// The AT_HWCAP value: exactly the implemented features.
pub const HWCAP: u64 = HWCAP_FP | HWCAP_ASIMD | HWCAP_CPUID;
/// The AT_HWCAP2 value.
pub const HWCAP2: u64 = 0;
/// Feature names for /proc/cpuinfo, in the kernel's order.
pub const CPUINFO_FEATURES: &str = "fp asimd cpuid";

/// MIDR_EL1: an Arm Cortex-A72 r0p3 (an implementation without CPU-specific
/// string-function variants in glibc).
pub const MIDR: u64 = 0x410f_d083;

/// Looks up the register with these encoding fields (op0 is 2 or 3).
pub fn lookup(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> Option<SysReg> {
    use SysReg::*;
    Some(match (op0, op1, crn, crm, op2) {
        (3, 3, 4, 2, 0) => State(state::NZCV),
        (3, 3, 4, 4, 0) => State(state::FPCR),
        (3, 3, 4, 4, 1) => State(state::FPSR),
        (3, 3, 13, 0, 2) => State(state::TPIDR_EL0),
        (3, 3, 13, 0, 3) => State(state::TPIDRRO_EL0),
        (3, 3, 0, 0, 1) => Const(0x8444_c004), // CTR_EL0: 64-byte lines
        (3, 3, 0, 0, 7) => Const(4),           // DCZID_EL0: 64 bytes, allowed
        (3, 3, 14, 0, 0) => Const(CNTFRQ),
        (3, 3, 14, 0, 1) | (3, 3, 14, 0, 2) => Counter,
        // ID registers, as Linux emulates them for EL0 (HWCAP_CPUID).
        (3, 0, 0, 0, 0) => Const(MIDR),
        (3, 0, 0, 0, 5) => Const(0x8000_0000), // MPIDR_EL1
        (3, 0, 0, 0, 6) => Const(0),           // REVIDR_EL1
        // ID_AA64PFR0_EL1: EL0 and EL1 AArch64-only; FP and AdvSIMD present.
        (3, 0, 0, 4, 0) => Const(0x11),
        // Everything else in the ID space reads as zero ("not implemented").
        (3, 0, 0, 0..=7, _) => Const(0),
        _ => return None,
    })
}

/// Whether MSR may write this state register.
pub fn writable(off: u32) -> bool {
    [state::NZCV, state::FPCR, state::FPSR, state::TPIDR_EL0].contains(&off)
}

/// Bits of a writable register that exist; others read as zero.
pub fn write_mask(off: u32) -> Option<u64> {
    match off {
        o if o == state::NZCV => Some(0xf000_0000),
        // AHP, DN, FZ, RMode: FZ16 (bit 19) only exists with FEAT_FP16.
        o if o == state::FPCR => Some(0x07c0_0000),
        o if o == state::FPSR => Some(0x0800_009f),
        _ => None,
    }
}
