//! The one way the CLI writes to stdout: data on stdout, logs and errors on stderr (as uv and
//! ripgrep do), and a closed stdout (`sextant dag | head -1`) ends the command quietly with
//! exit status 0 instead of a panic and a backtrace.
//!
//! Rust ignores `SIGPIPE`, so writing to a pipe whose reader has gone fails with `EPIPE`, and
//! `println!` panics on that error. [`outln!`] and [`out!`] write through [`write_out`], which
//! treats a broken pipe as "the reader has what it wanted": exit 0 at once, as a command killed
//! by `SIGPIPE` would stop, but with a success status (no reader is left to tell otherwise).
//! Commands that must finish their work whatever happens to stdout (a pipeline's progress
//! lines) use [`write_progress`], which stops printing and lets the work go on.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout's reader is gone: progress lines are not attempted again.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Print to stdout; a broken pipe ends the process with exit 0 ([`write_out`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::printer::write_out(format_args!($($arg)*))
    };
}

/// Print a line to stdout; a broken pipe ends the process with exit 0 ([`write_out`]).
macro_rules! outln {
    () => {
        $crate::printer::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::printer::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// Write `args` to stdout and flush. When stdout's reader has gone (`EPIPE`), exit 0 quietly;
/// on any other write error (a full disk behind a redirect), say so on stderr and exit 2.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    if let Err(e) = try_write(args) {
        exit_on_write_error(&e);
    }
}

/// Write a progress line (`args` plus a newline) to stdout; once stdout's reader has gone,
/// progress is dropped silently and the caller's work goes on. Returns whether it was written.
pub fn write_progress(args: std::fmt::Arguments<'_>) -> bool {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return false;
    }
    match try_write(format_args!("{args}\n")) {
        Ok(()) => true,
        Err(e) => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                tracing::warn!(error = %e, "cannot write to stdout; progress is not shown");
            }
            false
        }
    }
}

/// Write a line to stderr (errors, hints). A closed stderr is ignored: there is no one left to
/// tell, and `eprintln!` would panic.
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

fn try_write(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()
}

/// End the process after a failed write to stdout (see [`write_out`]).
pub fn exit_on_write_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    let _ = writeln!(std::io::stderr(), "error: writing to stdout: {e}");
    std::process::exit(2);
}
