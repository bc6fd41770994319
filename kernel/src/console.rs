//! The serial console: interrupt-fed receive ring, locked output, `print!` macros.
//!
//! Receive: the UART interrupt moves bytes from the 16-byte hardware FIFO into a 96 KiB
//! single-producer/single-consumer ring (producer: IRQ handler, consumer: the shell). A
//! UART has no flow control here, so the ring holds a whole message of the largest size the
//! console accepts ([`crate::shell::MAX_LINE`]) even when the consumer does not run at all
//! while it arrives (a busy executor; QEMU delivers a line as fast as the interrupt handler
//! takes it). With 16 KiB, a 53 KiB `fs_write` line lost bytes on a slower host.

use crate::{platform, sync::IrqMutex};
use core::{
    fmt::{self, Write},
    sync::atomic::{AtomicU8, AtomicUsize, Ordering},
};

/// Bytes the receive ring holds (checked against the shell's line limit in `shell`).
pub const RX_CAPACITY: usize = 96 * 1024;

struct RxRing {
    bytes: [AtomicU8; RX_CAPACITY],
    head: AtomicUsize,
    tail: AtomicUsize,
    dropped: AtomicUsize,
}

static RX: RxRing = RxRing {
    bytes: [const { AtomicU8::new(0) }; RX_CAPACITY],
    head: AtomicUsize::new(0),
    tail: AtomicUsize::new(0),
    dropped: AtomicUsize::new(0),
};

impl RxRing {
    fn push(&self, byte: u8) {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= RX_CAPACITY {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.bytes[head % RX_CAPACITY].store(byte, Ordering::Relaxed);
        self.head.store(head.wrapping_add(1), Ordering::Release);
    }

    fn pop(&self) -> Option<u8> {
        let tail = self.tail.load(Ordering::Relaxed);
        if tail == self.head.load(Ordering::Acquire) {
            return None;
        }
        let byte = self.bytes[tail % RX_CAPACITY].load(Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(byte)
    }

    fn is_empty(&self) -> bool {
        self.tail.load(Ordering::Relaxed) == self.head.load(Ordering::Acquire)
    }
}

/// Who waits for input (the console task).
static RX_WAITER: crate::sync::WakerSlot = crate::sync::WakerSlot::new();

/// UART receive interrupt: drain the FIFO into the ring, wake the console task.
pub fn on_uart_interrupt() {
    if let Some(platform) = platform::get() {
        let _guard = INPUT.lock();
        platform.uart.handle_interrupt(|byte| RX.push(byte));
    }
    if !RX.is_empty() {
        RX_WAITER.wake();
    }
}

/// The next received byte, waiting (as an async task) until one arrives.
pub fn next_byte() -> impl core::future::Future<Output = u8> {
    core::future::poll_fn(|cx| {
        if let Some(byte) = RX.pop() {
            return core::task::Poll::Ready(byte);
        }
        RX_WAITER.register(cx.waker());
        // A byte may have arrived between the check and the registration.
        match RX.pop() {
            Some(byte) => core::task::Poll::Ready(byte),
            None => core::task::Poll::Pending,
        }
    })
}

/// Input from another source than the UART (the USB gadget's serial port): into the same
/// ring, with IRQs masked so the UART's handler cannot push at the same time.
pub fn push_input(bytes: &[u8]) {
    {
        let _guard = INPUT.lock();
        for &byte in bytes {
            RX.push(byte);
        }
    }
    RX_WAITER.wake();
}

/// Serialises the ring's producers (the UART handler runs with IRQs masked already).
static INPUT: IrqMutex<()> = IrqMutex::new(());

/// Where console output is copied besides the UART (the USB gadget's serial port).
static MIRROR: spin::Once<fn(&[u8])> = spin::Once::new();

/// Copies all console output to `mirror` from now on (once; later calls are ignored).
pub fn set_mirror(mirror: fn(&[u8])) {
    MIRROR.call_once(|| mirror);
}

fn mirrored(bytes: &[u8]) {
    if let Some(mirror) = MIRROR.get() {
        mirror(bytes);
    }
}

/// Next received byte, if any.
pub fn read_byte() -> Option<u8> {
    RX.pop()
}

/// Bytes lost because the receive ring was full.
pub fn dropped_bytes() -> usize {
    RX.dropped.load(Ordering::Relaxed)
}

static OUTPUT: IrqMutex<()> = IrqMutex::new(());

struct Raw;

impl Write for Raw {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        mirrored(s.as_bytes());
        match platform::get() {
            Some(platform) => (&platform.uart).write_str(s),
            None => (&platform::emergency_uart()).write_str(s),
        }
    }
}

/// Writes formatted text to the console (used by the `print!` macros).
pub fn write_fmt(args: fmt::Arguments<'_>) {
    let _guard = OUTPUT.lock();
    let _ = Raw.write_fmt(args);
}

/// Writes raw bytes to the console.
pub fn write_bytes(bytes: &[u8]) {
    let _guard = OUTPUT.lock();
    mirrored(bytes);
    let uart = platform::get().map(|p| &p.uart);
    for &byte in bytes {
        match uart {
            Some(uart) => uart.write_byte(byte),
            None => platform::emergency_uart().write_byte(byte),
        }
    }
}

/// A writer for the panic and fault paths: no lock (the lock may be held by the code that
/// faulted), no initialisation needed.
pub fn panic_writer() -> impl Write {
    struct Emergency;
    impl Write for Emergency {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            (&platform::emergency_uart()).write_str(s)
        }
    }
    Emergency
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Waits until everything written has left the UART.
pub fn flush() {
    if let Some(platform) = platform::get() {
        platform.uart.flush();
    }
}
