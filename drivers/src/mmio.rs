//! Typed access to a memory-mapped register block.

use core::{marker::PhantomData, ops::Deref};

/// A register block of type `T` at a fixed physical (identity-mapped) address.
///
/// This is the only place where a device address becomes a reference; drivers hold an
/// `Mmio<Registers>` and use `tock-registers` accessors on it.
pub struct Mmio<T> {
    base: usize,
    phantom: PhantomData<fn() -> T>,
}

impl<T> Mmio<T> {
    /// Wraps the register block at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a device whose registers have the layout `T`, mapped as
    /// device memory for as long as the value lives, and no other code may treat that range
    /// as ordinary memory.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base, phantom: PhantomData }
    }

    /// The block's base address.
    pub fn base(&self) -> usize {
        self.base
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract guarantees a valid, mapped register block of type `T`;
        // the registers are interior-mutable cells (`tock-registers`), so a shared
        // reference is sound.
        unsafe { &*(self.base as *const T) }
    }
}
