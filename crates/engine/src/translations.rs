//! The engine's translations by guest PC.
//!
//! A process start-up makes tens of thousands of translations (python3:
//! 36k). Kept by value in one hash table, every doubling of the table
//! moved them all into fresh pages that the kernel had to clear (a tenth
//! of `python3 -c pass`). Here the table maps a PC to a small index, and
//! entries sit in fixed chunks that never move: memory is touched once,
//! as translations are made (a chunk's capacity is reserved whole and
//! filled as slots are taken: filling all 1024 at once touched 30 pages,
//! a sixth of the page faults of a small program under `xarch run`).
//!
//! The same index holds the head of each PC's list of link cells (see
//! `links.rs`), also for PCs not translated yet: linking an exit is one
//! probe of one table (two tables of 2 MiB each were a cc1 start's
//! 1000 pages, and every exit probed both).
//!
//! It also remembers which guest pages ever held translated code, so that
//! the invalidation of a range without code (munmap of a heap arena,
//! mprotect of relocated data) costs a few lookups, not a walk over every
//! translation (the walk was 1% of `python3 -c pass`).

use crate::{Entry, PcHash};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// The index's hashing: neighbouring guest PCs land in neighbouring
/// buckets. A block's exits, and the blocks a store install brings along,
/// are mostly near it, so their probes hit lines already cached; with a
/// multiplicative hash each probe was a cache miss into a table of a
/// megabyte or more (python3's start-up: push_link alone was 8% of it).
/// The PC's instruction index gives the bucket (the table's low bits),
/// a mix of its 4 MiB window spreads the windows apart, and the index's
/// low bits again give the tag byte (the top 7 bits), which tells the
/// neighbours of a group apart.
#[derive(Clone, Copy, Default)]
struct LocalPcHash;

impl BuildHasher for LocalPcHash {
    type Hasher = LocalPcHasher;
    fn build_hasher(&self) -> LocalPcHasher {
        LocalPcHasher(0)
    }
}

struct LocalPcHasher(u64);

impl Hasher for LocalPcHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // (The index hashes only u64 PCs, through `write_u64`; any other
        // key is folded into one.)
        let mut x = 0u64;
        for &b in bytes {
            x = x.rotate_left(8) ^ u64::from(b);
        }
        self.write_u64(x);
    }
    fn write_u64(&mut self, pc: u64) {
        let i = pc >> 2;
        let window = (pc >> 22).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = window ^ i ^ (i << 57);
    }
}

/// Entries per chunk.
const CHUNK: usize = 1024;

/// No entry, no link (in a [`Slot`]).
const NONE: u32 = u32::MAX;

/// What the index keeps for a PC.
#[derive(Clone, Copy)]
struct Slot {
    /// Its entry's place in the chunks, or [`NONE`].
    entry: u32,
    /// The first node of its list of link cells (`links.rs`), or [`NONE`].
    links: u32,
}

/// Guest address bits below the granule of [`Translations::may_have_code`]
/// (a page).
const CODE_GRANULE_BITS: u32 = 12;

#[derive(Default)]
pub(crate) struct Translations {
    index: HashMap<u64, Slot, LocalPcHash>,
    /// Entries in the index (PCs with only links are not counted).
    live: usize,
    /// Each with capacity [`CHUNK`], so it never moves; slots up to
    /// `used` exist.
    chunks: Vec<Vec<Option<Entry>>>,
    /// Slots freed by `retain`, reused first.
    free: Vec<u32>,
    /// Slots used so far (the next fresh slot).
    used: u32,
    /// Granules that held a translation since the last `clear`.
    granules: HashSet<u64, PcHash>,
    /// The granule added last plus one (0: none): consecutive
    /// translations mostly share a page, so most need no set insert.
    last_granule: u64,
}

