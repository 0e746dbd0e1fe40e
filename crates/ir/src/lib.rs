//! The xarch intermediate representation: typed, guest-independent ops
//! that every guest frontend lifts to and every backend executes. The
//! interpreter in [`interp`] is the reference semantics.

pub mod block;
pub mod crypto;
pub mod float;
pub mod guest_mem;
pub mod interp;
pub mod ops;
mod print;
pub mod simplify;
pub mod testing;
pub mod types;
pub mod vector;
pub mod verify;

pub use block::{Block, Builder};
pub use float::{FpOp, FpRounding};
pub use interp::{BlockResult, Interpreter};
pub use ops::RmwOp;
pub use ops::{
    Bits128, BranchHint, ExitReason, FenceKind, Helper, Inst, IntCC, Op, Terminator, Value,
};
pub use types::Type;
pub use vector::{CryptoOp, SatOp, VecOp};
