//! An executable code cache: one mapping, bump-allocated, flushed whole
//! when full (translations are cheap to redo at the baseline tier).
//!
//! The cache also knows where its code touches guest memory: compiled
//! code accesses guest memory with plain host instructions, and when one
//! of them faults, the host signal handler asks
//! [`fixup_inline_access`] to resume at the shared fault routine with
//! the guest instruction's address (the kernel's exception-table
//! technique).

use std::cell::Cell;
use std::io;

/// Executable memory for translated code.
pub struct CodeCache {
    base: *mut u8,
    size: usize,
    used: usize,
    /// Link cells (see [`CodeCache::alloc_cell`]) take the cache from the
    /// top down: the lowest one's offset.
    cells_low: usize,
    /// The execution counters' page being filled (see
    /// [`CodeCache::alloc_counter`]): offsets of the next free counter
    /// and of the page's end (equal: none).
    counters_next: usize,
    counters_end: usize,
    /// Inline guest accesses: (host address of the access instruction,
    /// its guest instruction, whether it writes), in increasing address
    /// order (code is only appended).
    sites: Sites,
    /// Where a faulting inline access resumes: the shared fault routine
    /// (`SharedRoutines::fault`), entered with the guest PC in rcx.
    fault_routine: usize,
    /// Guest accesses of region code: (offset of the access instruction,
    /// its mark, see `opt::fault_sites`), in increasing offset order.
    region_sites: Vec<(u32, u32)>,
}

/// An inline guest access in the cache (16 bytes per site: a large
/// program has millions; each replaces a 15-byte fault stub in the
/// code, `mov rcx, pc; jmp`, which spread hot code over more cache
/// lines).
#[derive(Clone, Copy)]
struct Site {
    /// Offset of the access instruction from the cache base.
    at: u32,
    /// Whether the access writes.
    write: bool,
    /// The guest instruction's address.
    pc: u64,
}

/// The fault sites, in chunks of [`SITES_PER_CHUNK`] that never move: a
/// vector doubling as a program's blocks are installed copied them into
/// fresh pages each time (/bin/true: 32 of its 425 page faults).
#[derive(Default)]
struct Sites {
    chunks: Vec<Vec<Site>>,
}

/// 64 KiB of sites.
const SITES_PER_CHUNK: usize = 4096;

impl Sites {
    fn push(&mut self, site: Site) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < SITES_PER_CHUNK => c.push(site),
            _ => {
                let mut c = Vec::with_capacity(SITES_PER_CHUNK);
                c.push(site);
                self.chunks.push(c);
            }
        }
    }

    fn last(&self) -> Option<&Site> {
        self.chunks.last().and_then(|c| c.last())
    }

    /// The site at offset `at` (async-signal-safe: no allocation).
    fn find(&self, at: u32) -> Option<Site> {
        // The last chunk starting at or before `at`.
        let c = self
            .chunks
            .partition_point(|c| c[0].at <= at)
            .checked_sub(1)?;
        let chunk = &self.chunks[c];
        let i = chunk.binary_search_by_key(&at, |s| s.at).ok()?;
        Some(chunk[i])
    }

    /// The sites from offset `from` on, in order.
    fn from(&self, from: u32) -> impl Iterator<Item = &Site> {
        let c = self
            .chunks
            .partition_point(|c| c[0].at <= from)
            .saturating_sub(1);
        self.chunks[c..]
            .iter()
            .flatten()
            .skip_while(move |s| s.at < from)
    }

    fn clear(&mut self) {
        self.chunks.clear();
    }
}

/// Code caches are at most this large (sites are 32-bit offsets).
const MAX_SIZE: usize = 1 << 31;

thread_local! {
    /// The cache whose code this thread is running (see [`CodeCache::activate`]).
    static ACTIVE: Cell<*const CodeCache> = const { Cell::new(core::ptr::null()) };
}

/// The code cache this thread is running and the offset of `rip` in it,
/// if `rip` is inside it (async-signal-safe; a per-thread answer, so any
/// number of guest threads can run compiled code).
fn active_offset(rip: usize) -> Option<(&'static CodeCache, u32)> {
    let cache = ACTIVE.with(|a| a.get());
    if cache.is_null() {
        return None;
    }
    // SAFETY: `activate` registered a cache that outlives its running
    // code, and only this thread mutates it, never while its code runs.
    let cache = unsafe { &*cache };
    let off = rip
        .checked_sub(cache.base as usize)
        .filter(|&o| o < cache.size)?;
    Some((cache, off as u32))
}

