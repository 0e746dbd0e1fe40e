//! Blocks a fork's child installs from the code store, told to its
//! parent so that its next children find them installed.
//!
//! A shell runs each command in a forked child that execs soon after: the
//! child's path from `fork` to `execve` is code the parent never runs, so
//! every child installed the same blocks again (`sh -c` running
//! `/bin/true` 200 times: about 40 blocks per child). Installing writes
//! into memory the child shares with its parent until written (the
//! translation index, link lists, link cells, the code cache), and each
//! page first written is copied: about 70 page copies per child, a fifth
//! of the page faults of a fork and exec. So the child writes the PCs of
//! the blocks it installs into a page shared with its parent (made at the
//! parent's first fork), and the parent installs them from its store the
//! next time it enters the engine. They are hints only: the parent
//! installs a block only over the same guest code, as on any miss, and a
//! full page or a lost race just leaves a child installing for itself.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// PCs a page holds.
const CAPACITY: usize = 511;

/// One page shared by a process and its children.
#[repr(C)]
struct Page {
    /// PCs taken so far (may pass [`CAPACITY`]: those are dropped).
    taken: AtomicU32,
    pcs: [AtomicU64; CAPACITY],
}

const _: () = assert!(std::mem::size_of::<Page>() <= 4096);

/// This process's page, which its children write into (null until it
/// forks).
static OWN: AtomicPtr<Page> = AtomicPtr::new(std::ptr::null_mut());
/// The parent's page, in a fork's child (null otherwise).
static PARENT: AtomicPtr<Page> = AtomicPtr::new(std::ptr::null_mut());

impl Page {
    /// A fresh page shared with the children forked after this, or `None`
    /// if it cannot be mapped (children then install for themselves).
    fn map() -> Option<&'static Page> {
        // SAFETY: a new anonymous shared mapping of one page, at an address
        // of the kernel's choosing; it is never unmapped, so the reference
        // stays valid for the process's life (an exec in the process keeps
        // xarch's own memory).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        // SAFETY: the mapping is zero-filled, page-aligned and large
        // enough; a zeroed `Page` is an empty one (atomics of 0).
        (p != libc::MAP_FAILED).then(|| unsafe { &*(p as *const Page) })
    }

    /// Adds `pc` if there is room.
    fn report(&self, pc: u64) {
        let i = self.taken.fetch_add(1, Ordering::Relaxed) as usize;
        if let Some(slot) = self.pcs.get(i) {
            slot.store(pc, Ordering::Relaxed);
        }
    }

    /// Whether a child added PCs since the last [`Page::take`].
    fn pending(&self) -> bool {
        self.taken.load(Ordering::Relaxed) != 0
    }

    /// Moves the PCs added so far to `out` and empties the page. A child
    /// that took a slot but has not written it yet loses its PC (its slot
    /// reads 0 and is skipped).
    fn take(&self, out: &mut Vec<u64>) {
        let n = (self.taken.swap(0, Ordering::Relaxed) as usize).min(CAPACITY);
        out.extend(
            self.pcs[..n]
                .iter()
                .map(|s| s.swap(0, Ordering::Relaxed))
                .filter(|&pc| pc != 0),
        );
    }
}

/// In a process about to fork: makes its page if it has none.
pub(crate) fn before_fork() {
    if OWN.load(Ordering::Relaxed).is_null()
        && let Some(page) = Page::map()
    {
        OWN.store(std::ptr::from_ref(page).cast_mut(), Ordering::Relaxed);
    }
}

/// In a fork's child: its parent's page is where it reports; it makes a
/// page of its own when it forks.
pub(crate) fn in_child() {
    PARENT.store(
        OWN.swap(std::ptr::null_mut(), Ordering::Relaxed),
        Ordering::Relaxed,
    );
}

/// The page `which` points at, if any.
fn page(which: &AtomicPtr<Page>) -> Option<&'static Page> {
    // SAFETY: [`OWN`] and [`PARENT`] hold null or a page from `Page::map`,
    // mapped for the process's life.
    unsafe { which.load(Ordering::Relaxed).as_ref() }
}

/// Tells the parent (if this is a fork's child) that a block was
/// installed at `pc`.
pub(crate) fn report(pc: u64) {
    if let Some(page) = page(&PARENT) {
        page.report(pc);
    }
}

/// Whether this process's children reported blocks since the last
/// [`take`] (one load when it never forked).
pub(crate) fn pending() -> bool {
    page(&OWN).is_some_and(Page::pending)
}

/// The PCs this process's children reported since the last call.
pub(crate) fn take() -> Vec<u64> {
    let mut pcs = Vec::new();
    if let Some(page) = page(&OWN) {
        page.take(&mut pcs);
    }
    pcs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_keeps_what_fits_and_empties_when_taken() {
        let page = Page::map().expect("maps a page");
        let mut out = vec![];
        page.take(&mut out);
        assert!(out.is_empty() && !page.pending());
        for pc in 1..=(CAPACITY as u64 + 10) {
            page.report(pc * 4);
        }
        assert!(page.pending());
        page.take(&mut out);
        assert_eq!(
            out,
            (1..=CAPACITY as u64).map(|pc| pc * 4).collect::<Vec<_>>()
        );
        assert!(!page.pending());
        out.clear();
        page.report(0x4000);
        page.take(&mut out);
        assert_eq!(out, [0x4000]);
    }
}
