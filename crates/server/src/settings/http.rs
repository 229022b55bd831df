//! `[http]` and `[cors]`: the limits of the HTTP front (bodies, timeouts, connections, permits,
//! the drain) and which browser origins may call it.

use serde::Deserialize;

/// Limits on the HTTP requests Gravida accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// The largest request body accepted; larger bodies get 413.
    pub max_body_bytes: usize,
    /// The longest a request may take, from the first byte to the response, in milliseconds.
    /// It must leave room for `fhir.deadline_ms`.
    pub request_timeout_ms: u64,
    /// Hook calls answered at once; one more gets 503 with `Retry-After` at once, before its
    /// body is read, instead of queueing. It bounds the work an overloaded replica takes on: a
    /// shed call costs no parsing, where a queued one would wait out the EHR's patience. It
    /// must leave room for calls that wait on a slow EHR FHIR server.
    pub max_concurrent_hook_calls: usize,
    /// The longest a client may take to send a request's head (request line and headers), from
    /// its first byte, or from the moment the connection opened, in milliseconds; then the
    /// connection is closed. It is what sheds slowloris clients. An EHR sends its head in one
    /// packet, so 5 s leaves room for a congested network and no more.
    pub header_read_timeout_ms: u64,
    /// How long a keep-alive connection may wait between requests before it is closed, in
    /// milliseconds. 75 s outlasts the 60 s idle timeouts of the usual proxies in front (nginx
    /// ingress upstream keep-alive, cloud load balancers), so the proxy, not Gravida, closes a
    /// pooled connection and never sends a request down one Gravida is closing. The cost of a
    /// long wait is bounded by `max_connections`, and at that cap idle connections are closed
    /// early.
    pub idle_timeout_ms: u64,
    /// Connections open at once on this replica. At the cap Gravida stops accepting (new
    /// connections wait in the kernel's queue) and closes its idle keep-alive connections to
    /// make room. A connection costs about 40 KiB (hyper's buffers, the task, the socket), so
    /// 1024 bound that to about 40 MiB, while leaving four connections per hook permit.
    pub max_connections: usize,
    /// The longest a request body may take to arrive once its head has, in milliseconds; a
    /// slower one gets 408. Bodies are read before a hook permit is taken, so this is how long
    /// a slow client can hold a connection without holding a permit. 5 s carries a 1 MiB prefetch
    /// at 2 Mbit/s; an EHR's body of tens of KiB arrives in milliseconds.
    pub body_read_timeout_ms: u64,
    /// Hook-call steps that read a request body or evaluate a chart at once, each on a thread
    /// of its own, off the async workers (which keep answering `/healthz`, `/readyz` and the
    /// network). More calls than this wait their turn, within `request_timeout_ms`. The number
    /// of cores the replica is given is the sensible value.
    pub cpu_threads: usize,
    /// The bytes of request bodies this replica holds at once, being read or parsed. A body
    /// reserves its `Content-Length` (or its bytes as they arrive) before it is read, and one
    /// that finds no room gets 503 with `Retry-After` at once. Only authenticated callers reach
    /// this point. A quarter is kept for small bodies (up to a thirty-second of it each), which
    /// large ones may not take, so it must be at least four thirds of `max_body_bytes`. 32 MiB
    /// holds three bodies of the largest size beside hundreds of usual ones.
    pub max_body_bytes_in_flight: usize,
    /// After SIGTERM, how long the replica goes on accepting and answering while `/readyz`
    /// answers 503, so that the load balancers stop sending it calls; then it stops accepting,
    /// finishes the calls in flight, flushes the audit queue and exits. The pod's
    /// `terminationGracePeriodSeconds` must exceed this plus `request_timeout_ms`.
    pub drain_grace_ms: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_ms: 10_000,
            max_concurrent_hook_calls: 256,
            header_read_timeout_ms: 5_000,
            idle_timeout_ms: 75_000,
            max_connections: 1024,
            body_read_timeout_ms: 5_000,
            cpu_threads: 2,
            max_body_bytes_in_flight: 32 * 1024 * 1024,
            drain_grace_ms: 10_000,
        }
    }
}

/// Cross-origin access for browser-based CDS clients (the CDS Hooks sandbox, SMART apps).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Origins allowed to call the service; `["*"]` allows any origin (without credentials).
    /// An empty list turns CORS off.
    pub allowed_origins: Vec<String>,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            allowed_origins: vec!["*".to_owned()],
        }
    }
}
