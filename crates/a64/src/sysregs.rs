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
/// AT_HWCAP bit: AESE/AESD/AESMC/AESIMC.
pub const HWCAP_AES: u64 = 1 << 3;
/// AT_HWCAP bit: PMULL/PMULL2 with 64-bit elements.
pub const HWCAP_PMULL: u64 = 1 << 4;
/// AT_HWCAP bit: SHA1 instructions.
pub const HWCAP_SHA1: u64 = 1 << 5;
/// AT_HWCAP bit: SHA256 instructions.
pub const HWCAP_SHA2: u64 = 1 << 6;
/// AT_HWCAP bit: CRC32/CRC32C.
pub const HWCAP_CRC32: u64 = 1 << 7;
/// AT_HWCAP bit: LSE atomics.
pub const HWCAP_ATOMICS: u64 = 1 << 8;
/// AT_HWCAP bit: EL0 access to ID registers is emulated.
pub const HWCAP_CPUID: u64 = 1 << 11;
/// AT_HWCAP bit: SQRDMLAH/SQRDMLSH.
pub const HWCAP_ASIMDRDM: u64 = 1 << 12;
/// AT_HWCAP bit: FJCVTZS.
pub const HWCAP_JSCVT: u64 = 1 << 13;
/// AT_HWCAP bit: FCMLA/FCADD.
pub const HWCAP_FCMA: u64 = 1 << 14;
/// AT_HWCAP bit: LDAPR (RCpc).
pub const HWCAP_LRCPC: u64 = 1 << 15;
/// AT_HWCAP bit: EOR3/RAX1/XAR/BCAX.
pub const HWCAP_SHA3: u64 = 1 << 17;
/// AT_HWCAP bit: SDOT/UDOT.
pub const HWCAP_ASIMDDP: u64 = 1 << 20;
/// AT_HWCAP bit: SHA512 instructions.
pub const HWCAP_SHA512: u64 = 1 << 21;

/// The AT_HWCAP value: exactly the implemented features.
pub const HWCAP: u64 = HWCAP_FP
    | HWCAP_ASIMD
    | HWCAP_AES
    | HWCAP_PMULL
    | HWCAP_SHA1
    | HWCAP_SHA2
    | HWCAP_CRC32
    | HWCAP_ATOMICS
    | HWCAP_CPUID
    | HWCAP_ASIMDRDM
    | HWCAP_JSCVT
    | HWCAP_FCMA
    | HWCAP_LRCPC
    | HWCAP_SHA3
    | HWCAP_ASIMDDP
    | HWCAP_SHA512;
/// The AT_HWCAP2 value.
pub const HWCAP2: u64 = 0;

/// The kernel's /proc/cpuinfo names of the AT_HWCAP bits, by bit number.
pub const HWCAP_NAMES: [&str; 32] = [
    "fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
    "asimdhp", "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4",
    "asimddp", "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb",
    "paca", "pacg",
];

/// Feature names for /proc/cpuinfo, in the kernel's order (checked
/// against [`HWCAP`] by a test).
pub const CPUINFO_FEATURES: &str = "fp asimd aes pmull sha1 sha2 crc32 atomics cpuid asimdrdm jscvt fcma lrcpc sha3 asimddp sha512";

/// ID_AA64ISAR0_EL1: the instruction-set fields of the implemented
/// features: AES \[7:4\] = 2 (with PMULL), SHA1 \[11:8\], SHA2 \[15:12\] = 2
/// (with SHA512), CRC32 \[19:16\], Atomic \[23:20\] = 2, RDM \[31:28\], SHA3
/// \[35:32\], DP \[47:44\].
pub const ID_AA64ISAR0: u64 =
    (2 << 4) | (1 << 8) | (2 << 12) | (1 << 16) | (2 << 20) | (1 << 28) | (1 << 32) | (1 << 44);

/// ID_AA64ISAR1_EL1: JSCVT \[15:12\] = 1, FCMA \[19:16\] = 1, LRCPC \[23:20\]
/// = 1 (LDAPR).
pub const ID_AA64ISAR1: u64 = (1 << 12) | (1 << 16) | (1 << 20);

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
        (3, 0, 0, 6, 0) => Const(ID_AA64ISAR0),
        (3, 0, 0, 6, 1) => Const(ID_AA64ISAR1),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_lists_exactly_the_hwcap_bits() {
        let names: Vec<&str> = (0..32)
            .filter(|b| HWCAP >> b & 1 != 0)
            .map(|b| HWCAP_NAMES[b])
            .collect();
        assert_eq!(names.join(" "), CPUINFO_FEATURES);
    }

    /// Each ID register field agrees with its HWCAP bit.
    #[test]
    fn id_registers_agree_with_hwcap() {
        let field = |r: u64, lo: u32| (r >> lo) & 0xf;
        let has = |bit: u64| HWCAP & bit != 0;
        assert_eq!(field(ID_AA64ISAR0, 4) >= 1, has(HWCAP_AES));
        assert_eq!(field(ID_AA64ISAR0, 4) == 2, has(HWCAP_PMULL));
        assert_eq!(field(ID_AA64ISAR0, 8) == 1, has(HWCAP_SHA1));
        assert_eq!(field(ID_AA64ISAR0, 12) >= 1, has(HWCAP_SHA2));
        assert_eq!(field(ID_AA64ISAR0, 12) == 2, has(HWCAP_SHA512));
        assert_eq!(field(ID_AA64ISAR0, 16) == 1, has(HWCAP_CRC32));
        assert_eq!(field(ID_AA64ISAR0, 20) == 2, has(HWCAP_ATOMICS));
        assert_eq!(field(ID_AA64ISAR0, 28) == 1, has(HWCAP_ASIMDRDM));
        assert_eq!(field(ID_AA64ISAR0, 32) == 1, has(HWCAP_SHA3));
        assert_eq!(field(ID_AA64ISAR0, 44) == 1, has(HWCAP_ASIMDDP));
        assert_eq!(field(ID_AA64ISAR1, 20) >= 1, has(HWCAP_LRCPC));
        assert_eq!(field(ID_AA64ISAR1, 12) == 1, has(HWCAP_JSCVT));
        assert_eq!(field(ID_AA64ISAR1, 16) == 1, has(HWCAP_FCMA));
        assert_eq!(lookup(3, 0, 0, 6, 0), Some(SysReg::Const(ID_AA64ISAR0)));
        assert_eq!(lookup(3, 0, 0, 6, 1), Some(SysReg::Const(ID_AA64ISAR1)));
    }
}