/// The mark of the region-code guest access at host address `rip` in the
/// code cache this thread runs (see `opt::fault_sites`), if it is one
/// (async-signal-safe).
pub(crate) fn active_region_site(rip: usize) -> Option<u32> {
    let (cache, off) = active_offset(rip)?;
    let i = cache
        .region_sites
        .binary_search_by_key(&off, |&(at, _)| at)
        .ok()?;
    Some(cache.region_sites[i].1)
}

/// Called by the host SIGSEGV/SIGBUS handler: if the fault is at an
/// inline guest access of the code cache this thread runs, sets rax to
/// the fault status (bit 0, bit 1 for a write), rdx to the guest address,
/// rcx to the guest PC of the access and resumes at the shared fault
/// routine; returns whether it did.
///
/// # Safety
/// `uc` must be the `ucontext_t` the kernel passed to the handler, on the
/// thread that faulted.
pub unsafe fn fixup_inline_access(uc: *mut libc::ucontext_t, fault_addr: u64) -> bool {
    // SAFETY: the caller passes the handler's ucontext, which is writable.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as usize;
    let Some((cache, off)) = active_offset(rip) else {
        return false;
    };
    let Some(site) = cache.sites.find(off) else {
        return false;
    };
    // A non-canonical address raises #GP, reported with address 0:
    // compute it from the faulting instruction.
    let addr = if fault_addr == 0 {
        // SAFETY: rip is a recorded access instruction of installed code,
        // which the rest of its block follows.
        unsafe { crate::x86_addr::effective_address(rip as *const u8, gregs) }.unwrap_or(0)
    } else {
        fault_addr
    };
    gregs[libc::REG_RAX as usize] = 1 | ((site.write as i64) << 1);
    gregs[libc::REG_RDX as usize] = addr as i64;
    gregs[libc::REG_RCX as usize] = site.pc as i64;
    gregs[libc::REG_RIP as usize] = cache.fault_routine as i64;
    true
}

/// Makes the RIP-relative jump or call whose 4-byte displacement ends at
/// `end` go through `cell` (both in one code cache, at most 2 GiB apart).
///
/// # Safety
/// `end - 4 .. end` must be the displacement of an installed instruction
/// that nothing runs yet.
pub(crate) unsafe fn point_at_cell(end: *const u8, cell: *mut u64) {
    let disp = i32::try_from(cell as i64 - end as i64).expect("a cell within 2 GiB of its code");
    // SAFETY: the caller's contract.
    unsafe { (end.sub(4) as *mut i32).write_unaligned(disp) };
}

/// Points the RIP-relative `sub dword [rip + disp], 1` whose 4-byte
/// displacement is at `field` at `counter` (the instruction ends with
/// its 1-byte immediate, after the displacement).
///
/// # Safety
/// `field` must be the displacement of such an instruction in code of a
/// cache that nothing runs yet, and `counter` a counter of the same cache.
pub(crate) unsafe fn point_at_counter(field: *mut u8, counter: crate::baseline::HotCounter) {
    let end = field as i64 + 5;
    let disp =
        i32::try_from(counter.0.as_ptr() as i64 - end).expect("a counter within 2 GiB of its code");
    // SAFETY: the caller's contract.
    unsafe { (field as *mut i32).write_unaligned(disp) };
}

// SAFETY: the cache is a plain memory region; callers serialise writes by
// holding `&mut CodeCache`.
unsafe impl Send for CodeCache {}

