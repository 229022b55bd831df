//! Sending the load: closed loop at a fixed concurrency, or paced at a fixed rate.
//!
//! * **Closed loop** ([`closed_loop`]): `concurrency` workers each send a request, wait for the
//!   answer, and send the next, until `requests` have been sent or `max_time` has passed. This
//!   saturates the server and gives its throughput.
//! * **Paced** ([`paced`]): one request every `1 / rate` seconds whether or not earlier ones have
//!   been answered, each timed from when it *should* have been sent, so a stalled server shows up
//!   in the latencies instead of silently slowing the load down ("coordinated omission"). How
//!   late each request left is kept too: if the load generator itself fell behind, the run says
//!   so instead of blaming the server.
//!
//! Every answer is checked by the target's `check`; a wrong answer is counted, never timed as a
//! success. The checks run after the run, on the kept answers: checking parses each answer, and
//! doing that during the run would put the load generator's work for Gravida's six-kilobyte cards
//! (and not for the baseline's empty list) on the cores the servers share with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use tokio::time::Instant;

/// Checks one answer (status and body); says what is wrong with it.
pub type Check = Arc<dyn Fn(u16, &[u8]) -> Result<(), String> + Send + Sync>;

/// Where to send what, and how to tell a right answer.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub body: Bytes,
    pub check: Check,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The latency of every right answer, sorted.
    pub latencies: Vec<Duration>,
    /// Wall time from the first request sent to the last answer.
    pub elapsed: Duration,
    /// Answers that were wrong, or requests that failed.
    pub failures: usize,
    /// What was wrong with the first of them.
    pub first_failure: Option<String>,
    /// Requests refused with 503 (the server shedding load it cannot take in time: a right
    /// answer to too much load, neither timed nor counted wrong, nor in the throughput).
    pub shed: usize,
    /// Paced runs only: how late each request was sent after it was due, sorted.
    pub send_lateness: Vec<Duration>,
    /// Answers not yet checked: latency, status, body.
    unchecked: Vec<(Duration, u16, Bytes)>,
}

impl Outcome {
    /// Requests answered (rightly or wrongly) per second.
    pub fn throughput(&self) -> f64 {
        (self.latencies.len() + self.failures) as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile latency (`p` in 0..=100), by nearest rank.
    pub fn percentile(&self, p: f64) -> Duration {
        nearest_rank(&self.latencies, p)
    }

    /// The `p`-th percentile of how late paced requests were sent (zero for a closed loop).
    pub fn lateness_percentile(&self, p: f64) -> Duration {
        nearest_rank(&self.send_lateness, p)
    }

    /// Requests sent, right, wrong or shed.
    pub fn count(&self) -> usize {
        self.latencies.len() + self.failures + self.shed
    }

    fn merge(&mut self, sample: Sample) {
        match sample {
            Ok(answer) => self.unchecked.push(answer),
            Err(error) => self.fail(error),
        }
    }

    fn fail(&mut self, error: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(error);
    }

    /// Several checked runs of one target as one: every answer, and the time of all the runs.
    pub fn merged(runs: Vec<Outcome>) -> Outcome {
        let mut all = Outcome::default();
        for run in runs {
            all.latencies.extend(run.latencies);
            all.send_lateness.extend(run.send_lateness);
            all.elapsed += run.elapsed;
            all.failures += run.failures;
            all.shed += run.shed;
            if all.first_failure.is_none() {
                all.first_failure = run.first_failure;
            }
        }
        all.latencies.sort_unstable();
        all.send_lateness.sort_unstable();
        all
    }

    fn absorb(&mut self, other: Outcome) {
        self.unchecked.extend(other.unchecked);
        self.failures += other.failures;
        self.shed += other.shed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    /// Checks every kept answer: a right one is timed, a wrong one counted, a 503 counted as
    /// shed.
    fn finish(mut self, elapsed: Duration, check: &Check) -> Outcome {
        for (latency, status, body) in std::mem::take(&mut self.unchecked) {
            if status == 503 {
                self.shed += 1;
                continue;
            }
            match check(status, &body) {
                Ok(()) => self.latencies.push(latency),
                Err(error) => self.fail(error),
            }
        }
        self.latencies.sort_unstable();
        self.elapsed = elapsed;
        self
    }
}

/// The `p`-th percentile (`p` in 0..=100) of sorted `times`, by nearest rank; zero if empty.
fn nearest_rank(times: &[Duration], p: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
    times[rank.clamp(1, times.len()) - 1]
}

/// One answer (its latency, status and body, to be checked), or why there was none.
type Sample = Result<(Duration, u16, Bytes), String>;

/// Sends one request and keeps its answer; the latency counts from `since`.
async fn send(client: &reqwest::Client, target: &Target, since: Instant) -> Sample {
    let response = client
        .post(&target.url)
        .header("content-type", "application/json")
        .body(target.body.clone())
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    let latency = since.elapsed();
    Ok((latency, status, body))
}

/// Saturates the target: see the module documentation.
pub async fn closed_loop(
    client: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    requests: usize,
    max_time: Duration,
) -> Outcome {
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (client, target, sent) = (client.clone(), target.clone(), sent.clone());
        tokio::spawn(async move {
            let mut outcome = Outcome::default();
            while sent.fetch_add(1, Ordering::Relaxed) < requests && started.elapsed() < max_time {
                outcome.merge(send(&client, &target, Instant::now()).await);
            }
            outcome
        })
    });
    let mut total = Outcome::default();
    for worker in workers.collect::<Vec<_>>() {
        match worker.await {
            Ok(outcome) => total.absorb(outcome),
            Err(error) => total.fail(format!("worker failed: {error}")),
        }
    }
    let elapsed = started.elapsed();
    total.finish(elapsed, &target.check)
}

