//! Locks usable from both thread and interrupt context, and the waker slot through which an
//! interrupt handler wakes the task waiting for it.

use core::{
    ops::{Deref, DerefMut},
    task::Waker,
};

/// A spin lock that masks IRQs on this core while held, so an interrupt handler taking the
/// same lock cannot deadlock against the code it interrupted.
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqMutex`]; restores the interrupt mask when dropped.
pub struct IrqMutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    saved: u64,
}

impl<T> IrqMutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self { inner: spin::Mutex::new(value) }
    }

    /// Masks IRQs and takes the lock.
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let saved = crate::arch::cpu::mask_interrupts();
        IrqMutexGuard { guard: Some(self.inner.lock()), saved }
    }

    /// Takes the lock if it is free (for the panic path, which must not deadlock).
    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let saved = crate::arch::cpu::mask_interrupts();
        match self.inner.try_lock() {
            Some(guard) => Some(IrqMutexGuard { guard: Some(guard), saved }),
            None => {
                crate::arch::cpu::restore_interrupts(saved);
                None
            }
        }
    }
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T> Drop for IrqMutexGuard<'_, T> {
    fn drop(&mut self) {
        self.guard = None;
        crate::arch::cpu::restore_interrupts(self.saved);
    }
}

/// A slot for the waker of whoever waits on an interrupt-driven event (one waiter).
pub struct WakerSlot(IrqMutex<Option<Waker>>);

impl WakerSlot {
    /// Empty.
    pub const fn new() -> Self {
        WakerSlot(IrqMutex::new(None))
    }

    /// Remembers the waiter (replacing any earlier one).
    pub fn register(&self, waker: &Waker) {
        let mut slot = self.0.lock();
        match &*slot {
            Some(existing) if existing.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Wakes the waiter, if any (safe from interrupt handlers).
    pub fn wake(&self) {
        if let Some(waker) = self.0.lock().as_ref() {
            waker.wake_by_ref();
        }
    }
}