impl CodeCache {
    /// Maps a cache of `size` bytes.
    pub fn new(size: usize) -> io::Result<CodeCache> {
        if size > MAX_SIZE {
            // Fault sites are 31-bit offsets.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "code cache larger than 2 GiB",
            ));
        }
        // SAFETY: anonymous private mapping with no address hint; the result
        // is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(CodeCache {
            base: p as *mut u8,
            size,
            used: 0,
            cells_low: size & !7,
            counters_next: 0,
            counters_end: 0,
            sites: Sites::default(),
            fault_routine: crate::baseline::SharedRoutines::get().fault as usize,
            region_sites: Vec::new(),
        })
    }

    /// The address of the cache's first byte (it never moves).
    pub fn base(&self) -> usize {
        self.base as usize
    }

    /// Makes this the cache whose inline accesses the fault handler
    /// recognises on this thread. Call right before running its code and
    /// [`CodeCache::deactivate`] right after; the cache must not move or
    /// be dropped in between.
    pub fn activate(&self) {
        ACTIVE.with(|a| a.set(self));
    }

    /// Forgets this thread's active cache (so a later fault elsewhere
    /// never looks at a cache that has moved).
    pub fn deactivate() {
        ACTIVE.with(|a| a.set(core::ptr::null()));
    }

    /// Records an inline guest access at host address `site` made by the
    /// guest instruction at `pc`. Sites must be added in increasing
    /// address order.
    pub fn add_fault_site(&mut self, site: usize, pc: u64, write: bool) {
        let at = (site - self.base as usize) as u32;
        debug_assert!(self.sites.last().is_none_or(|s| s.at < at));
        debug_assert!(self.size <= MAX_SIZE);
        self.sites.push(Site { at, write, pc });
    }

    /// The inline guest accesses in the `len` bytes of code at host
    /// address `start`: (access, guest PC, writes), in address order.
    pub fn fault_sites_in(
        &self,
        start: usize,
        len: usize,
    ) -> impl Iterator<Item = (usize, u64, bool)> + '_ {
        let base = self.base as usize;
        let from = start.saturating_sub(base) as u32;
        let to = (start + len).saturating_sub(base) as u32;
        self.sites
            .from(from)
            .take_while(move |s| s.at < to)
            .map(move |s| (base + s.at as usize, s.pc, s.write))
    }

    /// Records a guest access of region code at host address `site` with
    /// access mark `mark`. Sites must be added in increasing address order.
    pub(crate) fn add_region_site(&mut self, site: usize, mark: u32) {
        let at = (site - self.base as usize) as u32;
        debug_assert!(self.region_sites.last().is_none_or(|&(a, _)| a < at));
        self.region_sites.push((at, mark));
    }

    /// Copies `code` into the cache, returning its address, or `None` when
    /// the cache is full (call [`CodeCache::reset`] after dropping every
    /// pointer into it).
    pub fn install(&mut self, code: &[u8]) -> Option<*const u8> {
        let start = self.used.next_multiple_of(16);
        if start + code.len() > self.cells_low {
            return None;
        }
        // SAFETY: [start, start+len) lies inside the mapping and nothing
        // executes this not-yet-published range.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), self.base.add(start), code.len()) };
        self.used = start + code.len();
        // SAFETY: in bounds, checked above.
        Some(unsafe { self.base.add(start) })
    }

    /// Bytes of code in use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// A new 8-byte link cell, which code reaches with a RIP-relative
    /// jump (the cache is at most 2 GiB): cells live apart from the
    /// code, from the top of the cache down, so that linking an exit
    /// writes no code line (an x86 store to a line of code in flight
    /// flushes the pipeline) and a block carries no cell and padding.
    /// `None` when the cache is full.
    pub fn alloc_cell(&mut self) -> Option<*mut u64> {
        Some(self.alloc_top(8)? as *mut u64)
    }

    /// `bytes` (a multiple of 8) from the top of the cache down, where
    /// link cells and the cold return paths of exits live
    /// (`baseline::exit_stub`); `None` when the cache is full.
    pub(crate) fn alloc_top(&mut self, bytes: usize) -> Option<*mut u8> {
        debug_assert!(bytes.is_multiple_of(8));
        if self.cells_low < self.used + bytes {
            return None;
        }
        self.cells_low -= bytes;
        // SAFETY: in bounds (above `used`, below `size`), 8-aligned.
        Some(unsafe { self.base.add(self.cells_low) })
    }

    /// A block execution counter starting at `value`, which code reaches
    /// with a RIP-relative `sub` (where an absolute address took a
    /// 10-byte `mov` and a register on every counted block's entry).
    /// Counters fill pages of their own at the top of the cache, which
    /// hold no code: a store to a line of code in flight would flush the
    /// pipeline. `None` when the cache is full.
    pub fn alloc_counter(&mut self, value: u32) -> Option<crate::baseline::HotCounter> {
        if self.counters_next == self.counters_end {
            const PAGE: usize = 4096;
            let low = self.cells_low & !(PAGE - 1);
            if low < self.used + PAGE {
                return None;
            }
            self.cells_low = low - PAGE;
            self.counters_next = self.cells_low;
            self.counters_end = low;
        }
        // SAFETY: inside the counters' page, in bounds and 4-aligned.
        let c = unsafe { self.base.add(self.counters_next) } as *mut u32;
        self.counters_next += 4;
        // SAFETY: as above; nothing uses the fresh counter yet.
        unsafe { c.write(value) };
        core::ptr::NonNull::new(c).map(crate::baseline::HotCounter)
    }

    /// Forgets all code. Every previously returned pointer becomes invalid.
    pub fn reset(&mut self) {
        self.used = 0;
        self.counters_next = 0;
        self.counters_end = 0;
        self.cells_low = self.size & !7;
        self.sites.clear();
        self.region_sites.clear();
    }
}

