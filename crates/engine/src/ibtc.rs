//! The engine's indirect-branch table, which compiled code reads inline
//! through the thread's `JitCtx` (layout: `xarch_jit::baseline::ibtc_entry`).
//! An empty entry is zero (but entry 0, see `ibtc_empty`), so that the
//! table starts as fresh zero pages: a process pays only for the pages
//! its indirect branches use.
//!
//! The table starts small and grows with the program's translations: one
//! sized for a compiler (a million entries' worth of code) had every
//! short-lived process touch most of its 256 pages, a page fault each,
//! because block addresses scatter over it (/bin/true: 145 of its 610
//! faults). It also grows when the dispatcher keeps finding entries taken
//! by other PCs: it is direct-mapped, and two hot targets a multiple of
//! the table's span apart evict each other at every branch (SQLite's 300k
//! inserts returned to the dispatcher 8.6 million times through six such
//! pairs in a 16384-entry table).

use xarch_jit::JitCtx;
use xarch_jit::baseline::{ibtc_empty, ibtc_entry, ibtc_mask};

/// Entries a table starts with (64 KiB).
pub const MIN_ENTRIES: usize = 1 << 12;
/// Entries a table grows to at most (4 MiB).
pub const MAX_ENTRIES: usize = 1 << 18;
/// The table grows (fourfold) once a program has this many translations
/// per entry.
const TRANSLATIONS_PER_ENTRY: usize = 2;
/// ... or once the dispatcher has evicted this many live entries per 8
/// entries of the table (see [`Table::set_after_miss`]).
const CONFLICTS_PER_8_ENTRIES: usize = 1;

pub struct Table {
    entries: crate::zeroed::ZeroedSlice<[u64; 2]>,
    /// Live entries of other PCs the dispatcher replaced.
    conflicts: usize,
}

impl Table {
    /// An empty table of [`MIN_ENTRIES`].
    pub fn new() -> Table {
        Table::with_entries(MIN_ENTRIES)
    }

    /// An empty table of the size a program with `translations` grows
    /// it to (see [`Table::outgrown_by`]).
    pub fn for_translations(translations: usize) -> Table {
        let mut n = MIN_ENTRIES;
        while n < MAX_ENTRIES && translations > n * TRANSLATIONS_PER_ENTRY {
            n *= 4;
        }
        Table::with_entries(n)
    }

    fn with_entries(n: usize) -> Table {
        // Only the pages entries are written to are ever touched.
        let mut entries = crate::zeroed::ZeroedSlice::new(n);
        entries[0] = ibtc_empty(0);
        Table {
            entries,
            conflicts: 0,
        }
    }

    /// Points `ctx` (the context compiled code runs with) at this table.
    /// Needed again after [`Table::grow_for`] says it grew.
    pub fn publish(&self, ctx: &mut JitCtx) {
        ctx.ibtc_table = self.entries.as_ptr() as u64;
        ctx.ibtc_mask = ibtc_mask(self.entries.len());
    }

    /// Whether a program with `translations` has outgrown the table, or
    /// the dispatcher found too many entries taken by other PCs.
    pub fn outgrown_by(&self, translations: usize) -> bool {
        let n = self.entries.len();
        n < MAX_ENTRIES
            && (translations > n * TRANSLATIONS_PER_ENTRY
                || self.conflicts * 8 > n * CONFLICTS_PER_8_ENTRIES)
    }

    /// [`Table::set`] for a target compiled code missed in the table (the
    /// dispatcher runs it): counts the conflict if another PC held the
    /// entry (see [`Table::outgrown_by`]).
    pub fn set_after_miss(&mut self, pc: u64, body: u64) {
        let n = self.entries.len();
        let (i, e) = ibtc_entry(pc, body, n);
        let held = self.entries[i][0];
        if held != e[0] && held != ibtc_empty(i)[0] {
            self.conflicts += 1;
        }
        self.set(pc, body);
    }

    /// An empty table four times the size (at most [`MAX_ENTRIES`]), to
    /// be filled from the translations (entries lost to collisions in
    /// this one find their place there).
    pub fn grown(&self) -> Table {
        Table::with_entries((self.entries.len() * 4).min(MAX_ENTRIES))
    }

    /// Empties every entry.
    pub fn clear_all(&mut self) {
        self.entries.fill([0, 0]);
        self.entries[0] = ibtc_empty(0);
    }

    /// Sends indirect branches to `pc` to `body`.
    pub fn set(&mut self, pc: u64, body: u64) {
        let (i, e) = ibtc_entry(pc, body, self.entries.len());
        self.entries[i] = e;
    }

    /// Empties the entry of `pc`, if it holds `pc`.
    pub fn remove(&mut self, pc: u64) {
        let n = self.entries.len();
        let (i, e) = ibtc_entry(pc, 0, n);
        if self.entries[i][0] == e[0] {
            self.entries[i] = ibtc_empty(i);
        }
    }