impl Translations {
    fn slot(&self, i: u32) -> &Option<Entry> {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn slot_mut(&mut self, i: u32) -> &mut Option<Entry> {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn entry_of(&self, pc: &u64) -> Option<u32> {
        self.index.get(pc).map(|s| s.entry).filter(|&i| i != NONE)
    }

    pub fn get(&self, pc: &u64) -> Option<&Entry> {
        let i = self.entry_of(pc)?;
        self.slot(i).as_ref()
    }

    pub fn get_mut(&mut self, pc: &u64) -> Option<&mut Entry> {
        let i = self.entry_of(pc)?;
        self.slot_mut(i).as_mut()
    }

    pub fn contains_key(&self, pc: &u64) -> bool {
        self.entry_of(pc).is_some()
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// The first node of the link cells waiting for `pc`, or [`NONE`].
    pub fn links_head(&self, pc: u64) -> u32 {
        self.index.get(&pc).map_or(NONE, |s| s.links)
    }

    /// Makes `node` the first of the link cells waiting for `target`;
    /// returns the previous first node ([`NONE`] if none) and the
    /// target's entry if it has one.
    pub fn push_link(&mut self, target: u64, node: u32) -> (u32, Option<&Entry>) {
        let slot = self.index.entry(target).or_insert(Slot {
            entry: NONE,
            links: NONE,
        });
        let (next, entry) = (slot.links, slot.entry);
        slot.links = node;
        let e = if entry == NONE {
            None
        } else {
            self.slot(entry).as_ref()
        };
        (next, e)
    }

    /// Makes room for `n` more translations at once (a process that
    /// starts from a code store makes thousands in its first
    /// milliseconds: growing the index step by step rehashed it into
    /// fresh pages each time).
    pub fn reserve(&mut self, n: usize) {
        // The index also keeps the link lists of exit targets not
        // translated yet: reserved for n only, /bin/true's index grew
        // once, 1.6% of its start (a rehash into fresh pages).
        self.index.reserve(n + n / 2);
        // Blocks average a few dozen bytes: many per page.
        self.granules.reserve(n / 16);
    }

    /// Adds (or replaces) the translation at `pc`.
    pub fn insert(&mut self, pc: u64, entry: Entry) {
        let last = entry.end().saturating_sub(1).max(pc);
        for g in pc >> CODE_GRANULE_BITS..=last >> CODE_GRANULE_BITS {
            if g + 1 != self.last_granule {
                self.granules.insert(g);
                self.last_granule = g + 1;
            }
        }
        // One probe of the index (this runs for every block a process
        // starts with).
        let slot = self.index.entry(pc).or_insert(Slot {
            entry: NONE,
            links: NONE,
        });
        if slot.entry == NONE {
            self.live += 1;
            slot.entry = match self.free.pop() {
                Some(i) => i,
                None => {
                    let i = self.used;
                    self.used += 1;
                    if i as usize / CHUNK == self.chunks.len() {
                        self.chunks.push(Vec::with_capacity(CHUNK));
                    }
                    let chunk = self.chunks.last_mut().expect("a chunk");
                    debug_assert!(chunk.len() < CHUNK);
                    chunk.push(None);
                    i
                }
            };
        }
        let i = slot.entry;
        *self.slot_mut(i) = Some(entry);
    }

    pub fn values(&self) -> impl Iterator<Item = &Entry> {
        self.chunks.iter().flat_map(|c| c.iter()).flatten()
    }

    /// Keeps the translations for which `keep` is true; `keep` also gets
    /// the first node of the link cells waiting for the PC.
    pub fn retain(&mut self, mut keep: impl FnMut(&u64, &mut Entry, u32) -> bool) {
        let (chunks, free, live) = (&mut self.chunks, &mut self.free, &mut self.live);
        self.index.retain(|pc, s| {
            if s.entry == NONE {
                return true;
            }
            let i = s.entry;
            let slot = &mut chunks[i as usize / CHUNK][i as usize % CHUNK];
            let kept = slot.as_mut().is_some_and(|e| keep(pc, e, s.links));
            if !kept {
                *slot = None;
                free.push(i);
                *live -= 1;
                s.entry = NONE;
            }
            // (A PC whose cells wait for it stays, for its next
            // translation.)
            kept || s.links != NONE
        });
    }

    /// Drops every translation, and the heads of the link lists.
    pub fn clear(&mut self) {
        self.index.clear();
        self.live = 0;
        self.chunks.clear();
        self.free.clear();
        self.used = 0;
        self.granules.clear();
        self.last_granule = 0;
    }

    /// False when no translation made since the last `clear` overlapped
    /// `[start, end)` (true may be a false alarm).
    pub fn may_have_code(&self, start: u64, end: u64) -> bool {
        if end <= start {
            return false;
        }
        let (first, last) = (start >> CODE_GRANULE_BITS, (end - 1) >> CODE_GRANULE_BITS);
        // Probe the range's granules or scan the known ones, whichever is
        // shorter.
        if last - first < self.granules.len() as u64 {
            (first..=last).any(|g| self.granules.contains(&g))
        } else {
            self.granules.iter().any(|g| (first..=last).contains(g))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ir;
    use crate::Tier;
    use std::sync::Arc;
    use xarch_ir::{Block, Terminator};

    fn entry(start: u64, end: u64, serial: u64) -> Entry {
        Entry {
            serial,
            start,
            ir: Ir::Lifted(
                Arc::new(Block {
                    start,
                    end,
                    guest_insns: ((end - start) / 4) as u32,
                    insts: Vec::new(),
                    term: Terminator::Jump(end),
                }),
                None,
            ),
            compiled: None,
            runs: 0,
            counter: None,
            tier: Tier::Baseline,
            region: None,
        }
    }

    /// A PC's link head lives beside its entry, before the entry
    /// exists and after it is dropped (for its next translation).
    /// A start-up makes tens of thousands of entries: each byte of one
    /// is pages of them (see `Entry`).
    #[test]
    fn entries_stay_small() {
        assert!(std::mem::size_of::<Option<Entry>>() <= 72);
    }

    #[test]
    fn link_heads_outlive_entries() {
        let mut t = Translations::default();
        assert_eq!(t.push_link(0x1000, 7).0, NONE);
        assert!(t.push_link(0x1000, 9).1.is_none());
        assert_eq!((t.len(), t.links_head(0x1000)), (0, 9));
        assert!(!t.contains_key(&0x1000) && t.values().next().is_none());
        t.insert(0x1000, entry(0x1000, 0x1008, 1));
        t.insert(0x2000, entry(0x2000, 0x2008, 2));
        assert_eq!((t.len(), t.links_head(0x1000)), (2, 9));
        assert_eq!(t.push_link(0x1000, 11).1.map(|e| e.serial), Some(1));
        let mut heads = Vec::new();
        t.retain(|_, _, head| {
            heads.push(head);
            false
        });
        heads.sort();
        assert_eq!(heads, [11, NONE]);
        assert_eq!((t.len(), t.links_head(0x1000)), (0, 11));
        assert!(t.get(&0x1000).is_none() && t.get(&0x2000).is_none());
        t.insert(0x1000, entry(0x1000, 0x1008, 3));
        assert_eq!(t.get(&0x1000).map(|e| e.serial), Some(3));
        assert_eq!((t.len(), t.links_head(0x1000)), (1, 11));
        t.clear();
        assert_eq!((t.len(), t.links_head(0x1000)), (0, NONE));
    }

    #[test]
    fn entries_survive_growth_and_slots_are_reused() {
        let mut t = Translations::default();
        let n = 3 * CHUNK as u64 + 5;
        for i in 0..n {
            t.insert(0x10000 + 8 * i, entry(0x10000 + 8 * i, 0x10008 + 8 * i, i));
        }
        assert_eq!(t.len(), n as usize);
        assert!((0..n).all(|i| t.get(&(0x10000 + 8 * i)).unwrap().serial == i));
        // Replacing keeps one entry per PC.
        t.insert(0x10000, entry(0x10000, 0x10010, 1000));
        assert_eq!(t.len(), n as usize);
        assert_eq!(t.get(&0x10000).unwrap().serial, 1000);
        t.retain(|pc, _, _| pc % 16 == 0);
        assert_eq!(t.len(), n.div_ceil(2) as usize);
        assert!(t.get(&0x10008).is_none() && !t.contains_key(&0x10008));
        assert_eq!(t.values().count(), t.len());
        // Freed slots are reused before the chunks grow.
        let chunks = t.chunks.len();
        for i in 0..n / 2 {
            t.insert(
                0x900000 + 4 * i,
                entry(0x900000 + 4 * i, 0x900004 + 4 * i, i),
            );
        }
        assert_eq!(t.chunks.len(), chunks);
        t.get_mut(&0x900000).unwrap().runs = 7;
        assert_eq!(t.get(&0x900000).unwrap().runs, 7);
        t.clear();
        assert_eq!((t.len(), t.values().count()), (0, 0));
        assert!(!t.may_have_code(0, u64::MAX));
    }

    #[test]
    fn every_page_of_a_block_counts_as_code() {
        let mut t = Translations::default();
        // A block over three pages, and one far away.
        t.insert(0x40ff0, entry(0x40ff0, 0x43010, 1));
        t.insert(0x7000_0000, entry(0x7000_0000, 0x7000_0004, 2));
        for page in [0x40000, 0x41000, 0x42000, 0x43000] {
            assert!(t.may_have_code(page + 0x800, page + 0x840), "{page:#x}");
        }
        assert!(!t.may_have_code(0x3f000, 0x40000));
        assert!(!t.may_have_code(0x44000, 0x45000));
        assert!(!t.may_have_code(0x45000, 0x45000));
        // Large ranges scan the known pages instead of probing each one.
        assert!(t.may_have_code(0x1000_0000, 0x8000_0000));
        assert!(!t.may_have_code(0x1000_0000, 0x6fff_f000));
        assert!(t.may_have_code(0, u64::MAX));
    }
}