impl Drop for CodeCache {
    fn drop(&mut self) {
        ACTIVE.with(|a| {
            if std::ptr::eq(a.get(), self) {
                a.set(core::ptr::null());
            }
        });
        // SAFETY: unmapping exactly the region mapped in `new`.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.size) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code from the bottom and cells (and cold paths) from the top
    /// never overlap: whichever would cross the other fails, and a reset
    /// gives both their whole room back.
    #[test]
    fn code_and_cells_share_the_cache_without_overlap() {
        let mut cache = CodeCache::new(4096).expect("maps");
        let code = cache.install(&[0x90; 4000]).expect("room") as usize;
        let mut cells = Vec::new();
        while let Some(c) = cache.alloc_cell() {
            cells.push(c as usize);
        }
        assert_eq!(cells.len(), (4096 - 4000) / 8);
        assert!(
            cells
                .iter()
                .all(|&c| c >= code + 4000 && c + 8 <= code + 4096 && c % 8 == 0)
        );
        assert!(cache.install(&[0x90; 8]).is_none());
        assert!(cache.alloc_top(16).is_none());
        cache.reset();
        let top = cache.alloc_top(16).expect("room") as usize;
        assert_eq!(top, code + 4096 - 16);
        assert!(cache.install(&[0x90; 4080]).is_some());
        assert!(cache.install(&[0x90; 1]).is_none() && cache.alloc_cell().is_none());
    }

    #[test]
    fn counters_fill_pages_of_their_own() {
        const PAGE: usize = 4096;
        let mut cache = CodeCache::new(4 * PAGE).expect("maps");
        let base = cache.base();
        let cell = cache.alloc_cell().expect("room") as usize;
        let first = cache.alloc_counter(7).expect("room");
        let page = first.0.as_ptr() as usize;
        // Below the cell's page, at the start of a page; 1024 per page.
        assert_eq!(page, base + 2 * PAGE);
        assert!(page + PAGE <= cell);
        // SAFETY: a fresh counter of the live cache.
        assert_eq!(unsafe { *first.0.as_ptr() }, 7);
        for k in 1..PAGE / 4 {
            let c = cache.alloc_counter(0).expect("room").0.as_ptr() as usize;
            assert_eq!(c, page + 4 * k);
        }
        // The next page takes what is left above the code.
        let next = cache.alloc_counter(0).expect("room").0.as_ptr() as usize;
        assert_eq!(next, base + PAGE);
        assert!(cache.install(&[0x90; PAGE + 1]).is_none());
        let code = cache.install(&[0x90; PAGE]).expect("room") as usize;
        assert_eq!(code, base);
        for _ in 1..PAGE / 4 {
            cache.alloc_counter(0).expect("room");
        }
        assert!(cache.alloc_counter(0).is_none(), "no page left");
        cache.reset();
        assert_eq!(
            cache.alloc_counter(1).expect("room").0.as_ptr() as usize,
            base + 3 * PAGE
        );
    }

    #[test]
    fn fault_sites_are_found_across_chunks() {
        let mut cache = CodeCache::new(1 << 20).expect("maps");
        let code = vec![0x90u8; 40_000];
        let base = cache.install(&code).expect("room") as usize;
        // Three chunks' worth, every third byte; writes at odd offsets.
        let n = 2 * SITES_PER_CHUNK + 100;
        for k in 0..n {
            cache.add_fault_site(base + 3 * k, 0x1000 + 4 * k as u64, k % 2 == 1);
        }
        for k in [0, 1, SITES_PER_CHUNK - 1, SITES_PER_CHUNK, n - 1] {
            let s = cache.sites.find((3 * k) as u32).expect("a site");
            assert_eq!((s.pc, s.write), (0x1000 + 4 * k as u64, k % 2 == 1));
            assert!(cache.sites.find((3 * k + 1) as u32).is_none());
        }
        // A block's sites straddling a chunk boundary, in order.
        let from = 3 * (SITES_PER_CHUNK - 2);
        let got: Vec<(usize, u64, bool)> = cache.fault_sites_in(base + from, 12).collect();
        let want: Vec<(usize, u64, bool)> = (SITES_PER_CHUNK - 2..SITES_PER_CHUNK + 2)
            .map(|k| (base + 3 * k, 0x1000 + 4 * k as u64, k % 2 == 1))
            .collect();
        assert_eq!(got, want);
        cache.reset();
        assert!(cache.sites.find(0).is_none());
        assert_eq!(cache.fault_sites_in(base, 100).count(), 0);
    }
}
