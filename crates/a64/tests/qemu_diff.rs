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
