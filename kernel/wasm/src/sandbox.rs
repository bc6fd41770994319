//! The sandbox: a module is compiled once at install, its imports checked against the
//! manifest, and every call runs in a fresh instance with its own budget: fuel (metered
//! instructions, given in slices so that the wall-clock deadline is checked between them),
//! a linear-memory cap, and the deadline. A trap, an exhausted budget or a bad answer is an
//! [`Error`], never a fault of the kernel: wasmi interprets, checks every memory access,
//! keeps its own call stack and validates the module before anything runs.

use crate::{
    abi::{self, Grant, Status, Ty},
    manifest::{Budget, Capabilities, Manifest},
    Error, LIMITS,
};
use alloc::{
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};
use wasmi::{
    errors::HostError, Caller, Config, Engine, Extern, ExternType, Linker, Module, ResourceLimiter, ResumableCall,
    Store, TrapCode, Val, ValType,
};
use wasmi_core::LimiterError;

/// What a module's host functions reach: the kernel implements it over its drivers and
/// tools (with the pin-ownership table and the tools' own checks); tests implement it
/// with a model. The sandbox has already checked the pin, address, path or tool against
/// the manifest when a method is called.
pub trait Host {
    /// Microseconds since boot.
    fn now_us(&self) -> u64;
    /// A line for the kernel log, from tool `tool`.
    fn log(&mut self, tool: &str, message: &str);
    /// Waits `us` microseconds.
    fn sleep_us(&mut self, us: u64);
    /// Drives output pin `pin` high or low (claiming it for the tool).
    fn gpio_write(&mut self, pin: u8, high: bool) -> Result<(), String>;
    /// Reads pin `pin`.
    fn gpio_read(&mut self, pin: u8) -> Result<bool, String>;
    /// Writes `write` to 7-bit `address`, then reads `read.len()` bytes (either may be empty).
    fn i2c_write_read(&mut self, address: u8, write: &[u8], read: &mut [u8]) -> Result<(), String>;
    /// Exchanges `data` on the SPI bus in place.
    fn spi_transfer(&mut self, data: &mut [u8]) -> Result<(), String>;
    /// Reads from file `path` at `offset` into `buffer`; the number of bytes read.
    fn file_read(&mut self, path: &str, offset: u32, buffer: &mut [u8]) -> Result<usize, String>;
    /// Calls a built-in read-only tool with JSON arguments; its structured result as JSON.
    fn tool_call(&mut self, name: &str, arguments: &str) -> Result<String, String>;
}

/// Fuel given to a module at a time: between slices the deadline is checked. About a
/// millisecond of interpretation on a Pi 3 class core.
const SLICE: u64 = 200_000;

/// A module compiled and checked at install, ready to be called.
pub struct Tool {
    /// The engine it was compiled by (a module runs only in stores of its own engine).
    engine: Engine,
    manifest: Manifest,
    module: Module,
    budget: Budget,
    imports: Vec<&'static str>,
}

impl Tool {
    /// The manifest it was installed with.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The host functions it imports.
    pub fn imports(&self) -> &[&'static str] {
        &self.imports
    }

    /// The budget of each call.
    pub fn budget(&self) -> Budget {
        self.budget
    }
}

/// A successful call.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The tool's result (an object, matching its output schema if it declares one).
    pub structured: serde_json::Value,
    /// Fuel the call used.
    pub fuel: u64,
}

/// Compiles and runs tool modules; one per kernel (an engine is cheap to share).
#[derive(Clone)]
pub struct Sandbox {
    engine: Engine,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// What the store of one call holds.
struct State<H> {
    host: H,
    name: String,
    capabilities: Capabilities,
    arguments: String,
    answer: Option<Result<String, String>>,
    memory_cap: usize,
    /// The size a `memory.grow` asked for past the cap.
    memory_refused: Option<usize>,
    deadline: u64,
}

impl<H> ResourceLimiter for State<H> {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.memory_cap {
            self.memory_refused = Some(desired);
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > LIMITS.table_elements {
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

fn ty(value: ValType) -> Option<Ty> {
    match value {
        ValType::I32 => Some(Ty::I32),
        ValType::I64 => Some(Ty::I64),
        _ => None,
    }
}

fn granted(grant: Grant, c: &Capabilities) -> bool {
    match grant {
        Grant::Always => true,
        Grant::Log => c.log,
        Grant::Time => c.time,
        Grant::Gpio => !c.gpio.is_empty(),
        Grant::I2c => !c.i2c.is_empty(),
        Grant::Spi => c.spi,
        Grant::Files => !c.files.is_empty(),
        Grant::Tools => !c.tools.is_empty(),
    }
}

fn capability_name(grant: Grant) -> &'static str {
    match grant {
        Grant::Always => "none",
        Grant::Log => "log",
        Grant::Time => "time",
        Grant::Gpio => "gpio",
        Grant::I2c => "i2c",
        Grant::Spi => "spi",
        Grant::Files => "files",
        Grant::Tools => "tools",
    }
}

impl Sandbox {
    /// A sandbox whose engine meters fuel and refuses start functions (code runs only
    /// inside a call's budget).
    pub fn new() -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .allow_start_fn(false)
            .wasm_multi_memory(false)
            .wasm_tail_call(false)
            .enforced_limits(wasmi::EnforcedLimits::strict());
        Sandbox { engine: Engine::new(&config) }
    }

