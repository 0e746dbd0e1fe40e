//! Text form of blocks, for `--dump-ir` and golden tests.

use crate::block::Block;
use crate::ops::{Op, Terminator};
use crate::types::Type;
use core::fmt;

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "block {:#x}..{:#x} ({} insns):",
            self.start, self.end, self.guest_insns
        )?;
        for (i, inst) in self.insts.iter().enumerate() {
            if let Op::GuestInsn(pc) = inst.op {
                writeln!(f, "  ; {pc:#x}")?;
                continue;
            }
            if inst.ty == Type::Void {
                writeln!(f, "  {:?}", inst.op)?;
            } else {
                writeln!(f, "  v{i}:{} = {:?}", inst.ty, inst.op)?;
            }
        }
        match &self.term {
            Terminator::Jump(t) => writeln!(f, "  jump {t:#x}"),
            Terminator::JumpDyn(v, h) => writeln!(f, "  jump {v} ({h:?})"),
            Terminator::Branch {
                cond,
                taken,
                not_taken,
            } => {
                writeln!(f, "  branch {cond} ? {taken:#x} : {not_taken:#x}")
            }
            Terminator::Exit { reason, pc } => writeln!(f, "  exit {reason:?} at {pc:#x}"),
        }
    }
}
