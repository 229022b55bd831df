//! Start-up: load the knowledge, check the deployment is safe to run, bind, and serve until told
//! to stop.
//!
//! `Application::build` does everything that can fail before the first request, so a
//! misconfigured service refuses to start instead of answering wrongly. Binding happens in
//! `build` too, so tests can ask for port 0 and read the port back before serving.
//!
//! `run_until` serves through the HTTP front in [`front`]: our own accept loop over hyper, which
//! sheds slow and idle clients (header-read and idle timeouts) and caps the connections a
//! replica keeps open, so that no number of slow clients can exhaust its memory or its permits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use gravida_fhir::{FetchLimits, FhirClient};
use gravida_knowledge::KnowledgeBase;
use gravida_store::{SqlReplayStore, Store};
use tokio::net::TcpListener;

use crate::app::{AppState, router};
use crate::audit::Audit;
use crate::settings::Settings;

/// A bound, ready-to-serve Gravida.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Routes served beside the service's own (`gravida demo` adds its page and FHIR server).
    extra: Router,
}

impl Application {
    /// Loads the knowledge base, checks the settings, builds the FHIR client and binds.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let started = Instant::now();
        let kb = load_knowledge(&settings)?;
        let verifier =
            crate::auth::verifier(&settings.auth).context("configuring authentication")?;
        check_exposure(&settings, verifier.is_some())?;
        if settings.metrics.enabled {
            crate::metrics::install();
        }
        let audit = Audit::start(&settings.store).await?;
        // With PostgreSQL, replicas share one replay guard; SQLite serves one replica, whose
        // in-memory guard is enough.
        let verifier = match (verifier, &audit) {
            (Some(verifier), Some(audit)) if matches!(audit.store(), Store::Postgres(_)) => {
                Some(verifier.with_replay_store(Arc::new(SqlReplayStore::new(
                    audit.store().clone(),
                    settings.auth.replay_capacity,
                ))))
            }
            (verifier, _) => verifier,
        };
        if let Some(verifier) = &verifier {
            // Best effort: an EHR whose JWKS is down now is retried on its first call.
            for problem in verifier.prefetch_keys().await {
                tracing::warn!(
                    problem = problem.as_str(),
                    "could not fetch an issuer's keys at start-up"
                );
            }
        }

        let fhir = FhirClient::new(FetchLimits {
            max_pages: settings.fhir.max_pages,
            max_response_bytes: settings.fhir.max_response_bytes,
            memory_budget_bytes: settings.fhir.memory_budget_bytes,
            max_call_entries: settings.fhir.max_call_entries,
            max_call_bytes: settings.fhir.max_call_bytes,
            ..FetchLimits::default()
        })
        .context("building the FHIR client")?;

        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        // With port 0 the OS picks the port: record the real address.
        settings.listen = listener.local_addr()?;

        tracing::info!(
            listen = %settings.listen,
            public_base = settings.public_base(),
            profile = kb.version(),
            startup_ms = started.elapsed().as_millis() as u64,
            "gravida ready"
        );
        Ok(Application {
            listener,
            state: AppState::new(kb, fhir, verifier, settings).with_audit(audit),
            extra: Router::new(),
        })
    }

    /// Serves `routes` beside the service's own. They get none of the service's middleware, so
    /// they bring their own (CORS, headers); their paths must not overlap the service's.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.settings.listen
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = front::Limits::from(&self.state.settings.http);
        let app = router(self.state).merge(self.extra);
        front::serve(self.listener, app, limits, signal).await
    }
}

fn load_knowledge(settings: &Settings) -> anyhow::Result<KnowledgeBase> {
    match &settings.profiles {
        Some(dir) => KnowledgeBase::load_dir(dir)
            .with_context(|| format!("loading the knowledge profile {}", dir.display())),
        None => KnowledgeBase::embedded().context("loading the embedded knowledge profile"),
    }
}

/// Without trusted issuers nobody is authenticated, which is acceptable only on loopback.
fn check_exposure(settings: &Settings, authenticated: bool) -> anyhow::Result<()> {
    if authenticated {
        return Ok(());
    }
    let loopback = settings.listen.ip().is_loopback();
    if loopback {
        tracing::warn!(
            "no trusted issuers are configured: accepting unauthenticated calls on loopback only"
        );
        return Ok(());
    }
    if settings.insecure_no_auth {
        tracing::warn!(
            listen = %settings.listen,
            "insecure_no_auth is set: accepting unauthenticated calls on a non-loopback address"
        );
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {} without trusted issuers: configure [[auth.issuers]], \
         listen on loopback, or pass --insecure-no-auth (never in production)",
        settings.listen
    )
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what Kubernetes sends before it kills a pod).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}

