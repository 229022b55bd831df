//! One hook call, from a parsed request to the response: the steps after authentication.
//!
//! The HTTP handler and `gravida evaluate` share this, so what a knowledge author sees on the
//! command line is exactly what an EHR gets. The steps, in the order the design fixes:
//! validate the request's context for the service's hook (400), check the `fhirServer` against
//! the deployment's policy and the caller's allow-list (403), gather the facts from prefetch and
//! the FHIR server (412 when the deciding records cannot be had), then evaluate and render cards.
//! Each check runs once, here: the validated [`HookContext`] goes out in [`Answer`] for the
//! steps after the answer, and the checked [`FhirServer`] is what gathering fetches from.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gravida_auth::{Caller, Verifier};
use gravida_cds_hooks::{HookContext, RequestError, ServiceRequest};
use gravida_fhir::{
    FhirClient, FhirServer, GatherInput, Prefetch, PrefetchSeed, RawPrefetchSeed, read_each,
};
use gravida_knowledge::{KnowledgeBase, Rendered};
use gravida_rules::facts::PatientFacts;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::error::ApiError;
use crate::services::ServiceDef;
use crate::settings::HttpSettings;

/// The threads a hook call's CPU-heavy steps run on: reading a large request body into records
/// and evaluating a large chart. They run on tokio's blocking threads, never on its async
/// workers, so that a call with a large chart cannot keep `/healthz`, `/readyz` or any other
/// call waiting; and at most `http.cpu_threads` of them at once, so that such calls share the
/// cores instead of taking a thread each. A small body or chart ([`INLINE_BODY_BYTES`],
/// [`INLINE_WORK`]) is read and evaluated on the request's own task ([`run_small_inline`]):
/// for it, the two hand-offs cost more than the work.
#[derive(Debug, Clone)]
pub struct Pool {
    permits: Arc<Semaphore>,
}

/// Raises a stop flag when dropped: when the future waiting for the work ends, whether it got
/// its answer or was given up (its deadline passed, or the client went away).
struct RaiseOnDrop(Arc<AtomicBool>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The largest request body read on the request's own task instead of on the [`Pool`]. The
/// hand-off to a blocking thread and back costs two thread wake-ups, about as much CPU as
/// reading a small chart; a body this size (a few hundred resources) is read in about a
/// millisecond, which an async worker can give. Larger bodies go to the pool, where a chart of
/// megabytes cannot hold up the probes or the other calls.
pub const INLINE_BODY_BYTES: usize = 64 * 1024;

/// The most work ([`engine_work`]) evaluated on the request's own task instead of on the
/// [`Pool`]: the engine's work is linear in it, about a millisecond for this much (the
/// benchmark patient's 101 records are about 500). More, and the engine runs on the pool, where
/// the deadline's stop flag can end it.
pub const INLINE_WORK: usize = 2_048;

/// About how much the engine has to do with `facts`: a unit for each record, component, code,
/// category and reference, and for each 256 bytes of text. Not records alone: one Observation
/// with 15,000 components is a large chart.
pub fn engine_work(facts: &PatientFacts) -> usize {
    let record = |r: &gravida_rules::facts::Record| {
        1 + r.components.len()
            + r.codes.len()
            + r.category.len()
            + r.references.len()
            + r.problems.len()
            + r.text.iter().map(String::len).sum::<usize>() / 256
    };
    facts.records.iter().map(record).sum::<usize>()
        + facts.draft_orders.len()
        + facts.medications.len()
}

impl Pool {
    /// A pool running at most `threads` steps at once.
    pub fn new(threads: usize) -> Pool {
        Pool {
            permits: Arc::new(Semaphore::new(threads.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    /// Runs `work` on a blocking thread once the pool has room, and waits for it until
    /// `deadline` (then [`ApiError::DeadlineExceeded`]). `work` is handed a flag that is raised
    /// when nobody waits for its answer any more; work that looks at it (the engine does, between
    /// its steps) ends early. The pool's room is given back only when the work has ended, so
    /// abandoned work still counts against `http.cpu_threads` until it stops.
    pub async fn run<T, F>(&self, deadline: Instant, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&AtomicBool) -> T + Send + 'static,
        T: Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let _raise = RaiseOnDrop(stop.clone());
        let permit = timeout_at(deadline, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::DeadlineExceeded)?
            .map_err(|_| ApiError::Internal)?;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&stop)
        });
        match timeout_at(deadline, task).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                // A panic in the work is a bug of ours: logged, answered 500, the thread lives on.
                tracing::error!(%error, "a hook call's work failed");
                Err(ApiError::Internal)
            }
            Err(_) => Err(ApiError::DeadlineExceeded),
        }
    }
}

