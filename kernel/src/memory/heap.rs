//! The kernel heap: `linked_list_allocator` behind an interrupt-safe spin lock.
//!
//! An allocation that cannot be satisfied records its size, so the panic report that
//! follows (`alloc` calls `handle_alloc_error`) can say what was asked and what was free.
//! Code handling client input uses fallible allocation (`try_reserve`) instead.

use crate::sync::IrqMutex;
use core::{
    alloc::{GlobalAlloc, Layout},
    ops::Range,
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};
use linked_list_allocator::Heap;

/// The global allocator.
pub struct KernelHeap {
    heap: IrqMutex<Heap>,
    failed_size: AtomicUsize,
    peak_used: AtomicUsize,
}

/// Heap statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapStats {
    /// Heap size in bytes.
    pub size: usize,
    /// Bytes allocated now.
    pub used: usize,
    /// Bytes free now.
    pub free: usize,
    /// Highest `used` seen.
    pub peak_used: usize,
    /// Start address.
    pub start: usize,
    /// Size of the last allocation that failed (0 if none).
    pub last_failed: usize,
}

#[global_allocator]
static HEAP: KernelHeap =
    KernelHeap { heap: IrqMutex::new(Heap::empty()), failed_size: AtomicUsize::new(0), peak_used: AtomicUsize::new(0) };

/// Hands `range` to the heap. Called once at boot.
///
/// # Safety
/// `range` must be mapped read-write RAM that nothing else uses, for the rest of the
/// kernel's life.
pub unsafe fn init(range: Range<usize>) {
    let mut heap = HEAP.heap.lock();
    // SAFETY: forwarded from the caller's contract; called once while the heap is empty.
    unsafe { heap.init(range.start as *mut u8, range.end - range.start) };
}

/// Current statistics.
pub fn stats() -> HeapStats {
    let heap = HEAP.heap.lock();
    HeapStats {
        size: heap.size(),
        used: heap.used(),
        free: heap.free(),
        peak_used: HEAP.peak_used.load(Ordering::Relaxed),
        start: heap.bottom() as usize,
        last_failed: HEAP.failed_size.load(Ordering::Relaxed),
    }
}

// SAFETY: allocation and deallocation go through `Heap`, whose first-fit allocator returns
// blocks of at least the requested size and alignment, exclusively (under the lock).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.heap.lock();
        match heap.allocate_first_fit(layout) {
            Ok(block) => {
                self.peak_used.fetch_max(heap.used(), Ordering::Relaxed);
                block.as_ptr()
            }
            Err(()) => {
                self.failed_size.store(layout.size(), Ordering::Relaxed);
                core::ptr::null_mut()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(ptr) {
            // SAFETY: `GlobalAlloc` callers pass a block this allocator returned, with its layout.
            unsafe { self.heap.lock().deallocate(block, layout) };
        }
    }
}

/// Statistics without waiting for the lock (`None` if it is held), for the panic path.
pub fn stats_nonblocking() -> Option<HeapStats> {
    let heap = HEAP.heap.try_lock()?;
    Some(HeapStats {
        size: heap.size(),
        used: heap.used(),
        free: heap.free(),
        peak_used: HEAP.peak_used.load(Ordering::Relaxed),
        start: heap.bottom() as usize,
        last_failed: HEAP.failed_size.load(Ordering::Relaxed),
    })
}