    /// Re-points the entry of `pc` at `body`, if it holds `pc`.
    pub fn repoint(&mut self, pc: u64, body: u64) {
        let (i, e) = ibtc_entry(pc, body, self.entries.len());
        if self.entries[i][0] == e[0] {
            self.entries[i] = e;
        }
    }

    /// The body `pc` is sent to, if any (what compiled code finds).
    #[cfg(test)]
    fn lookup(&self, pc: u64) -> Option<u64> {
        let (i, e) = ibtc_entry(pc, 0, self.entries.len());
        (self.entries[i][0] == e[0]).then_some(self.entries[i][1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No PC finds an entry in an empty table, 0 included (the key of an
    /// empty entry but entry 0's).
    #[test]
    fn empty_entries_match_no_pc() {
        let mut t = Table::new();
        let pcs = [0, 4, 0x1000, u64::MAX, u64::MAX - 3, u64::MAX - 1];
        for pc in pcs {
            assert_eq!(t.lookup(pc), None, "pc {pc:#x} matches an empty entry");
        }
        t.set(u64::MAX - 3, 0x1234);
        t.remove(u64::MAX - 3);
        assert_eq!(t.lookup(u64::MAX), None);
        t.set(0, 0x5678);
        t.clear_all();
        for pc in pcs {
            assert_eq!(t.lookup(pc), None, "pc {pc:#x} after clear_all");
        }
    }

    /// Two PCs a multiple of the table's span apart share an entry: the
    /// dispatcher replacing one with the other counts conflicts, and
    /// enough of them make the table outgrown (while a PC replacing its
    /// own entry, or an empty one, counts nothing).
    #[test]
    fn conflicts_in_the_dispatcher_outgrow_the_table() {
        let mut t = Table::new();
        let (a, b) = (0x40_0000u64, 0x40_0000 + 4 * MIN_ENTRIES as u64);
        for k in 0..MIN_ENTRIES {
            t.set_after_miss(0x1000 + 4 * k as u64, 1);
            t.set_after_miss(0x1000 + 4 * k as u64, 2);
        }
        assert!(!t.outgrown_by(1), "no PC took another's entry");
        let mut rounds = 0;
        while !t.outgrown_by(1) {
            t.set_after_miss(a, 1);
            t.set_after_miss(b, 2);
            rounds += 1;
            assert!(rounds <= MIN_ENTRIES, "thrashing never outgrows the table");
        }
        assert_eq!(t.lookup(b), Some(2));
        assert_eq!(t.lookup(a), None, "a and b share an entry");
        let g = t.grown();
        assert!(!g.outgrown_by(1), "a grown table starts with no conflicts");
    }

    /// A table sized for a number of translations is the one the table
    /// grows to with them: never outgrown by them, and not larger.
    #[test]
    fn tables_are_sized_for_the_translations_expected() {
        for n in [0, 1, 8192, 8193, 32768, 36000, 131072, 1 << 20] {
            let sized = Table::for_translations(n);
            let mut grown = Table::new();
            while grown.outgrown_by(n) {
                grown = grown.grown();
            }
            assert_eq!(sized.entries.len(), grown.entries.len(), "{n}");
            assert!(!sized.outgrown_by(n), "{n}");
        }
        assert_eq!(Table::for_translations(36000).entries.len(), 1 << 16);
    }

    /// The table grows fourfold past the load it is sized for, up to
    /// its largest size, and is published to the context compiled code
    /// reads.
    #[test]
    fn tables_grow_with_the_program() {
        let mut t = Table::new();
        assert!(!t.outgrown_by(MIN_ENTRIES * TRANSLATIONS_PER_ENTRY));
        assert!(t.outgrown_by(MIN_ENTRIES * TRANSLATIONS_PER_ENTRY + 1));
        t = t.grown();
        assert_eq!(t.entries.len(), MIN_ENTRIES * 4);
        t.set(0x1000, 7);
        let mut ctx = JitCtx::default();
        t.publish(&mut ctx);
        assert_eq!(ctx.ibtc_table, t.entries.as_ptr() as u64);
        assert_eq!(ctx.ibtc_mask, ((MIN_ENTRIES * 4 - 1) as u64) << 4);
        let (i, _) = ibtc_entry(0x1000, 0, MIN_ENTRIES * 4);
        // SAFETY: the published table has `mask / 16 + 1` entries, more
        // than `i`.
        let read = unsafe { *(ctx.ibtc_table as *const [u64; 2]).add(i) };
        assert_eq!(read, [0x1000, 7]);
        while t.outgrown_by(usize::MAX) {
            t = t.grown();
        }
        assert_eq!(t.entries.len(), MAX_ENTRIES);
    }
}
