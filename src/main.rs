//! The `gravida` binary: a thin shell over `gravida_server::cli`.

/// mimalloc instead of the system allocator: a hook call allocates and frees thousands of small
/// objects (the parsed request, the typed FHIR resources), and glibc malloc spent about a quarter
/// of the call's CPU on them (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gravida_server::cli::main()
}