/// The HTTP front: accepts connections, serves each with hyper's HTTP/1, and closes the ones that
/// only cost (`axum::serve` sets no header or idle timeout and accepts without bound).
///
/// Each connection is in one of four phases, which its watchdog (below) turns into a deadline:
///
/// | phase | until | deadline |
/// |---|---|---|
/// | `Fresh` | the first byte | `header_read_timeout` after the connection opened |
/// | `Head` | hyper has the whole request head | `header_read_timeout` after it opened, or after its first byte if it was idle |
/// | `Busy` | the response's last byte is written | none here: the router's request timeout and the body-read timeout bound it |
/// | `Idle` | the next request's first byte | `idle_timeout` after the last response (one second when the replica is at its connection cap) |
///
/// Why not hyper's own `header_read_timeout` alone: in hyper 1.x its timer starts as soon as a
/// connection goes idle (`State::idle` sets `notify_read` so that the next read starts the
/// timer), so it bounds idle time and head time together, by one number. A keep-alive connection
/// should wait longer between requests than a client may take to send one head, so the watchdog
/// keeps the two apart; hyper's timer is still set, to their sum, as a backstop.
///
/// The cap: a slot (a semaphore permit) is taken before each `accept` and given back when the
/// connection's task ends. At the cap the loop stops accepting, so new connections wait in the
/// kernel's listen queue (as actix-web's `max_connections` does), and connections idle for a
/// second or more are closed to make room (as nginx does when it runs out of connections).
///
/// Shutdown: on the signal the loop stops accepting, idle and fresh connections close at once,
/// the others finish the request they carry (hyper's `graceful_shutdown`: no keep-alive after
/// it), and `serve` returns once every slot is back.
mod front {
    use std::convert::Infallible;
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use axum::Router;
    use axum::body::{Body, Bytes, HttpBody};
    use axum::http::Request;
    use hyper::body::{Frame, Incoming, SizeHint};
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
    use tokio::time::Instant;
    use tower::ServiceExt as _;

    use crate::settings::HttpSettings;

    /// At the connection cap, connections idle for this long are closed to make room. Longer
    /// than the gap between two calls of a busy EHR connection, so those are kept.
    const IDLE_AT_CAP: Duration = Duration::from_secs(1);

    /// The front's settings, from `[http]`.
    #[derive(Debug, Clone, Copy)]
    pub struct Limits {
        pub header_read_timeout: Duration,
        pub idle_timeout: Duration,
        pub max_connections: usize,
    }

    impl From<&HttpSettings> for Limits {
        fn from(http: &HttpSettings) -> Self {
            Limits {
                header_read_timeout: Duration::from_millis(http.header_read_timeout_ms),
                idle_timeout: Duration::from_millis(http.idle_timeout_ms),
                max_connections: http.max_connections,
            }
        }
    }

    /// What the accept loop shares with every connection task.
    #[derive(Debug)]
    struct Shared {
        limits: Limits,
        /// True while the replica is at its connection cap (see `serve`).
        at_cap: AtomicBool,
        /// Wakes every watchdog to look again at its deadline (the cap was reached).
        recheck: Notify,
    }

    /// Serves `app` on `listener` until `signal` completes, then lets the connections finish.
    pub async fn serve(
        listener: TcpListener,
        app: Router,
        limits: Limits,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let capacity = limits
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let slots = Arc::new(Semaphore::new(capacity));
        let shared = Arc::new(Shared {
            limits,
            at_cap: AtomicBool::new(false),
            recheck: Notify::new(),
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // The backstop: see the module doc. The watchdog closes a connection first.
            .header_read_timeout(limits.idle_timeout + limits.header_read_timeout);
        let (stopping, _) = watch::channel(false);
        let mut signal = pin!(signal);

        loop {
            // A slot first, so that at the cap nothing more is accepted.
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    if !shared.at_cap.swap(true, Ordering::Relaxed) {
                        tracing::warn!(max_connections = capacity, "connection cap reached");
                        shared.recheck.notify_waiters();
                    }
                    metrics::counter!("gravida_http_connection_cap_waits_total").increment(1);
                    tokio::select! {
                        slot = slots.clone().acquire_owned() => match slot {
                            Ok(slot) => slot,
                            // The semaphore is never closed.
                            Err(_) => break,
                        },
                        () = &mut signal => break,
                    }
                }
            };
            // Leave the cap once a sixteenth of the slots are free: not on every freed slot,
            // which would wake every watchdog at each accept under a flood.
            if slots.available_permits() >= capacity.div_ceil(16) {
                shared.at_cap.store(false, Ordering::Relaxed);
            }
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        accept_failed(e).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            tokio::spawn(connection(
                stream,
                app.clone(),
                builder.clone(),
                shared.clone(),
                stopping.subscribe(),
                slot,
            ));
        }

        // Stop accepting (connections that arrive now are refused), tell every connection, and
        // wait for them all: each gives its slot back when it ends.
        drop(listener);
        stopping.send_replace(true);
        let _all = slots.acquire_many(capacity as u32).await;
        Ok(())
    }

