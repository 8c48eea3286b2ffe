//! The process's allocator: the system's, keeping a few freed large blocks
//! for the next allocation of the same size.
//!
//! musl's allocator (envd is a static musl binary) maps every block above
//! ~128 KiB on its own and unmaps it when freed, and gives back the memory
//! of smaller large blocks (tens of KiB) as soon as their group is empty. The data path frees and
//! allocates such blocks all the time: the HTTP server's read buffer (up to
//! ~400 KiB, a new one for every read of an upload, since the chunks of the
//! previous ones are still in flight), a process's output and its base64 (64
//! KiB and ~87 KiB an event), a download's chunks. Every fresh mapping costs a page fault and a zeroed
//! page per 4 KiB before a byte is copied in: in an upload that was half of
//! envd's CPU. Reusing the block skips both, and the memory is warm.
//!
//! Only blocks of [`MIN`]..=[`MAX`] bytes are kept, rounded up to [`STEP`]
//! so near sizes share a block, at most [`SLOTS`] of them and [`LIMIT`]
//! bytes in all (what stays mapped while idle). The cache is taken with
//! `try_lock` only: a contended (or, after a `fork`, stale) lock means the
//! system allocator directly, never a wait, so the allocator cannot block
//! or deadlock where the system's would not.
#![allow(
    unsafe_code,
    reason = "a GlobalAlloc is unsafe by definition; each block has a SAFETY note"
)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::Mutex,
};

/// Smallest block kept. musl maps blocks above ~128 KiB on their own, and
/// also gives back (unmaps) the group of a freed block of tens of KiB once
/// it is empty, which the data path's 64 KiB buffers hit on every event.
pub const MIN: usize = 48 * 1024;
/// Largest block kept.
pub const MAX: usize = 2 << 20;
/// Sizes are rounded up to a multiple of this.
pub const STEP: usize = 64 * 1024;
/// Most blocks kept.
pub const SLOTS: usize = 16;
/// Most bytes kept.
pub const LIMIT: usize = 6 << 20;

/// The allocator envd's binary installs (`#[global_allocator]`).
#[derive(Debug)]
pub struct Recycling {
    cache: Mutex<Cache>,
}

impl Recycling {
    pub const fn new() -> Self {
        Self {
            cache: Mutex::new(Cache::new()),
        }
    }
}

impl Default for Recycling {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy)]
struct Block {
    ptr: usize,
    size: usize,
    align: usize,
}

#[derive(Debug)]
struct Cache {
    blocks: [Block; SLOTS],
    len: usize,
    bytes: usize,
}

impl Cache {
    const fn new() -> Self {
        Self {
            blocks: [Block {
                ptr: 0,
                size: 0,
                align: 0,
            }; SLOTS],
            len: 0,
            bytes: 0,
        }
    }

    /// A kept block of exactly this size and alignment.
    fn take(&mut self, size: usize, align: usize) -> Option<usize> {
        // The newest first: the most likely to be in the CPU's cache.
        let at = (0..self.len)
            .rev()
            .find(|&i| self.blocks[i].size == size && self.blocks[i].align == align)?;
        let block = self.blocks[at];
        self.blocks.copy_within(at + 1..self.len, at);
        self.len -= 1;
        self.bytes -= block.size;
        Some(block.ptr)
    }

    /// Keeps a block; gives back the blocks that no longer fit (the oldest
    /// first), for the caller to free.
    fn keep(&mut self, block: Block, evicted: &mut [Option<Block>; SLOTS]) {
        let mut out = 0;
        while self.len > 0 && (self.len == SLOTS || self.bytes + block.size > LIMIT) {
            evicted[out] = Some(self.blocks[0]);
            out += 1;
            self.bytes -= self.blocks[0].size;
            self.blocks.copy_within(1..self.len, 0);
            self.len -= 1;
        }
        self.blocks[self.len] = block;
        self.len += 1;
        self.bytes += block.size;
    }
}

/// The layout a block of `layout` is really allocated with, if it is one
/// the cache deals in.
fn cached_layout(size: usize, align: usize) -> Option<Layout> {
    if !(MIN..=MAX).contains(&size) || align > 4096 {
        return None;
    }
    Layout::from_size_align(size.div_ceil(STEP) * STEP, align).ok()
}

impl Recycling {
    fn take(&self, layout: Layout) -> Option<*mut u8> {
        let mut cache = self.cache.try_lock().ok()?;
        cache
            .take(layout.size(), layout.align())
            .map(|ptr| ptr as *mut u8)
    }

    /// Keeps a block of the rounded `layout`, or frees it.
    ///
    /// # Safety
    /// `ptr` was allocated by `System` with `layout`, and is not used after.
    unsafe fn put(&self, ptr: *mut u8, layout: Layout) {
        let mut evicted = [None; SLOTS];
        let kept = match self.cache.try_lock() {
            Ok(mut cache) => {
                let block = Block {
                    ptr: ptr as usize,
                    size: layout.size(),
                    align: layout.align(),
                };
                cache.keep(block, &mut evicted);
                true
            }
            Err(_) => false,
        };
        if !kept {
            // SAFETY: the caller's contract.
            unsafe { System.dealloc(ptr, layout) };
        }
        for block in evicted.into_iter().flatten() {
            // SAFETY: every kept block came from System with this size and
            // alignment, and left the cache just now.
            unsafe {
                System.dealloc(
                    block.ptr as *mut u8,
                    Layout::from_size_align_unchecked(block.size, block.align),
                )
            };
        }
    }
}

