//! Guest memory management.
//!
//! Guest virtual addresses are host addresses: the guest's mappings live in
//! xarch's own address space. This module records which ranges belong to
//! the guest so that guest `mmap(MAP_FIXED)`, `munmap`, `mprotect`,
//! `mremap` and `brk` can never clobber xarch's own mappings (its code,
//! heap, stacks, translation caches). Host protections never include
//! `PROT_EXEC`: guest code is translated, not executed, so an executable
//! guest page is mapped readable and its guest protection is remembered
//! here for the engine.
//!
//! Operations that remove guest code (unmap, remap, protection change that
//! drops `PROT_EXEC`, a fixed mapping over old code) queue the range in
//! [`GuestMemory::take_invalidations`]; the run loop forwards them to
//! `Engine::invalidate`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Guest page size.
pub const PAGE: u64 = crate::abi::PAGE_SIZE;

/// Rounds up to a page boundary.
pub fn page_up(x: u64) -> u64 {
    x.wrapping_add(PAGE - 1) & !(PAGE - 1)
}

/// Rounds down to a page boundary.
pub fn page_down(x: u64) -> u64 {
    x & !(PAGE - 1)
}

/// Highest guest address + 1 (48-bit arm64 user space, but the x86_64 host
/// gives user space 47 bits).
pub const TASK_SIZE: u64 = 1 << 47;

/// Guest mappings placed by xarch (mmap without an address, libraries and
/// position-independent programs) go top-down from here. The host kernel
/// would place them at randomized addresses among xarch's own mappings;
/// placing them here makes a program's layout the same at every run (its
/// persistent code cache is only valid at the addresses it was compiled
/// for) and keeps them away from xarch's allocations (top-down from near
/// 128 TiB). A range the host has taken anyway is skipped.
pub const GUEST_MMAP_TOP: u64 = 0x4000_0000_0000;

/// The lowest address xarch places a guest mapping at (below: the
/// program, its break, xarch itself).
const GUEST_MMAP_BOTTOM: u64 = 1 << 32;

/// Attempts at placing a mapping before leaving it to the kernel.
const PLACE_ATTEMPTS: usize = 16;

/// A guest-owned range of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// One past the last byte.
    pub end: u64,
    /// Guest protection (`PROT_*`, `PROT_EXEC` included).
    pub prot: i32,
}

/// An errno value (positive).
pub type Errno = i32;

/// The guest's part of the address space, shared by all threads of the
/// guest process: a handle (cloning it shares the map) to a [`MemMap`]
/// behind a lock. Each operation locks once, so it is atomic with respect
/// to other guest threads.
#[derive(Clone, Debug, Default)]
pub struct GuestMemory(Arc<Mutex<MemMap>>);

/// The bookkeeping of the guest's address space (see [`GuestMemory`]).
#[derive(Debug, Default)]
pub struct MemMap {
    regions: BTreeMap<u64, Region>,
    invalidations: Vec<(u64, u64)>,
    /// Start of the program break area (end of the highest PT_LOAD).
    pub brk_start: u64,
    /// The current program break.
    pub brk_cur: u64,
    /// End of the address range reserved for the break.
    pub brk_limit: u64,
    /// Ranges the guest unmapped, still reserved in the host as
    /// inaccessible memory (oldest first, at most [`MAX_HOLES`]): xarch's
    /// own allocations (the compiler thread's, the translator's) could
    /// otherwise land there, and a guest that unmaps code and maps new
    /// code at the same address with MAP_FIXED (as JITs do) would fail.
    holes: std::collections::VecDeque<(u64, u64)>,
}

/// Unmapped guest ranges kept reserved; older ones are released.
const MAX_HOLES: usize = 32;

/// Converts a guest protection into the host's: no execute, and readable
/// when the guest may execute (the translator reads the code).
pub fn host_prot(prot: i32) -> i32 {
    let mut p = prot & (libc::PROT_READ | libc::PROT_WRITE);
    if prot & libc::PROT_EXEC != 0 {
        p |= libc::PROT_READ;
    }
    p
}

fn errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

impl GuestMemory {
    /// An empty guest address space.
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the map for several operations at once (and across fork, so
    /// that the child does not inherit it locked by a vanished thread).
    pub fn lock(&self) -> MutexGuard<'_, MemMap> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Guest-owned regions, in address order, as `(start, end, prot)`.
    pub fn regions(&self) -> Vec<(u64, u64, i32)> {
        self.lock().regions().collect()
    }

    /// The guest protection of the page holding `addr`, if guest-owned.
    pub fn prot_at(&self, addr: u64) -> Option<i32> {
        self.lock().prot_at(addr)
    }

    /// See [`MemMap::region_at`].
    pub fn region_at(&self, addr: u64) -> Option<(u64, u64, i32)> {
        self.lock().region_at(addr)
    }

    /// Ranges whose translations must be dropped, since the last call.
    pub fn take_invalidations(&mut self) -> Vec<(u64, u64)> {
        self.lock().take_invalidations()
    }

    /// See [`MemMap::record`].
    pub fn record(&mut self, start: u64, end: u64, prot: i32) {
        self.lock().record(start, end, prot)
    }

    /// See [`MemMap::covered`].
    pub fn covered(&self, start: u64, end: u64) -> bool {
        self.lock().covered(start, end)
    }

    /// See [`MemMap::may_map_fixed`].
    pub fn may_map_fixed(&self, start: u64, end: u64) -> bool {
        self.lock().may_map_fixed(start, end)
    }

    /// See [`MemMap::mmap`].
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: i32,
        flags: i32,
        fd: i32,
        off: u64,
    ) -> Result<u64, Errno> {
        self.lock().mmap(addr, len, prot, flags, fd, off)
    }

