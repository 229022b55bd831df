//! The `gravida` binary: a thin shell over `gravida_server::cli`.

/// mimalloc instead of the system allocator: a hook call allocates and frees thousands of small
/// objects (the parsed request, the typed FHIR resources), and glibc malloc spent about a quarter
/// of the call's CPU on them (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_e` in `mimalloc.h`, the same index in
/// mimalloc 2 and 3, which libmimalloc-sys does not name).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the kernel at once (`purge_delay = 0`; mimalloc 3's default is to
/// wait 1 s, and under steady load it never gets the chance): the resident set follows the
/// load down instead of keeping its peak (README, Performance: memory). This is the binary's own
/// default, so `cargo run -- serve` gets it as the container does; `MIMALLOC_PURGE_DELAY` in the
/// environment still overrides it.
#[allow(unsafe_code, reason = "mimalloc's options are set through its C API")]
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` stores a number in mimalloc's table of options; every value is
    // valid for the purge delay, and the index is the one mimalloc.h gives it. It runs first
    // thing in `main`, before any other thread exists, so nothing reads the table meanwhile.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

fn main() -> std::process::ExitCode {
    purge_freed_memory_at_once();
    gravida_server::cli::main()
}
