//! The `gravida` binary: a thin shell over `gravida_server::cli`.

fn main() -> std::process::ExitCode {
    gravida_server::cli::main()
}
