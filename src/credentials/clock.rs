//! The gateway's clock as learned from its `Date` headers, shared by signing and the
//! credential cache: signatures are made, and expiries judged, on the same corrected clock.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// AWS's clock minus this machine's, in milliseconds, once learned.
#[derive(Debug, Default)]
pub(crate) struct ClockSkew {
    ms: AtomicI64,
    learned: AtomicBool,
}

impl ClockSkew {
    /// Records a skew learned from a `Date` header; returns the previous one.
    pub(crate) fn set(&self, ms: i64) -> i64 {
        self.learned.store(true, Ordering::Relaxed);
        self.ms.swap(ms, Ordering::Relaxed)
    }

    /// The skew in force (0 until learned).
    pub(crate) fn get(&self) -> i64 {
        self.ms.load(Ordering::Relaxed)
    }

    /// The skew, if any `Date` header has been seen.
    pub(crate) fn learned(&self) -> Option<i64> {
        self.learned
            .load(Ordering::Relaxed)
            .then(|| self.ms.load(Ordering::Relaxed))
    }

    /// `local` moved onto AWS's clock.
    pub(crate) fn correct(&self, local: SystemTime) -> SystemTime {
        let skew = self.get();
        if skew >= 0 {
            local + Duration::from_millis(skew as u64)
        } else {
            local
                .checked_sub(Duration::from_millis(skew.unsigned_abs()))
                .unwrap_or(SystemTime::UNIX_EPOCH)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrects_both_ways_and_knows_when_it_learned() {
        let skew = ClockSkew::default();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(skew.learned(), None);
        assert_eq!(skew.correct(t), t);
        skew.set(-1_200_000);
        assert_eq!(skew.learned(), Some(-1_200_000));
        assert_eq!(skew.correct(t), t - Duration::from_secs(1200));
        assert_eq!(skew.set(1_000), -1_200_000);
        assert_eq!(skew.correct(t), t + Duration::from_secs(1));
    }
}
