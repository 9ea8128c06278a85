//! The `sextant` binary: parses the command line and runs one command.

// mimalloc: the server allocates and frees many small objects per request (JSON values, rows);
// glibc's allocator showed up as ~20% of a log-batch profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sextant::main()
}