    /// Checks a module against its manifest and compiles it: every import must be a host
    /// function of [`abi::IMPORTS`] with its exact signature, granted by a declared
    /// capability (and none that writes when the tool says it is read-only); the module
    /// must export `memory` and `call: () -> i32`, and instantiate within its memory cap.
    pub fn compile(&self, manifest: Manifest, wasm: &[u8]) -> Result<Tool, Error> {
        if wasm.len() > LIMITS.module_bytes {
            return Err(Error::Module(format!("the module is over {} KiB", LIMITS.module_bytes / 1024)));
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(Error::Module("not a WebAssembly module (no \\0asm header)".into()));
        }
        let module = Module::new(&self.engine, wasm).map_err(|e| Error::Module(format!("{e}")))?;
        let mut imports = Vec::new();
        for import in module.imports() {
            let what = format!("{}.{}", import.module(), import.name());
            if import.module() != abi::MODULE {
                return Err(Error::Import(format!("{what}: only the '{}' host functions exist", abi::MODULE)));
            }
            let ExternType::Func(signature) = import.ty() else {
                return Err(Error::Import(format!("{what}: only functions can be imported")));
            };
            let Some(row) = abi::import(import.name()) else {
                return Err(Error::Import(format!("{what} is not a host function of this kernel")));
            };
            let params: Option<Vec<Ty>> = signature.params().iter().map(|v| ty(*v)).collect();
            let results: Option<Vec<Ty>> = signature.results().iter().map(|v| ty(*v)).collect();
            if params.as_deref() != Some(row.params) || results.as_deref() != Some(row.results) {
                return Err(Error::Import(format!(
                    "{what} has the wrong signature (expected {:?} -> {:?})",
                    row.params, row.results
                )));
            }
            if !granted(row.grant, &manifest.capabilities) {
                return Err(Error::Import(format!(
                    "{what} needs the capability '{}', which the manifest does not declare",
                    capability_name(row.grant)
                )));
            }
            if row.writes && manifest.annotations.read_only_hint {
                return Err(Error::Import(format!(
                    "{what} changes the machine, and the manifest says readOnlyHint: true"
                )));
            }
            if !imports.contains(&row.name) {
                imports.push(row.name);
            }
        }
        match module.exports().find(|e| e.name() == "call").map(|e| e.ty().clone()) {
            Some(ExternType::Func(signature))
                if signature.params().is_empty() && signature.results() == [ValType::I32] => {}
            _ => {
                return Err(Error::Module(
                    "the module must export a function 'call' taking nothing, returning i32".into(),
                ))
            }
        }
        if !module.exports().any(|e| e.name() == "memory" && matches!(e.ty(), ExternType::Memory(_))) {
            return Err(Error::Module("the module must export its linear memory as 'memory'".into()));
        }
        let budget = manifest.budget();
        let tool = Tool { engine: self.engine.clone(), manifest, module, budget, imports };
        // Instantiate once (no code runs: there is no start function): a memory or table
        // declared over the cap is refused now rather than at every call.
        let mut store = tool.store(NoHost, "");
        tool.instantiate(&mut store)?;
        Ok(tool)
    }
}

impl Tool {
    fn store<H: Host + 'static>(&self, host: H, arguments: &str) -> Store<State<H>> {
        let deadline = host.now_us().saturating_add(self.budget.deadline_us);
        let state = State {
            host,
            name: self.manifest.name.clone(),
            capabilities: self.manifest.capabilities.clone(),
            arguments: arguments.into(),
            answer: None,
            memory_cap: self.budget.memory_bytes,
            memory_refused: None,
            deadline,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state as &mut dyn ResourceLimiter);
        store
    }

