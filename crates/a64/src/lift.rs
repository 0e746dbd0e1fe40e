//! Lifting A64 machine code to IR blocks.
//!
//! `Ctx` is what every translate function works with: the IR builder plus
//! accessors for guest registers that encode the A64 register rules once
//! (register 31 is XZR or SP depending on the operand, W writes zero the
//! upper half, vector writes zero the upper lanes).

use crate::decode;
use crate::state;
use crate::translate;
use xarch_ir::{Block, Builder, ExitReason, Terminator, Type, Value};

/// Why an instruction could not be lifted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiftError {
    /// The encoding is unallocated (or reserved) in the architecture.
    Unallocated,
    /// A real instruction xarch does not implement yet (named).
    Unimplemented(&'static str),
}

/// Result of translating one instruction.
pub type LiftResult = Result<(), LiftError>;

/// Translation context for one block.
pub struct Ctx {
    /// The IR under construction.
    pub b: Builder,
    /// Address of the instruction being translated.
    pub pc: u64,
    /// Set by a translate function that ends the block.
    pub term: Option<Terminator>,
}

impl Ctx {
    /// A constant of type `I64`.
    pub fn c64(&mut self, x: u64) -> Value {
        self.b.iconst(Type::I64, x)
    }

    /// A constant of type `I32`.
    pub fn c32(&mut self, x: u32) -> Value {
        self.b.iconst(Type::I32, x as u64)
    }

    /// A constant of the operation width (`sf`: 64-bit when true).
    pub fn cw(&mut self, sf: bool, x: u64) -> Value {
        if sf { self.c64(x) } else { self.c32(x as u32) }
    }

    /// The operation type for `sf`.
    pub fn wty(sf: bool) -> Type {
        if sf { Type::I64 } else { Type::I32 }
    }

    /// Xn, with 31 reading as zero (XZR).
    pub fn x(&mut self, r: u32) -> Value {
        if r == 31 {
            self.c64(0)
        } else {
            self.b.get_state(state::x_offset(r), Type::I64)
        }
    }

    /// Xn, with 31 meaning SP.
    pub fn xsp(&mut self, r: u32) -> Value {
        if r == 31 {
            self.b.get_state(state::SP, Type::I64)
        } else {
            self.x(r)
        }
    }

    /// Wn or Xn by `sf`, 31 = zero register.
    pub fn reg(&mut self, sf: bool, r: u32) -> Value {
        if r == 31 {
            return self.cw(sf, 0);
        }
        if sf {
            self.x(r)
        } else {
            self.b.get_state(state::x_offset(r), Type::I32)
        }
    }

    /// Wn or Xn by `sf`, 31 = SP.
    pub fn reg_sp(&mut self, sf: bool, r: u32) -> Value {
        let v = self.xsp(r);
        if sf { v } else { self.b.trunc(v, Type::I32) }
    }

    /// Writes Xn (31 = XZR: discarded). A 32-bit value is zero-extended.
    pub fn set_x(&mut self, r: u32, v: Value) {
        if r == 31 {
            return;
        }
        let v = self.b.zext(v, Type::I64);
        self.b.set_state(state::x_offset(r), v);
    }

    /// Writes Xn or SP (31 = SP). A 32-bit value is zero-extended.
    pub fn set_xsp(&mut self, r: u32, v: Value) {
        let v = self.b.zext(v, Type::I64);
        if r == 31 {
            self.b.set_state(state::SP, v);
        } else {
            self.b.set_state(state::x_offset(r), v);
        }
    }

    /// NZCV flags as `I64` (bits 31..28).
    pub fn nzcv(&mut self) -> Value {
        self.b.get_state(state::NZCV, Type::I64)
    }

    /// Writes NZCV.
    pub fn set_nzcv(&mut self, v: Value) {
        self.b.set_state(state::NZCV, v);
    }

    /// Whether condition `cond` holds now.
    pub fn cond(&mut self, cond: u32) -> Value {
        if cond >= 14 {
            return self.b.iconst(Type::I1, 1);
        }
        let f = self.nzcv();
        self.b.cond_holds(cond as u8, f)
    }

