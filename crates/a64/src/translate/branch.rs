//! Branches, exception generation and system instructions.

use crate::decode::{Pattern, bit, bits, sext};
use crate::helpers;
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::pat;
use crate::state;
use crate::sysregs::{self, SysReg};
use xarch_ir::{BranchHint, ExitReason, FenceKind, IntCC, Terminator, Type};

/// Decode table.
pub static TABLE: &[Pattern] = &[
    pat!("B.cond", "01010100iiiiiiiiiiiiiiiiiii0cccc", b_cond),
    pat!("SVC", "11010100000iiiiiiiiiiiiiiii00001", svc),
    pat!("BRK", "11010100001iiiiiiiiiiiiiiii00000", brk),
    pat!("HINT", "11010101000000110010xxxxxxx11111", hint),
    pat!("CLREX", "11010101000000110011xxxx01011111", clrex),
    pat!(
        "DSB/DMB/ISB/SB",
        "11010101000000110011xxxx1xx11111",
        barrier
    ),
    pat!("SYS", "1101010100001xxxxxxxxxxxxxxxxxxx", sys),
    pat!(
        "MSR (register)",
        "1101010100011xxxxxxxxxxxxxxxxxxx",
        msr_reg
    ),
    pat!("MRS", "1101010100111xxxxxxxxxxxxxxxxxxx", mrs),
    pat!("BR", "1101011000011111000000nnnnn00000", br),
    pat!("BLR", "1101011000111111000000nnnnn00000", blr),
    pat!("RET", "1101011001011111000000nnnnn00000", ret),
    pat!("B", "000101iiiiiiiiiiiiiiiiiiiiiiiiii", b),
    pat!("BL", "100101iiiiiiiiiiiiiiiiiiiiiiiiii", bl),
    pat!("CBZ/CBNZ", "x011010xiiiiiiiiiiiiiiiiiiittttt", cbz),
    pat!("TBZ/TBNZ", "x011011xbbbbbiiiiiiiiiiiiiittttt", tbz),
    pat!(
        "Exception (other)",
        "11010100xxxxxxxxxxxxxxxxxxxxxxxx",
        unimplemented_exception
    ),
    pat!(
        "System (other)",
        "1101010100xxxxxxxxxxxxxxxxxxxxxx",
        unimplemented_system
    ),
    pat!(
        "Branch (register, other)",
        "1101011xxxxxxxxxxxxxxxxxxxxxxxxx",
        unimplemented_branch_reg
    ),
];

fn b_cond(c: &mut Ctx, i: u32) -> LiftResult {
    let off = sext((bits(i, 5, 19) << 2) as u64, 21) as u64;
    let cond = c.cond(bits(i, 0, 4));
    let taken = c.pc.wrapping_add(off);
    c.end(Terminator::Branch {
        cond,
        taken,
        not_taken: c.pc + 4,
    });
    Ok(())
}

fn svc(c: &mut Ctx, i: u32) -> LiftResult {
    if bits(i, 5, 16) as u16 == crate::vdso::VDSO_CALL_IMM && crate::vdso::contains(c.pc) {
        // xarch's own vDSO: serve the time calls inline (see vdso.rs).
        let args = [c.x(8), c.x(0), c.x(1)];
        let r = c.b.call(&crate::vdso::VDSO_CALL, &args, Type::I64);
        c.set_x(0, r);
        return Ok(());
    }
    c.end(Terminator::Exit {
        reason: ExitReason::Syscall,
        pc: c.pc + 4,
    });
    Ok(())
}

fn brk(c: &mut Ctx, i: u32) -> LiftResult {
    c.end(Terminator::Exit {
        reason: ExitReason::Breakpoint(bits(i, 5, 16) as u16),
        pc: c.pc,
    });
    Ok(())
}

fn unimplemented_exception(_: &mut Ctx, _: u32) -> LiftResult {
    // HVC, SMC, HLT, DCPS: not available at EL0.
    Err(LiftError::Unallocated)
}

/// Hints: NOP, YIELD, WFE, WFI, SEV, and the pointer-authentication and
/// BTI hints, which execute as NOPs because xarch does not advertise PAC
/// or BTI (exactly what a CPU without them does).
fn hint(_: &mut Ctx, _: u32) -> LiftResult {
    Ok(())
}

fn clrex(c: &mut Ctx, _: u32) -> LiftResult {
    let open = c.c64(u64::MAX);
    c.b.set_state(state::EXCL_ADDR, open);
    Ok(())
}

fn barrier(c: &mut Ctx, i: u32) -> LiftResult {
    match bits(i, 5, 3) {
        // DSB; DMB, by the accesses it orders (CRm<1:0>): earlier loads
        // (LD), earlier stores before later stores (ST), or all.
        0b100 => c.b.fence(FenceKind::Full),
        0b101 => c.b.fence(match bits(i, 8, 2) {
            0b01 => FenceKind::Acquire,
            0b10 => FenceKind::Release,
            _ => FenceKind::Full,
        }),
        0b110 => {
            // ISB: end the block so code written before it is re-read.
            c.b.fence(FenceKind::Full);
            c.jump(c.pc + 4);
        }
        0b111 => return Err(LiftError::Unallocated), // SB not advertised
        _ => return Err(LiftError::Unallocated),
    }
    Ok(())
}

/// Fields of a system instruction or register access.
fn sys_fields(i: u32) -> (u32, u32, u32, u32, u32) {
    (
        bits(i, 19, 2),
        bits(i, 16, 3),
        bits(i, 12, 4),
        bits(i, 8, 4),
        bits(i, 5, 3),
    )
}