    fn instantiate<H: Host + 'static>(&self, store: &mut Store<State<H>>) -> Result<wasmi::Instance, Error> {
        let linker = link::<H>(&self.engine, &self.imports)?;
        linker.instantiate_and_start(&mut *store, &self.module).map_err(|e| match store.data().memory_refused {
            Some(bytes) => Error::Memory { asked: bytes, cap: self.budget.memory_bytes },
            None => Error::Module(format!("cannot instantiate: {e}")),
        })
    }

    /// Calls the tool with the JSON text of its arguments (already checked against its
    /// input schema) in a fresh instance; gives the host back with the outcome.
    pub fn call<H: Host + 'static>(&self, host: H, arguments: &str) -> (Result<Answer, Error>, H) {
        let mut store = self.store(host, arguments);
        let outcome = self.run(&mut store);
        (outcome, store.into_data().host)
    }

    fn run<H: Host + 'static>(&self, store: &mut Store<State<H>>) -> Result<Answer, Error> {
        let budget = self.budget;
        let instance = self.instantiate(store)?;
        let call = instance
            .get_func(&*store, "call")
            .ok_or_else(|| Error::Module("the module lost its 'call' export".into()))?;
        let mut remaining = budget.fuel;
        let give = |store: &mut Store<State<H>>, remaining: &mut u64| {
            let slice = (*remaining).min(SLICE);
            *remaining -= slice;
            store.set_fuel(slice).map_err(|e| Error::Module(format!("{e}")))
        };
        give(store, &mut remaining)?;
        let mut status = [Val::I32(0)];
        let mut state = call.call_resumable(&mut *store, &[], &mut status);
        loop {
            match state {
                Ok(ResumableCall::Finished) => break,
                Ok(ResumableCall::OutOfFuel(paused)) => {
                    if remaining == 0 {
                        return Err(Error::OutOfFuel { fuel: budget.fuel });
                    }
                    if store.data().host.now_us() > store.data().deadline {
                        return Err(Error::Deadline { ms: budget.deadline_us / 1000 });
                    }
                    give(store, &mut remaining)?;
                    state = paused.resume(&mut *store, &mut status);
                }
                Ok(ResumableCall::HostTrap(trap)) => return Err(trapped(store, budget, &trap.into_host_error())),
                Err(error) => return Err(trapped(store, budget, &error)),
            }
        }
        let used = budget.fuel - remaining - store.get_fuel().unwrap_or(0);
        let code = match status[0] {
            Val::I32(code) => code,
            _ => -1,
        };
        let answer = store.data_mut().answer.take();
        let structured = match (code, answer) {
            (_, Some(Err(message))) => return Err(Error::Failed(message)),
            (abi::OK, Some(Ok(text))) => parse_answer(&text)?,
            (abi::OK, None) => serde_json::Value::Object(serde_json::Map::new()),
            (code, _) => return Err(Error::Failed(format!("the tool returned status {code}"))),
        };
        if let Some(schema) = &self.manifest.output_schema {
            mcp::schema::validate(schema, &structured)
                .map_err(|why| Error::BadAnswer(format!("the result does not match the output schema: {why}")))?;
        }
        Ok(Answer { structured, fuel: used })
    }
}

fn parse_answer(text: &str) -> Result<serde_json::Value, Error> {
    if mcp::frame::nesting_depth(text.as_bytes(), 32) > 32 {
        return Err(Error::BadAnswer("the result nests deeper than 32 levels".into()));
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err(Error::BadAnswer("the result must be a JSON object".into())),
        Err(e) => Err(Error::BadAnswer(format!("the result is not JSON: {e}"))),
    }
}

fn trapped<H>(store: &Store<State<H>>, budget: Budget, error: &wasmi::Error) -> Error {
    if let Some(bytes) = store.data().memory_refused {
        return Error::Memory { asked: bytes, cap: budget.memory_bytes };
    }
    if let Some(deadline) = error.downcast_ref::<Deadline>() {
        return Error::Deadline { ms: deadline.0 / 1000 };
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => Error::OutOfFuel { fuel: budget.fuel },
        Some(code) => Error::Trap(format!("{code}")),
        None => Error::Trap(format!("{error}")),
    }
}

