//! The replica's memory budget for FHIR responses: one bound on the bytes held at once by all
//! hook calls together.
//!
//! Every byte of a FHIR response body is paid for from this budget before it is kept: while it
//! streams in, while the page is read, and afterwards for what is kept of it (each kept record
//! is charged its size as sent, an upper bound on what the record costs; the records of a page
//! read in one pass are charged the page's size together, as its entries are not measured one by
//! one). A call that cannot get budget before its deadline fails its search with
//! [`FetchError::Budget`], which the hook call answers as data unavailable (412 for a deciding
//! key, a card note otherwise). So however large, slow or numerous the EHR's answers are, the
//! FHIR data in memory never exceeds the budget: the price of a hostile server is late or
//! unavailable data, never an out-of-memory kill.
//!
//! The budget is a [`Semaphore`] of bytes. A [`BudgetHold`] is one search's share; it grows as
//! the body arrives, shrinks once the page is read, and returns what it holds when dropped (at
//! the end of the hook call). The semaphore is fair (first come, first served), so a call waiting
//! for a large share is not starved by a stream of small ones.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::fetch_error::FetchError;

/// What each kept record is charged beyond its size as sent: its fixed parts while it is read
/// (the page's entry, then the engine's record it is moved into) and its few small strings.
pub(crate) const RECORD_OVERHEAD: usize = std::mem::size_of::<crate::page::Fetched>()
    + std::mem::size_of::<gravida_rules::facts::Record>()
    + 64;

/// The replica's budget. Cheap to clone: clones share it.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl MemoryBudget {
    pub fn new(total: usize) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        MemoryBudget {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// The bytes not held by anyone now (for metrics and tests).
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// An empty share of the budget.
    pub(crate) fn hold(&self) -> BudgetHold {
        BudgetHold {
            budget: self.clone(),
            held: 0,
        }
    }
}

/// One search's share of the budget, returned when dropped.
#[derive(Debug)]
pub struct BudgetHold {
    budget: MemoryBudget,
    held: usize,
}

impl BudgetHold {
    pub fn held(&self) -> usize {
        self.held
    }

    /// Grows the share to at least `bytes`, waiting until `deadline` for the budget to allow it.
    pub(crate) async fn grow_to(
        &mut self,
        bytes: usize,
        deadline: Instant,
    ) -> Result<(), FetchError> {
        if bytes <= self.held {
            return Ok(());
        }
        let more = bytes - self.held;
        // More than the whole budget can never be had: say so now rather than at the deadline.
        if bytes > self.budget.total {
            return Err(FetchError::Budget);
        }
        // `acquire_many` takes a u32; a body is capped far below 4 GiB, but be exact anyway.
        let Ok(more_u32) = u32::try_from(more) else {
            return Err(FetchError::Budget);
        };
        let permit =
            tokio::time::timeout_at(deadline, self.budget.bytes.acquire_many(more_u32)).await;
        match permit {
            Ok(Ok(permit)) => {
                // The hold does its own accounting, so the permit's own release is not wanted.
                permit.forget();
                self.held += more;
                Ok(())
            }
            // Closed never happens (the semaphore is never closed); treat it as no budget.
            Ok(Err(_)) | Err(_) => Err(FetchError::Budget),
        }
    }

    /// Gives back all but `bytes` of the share.
    pub(crate) fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.held {
            self.budget.bytes.add_permits(self.held - bytes);
            self.held = bytes;
        }
    }

    /// Takes over another hold's share (one hold per search, however many pages).
    pub(crate) fn absorb(&mut self, mut other: BudgetHold) {
        self.held += other.held;
        other.held = 0;
    }
}

impl Drop for BudgetHold {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.bytes.add_permits(self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn a_hold_returns_its_bytes_when_dropped() {
        let budget = MemoryBudget::new(1000);
        let mut hold = budget.hold();
        hold.grow_to(600, soon()).await.expect("within the budget");
        assert_eq!(budget.available(), 400);
        hold.shrink_to(100);
        assert_eq!(budget.available(), 900);
        drop(hold);
        assert_eq!(budget.available(), 1000);
    }

    #[tokio::test]
    async fn a_share_that_cannot_be_had_before_the_deadline_is_refused_and_costs_nothing() {
        let budget = MemoryBudget::new(1000);
        let mut first = budget.hold();
        first.grow_to(800, soon()).await.expect("within the budget");
        let mut second = budget.hold();
        let refused = second.grow_to(300, soon()).await;
        assert!(matches!(refused, Err(FetchError::Budget)), "{refused:?}");
        assert_eq!(second.held(), 0);
        assert_eq!(budget.available(), 200);
    }

    #[tokio::test]
    async fn more_than_the_whole_budget_is_refused_at_once() {
        let budget = MemoryBudget::new(1000);
        let started = std::time::Instant::now();
        let far = Instant::now() + Duration::from_secs(10);
        let refused = budget.hold().grow_to(1001, far).await;
        assert!(matches!(refused, Err(FetchError::Budget)), "{refused:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_waiting_share_is_granted_when_another_is_returned() {
        let budget = MemoryBudget::new(1000);
        let mut first = budget.hold();
        first.grow_to(900, soon()).await.expect("within the budget");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut hold = budget.hold();
                let deadline = Instant::now() + Duration::from_secs(5);
                hold.grow_to(500, deadline).await.map(|()| hold.held())
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        let granted = waiter.await.expect("the task ran");
        assert_eq!(granted.expect("granted once returned"), 500);
    }
}
