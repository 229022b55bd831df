//! A canary for a host that takes the CPU away: a thread that times a fixed piece of work by its
//! own CPU clock, so that a run can say how much of its tail latency the machine caused.
//!
//! On a virtual machine the host may run other work on our virtual CPUs' real cores without
//! the guest seeing it (this kind of machine reports no steal time). The guest then believes its
//! threads were running while they made no progress, and every CPU figure inflates: a server's
//! CPU time per request, and every latency. A guest's own scheduler cannot fake this: a thread
//! that waits for a core does not count that wait in its CPU time (`CLOCK_THREAD_CPUTIME_ID`).
//! So when the same work takes a thread several times its usual CPU time, the host slowed the
//! core, whatever our servers and the load generator were doing.
//!
//! The canary does about half a millisecond of work every 20 ms (under 3 % of one core, the same
//! for every run) and keeps each sample with when it was taken; [`Canary::during`] summarises the
//! samples of one run against the median of all of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

/// How long the canary sleeps between samples.
const INTERVAL: Duration = Duration::from_millis(20);

/// A sample this many times the median counts as a slowed CPU.
pub const SLOWED: f64 = 2.0;

/// The thread's CPU time so far.
fn thread_cpu_time() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or_default(),
        u32::try_from(now.tv_nsec).unwrap_or_default(),
    )
}

/// The fixed work: a multiply-add over a 64 KiB buffer, 8 times (about 0.5 ms on this machine's
/// cores); `black_box` keeps the compiler from skipping or shortening it.
fn work(buffer: &[u8]) -> u64 {
    let mut hash = 0u64;
    for _ in 0..8 {
        for &byte in std::hint::black_box(buffer) {
            hash = hash.wrapping_mul(31).wrapping_add(u64::from(byte));
        }
    }
    std::hint::black_box(hash)
}

/// When a sample was taken, and the CPU time the work took.
type Samples = Arc<Mutex<Vec<(Instant, Duration)>>>;

/// The running canary; stopped when dropped.
#[derive(Debug)]
pub struct Canary {
    samples: Samples,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the canary saw during one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Steadiness {
    /// Samples taken in the run.
    pub samples: usize,
    /// The median CPU time of the work over the whole benchmark: what it costs unslowed.
    pub typical: Duration,
    /// The 99th-percentile sample of the run, as a multiple of `typical`.
    pub p99_ratio: f64,
    /// The share of the run's samples that took at least [`SLOWED`] times `typical`.
    pub slowed: f64,
}

impl Steadiness {
    /// Several runs' summaries as one: their samples together, the worst p99 among them.
    pub fn combined(runs: &[Steadiness]) -> Steadiness {
        let samples: usize = runs.iter().map(|run| run.samples).sum();
        let slowed: f64 = runs.iter().map(|run| run.slowed * run.samples as f64).sum();
        Steadiness {
            samples,
            typical: runs.first().map(|run| run.typical).unwrap_or_default(),
            p99_ratio: runs.iter().map(|run| run.p99_ratio).fold(0.0, f64::max),
            slowed: slowed / samples.max(1) as f64,
        }
    }
}

impl Canary {
    /// Starts the canary thread.
    pub fn start() -> Canary {
        let samples: Samples = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::Builder::new()
                .name("canary".to_owned())
                .spawn(move || {
                    let buffer: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
                    while !stop.load(Ordering::Relaxed) {
                        let before = thread_cpu_time();
                        work(&buffer);
                        let took = thread_cpu_time().saturating_sub(before);
                        samples
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((Instant::now(), took));
                        std::thread::sleep(INTERVAL);
                    }
                })
                .ok()
        };
        Canary {
            samples,
            stop,
            thread,
        }
    }

    /// Summarises the samples taken between `from` and `to`.
    pub fn during(&self, from: Instant, to: Instant) -> Steadiness {
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        steadiness(&samples, from, to)
    }

    /// The median CPU time of the work over all samples so far: what it costs unslowed.
    pub fn typical(&self) -> Duration {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        typical(&samples)
    }
}

/// The median CPU time of `samples`' work (zero if there are none).
fn typical(samples: &[(Instant, Duration)]) -> Duration {
    let mut times: Vec<Duration> = samples.iter().map(|(_, took)| *took).collect();
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The summary behind [`Canary::during`], apart from the thread that takes the samples.
fn steadiness(samples: &[(Instant, Duration)], from: Instant, to: Instant) -> Steadiness {
    let typical = typical(samples);
    let mut ratios: Vec<f64> = samples
        .iter()
        .filter(|(at, _)| (from..=to).contains(at))
        .map(|(_, took)| took.as_secs_f64() / typical.as_secs_f64().max(1e-9))
        .collect();
    ratios.sort_unstable_by(f64::total_cmp);
    let p99_ratio = match ratios.len() {
        0 => 0.0,
        n => ratios[((0.99 * n as f64).ceil() as usize).clamp(1, n) - 1],
    };
    let slowed = ratios.iter().filter(|&&ratio| ratio >= SLOWED).count();
    Steadiness {
        samples: ratios.len(),
        typical,
        p99_ratio,
        slowed: slowed as f64 / ratios.len().max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_runs_samples_count_and_slowed_ones_are_measured_against_the_median() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let us = Duration::from_micros;
        // Eight samples over the whole benchmark; the median is 500 µs.
        let samples = vec![
            (at(0), us(500)),
            (at(10), us(500)),
            (at(20), us(2_000)),
            (at(30), us(500)),
            (at(40), us(999)),
            (at(50), us(500)),
            (at(60), us(10_000)),
            (at(70), us(400)),
        ];
        let run = steadiness(&samples, at(20), at(50));
        assert_eq!(run.samples, 4);
        assert_eq!(run.typical, us(500));
        // 2,000 µs is 4× the median (slowed); 999 µs is just under 2× (not slowed).
        assert_eq!(run.slowed, 0.25);
        assert_eq!(run.p99_ratio, 4.0);
        let empty = steadiness(&samples, at(100), at(200));
        assert_eq!(
            (empty.samples, empty.slowed, empty.p99_ratio),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn combined_runs_weigh_each_run_by_its_samples_and_keep_the_worst_p99() {
        let typical = Duration::from_micros(500);
        let run = |samples, slowed, p99_ratio| Steadiness {
            samples,
            typical,
            p99_ratio,
            slowed,
        };
        let all = Steadiness::combined(&[run(100, 0.1, 3.0), run(300, 0.0, 1.5)]);
        assert_eq!(all.samples, 400);
        assert!((all.slowed - 0.025).abs() < 1e-12, "{all:?}");
        assert_eq!(all.p99_ratio, 3.0);
        assert_eq!(all.typical, typical);
        assert_eq!(Steadiness::combined(&[]).samples, 0);
    }

    #[test]
    fn the_canary_samples_its_own_cpu_time_while_it_runs() {
        let from = Instant::now();
        let canary = Canary::start();
        std::thread::sleep(Duration::from_millis(150));
        let seen = canary.during(from, Instant::now());
        drop(canary);
        assert!(seen.samples >= 2, "{seen:?}");
        assert!(seen.typical > Duration::ZERO, "{seen:?}");
    }
}