/// A host function's refusal to go past the deadline (a trap the sandbox reports as one).
#[derive(Debug)]
struct Deadline(u64);

impl core::fmt::Display for Deadline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the call's deadline passed")
    }
}

impl core::error::Error for Deadline {}
impl HostError for Deadline {}

/// The host of the instantiation at install (no code runs then).
struct NoHost;

impl Host for NoHost {
    fn now_us(&self) -> u64 {
        0
    }
    fn log(&mut self, _: &str, _: &str) {}
    fn sleep_us(&mut self, _: u64) {}
    fn gpio_write(&mut self, _: u8, _: bool) -> Result<(), String> {
        Err("no host".into())
    }
    fn gpio_read(&mut self, _: u8) -> Result<bool, String> {
        Err("no host".into())
    }
    fn i2c_write_read(&mut self, _: u8, _: &[u8], _: &mut [u8]) -> Result<(), String> {
        Err("no host".into())
    }
    fn spi_transfer(&mut self, _: &mut [u8]) -> Result<(), String> {
        Err("no host".into())
    }
    fn file_read(&mut self, _: &str, _: u32, _: &mut [u8]) -> Result<usize, String> {
        Err("no host".into())
    }
    fn tool_call(&mut self, _: &str, _: &str) -> Result<String, String> {
        Err("no host".into())
    }
}

// ---------------------------------------------------------------------------------------
// Host functions. Each checks its pointers against the module's memory and its target
// against the manifest before the host sees anything.

type Ctx<'a, H> = Caller<'a, State<H>>;

fn memory<H>(caller: &Ctx<'_, H>) -> Option<wasmi::Memory> {
    caller.get_export("memory").and_then(Extern::into_memory)
}

/// The range `ptr..ptr + len` of the module's memory, if it lies inside it and `len` is at
/// most `max`.
fn span<H>(caller: &Ctx<'_, H>, ptr: i32, len: i32, max: usize) -> Result<core::ops::Range<usize>, Status> {
    let ptr = usize::try_from(ptr).map_err(|_| Status::BadArgument)?;
    let len = usize::try_from(len).map_err(|_| Status::BadArgument)?;
    let size = memory(caller).map(|m| m.data(caller).len()).ok_or(Status::BadArgument)?;
    match ptr.checked_add(len) {
        Some(end) if len <= max && end <= size => Ok(ptr..end),
        _ => Err(Status::BadArgument),
    }
}

/// A copy of `len` bytes at `ptr` of the module's memory (at most `max`).
fn read_bytes<H>(caller: &Ctx<'_, H>, ptr: i32, len: i32, max: usize) -> Result<Vec<u8>, Status> {
    let range = span(caller, ptr, len, max)?;
    let memory = memory(caller).ok_or(Status::BadArgument)?;
    Ok(memory.data(caller)[range].to_vec())
}

fn read_text<H>(caller: &Ctx<'_, H>, ptr: i32, len: i32, max: usize) -> Result<String, Status> {
    String::from_utf8(read_bytes(caller, ptr, len, max)?).map_err(|_| Status::BadArgument)
}

fn write_bytes<H>(caller: &mut Ctx<'_, H>, ptr: i32, bytes: &[u8]) -> Result<(), Status> {
    let len = i32::try_from(bytes.len()).map_err(|_| Status::BadArgument)?;
    let range = span(caller, ptr, len, usize::MAX)?;
    let memory = memory(caller).ok_or(Status::BadArgument)?;
    memory.data_mut(caller)[range].copy_from_slice(bytes);
    Ok(())
}

/// The length of a buffer of the module's memory at `ptr..ptr + len` (at most `max`).
fn check_buffer<H>(caller: &Ctx<'_, H>, ptr: i32, len: i32, max: usize) -> Result<usize, Status> {
    span(caller, ptr, len, max).map(|range| range.len())
}

fn code(result: Result<i32, Status>) -> i32 {
    result.unwrap_or_else(|status| status as i32)
}

/// A device error (the kernel's host has logged why).
fn device(_why: String) -> Status {
    Status::Failed
}

