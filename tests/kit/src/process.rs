//! Child processes that end with the test (or the benchmark) that started them.

use std::{
    process::Child,
    time::{Duration, Instant},
};

/// A child process stopped when the guard is dropped. [`Guard::kill`] kills it at once;
/// [`Guard::close_stdin`] first closes its standard input and gives it `grace` to exit by
/// itself (an MCP bridge stops QEMU when its input ends; killing the bridge instead would
/// leave QEMU running), and kills it only after that.
pub struct Guard {
    child: Child,
    grace: Option<Duration>,
}

impl Guard {
    /// Kills the child on drop.
    pub fn kill(child: Child) -> Guard {
        Guard { child, grace: None }
    }

    /// Closes the child's stdin on drop and waits up to `grace` before killing it.
    pub fn close_stdin(child: Child, grace: Duration) -> Guard {
        Guard { child, grace: Some(grace) }
    }

    /// The child.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(grace) = self.grace {
            drop(self.child.stdin.take());
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
