//! What every subcommand of the `gravida` command line shares: loading the settings, a one-shot
//! runtime, and writing to stdout. `cli.rs` dispatches to the subcommands and `report.rs` is
//! one of them; both use these, so they live here, below both.

use std::path::Path;
use std::process::ExitCode;

use crate::settings::Settings;

/// The settings, or exit status 2 with the reason on stderr.
pub(crate) fn load_settings(config: Option<&Path>) -> Result<Settings, ExitCode> {
    Settings::load(config).map_err(|e| {
        eprintln!("gravida: settings: {e}");
        ExitCode::from(2)
    })
}

/// A current-thread runtime for a command that runs one task and exits, or exit status 1.
pub(crate) fn one_shot_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("gravida: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Writes a command's output to stdout. `println!` panics when stdout is closed early
/// (`gravida evaluate ... | head`); a reader that stopped reading is not an error of ours, so a
/// broken pipe ends the command quietly, and any other write error is reported.
pub(crate) fn write_stdout(text: &str) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gravida: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}