fn link<H: Host + 'static>(engine: &Engine, imports: &[&'static str]) -> Result<Linker<State<H>>, Error> {
    let mut linker: Linker<State<H>> = Linker::new(engine);
    let failed = |e: wasmi::errors::LinkerError| Error::Module(format!("{e}"));
    let m = abi::MODULE;
    for name in imports {
        match *name {
            "args_len" => {
                linker.func_wrap(m, name, |caller: Ctx<'_, H>| -> i32 { caller.data().arguments.len() as i32 })
            }
            "args_read" => linker.func_wrap(m, name, |mut caller: Ctx<'_, H>, ptr: i32, cap: i32| -> i32 {
                code((|| {
                    let arguments = caller.data().arguments.clone();
                    let cap = check_buffer(&caller, ptr, cap, usize::MAX)?;
                    if arguments.len() > cap {
                        return Err(Status::TooSmall);
                    }
                    write_bytes(&mut caller, ptr, arguments.as_bytes())?;
                    Ok(arguments.len() as i32)
                })())
            }),
            "result" | "fail" => {
                let success = *name == "result";
                linker.func_wrap(
                    m,
                    name,
                    move |mut caller: Ctx<'_, H>, ptr: i32, len: i32| -> Result<(), wasmi::Error> {
                        let text = read_text(&caller, ptr, len, LIMITS.answer_bytes).map_err(|_| {
                            wasmi::Error::new(format!(
                                "the answer passed to {} is not UTF-8 text within memory and {} KiB",
                                if success { "result" } else { "fail" },
                                LIMITS.answer_bytes / 1024
                            ))
                        })?;
                        caller.data_mut().answer = Some(if success { Ok(text) } else { Err(text) });
                        Ok(())
                    },
                )
            }
            "log" => linker.func_wrap(m, name, |mut caller: Ctx<'_, H>, ptr: i32, len: i32| {
                if let Ok(text) = read_text(&caller, ptr, len, 512) {
                    let state = caller.data_mut();
                    let line: String = text.chars().filter(|c| !c.is_control()).collect();
                    state.host.log(&state.name, &line);
                }
            }),
            "now_us" => linker.func_wrap(m, name, |caller: Ctx<'_, H>| -> i64 { caller.data().host.now_us() as i64 }),
            "sleep_ms" => linker.func_wrap(m, name, |mut caller: Ctx<'_, H>, ms: i32| -> Result<i32, wasmi::Error> {
                let Ok(ms) = u64::try_from(ms) else { return Ok(Status::BadArgument as i32) };
                let state = caller.data_mut();
                let now = state.host.now_us();
                let wake = now.saturating_add(ms.saturating_mul(1000));
                if wake > state.deadline {
                    // Sleeping past the deadline would only end in it: stop now.
                    return Err(wasmi::Error::host(Deadline(state.deadline.saturating_sub(now))));
                }
                state.host.sleep_us(ms * 1000);
                Ok(abi::OK)
            }),
            "gpio_write" => linker.func_wrap(m, name, |mut caller: Ctx<'_, H>, pin: i32, level: i32| -> i32 {
                let state = caller.data_mut();
                code(match u8::try_from(pin) {
                    Ok(pin) if state.capabilities.gpio.contains(&pin) => {
                        state.host.gpio_write(pin, level != 0).map(|()| abi::OK).map_err(device)
                    }
                    _ => Err(Status::Denied),
                })
            }),
            "gpio_read" => linker.func_wrap(m, name, |mut caller: Ctx<'_, H>, pin: i32| -> i32 {
                let state = caller.data_mut();
                code(match u8::try_from(pin) {
                    Ok(pin) if state.capabilities.gpio.contains(&pin) => {
                        state.host.gpio_read(pin).map(i32::from).map_err(device)
                    }
                    _ => Err(Status::Denied),
                })
            }),
            "i2c_write_read" => linker.func_wrap(
                m,
                name,
                |mut caller: Ctx<'_, H>, address: i32, wptr: i32, wlen: i32, rptr: i32, rlen: i32| -> i32 {
                    code((|| {
                        let address = u8::try_from(address).map_err(|_| Status::Denied)?;
                        if !caller.data().capabilities.i2c.contains(&address) {
                            return Err(Status::Denied);
                        }
                        let write = read_bytes(&caller, wptr, wlen, 256)?;
                        let mut read = vec![0u8; check_buffer(&caller, rptr, rlen, 256)?];
                        caller.data_mut().host.i2c_write_read(address, &write, &mut read).map_err(device)?;
                        write_bytes(&mut caller, rptr, &read)?;
                        Ok(read.len() as i32)
                    })())
                },
            ),
            "spi_transfer" => linker.func_wrap(m, name, |mut caller: Ctx<'_, H>, ptr: i32, len: i32| -> i32 {
                code((|| {
                    let mut data = read_bytes(&caller, ptr, len, 4096)?;
                    caller.data_mut().host.spi_transfer(&mut data).map_err(device)?;
                    write_bytes(&mut caller, ptr, &data)?;
                    Ok(data.len() as i32)
                })())
            }),
            "file_read" => linker.func_wrap(
                m,
                name,
                |mut caller: Ctx<'_, H>, pptr: i32, plen: i32, offset: i32, bptr: i32, blen: i32| -> i32 {
                    code((|| {
                        let path = read_text(&caller, pptr, plen, 128)?;
                        if !allowed_path(&caller.data().capabilities.files, &path) {
                            return Err(Status::Denied);
                        }
                        let offset = u32::try_from(offset).map_err(|_| Status::BadArgument)?;
                        let mut buffer = vec![0u8; check_buffer(&caller, bptr, blen, 64 * 1024)?];
                        let n = caller.data_mut().host.file_read(&path, offset, &mut buffer).map_err(|why| {
                            if why.contains("not found") || why.contains("no such") {
                                Status::NotFound
                            } else {
                                Status::Failed
                            }
                        })?;
                        let n = n.min(buffer.len());
                        write_bytes(&mut caller, bptr, &buffer[..n])?;
                        Ok(n as i32)
                    })())
                },
            ),
            "tool_call" => linker.func_wrap(
                m,
                name,
                |mut caller: Ctx<'_, H>, nptr: i32, nlen: i32, aptr: i32, alen: i32, optr: i32, ocap: i32| -> i32 {
                    code((|| {
                        let name = read_text(&caller, nptr, nlen, 64)?;
                        if !caller.data().capabilities.tools.contains(&name) {
                            return Err(Status::Denied);
                        }
                        let arguments =
                            if alen == 0 { "{}".into() } else { read_text(&caller, aptr, alen, 16 * 1024)? };
                        let cap = check_buffer(&caller, optr, ocap, usize::MAX)?;
                        let answer = caller.data_mut().host.tool_call(&name, &arguments).map_err(|why| {
                            if why.starts_with("unknown tool") {
                                Status::NotFound
                            } else {
                                Status::Failed
                            }
                        })?;
                        if answer.len() > cap {
                            return Err(Status::TooSmall);
                        }
                        write_bytes(&mut caller, optr, answer.as_bytes())?;
                        Ok(answer.len() as i32)
                    })())
                },
            ),
            other => return Err(Error::Import(format!("{}.{other} has no implementation", abi::MODULE))),
        }
        .map_err(failed)?;
    }
    Ok(linker)
}