/// Runs `work` now, on the calling task, if it is `small`; otherwise on `pool` (see
/// [`Pool::run`]). Small work is bounded (by [`INLINE_BODY_BYTES`] or [`INLINE_WORK`]), so it
/// cannot hold the call past its deadline by more than a millisecond or so; a call whose
/// deadline has passed already is answered [`ApiError::DeadlineExceeded`] without it.
pub async fn run_small_inline<T, F>(
    pool: &Pool,
    small: bool,
    deadline: Instant,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&AtomicBool) -> T + Send + 'static,
    T: Send + 'static,
{
    if !small {
        return pool.run(deadline, work).await;
    }
    if Instant::now() >= deadline {
        return Err(ApiError::DeadlineExceeded);
    }
    Ok(work(&AtomicBool::new(false)))
}

/// When a hook call that started at `started` must be answered: `http.request_timeout_ms`
/// after, less a margin (a tenth of it, at most 250 ms) so that the call's own 503 is sent
/// before the router's request timeout (408) would cut it off.
pub fn deadline(started: Instant, http: &HttpSettings) -> Instant {
    let timeout = Duration::from_millis(http.request_timeout_ms);
    let margin = (timeout / 10).min(Duration::from_millis(250));
    started + (timeout - margin)
}

/// Whether this call may reach the EHR's FHIR server.
#[derive(Debug, Clone, Copy)]
pub enum Network<'a> {
    /// Fetch what prefetch lacks from `fhirServer`, within `deadline`.
    Fetch {
        client: &'a FhirClient,
        deadline: Duration,
        /// The verifier and the authenticated caller, whose issuer's FHIR-server allow-list
        /// applies; `None` on an unauthenticated (loopback) deployment.
        trust: Option<(&'a Verifier, &'a Caller)>,
    },
    /// Use prefetch only (`gravida evaluate`): a missing key is unavailable.
    Offline,
}

/// A hook request as read: its prefetch by the fast reader when it accepts the request, or else
/// by the reference reader (see `gravida_fhir::fast`). Either way the answer is the same; the
/// fast reader only costs less.
pub struct HookRequest {
    pub request: ServiceRequest,
    /// `Some` when the prefetch was read without the reference reader's JSON values, whole by
    /// the fast reader or value by value (`request.prefetch` is then `None`); owned, and taken by
    /// [`answer`].
    fast_prefetch: Option<Prefetch<'static>>,
}

/// Like [`ServiceRequest`]'s: the shape of the request, never the records it carries.
impl fmt::Debug for HookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookRequest")
            .field("request", &self.request)
            .field(
                "fast_prefetch_keys",
                &self.fast_prefetch.as_ref().and_then(Prefetch::keys),
            )
            .finish()
    }
}

impl HookRequest {
    /// Parses a request body. The fast reader is tried first. When it declines, the body is read
    /// again with each prefetch value kept as its JSON text, and each value is read on its own:
    /// each resource by the fast reader, one it declines alone by the reference reader
    /// (`gravida_fhir::by_resource`). When that declines too (a request that is not what it
    /// should be), the body is parsed by [`ServiceRequest::parse`], which gives its error.
    /// Parses a request body on the [`Pool`], within `deadline`: a body of megabytes takes the
    /// reader tens of milliseconds, which must not be taken from the async workers. A small one
    /// ([`INLINE_BODY_BYTES`]) is read on the request's own task.
    pub async fn read(
        pool: &Pool,
        kb: &Arc<KnowledgeBase>,
        body: axum::body::Bytes,
        deadline: Instant,
    ) -> Result<HookRequest, ApiError> {
        let kb = kb.clone();
        let small = body.len() <= INLINE_BODY_BYTES;
        Ok(run_small_inline(pool, small, deadline, move |_| {
            HookRequest::parse(&kb, &body)
        })
        .await??)
    }

    pub fn parse(kb: &KnowledgeBase, body: &[u8]) -> Result<HookRequest, RequestError> {
        let queries = kb.prefetch();
        if let Some((request, fast)) =
            ServiceRequest::parse_with_prefetch(body, PrefetchSeed { queries })
        {
            metrics::counter!("gravida_prefetch_reads_total", "reader" => "fast").increment(1);
            return Ok(HookRequest {
                request,
                fast_prefetch: Some(Prefetch::Fast(fast.unwrap_or_default())),
            });
        }
        if let Some((request, values)) =
            ServiceRequest::parse_with_prefetch(body, RawPrefetchSeed { queries })
        {
            metrics::counter!("gravida_prefetch_reads_total", "reader" => "by-resource")
                .increment(1);
            return Ok(HookRequest {
                request,
                fast_prefetch: Some(Prefetch::ByResource(read_each(values.unwrap_or_default()))),
            });
        }
        let request = ServiceRequest::parse(body)?;
        metrics::counter!("gravida_prefetch_reads_total", "reader" => "reference").increment(1);
        Ok(HookRequest {
            request,
            fast_prefetch: None,
        })
    }
}

