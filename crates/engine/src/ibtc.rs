//! The engine's indirect-branch table, which compiled code reads inline
//! (layout: `xarch_jit::baseline::ChainConfig::ibtc`). Keys are stored
//! inverted so that the table starts as fresh zero pages: a process pays
//! only for the pages its indirect branches use (1 MiB written up front
//! cost 256 page faults per process and per thread).

use xarch_jit::baseline::{IBTC_ENTRIES, ibtc_empty, ibtc_entry};

/// An empty table.
pub fn new_table() -> Box<[[u64; 2]]> {
    // A zeroed allocation of this size comes straight from mmap: no page
    // is touched but the last one.
    let mut t = vec![[0u64; 2]; IBTC_ENTRIES].into_boxed_slice();
    t[IBTC_ENTRIES - 1] = ibtc_empty(IBTC_ENTRIES - 1);
    t
}

/// Empties every entry.
pub fn clear_all(t: &mut [[u64; 2]]) {
    t.fill([0, 0]);
    t[IBTC_ENTRIES - 1] = ibtc_empty(IBTC_ENTRIES - 1);
}

/// Sends indirect branches to `pc` to `body`.
pub fn set(t: &mut [[u64; 2]], pc: u64, body: u64) {
    let (i, e) = ibtc_entry(pc, body);
    t[i] = e;
}

/// Empties the entry of `pc`, if it holds `pc`.
pub fn remove(t: &mut [[u64; 2]], pc: u64) {
    let (i, e) = ibtc_entry(pc, 0);
    if t[i][0] == e[0] {
        t[i] = ibtc_empty(i);
    }
}

/// Re-points the entry of `pc` at `body`, if it holds `pc`.
pub fn repoint(t: &mut [[u64; 2]], pc: u64, body: u64) {
    let (i, e) = ibtc_entry(pc, body);
    if t[i][0] == e[0] {
        t[i] = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No PC finds an entry in an empty table, `u64::MAX` included (its
    /// inverted key is the zero of an empty entry).
    #[test]
    fn empty_entries_match_no_pc() {
        let t = new_table();
        for pc in [0, 4, 0x1000, u64::MAX, u64::MAX - 3, u64::MAX - 1] {
            let (i, e) = ibtc_entry(pc, 0);
            assert_ne!(t[i][0], e[0], "pc {pc:#x} matches an empty entry");
        }
        let mut t = t;
        set(&mut t, u64::MAX - 3, 0x1234);
        remove(&mut t, u64::MAX - 3);
        let (i, e) = ibtc_entry(u64::MAX, 0);
        assert_ne!(t[i][0], e[0]);
        clear_all(&mut t);
        assert_ne!(t[i][0], e[0]);
    }
}
