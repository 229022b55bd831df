//! The `gravida` binary: a thin shell over `gravida_server::cli`.

/// mimalloc instead of the system allocator: a hook call allocates and frees thousands of small
/// objects (the parsed request, the typed FHIR resources), and glibc malloc spent about a quarter
/// of the call's CPU on them (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_e` in `mimalloc.h`, the same index in
/// mimalloc 2 and 3, which libmimalloc-sys does not name).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the kernel 10 ms after it is freed (`purge_delay = 10`). mimalloc
/// 3's default is to wait 1 s, which steady load never lets pass, so the resident set kept its
/// peak; at 0 it went back at once, but every call then paid for it: a `madvise` per call and
/// the page faults of touching the same memory again (one load run each on the 2-core
/// benchmark host: 582 µs of CPU per call at 0, 506 µs at 10 ms; p99 at half Gravida's own
/// throughput 43 ms and 7 ms; peak RSS 53 and 57 MiB). At 10 ms a busy replica reuses what it
/// freed and an idle one gives it back (README, Performance: memory). This is the binary's own default, so `cargo run -- serve` gets it as the container
/// does; `MIMALLOC_PURGE_DELAY` in the environment still overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

#[allow(unsafe_code, reason = "mimalloc's options are set through its C API")]
fn purge_freed_memory_soon() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` stores a number in mimalloc's table of options; every value is
    // valid for the purge delay, and the index is the one mimalloc.h gives it. It runs first
    // thing in `main`, before any other thread exists, so nothing reads the table meanwhile.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

/// No transparent huge pages for this process. mimalloc asks the kernel for them on its arenas
/// (`madvise(MADV_HUGEPAGE)`), and the kernel's `khugepaged` then folds a partly used 2 MiB of
/// heap into one huge page, all of it resident. In the one-hour soak it did so about ten minutes
/// in: the resident set rose from 47 to 79 MiB within a minute, 51,200 kB of it `AnonHugePages`,
/// and stayed there. Small pages keep the resident set to what the heap uses.
#[allow(
    unsafe_code,
    reason = "prctl is a system call with no safe wrapper in std"
)]
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and unused zero arguments; it changes
    // only how the kernel backs this process's memory, and fails harmlessly on an old kernel.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
    purge_freed_memory_soon();
    gravida_server::cli::main()
}
