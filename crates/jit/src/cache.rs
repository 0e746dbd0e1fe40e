//! An executable code cache: one mapping, bump-allocated, flushed whole
//! when full (translations are cheap to redo at the baseline tier).

use std::io;

/// Executable memory for translated code.
pub struct CodeCache {
    base: *mut u8,
    size: usize,
    used: usize,
}

// SAFETY: the cache is a plain memory region; callers serialise writes by
// holding `&mut CodeCache`.
unsafe impl Send for CodeCache {}

impl CodeCache {
    /// Maps a cache of `size` bytes.
    pub fn new(size: usize) -> io::Result<CodeCache> {
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
        })
    }

    /// The address range of the cache (for fault attribution).
    pub fn range(&self) -> (usize, usize) {
        (self.base as usize, self.base as usize + self.size)
    }

    /// Copies `code` into the cache, returning its address, or `None` when
    /// the cache is full (call [`CodeCache::reset`] after dropping every
    /// pointer into it).
    pub fn install(&mut self, code: &[u8]) -> Option<*const u8> {
        let start = self.used.next_multiple_of(16);
        if start + code.len() > self.size {
            return None;
        }
        // SAFETY: [start, start+len) lies inside the mapping and nothing
        // executes this not-yet-published range.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), self.base.add(start), code.len()) };
        self.used = start + code.len();
        // SAFETY: in bounds, checked above.
        Some(unsafe { self.base.add(start) })
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Forgets all code. Every previously returned pointer becomes invalid.
    pub fn reset(&mut self) {
        self.used = 0;
    }
}

impl Drop for CodeCache {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `new`.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.size) };
    }
}