    /// Vn as 128 bits.
    pub fn v(&mut self, r: u32) -> Value {
        self.b.get_state(state::v_offset(r), Type::I128)
    }

    /// The low `ty` bits of Vn (B/H/S/D views).
    pub fn vscalar(&mut self, r: u32, ty: Type) -> Value {
        self.b.get_state(state::v_offset(r), ty)
    }

    /// Writes Vn with a 128-bit value.
    pub fn set_v(&mut self, r: u32, v: Value) {
        self.b.set_state(state::v_offset(r), v);
    }

    /// Writes a scalar to Vn, zeroing the rest of the register (as every
    /// A64 scalar SIMD&FP write does).
    pub fn set_vscalar(&mut self, r: u32, v: Value) {
        let v = self.b.zext(v, Type::I128);
        self.b.set_state(state::v_offset(r), v);
    }

    /// Ends the block with a terminator.
    pub fn end(&mut self, t: Terminator) {
        self.term = Some(t);
    }

    /// Ends the block with a direct jump.
    pub fn jump(&mut self, target: u64) {
        self.end(Terminator::Jump(target));
    }

    /// Unallocated encoding.
    pub fn unallocated<T>(&self) -> Result<T, LiftError> {
        Err(LiftError::Unallocated)
    }
}

/// Maximum guest instructions per block.
pub const MAX_BLOCK_INSNS: u32 = 64;

/// Translates one instruction into `ctx`.
pub fn translate_insn(ctx: &mut Ctx, insn: u32) -> LiftResult {
    let table = translate::table_for(insn);
    match decode::lookup(table, insn) {
        Some(p) => (p.handler)(ctx, insn),
        None => Err(LiftError::Unallocated),
    }
}

/// Lifts the block of guest code starting at `pc`. `fetch` reads one
/// instruction word, or `None` if the address is not executable; a block
/// never crosses a page boundary, so fetching the first word proves the
/// rest of the page is mapped.
pub fn lift_block(pc: u64, mut fetch: impl FnMut(u64) -> Option<u32>) -> Option<Block> {
    let mut ctx = Ctx {
        b: Builder::new(),
        pc,
        term: None,
    };
    let mut n = 0u32;
    loop {
        let Some(insn) = fetch(ctx.pc) else {
            if n == 0 {
                return None;
            }
            break;
        };
        let mark = ctx.b.len();
        ctx.b.guest_insn(ctx.pc);
        match translate_insn(&mut ctx, insn) {
            Ok(()) => {}
            Err(e) => {
                ctx.b.truncate(mark);
                ctx.term = None;
                if n > 0 {
                    // End before it, so the failing instruction starts its own
                    // block and is reported with exact state.
                    break;
                }
                let unallocated = e == LiftError::Unallocated;
                ctx.b.guest_insn(ctx.pc);
                let term = Terminator::Exit {
                    reason: ExitReason::Undefined { insn, unallocated },
                    pc: ctx.pc,
                };
                return Some(ctx.b.finish(pc, ctx.pc + 4, 1, term));
            }
        }
        n += 1;
        ctx.pc += 4;
        if let Some(term) = ctx.term.take() {
            return Some(ctx.b.finish(pc, ctx.pc, n, term));
        }
        if n >= MAX_BLOCK_INSNS || ctx.pc.is_multiple_of(4096) {
            break;
        }
    }
    let end = ctx.pc;
    Some(ctx.b.finish(pc, end, n, Terminator::Jump(end)))
}

/// Name of the unimplemented or unallocated instruction, for diagnostics.
pub fn describe(insn: u32) -> String {
    let mut ctx = Ctx {
        b: Builder::new(),
        pc: 0,
        term: None,
    };
    match translate_insn(&mut ctx, insn) {
        Ok(()) => format!("{insn:#010x}"),
        Err(LiftError::Unallocated) => format!("{insn:#010x} (unallocated)"),
        Err(LiftError::Unimplemented(name)) => format!("{insn:#010x} ({name}, not implemented)"),
    }
}