/// What one hook call concluded: the cards to send, each with the finding it renders, the cards
/// of silent rules (to record, never to send), and the request's context.
#[derive(Debug)]
pub struct Answer {
    pub cards: Vec<Rendered>,
    /// The cards of rules that run silently (`RuleMode::Silent`): recorded in the audit trail
    /// as "would have shown", never in the response.
    pub silent: Vec<Rendered>,
    /// The request's context, validated for the service's hook once, by [`answer`]. What comes
    /// after the answer (suppression, the audit trail) reads the patient and the encounter from
    /// it and validates nothing again.
    pub context: HookContext,
}

/// Where a hook call's CPU-heavy steps run, and by when it must be answered.
#[derive(Debug, Clone, Copy)]
pub struct Work<'a> {
    pub pool: &'a Pool,
    /// Past it the call is answered 503 ([`ApiError::DeadlineExceeded`]) and its work given up.
    pub deadline: Instant,
}

/// Answers one hook call.
pub async fn answer(
    kb: &Arc<KnowledgeBase>,
    service: &ServiceDef,
    hook_request: &mut HookRequest,
    network: Network<'_>,
    now: OffsetDateTime,
    work: Work<'_>,
) -> Result<Answer, ApiError> {
    let HookRequest {
        request,
        fast_prefetch,
    } = hook_request;
    let request = &*request;
    // The fast reader's records are moved into the facts (so the request loses them).
    let prefetch = match fast_prefetch.take() {
        Some(prefetch) => prefetch,
        None => request.prefetch.as_ref().into(),
    };
    // The one validation of the context for this hook (400). Everything after reads `context`.
    let context = request.context_for(service.hook)?;

    // The FHIR server is checked before anything is fetched from it, and whether or not
    // anything will be: a request naming a forbidden server is refused outright (403). The
    // request parser made it a URL; this is the one check of the deployment's policy, and the
    // `FhirServer` it gives is what the allow-list and the FHIR client are handed.
    let fhir_server = request
        .fhir_server
        .as_ref()
        .map(FhirServer::check)
        .transpose()?;
    // An authenticated caller may only send a FHIR server its issuer lists: otherwise a caller
    // could point Gravida, and the token it carries, at any host.
    if let (
        Some(server),
        Network::Fetch {
            trust: Some((verifier, caller)),
            ..
        },
    ) = (&fhir_server, network)
        && !verifier.fhir_server_allowed(caller, server.url())
    {
        return Err(ApiError::ForbiddenFhirServer(
            "fhirServer is not on the allow-list of the caller's issuer".to_owned(),
        ));
    }

    let token = request
        .fhir_authorization
        .as_ref()
        .map(|a| a.access_token.as_str());
    let (fhir, deadline) = match network {
        Network::Fetch {
            client, deadline, ..
        } => (
            fhir_server.as_ref().map(|server| (client, server, token)),
            Instant::now() + deadline,
        ),
        Network::Offline => (None, Instant::now() + Duration::from_secs(1)),
    };

    // Draft orders are read only at the order hooks: that is what keeps the methotrexate rule
    // (R6) off patient-view and encounter-start.
    let draft_orders = if service.hook.has_draft_orders() {
        context.draft_orders()
    } else {
        None
    };

    let gathered = timeout_at(
        work.deadline,
        gravida_fhir::gather(GatherInput {
            queries: kb.prefetch(),
            context: context.fields(),
            prefetch,
            fhir,
            draft_orders,
            deadline,
            granted: request.fhir_authorization.as_ref().map(|a| &a.granted),
            // The site's today (`now` is in its time zone), as for gestational age.
            today: now.date(),
        }),
    )
    .await
    .map_err(|_| ApiError::DeadlineExceeded)??;

    crate::metrics::count_unread(&gathered.diagnostics);
    if !gathered.diagnostics.is_empty() {
        tracing::warn!(
            count = gathered.diagnostics.len(),
            "some records could not be read; see the cards for what this means"
        );
    }
    // The engine and the renderer run on the pool (or, for a small chart, on this task);
    // past the deadline they are told to stop, and the call is answered 503 without them.
    let evaluation = {
        let kb = kb.clone();
        let patient_id = context.patient_id().to_owned();
        let mut facts = gathered.facts;
        // The records' times on the site's calendar, the one `now` is in: the day of the bleed
        // and today are then counted alike.
        facts.on_calendar(now.offset());
        let small = engine_work(&facts) <= INLINE_WORK;
        run_small_inline(work.pool, small, work.deadline, move |stop| {
            kb.evaluate_unless(&facts, &patient_id, now, stop)
        })
        .await?
    };
    let assessment = evaluation.ok_or(ApiError::DeadlineExceeded)?;
    // What the engine could not use (a value, unit or date it cannot read): named on the cards,
    // and counted here (issue 30, "Bad input").
    if !assessment.diagnostics.is_empty() {
        metrics::counter!("gravida_records_unread_total", "kind" => "engine")
            .increment(assessment.diagnostics.len() as u64);
    }
    tracing::info!(
        cards = assessment.cards.len(),
        silent = ?assessment.silent.iter().map(|r| r.finding.rule.to_string()).collect::<Vec<_>>(),
        rules = ?assessment.findings.iter().map(|f| f.rule.to_string()).collect::<Vec<_>>(),
        fetched = ?gathered.fetched,
        diagnostics = assessment.diagnostics.len() + gathered.diagnostics.len(),
        profile = kb.version(),
        "hook answered"
    );
    Ok(Answer {
        cards: assessment.cards,
        silent: assessment.silent,
        context,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use tokio::time::Instant;

    use gravida_rules::facts::{Component, PatientFacts, Record, RecordKind};

    use super::{INLINE_WORK, Pool, engine_work, run_small_inline};
    use crate::error::ApiError;

    #[test]
    fn a_chart_of_a_hundred_records_is_small_work_and_one_of_15000_components_is_not() {
        let record = |i: usize| {
            let mut r = Record::new(RecordKind::Observation, format!("o{i}"));
            r.text = vec!["Pregnancy test, urine".to_owned()];
            r
        };
        let small = PatientFacts {
            records: (0..100).map(record).collect(),
            ..PatientFacts::default()
        };
        assert!(
            engine_work(&small) <= INLINE_WORK,
            "{}",
            engine_work(&small)
        );
        let mut vitals = record(0);
        vitals.components = vec![
            Component {
                codes: Vec::new(),
                text: Vec::new(),
                value: None,
            };
            15_000
        ];
        let one_large = PatientFacts {
            records: vec![vitals],
            ..PatientFacts::default()
        };
        assert!(engine_work(&one_large) > INLINE_WORK);
        let mut note = record(0);
        note.text = vec!["bleeding ".repeat(100_000)];
        let long_text = PatientFacts {
            records: vec![note],
            ..PatientFacts::default()
        };
        assert!(engine_work(&long_text) > INLINE_WORK);
    }

    #[tokio::test]
    async fn small_work_runs_on_the_calling_thread_large_work_on_the_pool_and_neither_past_its_deadline()
     {
        let pool = Pool::new(1);
        let here = std::thread::current().id();
        let later = Instant::now() + Duration::from_secs(5);
        let small = run_small_inline(&pool, true, later, |_: &AtomicBool| {
            std::thread::current().id()
        });
        assert_eq!(small.await.ok(), Some(here));
        let large = run_small_inline(&pool, false, later, |_: &AtomicBool| {
            std::thread::current().id()
        });
        assert_ne!(large.await.ok(), Some(here));
        let passed = Instant::now() - Duration::from_millis(1);
        let late = run_small_inline(&pool, true, passed, |_: &AtomicBool| ()).await;
        assert!(matches!(late, Err(ApiError::DeadlineExceeded)));
    }

    #[tokio::test]
    async fn work_past_its_deadline_is_answered_at_once_and_told_to_stop() {
        let pool = Pool::new(1);
        let (ended, ends) = mpsc::channel();
        let started = Instant::now();
        let answer = pool
            .run(
                started + Duration::from_millis(100),
                move |stop: &AtomicBool| {
                    // Work that would never end unless told to stop.
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    ended.send(()).unwrap();
                },
            )
            .await;
        assert!(matches!(answer, Err(ApiError::DeadlineExceeded)));
        assert!(started.elapsed() < Duration::from_secs(2));
        // The work saw the flag and ended, and gave its room in the pool back.
        ends.recv_timeout(Duration::from_secs(5))
            .expect("the abandoned work stopped");
        let next = pool
            .run(Instant::now() + Duration::from_secs(5), |_: &AtomicBool| 7)
            .await;
        assert_eq!(next.ok(), Some(7));
    }

    #[tokio::test]
    async fn a_full_pool_makes_the_next_call_wait_and_past_its_deadline_answers_503() {
        let pool = Pool::new(1);
        let release = Arc::new(AtomicBool::new(false));
        let holding = {
            let pool = pool.clone();
            let release = release.clone();
            tokio::spawn(async move {
                pool.run(
                    Instant::now() + Duration::from_secs(10),
                    move |_: &AtomicBool| {
                        while !release.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    },
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waited = pool
            .run(
                Instant::now() + Duration::from_millis(100),
                |_: &AtomicBool| (),
            )
            .await;
        assert!(matches!(waited, Err(ApiError::DeadlineExceeded)));
        release.store(true, Ordering::Relaxed);
        assert!(holding.await.unwrap().is_ok());
    }
}