    /// An `accept` that failed. A connection reset before it was accepted is the client's
    /// business; anything else (out of file descriptors, say) is ours: wait a moment, since
    /// retrying at once would spin, and ending connections may free what is missing.
    async fn accept_failed(e: std::io::Error) {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(
            e.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset
        ) {
            return;
        }
        tracing::error!(error = %e, "accept failed; retrying in a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// Serves one connection until it ends or its watchdog closes it.
    async fn connection(
        stream: TcpStream,
        app: Router,
        builder: http1::Builder,
        shared: Arc<Shared>,
        mut stopping: watch::Receiver<bool>,
        slot: OwnedSemaphorePermit,
    ) {
        let _open = Open::new(slot);
        // Answers are small and written whole: send them without Nagle's delay.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = hyper::service::service_fn({
            let activity = activity.clone();
            move |request: Request<Incoming>| {
                let busy = Busy::start(activity.clone());
                let app = app.clone();
                async move {
                    let response = app.oneshot(request).await?;
                    // The connection is busy until hyper has written the last byte of the
                    // answer and dropped its body.
                    Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
                }
            }
        });
        let mut conn = pin!(builder.serve_connection(io, service));
        let mut stop_seen = false;
        loop {
            let stop = stop_seen;
            let deadline = activity.deadline(&shared, stop);
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(e) = ended {
                        // A client that went away, a malformed request (hyper answered it), or the
                        // backstop header timeout. Nothing of the request is logged.
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = sleep_until(deadline) => {
                    if let Some(reason) = activity.expired(&shared, stop) {
                        if let Some(reason) = reason.metric() {
                            metrics::counter!("gravida_http_connections_closed_total",
                                "reason" => reason)
                            .increment(1);
                        }
                        // Nothing is in flight: dropping the connection closes the socket.
                        return;
                    }
                }
                () = activity.changed.notified() => {}
                () = shared.recheck.notified() => {}
                _ = stopping.changed(), if !stop_seen => {
                    stop_seen = true;
                    // No keep-alive from now on; an idle connection closes at once.
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }

    /// Sleeps until `deadline`, or forever without one.
    async fn sleep_until(deadline: Option<Instant>) {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    }

    /// An open connection: holds its slot and keeps the gauge, both given back when dropped,
    /// however the task ends.
    struct Open {
        _slot: OwnedSemaphorePermit,
    }

    impl Open {
        fn new(slot: OwnedSemaphorePermit) -> Self {
            metrics::counter!("gravida_http_connections_total").increment(1);
            metrics::gauge!("gravida_http_connections_open").increment(1.0);
            Open { _slot: slot }
        }
    }

    impl Drop for Open {
        fn drop(&mut self) {
            metrics::gauge!("gravida_http_connections_open").decrement(1.0);
        }
    }

    /// Where a connection is between requests (see the table in the module doc).
    #[derive(Debug, Clone, Copy)]
    enum Phase {
        Fresh { opened: Instant },
        Head { since: Instant },
        Busy { requests: usize },
        Idle { since: Instant },
    }

    /// Why the watchdog closed a connection.
    #[derive(Debug, Clone, Copy)]
    enum Closed {
        HeaderTimeout,
        IdleTimeout,
        IdleAtCap,
        Shutdown,
    }

    impl Closed {
        /// The `reason` label of `gravida_http_connections_closed_total`; shutdown is not counted.
        fn metric(self) -> Option<&'static str> {
            match self {
                Closed::HeaderTimeout => Some("header-timeout"),
                Closed::IdleTimeout => Some("idle-timeout"),
                Closed::IdleAtCap => Some("idle-at-cap"),
                Closed::Shutdown => None,
            }
        }
    }

    /// One connection's phase, moved on by its socket (bytes read) and its service (requests
    /// begun and answered), and read by its watchdog.
    #[derive(Debug)]
    struct Activity {
        phase: Mutex<Phase>,
        /// Woken when the deadline may have moved earlier (or appeared).
        changed: Notify,
    }

    impl Activity {
        fn new() -> Self {
            Activity {
                phase: Mutex::new(Phase::Fresh {
                    opened: Instant::now(),
                }),
                changed: Notify::new(),
            }
        }

        fn phase(&self) -> MutexGuard<'_, Phase> {
            // The lock guards plain data that is always whole: a panic elsewhere cannot break it.
            self.phase
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        /// Bytes arrived. An idle connection starts a request head: its header clock starts now.
        fn bytes_read(&self) {
            let mut phase = self.phase();
            match *phase {
                Phase::Fresh { opened } => *phase = Phase::Head { since: opened },
                Phase::Idle { .. } => {
                    *phase = Phase::Head {
                        since: Instant::now(),
                    };
                    self.changed.notify_one();
                }
                Phase::Head { .. } | Phase::Busy { .. } => {}
            }
        }

        fn request_started(&self) {
            let mut phase = self.phase();
            *phase = match *phase {
                Phase::Busy { requests } => Phase::Busy {
                    requests: requests + 1,
                },
                _ => Phase::Busy { requests: 1 },
            };
        }

        fn request_answered(&self) {
            let mut phase = self.phase();
            *phase = match *phase {
                Phase::Busy { requests } if requests > 1 => Phase::Busy {
                    requests: requests - 1,
                },
                _ => Phase::Idle {
                    since: Instant::now(),
                },
            };
            self.changed.notify_one();
        }

        /// When the watchdog should look again, if ever.
        fn deadline(&self, shared: &Shared, stopping: bool) -> Option<Instant> {
            self.close_at(shared, stopping).map(|(at, _)| at)
        }

        /// Whether the connection should be closed now, and why.
        fn expired(&self, shared: &Shared, stopping: bool) -> Option<Closed> {
            self.close_at(shared, stopping)
                .filter(|(at, _)| *at <= Instant::now())
                .map(|(_, why)| why)
        }

        fn close_at(&self, shared: &Shared, stopping: bool) -> Option<(Instant, Closed)> {
            let limits = &shared.limits;
            match *self.phase() {
                // At shutdown nothing that has not begun a request is waited for.
                Phase::Fresh { .. } | Phase::Idle { .. } if stopping => {
                    Some((Instant::now(), Closed::Shutdown))
                }
                Phase::Fresh { opened: since } | Phase::Head { since } => {
                    Some((since + limits.header_read_timeout, Closed::HeaderTimeout))
                }
                Phase::Idle { since } if shared.at_cap.load(Ordering::Relaxed) => {
                    let at_cap = since + IDLE_AT_CAP.min(limits.idle_timeout);
                    let timeout = since + limits.idle_timeout;
                    Some(if at_cap < timeout {
                        (at_cap, Closed::IdleAtCap)
                    } else {
                        (timeout, Closed::IdleTimeout)
                    })
                }
                Phase::Idle { since } => Some((since + limits.idle_timeout, Closed::IdleTimeout)),
                Phase::Busy { .. } => None,
            }
        }
    }

    /// A request in progress on a connection: marks it busy until dropped, which is when hyper
    /// drops the answer's body (all written, or the connection gone).
    struct Busy(Arc<Activity>);

    impl Busy {
        fn start(activity: Arc<Activity>) -> Self {
            activity.request_started();
            Busy(activity)
        }
    }

    impl Drop for Busy {
        fn drop(&mut self) {
            self.0.request_answered();
        }
    }

    /// An answer's body, carrying the request's [`Busy`] mark.
    struct Tracked {
        body: Body,
        _busy: Busy,
    }

    impl HttpBody for Tracked {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            Pin::new(&mut self.body).poll_frame(cx)
        }

        fn is_end_stream(&self) -> bool {
            self.body.is_end_stream()
        }

        // Forwarded so that hyper still writes a Content-Length, not a chunked body.
        fn size_hint(&self) -> SizeHint {
            self.body.size_hint()
        }
    }

    /// The socket, telling the connection's [`Activity`] when bytes arrive.
    struct Watched {
        inner: TcpStream,
        activity: Arc<Activity>,
    }

    impl AsyncRead for Watched {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
            if buf.filled().len() > before {
                self.activity.bytes_read();
            }
            polled
        }
    }

    impl AsyncWrite for Watched {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }
}
