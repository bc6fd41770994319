//! `blink`: blinks an LED on a GPIO pin a number of times: a pattern in time, which no
//! single built-in tool call gives. Its manifest grants pins 17 and 27 and the clock.
#![cfg_attr(target_arch = "wasm32", no_std)]

use kingly_tool::{gpio, time, Args, Error, Json};

kingly_tool::tool!(run);

/// Blinks `pin` `times` times, `on_ms` on and `off_ms` off, and leaves it low.
pub fn run(args: &Args) -> Result<(), Error> {
    let pin = args.int("pin").unwrap_or(17);
    let times = args.int("times").unwrap_or(3);
    let on_ms = args.int("on_ms").unwrap_or(100);
    let off_ms = args.int("off_ms").unwrap_or(on_ms);
    let pin = u8::try_from(pin).map_err(|_| Error::Message("pin must be 0-53"))?;
    let started = time::now_us();
    for _ in 0..times {
        gpio::write(pin, true)?;
        time::sleep_ms(on_ms as u32)?;
        gpio::write(pin, false)?;
        time::sleep_ms(off_ms as u32)?;
    }
    let level = gpio::read(pin)?;
    let took_ms = (time::now_us() - started) / 1000;
    let mut out = [0u8; 128];
    kingly_tool::result(
        Json::new(&mut out)
            .int("pin", i64::from(pin))
            .int("times", times)
            .int("took_ms", took_ms as i64)
            .bool("level", level)
            .finish(),
    );
    Ok(())
}