fn sys(c: &mut Ctx, i: u32) -> LiftResult {
    let (op0, op1, crn, crm, op2) = sys_fields(i);
    let rt = bits(i, 0, 5);
    // Only the EL0-accessible cache maintenance operations exist for us.
    match (op0, op1, crn, crm, op2) {
        // DC ZVA: zero a DCZID-sized block.
        (1, 3, 7, 4, 1) => {
            let addr = c.x(rt);
            let mask = c.c64(!(sysregs::DCZVA_BYTES - 1));
            let base = c.b.and(addr, mask);
            let zero = c.b.const128(0);
            for k in 0..sysregs::DCZVA_BYTES / 16 {
                let off = c.c64(k * 16);
                let a = c.b.add(base, off);
                c.b.store(a, zero);
            }
            Ok(())
        }
        // DC CVAU, CVAC, CVAP, CVADP, CIVAC: no architectural effect here.
        (1, 3, 7, 10..=14, 1) => Ok(()),
        // IC IVAU: guest code changed; end the block so stale translations
        // of the next instruction are not used (translations are
        // invalidated by the runtime on the helper call).
        (1, 3, 7, 5, 1) => {
            let addr = c.x(rt);
            c.b.call(&helpers::IC_IVAU, &[addr], Type::Void);
            c.jump(c.pc + 4);
            Ok(())
        }
        _ => Err(LiftError::Unallocated),
    }
}

fn decode_sysreg(i: u32) -> Option<SysReg> {
    let (op0, op1, crn, crm, op2) = sys_fields(i);
    sysregs::lookup(op0, op1, crn, crm, op2)
}

fn mrs(c: &mut Ctx, i: u32) -> LiftResult {
    let rt = bits(i, 0, 5);
    let Some(reg) = decode_sysreg(i) else {
        return Err(LiftError::Unallocated);
    };
    let v = match reg {
        SysReg::State(off) => c.b.get_state(off, Type::I64),
        SysReg::Const(x) => c.c64(x),
        SysReg::Counter => c.b.call(&helpers::READ_COUNTER, &[], Type::I64),
    };
    c.set_x(rt, v);
    Ok(())
}

fn msr_reg(c: &mut Ctx, i: u32) -> LiftResult {
    let rt = bits(i, 0, 5);
    let Some(reg) = decode_sysreg(i) else {
        return Err(LiftError::Unallocated);
    };
    match reg {
        SysReg::State(off) if sysregs::writable(off) => {
            let mut v = c.x(rt);
            if let Some(mask) = sysregs::write_mask(off) {
                let m = c.c64(mask);
                v = c.b.and(v, m);
            }
            c.b.set_state(off, v);
            if off == state::FPCR {
                // Rounding mode changes affect translated FP code.
                c.jump(c.pc + 4);
            }
            Ok(())
        }
        _ => Err(LiftError::Unallocated),
    }
}

fn branch_to_reg(c: &mut Ctx, i: u32, link: bool, hint: BranchHint) -> LiftResult {
    let target = c.x(bits(i, 5, 5));
    if link {
        let ret = c.c64(c.pc + 4);
        c.set_x(30, ret);
    }
    c.end(Terminator::JumpDyn(target, hint));
    Ok(())
}

fn br(c: &mut Ctx, i: u32) -> LiftResult {
    branch_to_reg(c, i, false, BranchHint::Jump)
}

fn blr(c: &mut Ctx, i: u32) -> LiftResult {
    branch_to_reg(c, i, true, BranchHint::Call)
}

fn ret(c: &mut Ctx, i: u32) -> LiftResult {
    branch_to_reg(c, i, false, BranchHint::Return)
}

fn unimplemented_branch_reg(_: &mut Ctx, _: u32) -> LiftResult {
    // BRAA/BLRAA/RETAA/ERET...: PAC is not advertised.
    Err(LiftError::Unallocated)
}

fn unimplemented_system(_: &mut Ctx, _: u32) -> LiftResult {
    // MSR (immediate) to PSTATE fields, SYSL, TME: not usable at EL0 here.
    Err(LiftError::Unallocated)
}

fn b(c: &mut Ctx, i: u32) -> LiftResult {
    let off = sext((bits(i, 0, 26) << 2) as u64, 28) as u64;
    c.jump(c.pc.wrapping_add(off));
    Ok(())
}

fn bl(c: &mut Ctx, i: u32) -> LiftResult {
    let off = sext((bits(i, 0, 26) << 2) as u64, 28) as u64;
    let ret = c.c64(c.pc + 4);
    c.set_x(30, ret);
    c.jump(c.pc.wrapping_add(off));
    Ok(())
}

fn cbz(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let nonzero = bit(i, 24);
    let off = sext((bits(i, 5, 19) << 2) as u64, 21) as u64;
    let v = c.reg(sf, bits(i, 0, 5));
    let z = c.cw(sf, 0);
    let cond = c.b.icmp(if nonzero { IntCC::Ne } else { IntCC::Eq }, v, z);
    c.end(Terminator::Branch {
        cond,
        taken: c.pc.wrapping_add(off),
        not_taken: c.pc + 4,
    });
    Ok(())
}

fn tbz(c: &mut Ctx, i: u32) -> LiftResult {
    let bitpos = (bits(i, 31, 1) << 5) | bits(i, 19, 5);
    let nonzero = bit(i, 24);
    let off = sext((bits(i, 5, 14) << 2) as u64, 16) as u64;
    let v = c.x(bits(i, 0, 5));
    let m = c.c64(1u64 << bitpos);
    let t = c.b.and(v, m);
    let z = c.c64(0);
    let cond = c.b.icmp(if nonzero { IntCC::Ne } else { IntCC::Eq }, t, z);
    c.end(Terminator::Branch {
        cond,
        taken: c.pc.wrapping_add(off),
        not_taken: c.pc + 4,
    });
    Ok(())
}
