//! Tables that start all zero and are mostly never touched, in memory
//! straight from the kernel: a zeroed heap allocation below glibc's mmap
//! threshold is cleared with memset, every page touched (the branch table
//! and the value slots: 32 of the page faults of a small program under
//! `xarch run`); anonymous pages are zero until written.

use std::ops::{Deref, DerefMut};

/// Types whose all-zero bytes are a valid value.
///
/// # Safety
/// Only for types for which every byte being zero is a valid value.
pub(crate) unsafe trait Zeroable: Copy {}
// SAFETY: plain integers and arrays of them.
unsafe impl Zeroable for u128 {}
// SAFETY: as above.
unsafe impl Zeroable for [u64; 2] {}

/// A fixed-size slice of zero-initialised `T` in its own anonymous mapping.
pub(crate) struct ZeroedSlice<T: Zeroable> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the slice owns its mapping, like a Box<[T]> of plain data.
unsafe impl<T: Zeroable + Send> Send for ZeroedSlice<T> {}

impl<T: Zeroable> ZeroedSlice<T> {
    /// `len` zeroes (aborts like a failed allocation when the kernel
    /// refuses the memory).
    pub fn new(len: usize) -> ZeroedSlice<T> {
        let layout = std::alloc::Layout::array::<T>(len.max(1)).expect("table size");
        // SAFETY: a fresh private anonymous mapping, checked for failure;
        // page alignment satisfies T's.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(layout);
        }
        ZeroedSlice {
            ptr: p as *mut T,
            len,
        }
    }
}

impl<T: Zeroable> Deref for ZeroedSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` zero-initialised (valid, see Zeroable) values in
        // the mapping this owns.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Zeroable> DerefMut for ZeroedSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, borrowed mutably through `self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T: Zeroable> Drop for ZeroedSlice<T> {
    fn drop(&mut self) {
        let bytes = self.len.max(1) * core::mem::size_of::<T>();
        // SAFETY: the mapping made in `new`, of this size, no longer used.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, bytes) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_zero_and_keeps_what_is_written() {
        let mut t = ZeroedSlice::<[u64; 2]>::new(5000);
        assert_eq!(t.len(), 5000);
        assert!(t.iter().all(|e| *e == [0, 0]));
        t[4999] = [1, 2];
        t[0][1] = 7;
        assert_eq!((t[4999], t[0]), ([1, 2], [0, 7]));
    }
}
