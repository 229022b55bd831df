//! Reading a request body whole: within its deadline, its size limit, and the replica's budget for
//! the bodies in flight.
//!
//! A body is held in memory while it arrives and while it is parsed, so the bodies a replica
//! reads at once are what an attacker (or a burst of large prefetches) would use to exhaust it.
//! [`BodyBudget`] bounds them together: `http.max_body_bytes_in_flight` bytes, counted as a
//! semaphore of bytes. A body reserves its declared `Content-Length` before its first byte is
//! read (a chunked body, which declares none, reserves as its bytes arrive), and gives the
//! reservation back when its [`Body`] is dropped. A body that cannot get its bytes is refused
//! with 503 and `Retry-After` at once: the replica is busy with other bodies, not broken.
//!
//! Large bodies do not get the whole budget. A quarter of it is kept for small bodies (at most
//! a thirty-second of the budget each: 1 MiB of the default 32 MiB), which is what an EHR's
//! everyday calls are. So a caller holding many large bodies at once (a trusted issuer gone
//! wrong, or a burst of huge charts) cannot shut out the small calls beside it: they share the
//! reserve, and the large ones share the rest.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::settings::HttpSettings;

/// The bytes this replica may hold in request bodies at once, shared by every request.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    /// A body larger than this is large: it may not take the budget's last `kept_for_small`.
    small: usize,
    /// Bytes only small bodies may use.
    kept_for_small: usize,
}

impl BodyBudget {
    /// A budget of `bytes` (`http.max_body_bytes_in_flight`; settings keep it below 4 GiB).
    pub fn new(bytes: usize) -> Self {
        let bytes = bytes.min(Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(bytes)),
            small: bytes / 32,
            kept_for_small: bytes / 4,
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Reserves `bytes` more for `reservation`, or refuses at once (503). A body whose whole
    /// reservation would then be large must leave the small bodies' share free. (The check and
    /// the acquisition are two steps, so two large bodies at the same instant may dip into the
    /// share by one body; the semaphore still bounds the total.)
    fn reserve(
        &self,
        reservation: &mut Option<OwnedSemaphorePermit>,
        bytes: usize,
    ) -> Result<(), ApiError> {
        if bytes == 0 {
            return Ok(());
        }
        let held = reservation.as_ref().map_or(0, |r| r.num_permits());
        let large = held + bytes > self.small;
        let room = if large {
            self.available().saturating_sub(self.kept_for_small)
        } else {
            self.available()
        };
        let more = u32::try_from(bytes)
            .ok()
            .filter(|_| bytes <= room)
            .and_then(|n| self.bytes.clone().try_acquire_many_owned(n).ok());
        let Some(more) = more else {
            metrics::counter!("gravida_body_budget_shed_total").increment(1);
            return Err(ApiError::Overloaded);
        };
        match reservation {
            Some(held) => held.merge(more),
            None => *reservation = Some(more),
        }
        Ok(())
    }
}

/// A body read whole, holding its share of the budget until dropped.
#[derive(Debug)]
pub struct Body {
    pub bytes: Bytes,
    _reserved: Option<OwnedSemaphorePermit>,
}

/// The body's declared length, if its `Content-Length` is a single valid number (hyper has
/// already refused a request whose lengths disagree).
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads the whole body: more than `http.max_body_bytes` gets 413 (before any byte is read when
/// the `Content-Length` says so), a body still arriving after `http.body_read_timeout_ms` gets
/// 408, and one for which `budget` has no room gets 503.
pub async fn read(
    headers: &HeaderMap,
    body: axum::body::Body,
    http: &HttpSettings,
    budget: &BodyBudget,
) -> Result<Body, ApiError> {
    let limit = http.max_body_bytes;
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut reserved = None;
    let declared = declared.unwrap_or(0) as usize;
    budget.reserve(&mut reserved, declared)?;

    let deadline = Duration::from_millis(http.body_read_timeout_ms);
    let read = async {
        let mut body = body;
        // The first frame is kept as hyper gave it: a body that arrives in one frame (most do,
        // over a connection that is not slow) is used without a copy. Only a second frame
        // makes one contiguous buffer of them.
        let mut first: Option<Bytes> = None;
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| {
                ApiError::BadRequest("the request body could not be read".to_owned())
            })?;
            // Trailers carry nothing we read.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let read_so_far = first.as_ref().map_or(0, Bytes::len) + bytes.len();
            let length = read_so_far + data.len();
            if length > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            // A body without a declared length reserves as it grows.
            if length > declared.max(read_so_far) {
                budget.reserve(&mut reserved, length - declared.max(read_so_far))?;
            }
            if read_so_far == 0 {
                first = Some(data);
                continue;
            }
            if bytes.is_empty() {
                // Room for the whole declared body at once, so it is never copied as it grows.
                bytes.reserve(declared.max(length));
                bytes.extend_from_slice(first.as_deref().unwrap_or_default());
                first = None;
            }
            bytes.extend_from_slice(&data);
        }
        Ok(match first {
            Some(whole) => whole,
            None => Bytes::from(bytes),
        })
    };

    let Ok(read) = tokio::time::timeout(deadline, read).await else {
        return Err(ApiError::BodyTimeout {
            timeout_ms: http.body_read_timeout_ms,
        });
    };
    Ok(Body {
        bytes: read?,
        _reserved: reserved,
    })
}
