//! The link cells that jump, or will jump once it is compiled, to each
//! guest PC: what the engine patches when code for a PC appears and
//! unlinks when it is dropped. One list node per exit in a single arena
//! (a large program has hundreds of thousands of exits; a vector per
//! target cost an allocation each).

use crate::PcHash;
use std::collections::HashMap;
use xarch_jit::baseline::Exit;

const NONE: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct Links {
    /// Target PC -> its most recently added exit in `nodes`.
    heads: HashMap<u64, u32, PcHash>,
    /// Exits, each with the index of the next exit to the same target.
    nodes: Vec<(Exit, u32)>,
}

impl Links {
    /// Makes room for the exits of `blocks` more blocks (see
    /// `Translations::reserve`).
    pub fn reserve(&mut self, blocks: usize) {
        self.heads.reserve(blocks);
        self.nodes.reserve(blocks * 3 / 2);
    }

    /// Records an exit to `exit.target`.
    pub fn add(&mut self, exit: Exit) {
        let at = self.nodes.len() as u32;
        let next = self.heads.insert(exit.target, at).unwrap_or(NONE);
        self.nodes.push((exit, next));
    }

    /// The exits to `pc`.
    pub fn to(&self, pc: u64) -> impl Iterator<Item = &Exit> {
        let mut at = self.heads.get(&pc).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            let (exit, next) = self.nodes.get(at as usize)?;
            at = *next;
            Some(exit)
        })
    }

    /// Every exit.
    pub fn all(&self) -> impl Iterator<Item = &Exit> {
        self.nodes.iter().map(|(e, _)| e)
    }

    /// Forgets every exit.
    pub fn clear(&mut self) {
        self.heads.clear();
        self.nodes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(target: u64, cell: usize) -> Exit {
        Exit {
            target,
            cell: cell as *mut u64,
            unlinked: 0,
        }
    }

    #[test]
    fn exits_are_listed_per_target() {
        let mut l = Links::default();
        l.add(exit(0x10, 1));
        l.add(exit(0x20, 2));
        l.add(exit(0x10, 3));
        let cells = |l: &Links, pc| l.to(pc).map(|e| e.cell as usize).collect::<Vec<_>>();
        assert_eq!(cells(&l, 0x10), [3, 1]);
        assert_eq!(cells(&l, 0x20), [2]);
        assert!(cells(&l, 0x30).is_empty());
        assert_eq!(l.all().count(), 3);
        l.clear();
        assert!(cells(&l, 0x10).is_empty());
    }
}
