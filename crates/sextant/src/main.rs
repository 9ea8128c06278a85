//! The `sextant` binary: parses the command line and runs one command.

fn main() -> std::process::ExitCode {
    sextant::main()
}