/// Whether `path` lies under one of the declared prefixes (whole components, no `..`).
pub fn allowed_path(prefixes: &[String], path: &str) -> bool {
    if !path.starts_with('/') || path.split('/').any(|part| part == ".." || part == ".") {
        return false;
    }
    prefixes.iter().any(|prefix| {
        let prefix = prefix.trim_end_matches('/');
        prefix.is_empty()
            || path.eq_ignore_ascii_case(prefix)
            || (path.len() > prefix.len()
                && path[..prefix.len()].eq_ignore_ascii_case(prefix)
                && path.as_bytes()[prefix.len()] == b'/')
    })
}

impl Tool {
    /// A one-line description of what the tool may reach, for `tool_list_installed`.
    pub fn reach(&self) -> String {
        let c = &self.manifest.capabilities;
        let mut parts: Vec<String> = Vec::new();
        if c.log {
            parts.push("log".into());
        }
        if c.time {
            parts.push("time".into());
        }
        if !c.gpio.is_empty() {
            parts.push(format!("gpio {:?}", c.gpio));
        }
        if !c.i2c.is_empty() {
            let addresses: Vec<String> = c.i2c.iter().map(|a| format!("{a:#04x}")).collect();
            parts.push(format!("i2c [{}]", addresses.join(", ")));
        }
        if c.spi {
            parts.push("spi".into());
        }
        if !c.files.is_empty() {
            parts.push(format!("files {:?}", c.files));
        }
        if !c.tools.is_empty() {
            parts.push(format!("tools {:?}", c.tools));
        }
        if parts.is_empty() {
            "nothing outside its own memory".to_string()
        } else {
            parts.join(", ")
        }
    }
}
