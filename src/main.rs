//! The `talon` binary: a thin shell over `talon::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    talon::cli::main(std::env::args_os().skip(1).collect())
}
