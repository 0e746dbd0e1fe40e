//! The architectural state of one AArch64 guest thread.
//!
//! The layout is `#[repr(C)]` because IR code (interpreted or compiled)
//! addresses fields by byte offset from a pointer to this block, the same
//! way QEMU TCG globals and dynarmic's JitState work. Offsets are exported
//! as constants so the lifter never hard-codes a number.

use core::mem::offset_of;

/// Register state of one guest thread, addressed by offset from IR code.
#[repr(C, align(16))]
#[derive(Clone, Debug)]
pub struct A64State {
    /// General-purpose registers X0..X30.
    pub x: [u64; 31],
    /// Stack pointer (SP_EL0).
    pub sp: u64,
    /// Program counter of the next instruction to execute.
    pub pc: u64,
    /// Condition flags in the MRS NZCV format: N=bit31 Z=30 C=29 V=28.
    pub nzcv: u64,
    /// SIMD&FP registers V0..V31 (Q view; lower lanes are D/S/H/B views).
    pub v: [u128; 32],
    /// Floating-point control register.
    pub fpcr: u64,
    /// Floating-point status register (cumulative exception flags, QC).
    pub fpsr: u64,
    /// Thread pointer, read/write from EL0.
    pub tpidr_el0: u64,
    /// Read-only thread pointer (always 0 on Linux).
    pub tpidrro_el0: u64,
    /// Exclusive monitor: address tagged by the last load-exclusive, or
    /// `u64::MAX` when the monitor is open.
    pub excl_addr: u64,
    /// Exclusive monitor: access size in bytes (for pairs, total size).
    pub excl_size: u64,
    /// Exclusive monitor: value observed by the load-exclusive, compared by
    /// the store-exclusive so that a store by another thread fails it.
    pub excl_value: u128,
    /// Requests for the run loop, as bits set atomically: invalidations
    /// pending (`helpers::EXIT_INFO_INVALIDATE`), a region ready (the
    /// engine's `EXIT_INFO_REGION_READY`), a signal pending
    /// (`helpers::EXIT_INFO_INTERRUPT`). Compiled code polls it at block
    /// boundaries that can close a loop and returns to the run loop when
    /// it is not zero.
    pub exit_info: u64,
    /// Pending-interrupt flag: non-zero makes the run loop return so that
    /// asynchronous signals are delivered promptly even to a guest
    /// spinning in a loop (whoever sets it sets `EXIT_INFO_INTERRUPT`
    /// too: `helpers::raise_interrupt`).
    pub interrupt: u64,
}

impl Default for A64State {
    fn default() -> Self {
        A64State {
            x: [0; 31],
            sp: 0,
            pc: 0,
            nzcv: 0,
            v: [0; 32],
            fpcr: 0,
            fpsr: 0,
            tpidr_el0: 0,
            tpidrro_el0: 0,
            excl_addr: u64::MAX,
            excl_size: 0,
            excl_value: 0,
            exit_info: 0,
            interrupt: 0,
        }
    }
}

/// Byte offset of X`n` (n in 0..=30).
pub const fn x_offset(n: u32) -> u32 {
    (offset_of!(A64State, x) + 8 * n as usize) as u32
}
/// Byte offset of V`n` (n in 0..=31).
pub const fn v_offset(n: u32) -> u32 {
    (offset_of!(A64State, v) + 16 * n as usize) as u32
}
/// Byte offset of SP.
pub const SP: u32 = offset_of!(A64State, sp) as u32;
/// Byte offset of PC.
pub const PC: u32 = offset_of!(A64State, pc) as u32;
/// Byte offset of NZCV.
pub const NZCV: u32 = offset_of!(A64State, nzcv) as u32;
/// Byte offset of FPCR.
pub const FPCR: u32 = offset_of!(A64State, fpcr) as u32;
/// Byte offset of FPSR.
pub const FPSR: u32 = offset_of!(A64State, fpsr) as u32;
/// Byte offset of TPIDR_EL0.
pub const TPIDR_EL0: u32 = offset_of!(A64State, tpidr_el0) as u32;
/// Byte offset of TPIDRRO_EL0.
pub const TPIDRRO_EL0: u32 = offset_of!(A64State, tpidrro_el0) as u32;
/// Byte offset of the exclusive monitor address.
pub const EXCL_ADDR: u32 = offset_of!(A64State, excl_addr) as u32;
/// Byte offset of the exclusive monitor size.
pub const EXCL_SIZE: u32 = offset_of!(A64State, excl_size) as u32;
/// Byte offset of the exclusive monitor value.
pub const EXCL_VALUE: u32 = offset_of!(A64State, excl_value) as u32;
/// Byte offset of the exit information word.
pub const EXIT_INFO: u32 = offset_of!(A64State, exit_info) as u32;
/// Byte offset of the pending-interrupt flag.
pub const INTERRUPT: u32 = offset_of!(A64State, interrupt) as u32;

const _: () = assert!(offset_of!(A64State, v) % 16 == 0);