// SAFETY: every block comes from `System`, and goes back to it (or to the
// cache, from which it is handed out once) with the layout it was allocated
// with: a cached size is always rounded the same way, in `alloc` and
// `dealloc` alike.
unsafe impl GlobalAlloc for Recycling {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match cached_layout(layout.size(), layout.align()) {
            None => {
                // SAFETY: forwarded as is.
                unsafe { System.alloc(layout) }
            }
            Some(real) => self.take(real).unwrap_or_else(|| {
                // SAFETY: `real` has a non-zero size.
                unsafe { System.alloc(real) }
            }),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match cached_layout(layout.size(), layout.align()) {
            None => {
                // SAFETY: forwarded as is.
                unsafe { System.alloc_zeroed(layout) }
            }
            Some(real) => match self.take(real) {
                Some(ptr) => {
                    // SAFETY: a kept block of at least `layout.size()` bytes.
                    unsafe { ptr.write_bytes(0, layout.size()) };
                    ptr
                }
                // SAFETY: `real` has a non-zero size.
                None => unsafe { System.alloc_zeroed(real) },
            },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match cached_layout(layout.size(), layout.align()) {
            // SAFETY: forwarded as is.
            None => unsafe { System.dealloc(ptr, layout) },
            // SAFETY: allocated by `alloc` with this rounded layout.
            Some(real) => unsafe { self.put(ptr, real) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = cached_layout(layout.size(), layout.align());
        let new = cached_layout(new_size, layout.align());
        match (old, new) {
            // SAFETY: neither size is one the cache deals in: forwarded.
            (None, None) => unsafe { System.realloc(ptr, layout, new_size) },
            // The block is large enough already.
            (Some(a), Some(b)) if a.size() == b.size() => ptr,
            _ => {
                // SAFETY: the caller guarantees a valid, non-zero `new_size`
                // for this alignment.
                let grown = unsafe {
                    self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()))
                };
                if !grown.is_null() {
                    // SAFETY: both blocks hold at least this many bytes and
                    // are distinct allocations.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, grown, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                grown
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).expect("layout")
    }

    #[test]
    fn alloc_when_same_rounded_size_freed_then_block_reused() {
        let a = Recycling::new();
        // SAFETY: valid layouts; every block is freed once, with its layout.
        unsafe {
            let p = a.alloc(layout(400 * 1024));
            assert!(!p.is_null());
            p.write_bytes(7, 400 * 1024);
            a.dealloc(p, layout(400 * 1024));
            // Another size in the same 64 KiB step gets the same block.
            let q = a.alloc(layout(390 * 1024));
            assert_eq!(p, q);
            // Zeroed on request, even when reused.
            a.dealloc(q, layout(390 * 1024));
            let z = a.alloc_zeroed(layout(400 * 1024));
            assert_eq!(z, p);
            assert!(std::slice::from_raw_parts(z, 400 * 1024)
                .iter()
                .all(|b| *b == 0));
            a.dealloc(z, layout(400 * 1024));
        }
    }

    #[test]
    fn dealloc_when_cache_full_then_oldest_freed_and_bounds_hold() {
        let a = Recycling::new();
        let size = 1 << 20;
        // SAFETY: valid layouts; every block is freed once, with its layout.
        unsafe {
            let blocks: Vec<_> = (0..SLOTS + 4).map(|_| a.alloc(layout(size))).collect();
            for p in &blocks {
                a.dealloc(*p, layout(size));
            }
            let cache = a.cache.lock().expect("lock");
            assert!(cache.bytes <= LIMIT);
            assert_eq!(cache.bytes, cache.len * size);
            // The newest blocks are the ones kept.
            let kept: Vec<_> = cache.blocks[..cache.len].iter().map(|b| b.ptr).collect();
            let newest: Vec<_> = blocks[blocks.len() - cache.len..]
                .iter()
                .map(|p| *p as usize)
                .collect();
            assert_eq!(kept, newest);
        }
    }

    #[test]
    fn realloc_when_growing_across_sizes_then_bytes_kept() {
        let a = Recycling::new();
        // SAFETY: valid layouts; every block is freed once, with its layout.
        unsafe {
            let mut size = 1000;
            let mut p = a.alloc(layout(size));
            for i in 0..size {
                *p.add(i) = (i % 251) as u8;
            }
            for next in [200 * 1024, 210 * 1024, 3 << 20, 150 * 1024, 500] {
                p = a.realloc(p, layout(size), next);
                assert!(!p.is_null());
                let kept = size.min(next).min(1000);
                for i in 0..kept {
                    assert_eq!(*p.add(i), (i % 251) as u8, "after realloc to {next}");
                }
                size = next;
            }
            a.dealloc(p, layout(size));
        }
    }

    #[test]
    fn alloc_when_cache_locked_then_system_used() {
        let a = Recycling::new();
        // SAFETY: valid layouts; every block is freed once, with its layout.
        unsafe {
            let p = a.alloc(layout(300 * 1024));
            a.dealloc(p, layout(300 * 1024));
            let held = a.cache.lock().expect("lock");
            // With the lock taken, no wait and no cached block.
            let q = a.alloc(layout(300 * 1024));
            assert!(!q.is_null());
            assert_ne!(q, p);
            a.dealloc(q, layout(300 * 1024));
            drop(held);
        }
    }
}
