//! Policy for a panic on a runtime thread: log it and abort the OS process.
//!
//! A panic in a handler (or in the server or a connection task) unwinds out of the actix
//! task that hosts it; tokio would swallow it and leave the process registered but deaf, its
//! peers never told it is gone. Genuine Mesos treats a broken invariant as fatal (`CHECK`
//! aborts) and relies on its supervisor to restart it and on recovery to resume; we do the
//! same. Restarting the actor in place is not an option: its state may be half-updated.
//!
//! Why a panic hook and not `panic = "abort"`: the profile setting would apply to every
//! thread of every binary and test harness (tests report failures by panicking), while the
//! hook aborts only for panics on runtime threads and leaves the others to the previous hook.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static RUNTIME_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as a runtime thread and makes sure the hook is installed.
pub(crate) fn mark_runtime_thread() {
    install_hook();
    RUNTIME_THREAD.with(|t| t.set(true));
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The previous hook prints the message (and a backtrace if asked for) first.
            previous(info);
            if RUNTIME_THREAD.with(Cell::get) {
                let thread = std::thread::current();
                tracing::error!(
                    thread = thread.name().unwrap_or("?"),
                    panic = %info,
                    "a libprocess runtime thread panicked; aborting"
                );
                std::process::abort();
            }
        }));
    });
}