/// Sends `rate` requests per second for `duration`: see the module documentation.
pub async fn paced(
    client: &reqwest::Client,
    target: &Target,
    rate: f64,
    duration: Duration,
) -> Outcome {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let count = (rate * duration.as_secs_f64()).ceil() as u32;
    let started = Instant::now();
    let mut requests = Vec::with_capacity(count as usize);
    for i in 0..count {
        let due = started + interval * i;
        tokio::time::sleep_until(due).await;
        let (client, target) = (client.clone(), target.clone());
        requests.push(tokio::spawn(async move {
            let late = due.elapsed();
            (late, send(&client, &target, due).await)
        }));
    }
    let mut outcome = Outcome::default();
    for request in requests {
        match request.await {
            Ok((late, sample)) => {
                outcome.send_lateness.push(late);
                outcome.merge(sample);
            }
            Err(e) => outcome.fail(format!("task failed: {e}")),
        }
    }
    outcome.send_lateness.sort_unstable();
    let elapsed = started.elapsed();
    outcome.finish(elapsed, &target.check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let outcome = Outcome {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            ..Outcome::default()
        };
        assert_eq!(outcome.percentile(50.0), Duration::from_millis(50));
        assert_eq!(outcome.percentile(99.0), Duration::from_millis(99));
        assert_eq!(outcome.percentile(100.0), Duration::from_millis(100));
        assert_eq!(Outcome::default().percentile(99.0), Duration::ZERO);
        assert_eq!(Outcome::default().lateness_percentile(99.0), Duration::ZERO);
    }

    #[test]
    fn merged_runs_keep_every_answer_and_add_up_their_time() {
        let ms = Duration::from_millis;
        let run = |latencies: Vec<u64>, failures, first: Option<&str>| Outcome {
            latencies: latencies.into_iter().map(ms).collect(),
            elapsed: ms(1000),
            failures,
            first_failure: first.map(str::to_owned),
            ..Outcome::default()
        };
        let merged = Outcome::merged(vec![
            run(vec![3, 5], 0, None),
            run(vec![1, 4], 2, Some("second")),
            run(vec![2], 1, Some("third")),
        ]);
        assert_eq!(merged.latencies, [1, 2, 3, 4, 5].map(ms));
        assert_eq!(merged.elapsed, ms(3000));
        assert_eq!(merged.count(), 8);
        assert_eq!(merged.first_failure.as_deref(), Some("second"));
        assert!((merged.throughput() - 8.0 / 3.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn a_paced_run_sends_every_request_it_schedules_and_times_when_each_one_left() {
        let app = axum::Router::new().route("/", axum::routing::post(|| async { "right" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let check: Check = Arc::new(|status, body| match (status, body) {
            (200, b"right") => Ok(()),
            _ => Err(format!("wrong answer: {status}")),
        });
        let target = Target {
            url: format!("http://{address}/"),
            body: Bytes::from_static(b"{}"),
            check,
        };
        // reqwest is built without a TLS provider of its own; the load generator installs ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().build().expect("client");
        let outcome = paced(&client, &target, 200.0, Duration::from_millis(250)).await;
        assert_eq!(outcome.failures, 0, "{:?}", outcome.first_failure);
        assert_eq!(outcome.count(), 50);
        assert_eq!(outcome.send_lateness.len(), 50);
        assert!(outcome.send_lateness.is_sorted());
        assert!(outcome.elapsed >= Duration::from_millis(245), "{outcome:?}");
    }

    #[test]
    fn answers_are_checked_at_the_end_and_a_wrong_one_is_counted_not_timed() {
        let check: Check = Arc::new(|status, body| match (status, body) {
            (200, b"right") => Ok(()),
            _ => Err(format!("wrong answer: {status}")),
        });
        let mut outcome = Outcome::default();
        outcome.merge(Ok((
            Duration::from_millis(2),
            200,
            Bytes::from_static(b"right"),
        )));
        outcome.merge(Ok((
            Duration::from_millis(1),
            200,
            Bytes::from_static(b"wrong"),
        )));
        outcome.merge(Ok((
            Duration::from_millis(3),
            500,
            Bytes::from_static(b"right"),
        )));
        outcome.merge(Err("request failed".into()));
        let outcome = outcome.finish(Duration::from_secs(1), &check);
        assert_eq!(outcome.latencies, vec![Duration::from_millis(2)]);
        assert_eq!(outcome.failures, 3);
        assert_eq!(outcome.count(), 4);
        assert_eq!(outcome.first_failure.as_deref(), Some("request failed"));
    }
}