    /// See [`MemMap::munmap`].
    pub fn munmap(&mut self, addr: u64, len: u64) -> Result<u64, Errno> {
        self.lock().munmap(addr, len)
    }

    /// See [`MemMap::mprotect`].
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: i32) -> Result<u64, Errno> {
        self.lock().mprotect(addr, len, prot)
    }

    /// See [`MemMap::mremap`].
    pub fn mremap(
        &mut self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: i32,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        self.lock().mremap(old, old_len, new_len, flags, new_addr)
    }

    /// See [`MemMap::unmap_all`].
    pub fn unmap_all(&mut self) {
        self.lock().unmap_all()
    }

    /// See [`MemMap::init_brk`].
    pub fn init_brk(&mut self, end: u64) {
        self.lock().init_brk(end)
    }

    /// See [`MemMap::reserve_brk`].
    pub fn reserve_brk(&mut self, len: u64) {
        self.lock().reserve_brk(len)
    }

    /// See [`MemMap::brk`].
    pub fn brk(&mut self, new: u64) -> u64 {
        self.lock().brk(new)
    }

    /// Start of the program break area.
    pub fn brk_start(&self) -> u64 {
        self.lock().brk_start
    }

    /// End of the address range reserved for the break.
    pub fn brk_limit(&self) -> u64 {
        self.lock().brk_limit
    }
}

