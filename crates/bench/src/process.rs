//! What the kernel says about a server process: CPU time used and peak resident memory.
//!
//! Read from `/proc/<pid>/stat` (fields 14 and 15, `utime` and `stime`, in clock ticks of
//! `USER_HZ`, which Linux fixes at 100 per second for this file; threads that have exited are
//! still counted), `/proc/<pid>/status` (`VmHWM`, the high-water mark of the resident set, and
//! `VmRSS`, the resident set now) and `/proc/<pid>/task/*/status` (each live thread's context
//! switches: the process's own `status` counts its main thread's only).

use std::time::Duration;

use anyhow::Context;

/// Linux reports `/proc/<pid>/stat` times in units of `USER_HZ`, which is 100 on every platform.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user + system) that process `pid` has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let after_name = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks =
        |i: usize| -> anyhow::Result<u64> { Ok(fields.get(i).context("short stat")?.parse()?) };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 1000 / TICKS_PER_SECOND))
}

/// Peak resident set size of process `pid` so far, in bytes.
pub fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    Ok(status_field(&format!("/proc/{pid}/status"), "VmHWM:")? * 1024)
}

/// Resident set size of process `pid` now, in bytes.
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    Ok(status_field(&format!("/proc/{pid}/status"), "VmRSS:")? * 1024)
}

/// Voluntary context switches (a thread that waits: for a lock, a channel, I/O, a timer) of the
/// live threads of process `pid` so far, and involuntary ones (a thread preempted, which on a
/// shared host mostly measures the other processes). A thread that has exited takes its count
/// with it, so compare two readings of a process whose threads live through both (a server's
/// workers do).
pub fn context_switches(pid: u32) -> anyhow::Result<(u64, u64)> {
    let tasks = format!("/proc/{pid}/task");
    let (mut total, mut preempted) = (0, 0);
    for task in std::fs::read_dir(&tasks).with_context(|| format!("reading {tasks}"))? {
        let status = task?.path().join("status");
        let status = status.to_string_lossy();
        // A thread may exit between the listing and the read: it no longer counts.
        if let (Ok(voluntary), Ok(involuntary)) = (
            status_field(&status, "voluntary_ctxt_switches:"),
            status_field(&status, "nonvoluntary_ctxt_switches:"),
        ) {
            total += voluntary;
            preempted += involuntary;
        }
    }
    Ok((total, preempted))
}

/// The number after `key` in a `status` file (`VmHWM:  1234 kB` gives 1234).
fn status_field(path: &str, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with(key))
        .with_context(|| format!("no {key} in {path}"))?;
    Ok(line
        .trim_start_matches(key)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_memory_sleeping_switches_context_and_its_cpu_time_never_goes_backwards()
     {
        let pid = std::process::id();
        assert!(peak_rss(pid).expect("VmHWM") > 0);
        assert!(rss(pid).expect("VmRSS") <= peak_rss(pid).expect("VmHWM"));
        let (switches, _) = context_switches(pid).expect("task status");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(context_switches(pid).expect("task status").0 > switches);
        let before = cpu_time(pid).expect("stat");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_time(pid).expect("stat") >= before);
    }
}
