//! The host functions the kernel links into a tool module (`wasmhost::abi::IMPORTS`), with
//! safe wrappers: each passes a pointer and length of a live slice, which the host checks
//! against the module's memory again. Off wasm32 (host builds, tests) they answer as a
//! sandbox that grants nothing.

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "kingly")]
    extern "C" {
        pub fn args_read(ptr: *mut u8, cap: i32) -> i32;
        pub fn result(ptr: *const u8, len: i32);
        pub fn fail(ptr: *const u8, len: i32);
        pub fn log(ptr: *const u8, len: i32);
        pub fn now_us() -> i64;
        pub fn sleep_ms(ms: i32) -> i32;
        pub fn gpio_write(pin: i32, level: i32) -> i32;
        pub fn gpio_read(pin: i32) -> i32;
        pub fn i2c_write_read(address: i32, wptr: *const u8, wlen: i32, rptr: *mut u8, rlen: i32) -> i32;
        pub fn spi_transfer(ptr: *mut u8, len: i32) -> i32;
        pub fn file_read(pptr: *const u8, plen: i32, offset: i32, bptr: *mut u8, blen: i32) -> i32;
        pub fn tool_call(nptr: *const u8, nlen: i32, aptr: *const u8, alen: i32, optr: *mut u8, ocap: i32) -> i32;
    }
}

#[cfg(target_arch = "wasm32")]
fn len(slice: &[u8]) -> i32 {
    slice.len().min(i32::MAX as usize) as i32
}

macro_rules! host {
    ($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty, $wasm:expr, $off:expr) => {
        #[allow(unused_variables)]
        pub fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: every pointer passed comes from a live slice with its own length, and
            // the host checks each against the module's memory before using it.
            return unsafe { $wasm };
            #[cfg(not(target_arch = "wasm32"))]
            return $off;
        }
    };
    ($name:ident ( $($arg:ident : $ty:ty),* ), $wasm:expr) => {
        #[allow(unused_variables)]
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: as above: a live slice's pointer and length, checked again by the host.
            unsafe {
                $wasm
            }
        }
    };
}

host!(args_read(buffer: &mut [u8]) -> i32, imports::args_read(buffer.as_mut_ptr(), len(buffer)), {
    let empty = b"{}";
    buffer[..2].copy_from_slice(empty);
    2
});
host!(result(text: &[u8]), imports::result(text.as_ptr(), len(text)));
host!(fail(text: &[u8]), imports::fail(text.as_ptr(), len(text)));
host!(log(text: &[u8]), imports::log(text.as_ptr(), len(text)));
host!(now_us() -> i64, imports::now_us(), 0);
host!(sleep_ms(ms: i32) -> i32, imports::sleep_ms(ms), -1);
host!(gpio_write(pin: i32, level: i32) -> i32, imports::gpio_write(pin, level), -1);
host!(gpio_read(pin: i32) -> i32, imports::gpio_read(pin), -1);
host!(
    i2c_write_read(address: u8, write: &[u8], read: &mut [u8]) -> i32,
    imports::i2c_write_read(i32::from(address), write.as_ptr(), len(write), read.as_mut_ptr(), len(read)),
    -1
);
host!(spi_transfer(data: &mut [u8]) -> i32, imports::spi_transfer(data.as_mut_ptr(), len(data)), -1);
host!(
    file_read(path: &[u8], offset: i32, buffer: &mut [u8]) -> i32,
    imports::file_read(path.as_ptr(), len(path), offset, buffer.as_mut_ptr(), len(buffer)),
    -1
);
host!(
    tool_call(name: &[u8], arguments: &[u8], out: &mut [u8]) -> i32,
    imports::tool_call(name.as_ptr(), len(name), arguments.as_ptr(), len(arguments), out.as_mut_ptr(), len(out)),
    -1
);
