//! AArch64 guest frontend: decoder and lifter to the xarch IR, and the
//! guest register state layout.

pub mod decode;
pub mod helpers;
pub mod lift;
pub mod state;
pub mod sysregs;
pub mod testing;
pub mod translate;
pub mod vdso;

pub use lift::{LiftError, lift_block};
