//! The HTTP front: accepts connections, serves each with hyper's HTTP/1, and closes the ones that
//! only cost (`axum::serve` sets no header or idle timeout and accepts without bound).
//!
//! Each connection is in one of four phases, which its watchdog (below) turns into a deadline:
//!
//! | phase | until | deadline |
//! |---|---|---|
//! | `Fresh` | the first byte | `header_read_timeout` after the connection opened |
//! | `Head` | hyper has the whole request head | `header_read_timeout` after it opened, or after its first byte if it was idle |
//! | `Busy` | the response's last byte is written | none here: the router's request timeout and the body-read timeout bound it |
//! | `Idle` | the next request's first byte | `idle_timeout` after the last response |
//!
//! Why not hyper's own `header_read_timeout` alone: in hyper 1.x its timer starts as soon as a
//! connection goes idle (`State::idle` sets `notify_read` so that the next read starts the
//! timer), so it bounds idle time and head time together, by one number. A keep-alive connection
//! should wait longer between requests than a client may take to send one head, so the watchdog
//! keeps the two apart; hyper's timer is still set, to their sum, as a backstop.
//!
//! The cap: each connection holds a slot (a semaphore permit) until its task ends. A connection
//! accepted when no slot is free makes room by closing another, chosen so that a flood of slow or
//! idle clients sheds itself and not the EHR's connections:
//!
//! 1. the connection whose head has been incomplete longest (`Fresh` or `Head`: a slowloris
//!    client, or a half-open one);
//! 2. else the connection idle longest among those that never carried an authenticated call
//!    (an idle flood);
//! 3. else the connection idle longest (an EHR's keep-alive is closed only when every other
//!    open connection is also an authenticated keep-alive or busy).
//!
//! A busy connection is never closed to make room; when every one is busy the new connection
//! waits for a slot, and those behind it wait in the kernel's listen queue. An EHR calling every
//! few seconds therefore keeps its connection under any slowloris load, and a new connection is
//! served as soon as it is accepted, since accepting is no longer paced by the attackers' header
//! timeouts. Handlers mark a connection as carrying an authenticated call through the
//! [`Connection`] request extension. There is no per-peer cap: behind an ingress every
//! connection comes from a few proxy addresses, and the order above already sheds the attacker's
//! connections first wherever they come from.
//!
//! Shutdown (after the drain's grace, see [`super::Application::run_until`]): on the signal the
//! loop stops accepting, idle and fresh connections close at once,
//! the others finish the request they carry (hyper's `graceful_shutdown`: no keep-alive after
//! it), and `serve` returns once every slot is back.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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

use crate::auth::Connection;
use crate::settings::HttpSettings;

/// At the cap, how long the accept loop waits for the slot of the connection it closed before it
/// closes another (the one chosen may have begun a request meanwhile, and is then kept).
const ROOM_RETRY: Duration = Duration::from_millis(100);

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
    /// Every open connection, by a number of its own, for the accept loop to choose which to
    /// close at the cap.
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    /// The next connection's number.
    next_id: AtomicU64,
}

impl Shared {
    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the connection that should go first (see the module doc) to close, if any is not
    /// busy. Returns whether one was told.
    fn make_room(&self) -> bool {
        let open = self.open();
        let victim = open
            .values()
            .filter_map(|activity| activity.shed_rank().map(|rank| (rank, activity)))
            .min_by_key(|(rank, _)| *rank);
        match victim {
            Some((_, activity)) => {
                activity.shed();
                true
            }
            None => false,
        }
    }
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
        open: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The backstop: see the module doc. The watchdog closes a connection first.
        .header_read_timeout(limits.idle_timeout + limits.header_read_timeout);
    let (stopping, _) = watch::channel(false);
    let mut signal = pin!(signal);
    let mut at_cap = false;

