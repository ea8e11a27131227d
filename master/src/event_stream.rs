//! A memory budget per v1 event stream.
//!
//! Events are queued for the connection that writes them; a subscriber that stops reading
//! makes its socket block, and without a bound the queue (offers, updates, messages, at the
//! rate peers cause them) would grow in the master forever. Every record carries its share
//! of the budget until the connection has written it (the count drops when the connection
//! drops the bytes), so the master knows exactly what it still holds for each subscriber.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

/// A stream's budget: bytes queued but not yet written, and the most it may hold.
#[derive(Debug, Clone)]
pub struct Budget {
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// The next record does not fit the budget.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{queued} bytes of events are still unwritten; {record} more would exceed the limit of {limit} bytes")]
pub struct Overflow {
    pub queued: usize,
    pub record: usize,
    pub limit: usize,
}

/// Record bytes that give their share of the budget back when the connection drops them.
struct Counted {
    data: Bytes,
    queued: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.queued.fetch_sub(self.data.len(), Ordering::AcqRel);
    }
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            queued: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Charges `record` to the budget: the returned bytes hold their share until dropped.
    pub fn admit(&self, record: Bytes) -> Result<Bytes, Overflow> {
        let queued = self.queued();
        if queued.saturating_add(record.len()) > self.limit {
            return Err(Overflow {
                queued,
                record: record.len(),
                limit: self.limit,
            });
        }
        self.queued.fetch_add(record.len(), Ordering::AcqRel);
        Ok(Bytes::from_owner(Counted {
            data: record,
            queued: self.queued.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_count_until_dropped_and_the_limit_refuses_more() {
        let budget = Budget::new(10);
        let a = budget.admit(Bytes::from_static(b"123456")).unwrap();
        assert_eq!(&a[..], b"123456");
        assert_eq!(budget.queued(), 6);
        let err = budget.admit(Bytes::from_static(b"12345")).unwrap_err();
        assert_eq!(
            err,
            Overflow {
                queued: 6,
                record: 5,
                limit: 10
            }
        );
        drop(a);
        assert_eq!(budget.queued(), 0);
        let b = budget.admit(Bytes::from_static(b"12345")).unwrap();
        let c = b.clone();
        drop(b);
        assert_eq!(budget.queued(), 5, "a clone still holds the bytes");
        drop(c);
        assert_eq!(budget.queued(), 0);
    }
}