impl MemMap {
    /// Guest-owned regions, in address order, as `(start, end, prot)`.
    pub fn regions(&self) -> impl Iterator<Item = (u64, u64, i32)> + '_ {
        self.regions.iter().map(|(&s, r)| (s, r.end, r.prot))
    }

    /// The guest protection of the page holding `addr`, if guest-owned.
    pub fn prot_at(&self, addr: u64) -> Option<i32> {
        self.region_at(addr).map(|(_, _, prot)| prot)
    }

    /// The recorded region containing `addr`: start, end and protection
    /// (neighbours with the same protection may be separate regions).
    pub fn region_at(&self, addr: u64) -> Option<(u64, u64, i32)> {
        let (&start, r) = self.regions.range(..=addr).next_back()?;
        (addr < r.end).then_some((start, r.end, r.prot))
    }

    /// Ranges whose translations must be dropped, since the last call.
    pub fn take_invalidations(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.invalidations)
    }

    fn invalidate(&mut self, start: u64, end: u64) {
        if start < end {
            self.invalidations.push((start, end - start));
        }
    }

    /// Splits regions so that `at` is a region boundary.
    fn split(&mut self, at: u64) {
        if let Some((&s, &r)) = self.regions.range(..at).next_back()
            && r.end > at
        {
            self.regions.insert(
                s,
                Region {
                    end: at,
                    prot: r.prot,
                },
            );
            self.regions.insert(at, r);
        }
    }

    /// Removes `[start, end)` from the bookkeeping, returning the removed
    /// pieces as `(start, end, prot)`.
    fn remove(&mut self, start: u64, end: u64) -> Vec<(u64, u64, i32)> {
        self.split(start);
        self.split(end);
        let keys: Vec<u64> = self.regions.range(start..end).map(|(&s, _)| s).collect();
        keys.into_iter()
            .map(|s| {
                let r = self.regions.remove(&s).expect("key just listed");
                (s, r.end, r.prot)
            })
            .collect()
    }

    /// Records `[start, end)` as guest-owned with protection `prot`,
    /// replacing what was recorded there.
    pub fn record(&mut self, start: u64, end: u64, prot: i32) {
        self.fill_holes(start, end);
        let old = self.remove(start, end);
        if old.iter().any(|&(_, _, p)| p & libc::PROT_EXEC != 0) {
            self.invalidate(start, end);
        }
        self.regions.insert(start, Region { end, prot });
        self.merge_around(start, end);
    }

    fn merge_around(&mut self, start: u64, end: u64) {
        // Merge with the next region.
        if let Some(&next) = self.regions.get(&end)
            && let Some(cur) = self.regions.get(&start).copied()
            && next.prot == cur.prot
        {
            self.regions.remove(&end);
            self.regions.insert(
                start,
                Region {
                    end: next.end,
                    prot: cur.prot,
                },
            );
        }
        // Merge with the previous region.
        if let Some((&ps, &prev)) = self.regions.range(..start).next_back()
            && prev.end == start
            && let Some(cur) = self.regions.get(&start).copied()
            && prev.prot == cur.prot
        {
            self.regions.remove(&start);
            self.regions.insert(
                ps,
                Region {
                    end: cur.end,
                    prot: cur.prot,
                },
            );
        }
    }

    /// Whether `[start, end)` is entirely guest-owned.
    pub fn covered(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        if let Some((_, r)) = self.regions.range(..=start).next_back()
            && r.end > start
        {
            at = r.end;
        } else if start < end {
            return false;
        }
        while at < end {
            match self.regions.get(&at) {
                Some(r) => at = r.end,
                None => return false,
            }
        }
        true
    }

    /// Whether every page of `[start, end)` is guest-owned or a hole the
    /// guest left.
    fn owned_or_hole(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            if let Some((_, r)) = self.regions.range(..=at).next_back()
                && r.end > at
            {
                at = r.end;
            } else if let Some(&(_, e)) = self.holes.iter().find(|&&(s, e)| s <= at && at < e) {
                at = e;
            } else {
                return false;
            }
        }
        true
    }

    /// Whether all of `[start, end)` is holes the guest left.
    fn in_holes(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.holes.iter().find(|&&(s, e)| s <= at && at < e) {
                Some(&(_, e)) => at = e,
                None => return false,
            }
        }
        start < end
    }

    /// Releases the parts of `[start, end)` that are holes, for a host
    /// call that must find them free (MAP_FIXED_NOREPLACE, growth in
    /// place).
    fn release_holes(&mut self, start: u64, end: u64) {
        let parts: Vec<(u64, u64)> = self
            .holes
            .iter()
            .map(|&(s, e)| (s.max(start), e.min(end)))
            .filter(|&(s, e)| s < e)
            .collect();
        for (s, e) in parts {
            // SAFETY: a hole is xarch's own reservation.
            unsafe { libc::munmap(s as *mut _, (e - s) as usize) };
        }
        self.fill_holes(start, end);
    }

    /// `[start, end)` is the guest's again: no longer a hole.
    fn fill_holes(&mut self, start: u64, end: u64) {
        if self.holes.iter().all(|&(s, e)| e <= start || s >= end) {
            return;
        }
        let old = std::mem::take(&mut self.holes);
        for (s, e) in old {
            if e <= start || s >= end {
                self.holes.push_back((s, e));
                continue;
            }
            if s < start {
                self.holes.push_back((s, start));
            }
            if e > end {
                self.holes.push_back((end, e));
            }
        }
    }

    /// Whether a guest mapping at `[start, end)` may replace what is there:
    /// every page is guest-owned, a hole the guest left, or unmapped in
    /// the host. Reads `/proc/self/maps` only when some page is neither of
    /// the first two.
    pub fn may_map_fixed(&self, start: u64, end: u64) -> bool {
        if end > TASK_SIZE || start >= end {
            return false;
        }
        if self.owned_or_hole(start, end) {
            return true;
        }
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return false;
        };
        for (s, e) in parse_maps(&maps) {
            let (lo, hi) = (s.max(start), e.min(end));
            if lo < hi && !self.owned_or_hole(lo, hi) {
                return false;
            }
        }
        true
    }

    /// Guest `mmap`. Returns the address or an errno.
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: i32,
        flags: i32,
        fd: i32,
        off: u64,
    ) -> Result<u64, Errno> {
        if len == 0 || off & (PAGE - 1) != 0 {
            return Err(libc::EINVAL);
        }
        let len = page_up(len);
        if len == 0 || len > TASK_SIZE {
            return Err(libc::ENOMEM);
        }
        // arm64 has no MAP_32BIT (0x40); MAP_GROWSDOWN is not emulated.
        let mut hflags = flags & !(0x40 | libc::MAP_GROWSDOWN);
        let fixed = flags & libc::MAP_FIXED != 0;
        if fixed {
            if addr & (PAGE - 1) != 0 {
                return Err(libc::EINVAL);
            }
            if !self.may_map_fixed(addr, addr.saturating_add(len)) {
                return Err(libc::ENOMEM);
            }
        } else if flags & libc::MAP_FIXED_NOREPLACE != 0 {
            if addr.saturating_add(len) > TASK_SIZE {
                return Err(libc::ENOMEM);
            }
            // Free as far as the guest can tell: the kernel would map it.
            if self.in_holes(addr, addr + len) {
                hflags = (hflags & !libc::MAP_FIXED_NOREPLACE) | libc::MAP_FIXED;
            }
        } else {
            hflags &= !libc::MAP_FIXED_NOREPLACE;
            // A hint at a range the guest unmapped gets that range, as
            // the kernel would give it.
            if addr & (PAGE - 1) == 0 && addr != 0 && self.in_holes(addr, addr.saturating_add(len))
            {
                hflags |= libc::MAP_FIXED;
            } else if let Some(p) = self.place(addr, len, 0, |at| {
                // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping.
                unsafe {
                    libc::mmap(
                        at as *mut _,
                        len as usize,
                        host_prot(prot),
                        hflags | libc::MAP_FIXED_NOREPLACE,
                        fd,
                        off as i64,
                    )
                }
            }) {
                self.record(p, p + len, prot);
                return Ok(p);
            }
        }
        // SAFETY: a fixed mapping only replaces guest-owned or unmapped
        // pages (checked above); other mappings are placed by the kernel.
        let p = unsafe {
            libc::mmap(
                addr as *mut _,
                len as usize,
                host_prot(prot),
                hflags,
                fd,
                off as i64,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        let p = p as u64;
        if p + len > TASK_SIZE {
            // SAFETY: we just created this mapping.
            unsafe { libc::munmap(p as *mut _, len as usize) };
            return Err(libc::ENOMEM);
        }
        self.record(p, p + len, prot);
        Ok(p)
    }

    /// Maps a guest range of `len` bytes aligned to `align` (a power of
    /// two, or 0 for a page) with `map(address)` (an mmap with
    /// MAP_FIXED_NOREPLACE): at `hint` if that is free for the guest, else
    /// top-down below [`GUEST_MMAP_TOP`] in the first gap free for the
    /// guest (not its mappings, not its holes) that the host has free
    /// too. Returns the address, or `None` after [`PLACE_ATTEMPTS`] (the
    /// caller lets the kernel choose). Does not record the mapping.
    pub fn place(
        &self,
        hint: u64,
        len: u64,
        align: u64,
        mut map: impl FnMut(u64) -> *mut libc::c_void,
    ) -> Option<u64> {
        let align = align.max(PAGE);
        let mut try_at = |at: u64| {
            let p = map(at);
            if p == libc::MAP_FAILED {
                return false;
            }
            if p as u64 != at {
                // An old kernel took NOREPLACE for a hint.
                // SAFETY: unmapping what we just mapped elsewhere.
                unsafe { libc::munmap(p, len as usize) };
                return false;
            }
            true
        };
        if hint != 0
            && hint.is_multiple_of(align)
            && hint.checked_add(len).is_some_and(|e| e <= TASK_SIZE)
            && self.free_for_guest(hint, hint + len)
            && try_at(hint)
        {
            return Some(hint);
        }
        let mut below = GUEST_MMAP_TOP;
        for _ in 0..PLACE_ATTEMPTS {
            let at = self.gap_below(below, len, align)?;
            if try_at(at) {
                return Some(at);
            }
            // The host has something there: look further down.
            below = at;
        }
        None
    }

    /// Whether no guest mapping or hole overlaps `[start, end)`.
    fn free_for_guest(&self, start: u64, end: u64) -> bool {
        let mapped = self
            .regions
            .range(..end)
            .next_back()
            .is_some_and(|(_, r)| r.end > start);
        !mapped && self.holes.iter().all(|&(s, e)| e <= start || s >= end)
    }

    /// The highest `align`-aligned start of `len` bytes ending at most at
    /// `top` that no guest mapping or hole overlaps.
    fn gap_below(&self, top: u64, len: u64, align: u64) -> Option<u64> {
        let fits = |hi: u64| {
            hi.checked_sub(len)
                .map(|s| s & !(align - 1))
                .filter(|&s| s >= GUEST_MMAP_BOTTOM)
        };
        let mut hi = top;
        loop {
            let start = fits(hi)?;
            // The highest guest mapping or hole overlapping the candidate.
            let region = self
                .regions
                .range(..start + len)
                .next_back()
                .filter(|(_, r)| r.end > start)
                .map(|(&s, _)| s);
            let hole = self
                .holes
                .iter()
                .filter(|&&(s, e)| s < start + len && e > start)
                .map(|&(s, _)| s)
                .max();
            match region.max(hole) {
                None => return Some(start),
                Some(s) => hi = s,
            }
        }
    }

    /// Guest `munmap`: only guest-owned pages are unmapped.
    pub fn munmap(&mut self, addr: u64, len: u64) -> Result<u64, Errno> {
        if addr & (PAGE - 1) != 0 || len == 0 {
            return Err(libc::EINVAL);
        }
        let end = addr.checked_add(page_up(len)).ok_or(libc::EINVAL)?;
        for (s, e, _) in self.remove(addr, end) {
            // Keep the range reserved (see `holes`); its memory is freed.
            // SAFETY: the range is guest-owned; an inaccessible, unbacked
            // mapping replaces it.
            let p = unsafe {
                libc::mmap(
                    s as *mut _,
                    (e - s) as usize,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                // SAFETY: as above.
                unsafe { libc::munmap(s as *mut _, (e - s) as usize) };
            } else {
                self.holes.push_back((s, e));
            }
            self.invalidate(s, e);
        }
        while self.holes.len() > MAX_HOLES {
            let (s, e) = self.holes.pop_front().expect("more holes than the limit");
            // SAFETY: a hole is xarch's reservation of a range nothing else
            // uses (the guest mapping anything there removed it from the list).
            unsafe { libc::munmap(s as *mut _, (e - s) as usize) };
        }
        Ok(0)
    }

    /// Guest `mprotect`: the whole range must be guest-owned.
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: i32) -> Result<u64, Errno> {
        if addr & (PAGE - 1) != 0 {
            return Err(libc::EINVAL);
        }
        let prot = prot & !(libc::PROT_GROWSDOWN | libc::PROT_GROWSUP);
        if prot & !(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) != 0 {
            return Err(libc::EINVAL);
        }
        let end = addr.checked_add(page_up(len)).ok_or(libc::ENOMEM)?;
        if addr == end {
            return Ok(0);
        }
        if !self.covered(addr, end) {
            return Err(libc::ENOMEM);
        }
        // SAFETY: the range is guest-owned.
        if unsafe { libc::mprotect(addr as *mut _, (end - addr) as usize, host_prot(prot)) } != 0 {
            return Err(errno());
        }
        let old = self.remove(addr, end);
        for &(s, e, p) in &old {
            if p & libc::PROT_EXEC != 0 && prot & libc::PROT_EXEC == 0 {
                self.invalidate(s, e);
            }
        }
        self.regions.insert(addr, Region { end, prot });
        self.merge_around(addr, end);
        Ok(0)
    }

    /// Guest `mremap`.
    pub fn mremap(
        &mut self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: i32,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        if old & (PAGE - 1) != 0 || new_len == 0 || old_len == 0 {
            return Err(libc::EINVAL);
        }
        let old_len = page_up(old_len);
        let new_len = page_up(new_len);
        let old_end = old.checked_add(old_len).ok_or(libc::EINVAL)?;
        if !self.covered(old, old_end) {
            return Err(libc::EFAULT);
        }
        if flags & libc::MREMAP_FIXED != 0 {
            if new_addr & (PAGE - 1) != 0 {
                return Err(libc::EINVAL);
            }
            let ne = new_addr.checked_add(new_len).ok_or(libc::EINVAL)?;
            if !self.may_map_fixed(new_addr, ne) {
                return Err(libc::ENOMEM);
            }
        }
        // Growing in place into a range the guest unmapped: release that
        // part of the hole, as the kernel would find it free.
        let grown = old.saturating_add(new_len);
        if flags & libc::MREMAP_FIXED == 0 && grown > old_end && self.in_holes(old_end, grown) {
            self.release_holes(old_end, grown);
        }
        let prot = self.prot_at(old).unwrap_or(libc::PROT_NONE);
        // SAFETY: the old range is guest-owned; a fixed destination was
        // checked to be guest-owned or free.
        let p = unsafe {
            libc::mremap(
                old as *mut _,
                old_len as usize,
                new_len as usize,
                flags,
                new_addr as *mut libc::c_void,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        let p = p as u64;
        if flags & libc::MREMAP_DONTUNMAP == 0 {
            self.remove(old, old_end);
            self.invalidate(old, old_end);
        }
        self.record(p, p + new_len, prot);
        Ok(p)
    }

    /// Unmaps every guest-owned range and hole (an in-process execve, a
    /// finished guest). Unlike a guest `munmap` nothing stays reserved, so
    /// each run of adjacent ranges goes in one host `munmap`: replacing
    /// each region by a reservation first and then unmapping the
    /// reservations took a tenth of an in-process exec of /bin/true.
    pub fn unmap_all(&mut self) {
        let mut all: Vec<(u64, u64)> = std::mem::take(&mut self.regions)
            .into_iter()
            .map(|(s, r)| (s, r.end))
            .collect();
        for &(s, e) in &all {
            self.invalidate(s, e);
        }
        all.extend(std::mem::take(&mut self.holes));
        all.sort_unstable();
        let mut runs: Vec<(u64, u64)> = Vec::with_capacity(all.len());
        for (s, e) in all {
            match runs.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => runs.push((s, e)),
            }
        }
        for (s, e) in runs {
            // SAFETY: guest-owned ranges and xarch's own reservations for
            // the guest (holes): nothing of xarch's lives there.
            unsafe { libc::munmap(s as *mut _, (e - s) as usize) };
        }
    }

    /// Sets up the program break just above `end` (end of the highest
    /// loaded segment).
    pub fn init_brk(&mut self, end: u64) {
        self.brk_start = page_up(end);
        self.brk_cur = self.brk_start;
        self.brk_limit = self.brk_start;
    }

    /// Reserves `[brk_start, brk_start + len)` (PROT_NONE, guest-owned) so
    /// that the break can grow even when the kernel packs other mappings
    /// right after the program. Best effort: without it the break grows
    /// into free pages only.
    pub fn reserve_brk(&mut self, len: u64) {
        let start = self.brk_start;
        if self.covered(start, start + len) {
            // The loader reserved it with the image.
            self.brk_limit = start + len;
            return;
        }
        self.release_holes(start, start + len);
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                start as *mut _,
                len as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE
                    | libc::MAP_ANONYMOUS
                    | libc::MAP_NORESERVE
                    | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return;
        }
        if p as u64 != start {
            // SAFETY: an old kernel placed it elsewhere: undo.
            unsafe { libc::munmap(p, len as usize) };
            return;
        }
        self.record(start, start + len, libc::PROT_NONE);
        self.brk_limit = start + len;
    }

    /// Guest `brk`: returns the new break, or the old one on failure (the
    /// kernel's convention).
    pub fn brk(&mut self, new: u64) -> u64 {
        if new < self.brk_start || new >= TASK_SIZE {
            return self.brk_cur;
        }
        let old_top = page_up(self.brk_cur);
        let new_top = page_up(new);
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if new_top > old_top {
            let prot = libc::PROT_READ | libc::PROT_WRITE;
            // Inside the break reservation a fixed mapping replaces only
            // our PROT_NONE pages; beyond it nothing may be replaced.
            let mid = new_top.min(self.brk_limit).max(old_top);
            if new_top > mid {
                self.release_holes(mid, new_top);
                // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping.
                let p = unsafe {
                    libc::mmap(
                        mid as *mut _,
                        (new_top - mid) as usize,
                        prot,
                        anon | libc::MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    return self.brk_cur;
                }
                if p as u64 != mid {
                    // SAFETY: an old kernel ignored the flag and placed it elsewhere.
                    unsafe { libc::munmap(p, (new_top - mid) as usize) };
                    return self.brk_cur;
                }
            }
            if mid > old_top {
                // SAFETY: the range is the guest's break reservation.
                let p = unsafe {
                    libc::mmap(
                        old_top as *mut _,
                        (mid - old_top) as usize,
                        prot,
                        anon | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    return self.brk_cur;
                }
            }
            self.record(old_top, new_top, prot);
        } else if new_top < old_top {
            // Give the pages back but keep the range reserved for regrowth.
            let len = (old_top - new_top) as usize;
            // SAFETY: the range is the guest's break area.
            let p = unsafe {
                libc::mmap(
                    new_top as *mut _,
                    len,
                    libc::PROT_NONE,
                    anon | libc::MAP_NORESERVE | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return self.brk_cur;
            }
            self.record(new_top, old_top, libc::PROT_NONE);
        }
        self.brk_cur = new;
        new
    }
}

/// The guest's memory goes with its bookkeeping: a failed load or a
/// finished guest leaves nothing mapped.
impl Drop for MemMap {
    fn drop(&mut self) {
        self.unmap_all();
    }
}

/// Parses `/proc/self/maps` into `(start, end)` pairs.
pub fn parse_maps(maps: &str) -> Vec<(u64, u64)> {
    maps.lines()
        .filter_map(|l| {
            let range = l.split_whitespace().next()?;
            let (a, b) = range.split_once('-')?;
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
    const RX: i32 = libc::PROT_READ | libc::PROT_EXEC;
    const ANON: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;

    #[test]
    fn mmap_records_and_munmap_invalidates() {
        let mut mm = GuestMemory::new();
        let a = mm.mmap(0, 3 * PAGE, RX, ANON, -1, 0).unwrap();
        assert!(mm.covered(a, a + 3 * PAGE));
        assert_eq!(mm.prot_at(a + PAGE), Some(RX));
        mm.munmap(a + PAGE, PAGE).unwrap();
        assert!(!mm.covered(a, a + 3 * PAGE));
        assert!(mm.covered(a, a + PAGE));
        assert!(mm.covered(a + 2 * PAGE, a + 3 * PAGE));
        assert_eq!(mm.take_invalidations(), vec![(a + PAGE, PAGE)]);
        mm.munmap(a, 3 * PAGE).unwrap();
        assert_eq!(mm.regions().len(), 0);
    }

    #[test]
    fn placement_is_top_down_reuses_gaps_and_skips_what_the_host_has() {
        let mut m = MemMap::default();
        // Pretend the host maps whatever is asked.
        let host = |at: u64| at as *mut libc::c_void;
        let a = m.place(0, 3 * PAGE, 0, host).unwrap();
        assert_eq!(a, GUEST_MMAP_TOP - 3 * PAGE);
        m.record(a, a + 3 * PAGE, RW);
        let b = m.place(0, PAGE, 0, host).unwrap();
        assert_eq!(b, a - PAGE);
        m.record(b, b + PAGE, RW);
        let c = m.place(0, PAGE, 1 << 21, host).unwrap();
        assert_eq!(c, (b - PAGE) & !((1 << 21) - 1));
        m.record(c, c + PAGE, RW);
        // The gap left above `c` is used first, from its top; a range the
        // host refuses is skipped.
        let mut refused = false;
        let d = m
            .place(0, PAGE, 0, |at| {
                if refused {
                    at as *mut libc::c_void
                } else {
                    refused = true;
                    libc::MAP_FAILED
                }
            })
            .unwrap();
        assert_eq!(d, b - 2 * PAGE);
        // A free hint is taken; a hint over guest memory is not.
        assert_eq!(m.place(1 << 40, PAGE, 0, host), Some(1 << 40));
        assert_eq!(m.place(a + PAGE, PAGE, 0, host), Some(b - PAGE));
        // A host that refuses everything: the kernel decides.
        assert_eq!(m.place(0, PAGE, 0, |_| libc::MAP_FAILED), None);
        // Nothing here was mapped: dropping the map would unmap those
        // addresses, where tests running at the same time map their
        // guests' memory.
        std::mem::forget(m);
    }

    #[test]
    fn executable_pages_are_readable_not_executable_on_host() {
        assert_eq!(host_prot(libc::PROT_EXEC), libc::PROT_READ);
        assert_eq!(host_prot(RW | libc::PROT_EXEC), RW);
    }

    #[test]
    fn map_fixed_over_xarch_memory_fails() {
        let mut mm = GuestMemory::new();
        // A host allocation that is not guest-owned.
        let v = vec![0u8; 64 * 1024];
        let host = page_up(v.as_ptr() as u64);
        let r = mm.mmap(host, PAGE, RW, ANON | libc::MAP_FIXED, -1, 0);
        assert_eq!(r, Err(libc::ENOMEM));
        // Our own code too.
        let code = page_down(map_fixed_over_xarch_memory_fails as *const () as u64);
        assert_eq!(
            mm.mmap(code, PAGE, RW, ANON | libc::MAP_FIXED, -1, 0),
            Err(libc::ENOMEM)
        );
        // munmap/mprotect of xarch memory do nothing / fail.
        assert_eq!(mm.munmap(code, PAGE), Ok(0));
        assert_eq!(mm.mprotect(code, PAGE, 0), Err(libc::ENOMEM));
        assert_eq!(v[100], 0);
    }

    /// A range the guest unmaps stays reserved: a host mapping asked for
    /// at that address goes elsewhere, and the guest can map it again
    /// with MAP_FIXED, MAP_FIXED_NOREPLACE or a plain hint; only the
    /// newest holes are kept.
    #[test]
    fn unmapped_guest_ranges_stay_reserved_for_the_guest() {
        let mut mm = GuestMemory::new();
        let a = mm.mmap(0, 3 * PAGE, RW, ANON, -1, 0).unwrap();
        mm.munmap(a, 3 * PAGE).unwrap();
        assert!(!mm.covered(a, a + PAGE));
        // What xarch's own allocator would get when asking for it.
        // SAFETY: a plain anonymous mapping, unmapped below.
        let host = unsafe { libc::mmap(a as *mut _, PAGE as usize, RW, ANON, -1, 0) };
        assert_ne!(host as u64, a, "the host took a hole");
        // SAFETY: just mapped above.
        unsafe { libc::munmap(host, PAGE as usize) };
        let b = mm.mmap(a, PAGE, RX, ANON | libc::MAP_FIXED, -1, 0).unwrap();
        assert_eq!(b, a);
        let c = mm
            .mmap(a + PAGE, PAGE, RW, ANON | libc::MAP_FIXED_NOREPLACE, -1, 0)
            .unwrap();
        assert_eq!(c, a + PAGE);
        let d = mm.mmap(a + 2 * PAGE, PAGE, RW, ANON, -1, 0).unwrap();
        assert_eq!(d, a + 2 * PAGE, "a hint at a hole");
        assert!(mm.covered(a, a + 3 * PAGE));
        // Holes are bounded: the oldest are released.
        for _ in 0..2 * MAX_HOLES {
            let x = mm.mmap(0, PAGE, RW, ANON, -1, 0).unwrap();
            mm.munmap(x, PAGE).unwrap();
        }
        assert_eq!(mm.lock().holes.len(), MAX_HOLES);
        mm.unmap_all();
        assert!(mm.lock().holes.is_empty());
    }

    /// Whether the host has anything mapped in `[addr, addr + len)`.
    fn host_mapped(addr: u64, len: u64) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        parse_maps(&maps)
            .iter()
            .any(|&(s, e)| s < addr + len && e > addr)
    }

    #[test]
    fn unmap_all_leaves_nothing_of_the_guest_mapped() {
        let mut mm = GuestMemory::new();
        let a = mm.mmap(0, 8 * PAGE, RW, ANON, -1, 0).unwrap();
        // Regions of several protections, a hole between them, and a
        // region elsewhere.
        mm.mprotect(a + 2 * PAGE, PAGE, RX).unwrap();
        mm.munmap(a + 5 * PAGE, PAGE).unwrap();
        let far = mm.mmap(0, 2 * PAGE, RW, ANON, -1, 0).unwrap();
        assert!(host_mapped(a + 5 * PAGE, PAGE), "the hole is reserved");
        mm.take_invalidations();
        mm.unmap_all();
        assert!(!host_mapped(a, 8 * PAGE));
        assert!(!host_mapped(far, 2 * PAGE));
        assert_eq!(mm.lock().regions().count(), 0);
        assert!(mm.lock().holes.is_empty());
        let mut inv = mm.take_invalidations();
        inv.sort_unstable();
        let covered: u64 = inv.iter().map(|&(_, l)| l).sum();
        assert_eq!(
            covered,
            9 * PAGE,
            "every guest page but the hole's: {inv:x?}"
        );
        // The address space is usable again.
        let b = mm
            .mmap(a, PAGE, RW, ANON | libc::MAP_FIXED_NOREPLACE, -1, 0)
            .unwrap();
        assert_eq!(b, a);
    }

    #[test]
    fn map_fixed_over_guest_memory_succeeds() {
        let mut mm = GuestMemory::new();
        let a = mm.mmap(0, 4 * PAGE, RX, ANON, -1, 0).unwrap();
        mm.take_invalidations();
        let b = mm
            .mmap(a + PAGE, PAGE, RW, ANON | libc::MAP_FIXED, -1, 0)
            .unwrap();
        assert_eq!(b, a + PAGE);
        assert_eq!(mm.prot_at(b), Some(RW));
        assert_eq!(mm.prot_at(a), Some(RX));
        // The executable range around an address (what code fetches
        // check) stops at the page remapped in its middle.
        assert_eq!(mm.region_at(a + 8), Some((a, a + PAGE, RX)));
        assert_eq!(mm.region_at(b), Some((b, b + PAGE, RW)));
        assert_eq!(
            mm.region_at(a + 3 * PAGE),
            Some((a + 2 * PAGE, a + 4 * PAGE, RX))
        );
        assert_eq!(mm.region_at(a + 4 * PAGE), None);
        assert_eq!(mm.take_invalidations(), vec![(b, PAGE)]);
        // Writable now.
        // SAFETY: guest page just mapped read-write.
        unsafe { *(b as *mut u64) = 7 };
        mm.munmap(a, 4 * PAGE).unwrap();
    }

    #[test]
    fn mprotect_dropping_exec_invalidates() {
        let mut mm = GuestMemory::new();
        let a = mm.mmap(0, 2 * PAGE, RX, ANON, -1, 0).unwrap();
        mm.mprotect(a, PAGE, libc::PROT_READ).unwrap();
        assert_eq!(mm.take_invalidations(), vec![(a, PAGE)]);
        mm.mprotect(a + PAGE, PAGE, RX | libc::PROT_WRITE).unwrap();
        assert!(mm.take_invalidations().is_empty());
        assert_eq!(mm.regions().len(), 2);
        mm.munmap(a, 2 * PAGE).unwrap();
    }

    #[test]
    fn mremap_moves_bookkeeping() {
        let mut mm = GuestMemory::new();
        let a = mm.mmap(0, PAGE, RW, ANON, -1, 0).unwrap();
        // SAFETY: guest page just mapped read-write.
        unsafe { *(a as *mut u64) = 0x1234 };
        let b = mm
            .mremap(a, PAGE, 64 * PAGE, libc::MREMAP_MAYMOVE, 0)
            .unwrap();
        assert!(mm.covered(b, b + 64 * PAGE));
        // SAFETY: the remapped guest memory keeps its contents.
        assert_eq!(unsafe { *(b as *const u64) }, 0x1234);
        if b != a {
            assert!(!mm.covered(a, a + PAGE));
        }
        assert_eq!(
            mm.mremap(a + 1000 * PAGE, PAGE, PAGE, 0, 0).err(),
            Some(libc::EFAULT)
        );
        mm.munmap(b, 64 * PAGE).unwrap();
    }

    #[test]
    fn brk_grows_and_shrinks() {
        let mut mm = GuestMemory::new();
        let base = mm.mmap(0, 64 * PAGE, RW, ANON, -1, 0).unwrap();
        mm.munmap(base, 64 * PAGE).unwrap();
        mm.init_brk(base + 10);
        let start = mm.brk(0);
        assert_eq!(start, base + PAGE);
        assert_eq!(mm.brk(start + 3 * PAGE + 5), start + 3 * PAGE + 5);
        // SAFETY: the break area is mapped read-write up to the new break.
        unsafe { *((start + 3 * PAGE) as *mut u8) = 1 };
        assert!(mm.covered(start, start + 4 * PAGE));
        assert_eq!(mm.brk(start + PAGE), start + PAGE);
        assert_eq!(mm.prot_at(start + PAGE), Some(libc::PROT_NONE));
        assert_eq!(mm.prot_at(start), Some(RW));
        assert_eq!(mm.brk(start - PAGE), start + PAGE);
    }

    #[test]
    fn brk_grows_into_its_reservation() {
        let mut mm = GuestMemory::new();
        // Something right after the reservation, as the kernel packs maps.
        let base = mm.mmap(0, 64 * PAGE, RW, ANON, -1, 0).unwrap();
        mm.munmap(base, 32 * PAGE).unwrap();
        mm.init_brk(base);
        mm.reserve_brk(32 * PAGE);
        assert_eq!(mm.prot_at(base), Some(libc::PROT_NONE));
        assert_eq!(mm.brk(base + 8 * PAGE), base + 8 * PAGE);
        // SAFETY: the break area is mapped read-write up to the new break.
        unsafe { *((base + 8 * PAGE - 1) as *mut u8) = 1 };
        // Not past the reservation into the neighbour.
        assert_eq!(mm.brk(base + 40 * PAGE), base + 8 * PAGE);
        assert_eq!(mm.prot_at(base + 32 * PAGE), Some(RW));
        assert_eq!(mm.brk(base + 32 * PAGE), base + 32 * PAGE);
    }

    #[test]
    fn parse_maps_reads_ranges() {
        let m = "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus\n7ffd0000-7ffe0000 rw-p 0 0 0 [stack]\n";
        assert_eq!(
            parse_maps(m),
            vec![(0x400000, 0x452000), (0x7ffd0000, 0x7ffe0000)]
        );
    }
}
