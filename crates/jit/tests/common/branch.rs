//! A one-instruction block at `START` that branches backward or forward
//! on state word 0 (shared by the tests that include it by path: the
//! store's export and import, and the short jumps out of line).

use xarch_ir::{Block, Builder, IntCC, Terminator, Type};

pub const START: u64 = 0x2000;
/// Below the block's start: the exit polls.
pub const BACKWARD: u64 = 0x1000;
/// Past it: the exit does not poll.
pub const FORWARD: u64 = 0x3000;

/// What `body` builds, then to `BACKWARD` when state word 0 is 0, else
/// to `FORWARD`.
pub fn branch_block(body: impl FnOnce(&mut Builder)) -> Block {
    let mut b = Builder::new();
    b.guest_insn(START);
    body(&mut b);
    let x = b.get_state(0, Type::I64);
    let zero = b.iconst(Type::I64, 0);
    let cond = b.icmp(IntCC::Eq, x, zero);
    b.finish(
        START,
        START + 4,
        1,
        Terminator::Branch {
            cond,
            taken: BACKWARD,
            not_taken: FORWARD,
        },
    )
}