    loop {
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
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                // Leave the cap once a sixteenth of the slots are free, so that a flood does not
                // log at every accept.
                if at_cap && slots.available_permits() >= capacity.div_ceil(16) {
                    at_cap = false;
                }
                slot
            }
            Err(_) => {
                if !at_cap {
                    at_cap = true;
                    tracing::warn!(max_connections = capacity, "connection cap reached");
                }
                metrics::counter!("gravida_http_connection_cap_waits_total").increment(1);
                match room(&slots, &shared, &mut signal).await {
                    Some(slot) => slot,
                    None => break,
                }
            }
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

/// A slot for a connection accepted at the cap: closes the connection that should go first and
/// waits for its slot, again every [`ROOM_RETRY`] while none comes back. `None` on the signal.
async fn room(
    slots: &Arc<Semaphore>,
    shared: &Shared,
    signal: &mut Pin<&mut impl Future<Output = ()>>,
) -> Option<OwnedSemaphorePermit> {
    loop {
        shared.make_room();
        tokio::select! {
            // The semaphore is never closed.
            slot = slots.clone().acquire_owned() => return slot.ok(),
            () = tokio::time::sleep(ROOM_RETRY) => {}
            () = signal.as_mut() => return None,
        }
    }
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
    // Answers are small and written whole: send them without Nagle's delay.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let _open = Open::new(slot, shared.clone(), activity.clone());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |mut request: Request<Incoming>| {
            let busy = Busy::start(activity.clone());
            request
                .extensions_mut()
                .insert(Connection::new(activity.vouched.clone()));
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

/// An open connection: holds its slot, its place among the open connections and the gauge, all
/// given back when dropped, however the task ends.
struct Open {
    _slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    id: u64,
}

impl Open {
    fn new(slot: OwnedSemaphorePermit, shared: Arc<Shared>, activity: Arc<Activity>) -> Self {
        metrics::counter!("gravida_http_connections_total").increment(1);
        metrics::gauge!("gravida_http_connections_open").increment(1.0);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared.open().insert(id, activity);
        Open {
            _slot: slot,
            shared,
            id,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.open().remove(&self.id);
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
    HeadAtCap,
    IdleAtCap,
    Shutdown,
}

impl Closed {
    /// The `reason` label of `gravida_http_connections_closed_total`; shutdown is not counted.
    fn metric(self) -> Option<&'static str> {
        match self {
            Closed::HeaderTimeout => Some("header-timeout"),
            Closed::IdleTimeout => Some("idle-timeout"),
            Closed::HeadAtCap => Some("head-at-cap"),
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
    /// A handler authenticated a call on this connection (see [`Connection::vouch`]).
    vouched: Arc<AtomicBool>,
    /// Chosen to make room at the cap; cleared if a request begins first.
    shed: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            phase: Mutex::new(Phase::Fresh {
                opened: Instant::now(),
            }),
            changed: Notify::new(),
            vouched: Arc::new(AtomicBool::new(false)),
            shed: AtomicBool::new(false),
        }
    }

    /// Where this connection stands in the order of closing at the cap (lowest first), or
    /// `None` if it is busy or already told to close.
    fn shed_rank(&self) -> Option<(u8, Instant)> {
        if self.shed.load(Ordering::Relaxed) {
            return None;
        }
        match *self.phase() {
            Phase::Fresh { opened: since } | Phase::Head { since } => Some((0, since)),
            Phase::Idle { since } if !self.vouched.load(Ordering::Relaxed) => Some((1, since)),
            Phase::Idle { since } => Some((2, since)),
            Phase::Busy { .. } => None,
        }
    }

    /// Tells the connection to close to make room, unless a request begins first.
    fn shed(&self) {
        self.shed.store(true, Ordering::Relaxed);
        self.changed.notify_one();
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
        // A request that begins saves the connection: it is busy, and busy ones are not shed.
        self.shed.store(false, Ordering::Relaxed);
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
            // Chosen to make room at the cap.
            Phase::Fresh { .. } | Phase::Head { .. } if self.shed.load(Ordering::Relaxed) => {
                Some((Instant::now(), Closed::HeadAtCap))
            }
            Phase::Idle { .. } if self.shed.load(Ordering::Relaxed) => {
                Some((Instant::now(), Closed::IdleAtCap))
            }
            Phase::Fresh { opened: since } | Phase::Head { since } => {
                Some((since + limits.header_read_timeout, Closed::HeaderTimeout))
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

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
