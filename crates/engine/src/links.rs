//! The link cells that jump, or will jump once it is compiled, to each
//! guest PC: what the engine patches when code for a PC appears and
//! unlinks when it is dropped. One list node per exit in a single arena
//! (a large program has hundreds of thousands of exits; a vector per
//! target cost an allocation each).

use xarch_jit::baseline::Exit;

/// An exit as kept: its link cell, unlinked value and the end of the
/// jump made direct at linking (0: none) as offsets in the code cache, and
/// the next exit to the same target (16 bytes, not the 36 of an `Exit`
/// and a link: a cc1 start keeps 140k of them, and they were an eighth
/// of the pages it touched).
#[derive(Clone, Copy)]
struct Node {
    cell: u32,
    unlinked: u32,
    next: u32,
    jump: u32,
}

/// The lists' nodes. Each list's first node is kept by the translation
/// index, beside the target's entry (`Translations::push_link`).
pub(crate) struct Links {
    /// Start of the code cache every cell and return path lies in.
    base: u64,
    nodes: Vec<Node>,
}

impl Links {
    /// Links for the code in the cache starting at `base` (at most 4 GiB).
    pub fn new(base: u64) -> Links {
        Links {
            base,
            nodes: Vec::new(),
        }
    }

    /// Makes room for the exits of `blocks` more blocks (see
    /// `Translations::reserve`).
    pub fn reserve(&mut self, blocks: usize) {
        self.nodes.reserve(blocks * 3 / 2);
    }

    fn offset(&self, addr: u64) -> u32 {
        addr.checked_sub(self.base)
            .and_then(|o| u32::try_from(o).ok())
            .expect("link cells and return paths lie in the code cache")
    }

    fn exit(&self, target: u64, n: &Node) -> Exit {
        let mut exit = Exit::new(
            target,
            (self.base + u64::from(n.cell)) as *mut u64,
            self.base + u64::from(n.unlinked),
        );
        if n.jump != 0 {
            exit.add_jump((self.base + u64::from(n.jump)) as usize);
        }
        exit
    }

    /// The index the next node pushed gets.
    pub fn next_node(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// Adds `exit` as a node before `next` (the previous first node of
    /// its target's list).
    pub fn push(&mut self, exit: Exit, next: u32) {
        let jump = exit.jump_end().map_or(0, |end| self.offset(end as u64));
        let node = Node {
            cell: self.offset(exit.cell as u64),
            unlinked: self.offset(exit.unlinked),
            next,
            jump,
        };
        self.nodes.push(node);
    }

    /// The exits of the list starting at node `head`, whose target is
    /// `target`.
    pub fn list(&self, head: u32, target: u64) -> impl Iterator<Item = Exit> + '_ {
        let mut at = head;
        std::iter::from_fn(move || {
            let n = self.nodes.get(at as usize)?;
            at = n.next;
            Some(self.exit(target, n))
        })
    }

    /// Every exit (with its target unknown: 0).
    pub fn all(&self) -> impl Iterator<Item = Exit> + '_ {
        self.nodes.iter().map(|n| self.exit(0, n))
    }

    /// Forgets every exit (the translation index's heads must go too).
    pub fn clear(&mut self) {
        self.nodes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translations::Translations;

    const BASE: u64 = 0x7f00_0000_0000;

    /// An exit through cell `cell`, with a jump to make direct for odd
    /// cells.
    fn exit(target: u64, cell: usize) -> Exit {
        let mut e = Exit::new(
            target,
            (BASE + cell as u64) as *mut u64,
            BASE + 0x100 * cell as u64,
        );
        if cell % 2 == 1 {
            e.add_jump(jump_end(cell));
        }
        e
    }

    fn jump_end(cell: usize) -> usize {
        (BASE + 0x1_0000 + 0x40 * cell as u64) as usize
    }

    fn add(l: &mut Links, t: &mut Translations, e: Exit) {
        let (next, _) = t.push_link(e.target, l.next_node());
        l.push(e, next);
    }

    #[test]
    fn exits_are_listed_per_target() {
        let (mut l, mut t) = (Links::new(BASE), Translations::default());
        add(&mut l, &mut t, exit(0x10, 1));
        add(&mut l, &mut t, exit(0x20, 2));
        add(&mut l, &mut t, exit(0x10, 3));
        let cells = |l: &Links, t: &Translations, pc| {
            l.list(t.links_head(pc), pc)
                .map(|e| {
                    let cell = (e.cell as u64 - BASE) as usize;
                    assert_eq!((e.target, e.unlinked), (pc, BASE + 0x100 * cell as u64));
                    // The jump to make direct, kept as an offset.
                    let want = (cell % 2 == 1).then(|| jump_end(cell));
                    assert_eq!(e.jump_end(), want);
                    cell
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(cells(&l, &t, 0x10), [3, 1]);
        assert_eq!(cells(&l, &t, 0x20), [2]);
        assert!(cells(&l, &t, 0x30).is_empty());
        assert_eq!(l.all().count(), 3);
        // Links do not make translations.
        assert_eq!(t.len(), 0);
        assert!(!t.contains_key(&0x10) && t.get(&0x10).is_none());
        l.clear();
        t.clear();
        assert!(cells(&l, &t, 0x10).is_empty());
    }
}
