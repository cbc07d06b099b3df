//! The gateway's clock, learned from the `Date` header of its answers.
//!
//! The skew itself ([`ClockSkew`]) is shared with the credentials, which judge expiry on the
//! same corrected clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::credentials::ClockSkew;

/// The `Date` headers the gateway's clock is learned from: 2020-01-01 to 2100-01-01 (seconds).
const PLAUSIBLE_DATES: (i64, i64) = (1_577_836_800, 4_102_444_800);

/// `Date` has one-second resolution: only a skew beyond this is worth correcting.
const SKEW_RESOLUTION_MS: i64 = 1500;

/// Learns the gateway's clock and tells the time on it.
pub(crate) struct GatewayClock {
    /// The gateway's clock minus ours.
    skew: Arc<ClockSkew>,
    /// A hash (FNV-1a) of the last `Date` header the skew was learned from.
    last_date: AtomicU64,
}

impl GatewayClock {
    pub(crate) fn new(skew: Arc<ClockSkew>) -> Self {
        Self {
            skew,
            last_date: AtomicU64::new(0),
        }
    }

    /// Now on the gateway's clock, as far as we know it.
    pub(crate) fn now(&self) -> SystemTime {
        self.skew.correct(SystemTime::now())
    }

    /// The skew in force (gateway minus local clock), in milliseconds.
    pub(crate) fn skew_ms(&self) -> i64 {
        self.skew.get()
    }

    /// Learns the skew from an answer's `Date` header.
    pub(crate) fn observe_date(&self, date: &[u8]) {
        // Answers within the same second carry the same `Date`: parse each value once.
        let seen = date.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        if self.last_date.swap(seen, Ordering::Relaxed) == seen {
            return;
        }
        let Ok(date) = std::str::from_utf8(date) else {
            return;
        };
        let Ok(server) = DateTime::from_str(date.trim(), Format::HttpDate) else {
            return;
        };
        // A gateway's clock is somewhere in this century: a `Date` outside it comes from
        // something broken (or hostile) on the path, and learning it would sign every later
        // request at that time.
        if !(PLAUSIBLE_DATES.0..PLAUSIBLE_DATES.1).contains(&server.secs()) {
            tracing::warn!(date, "ignoring an implausible Date header");
            return;
        }
        let now = DateTime::from(SystemTime::now());
        let skew_ms = (server.as_secs_f64() - now.as_secs_f64()) * 1000.0;
        let skew_ms = if skew_ms.abs() < SKEW_RESOLUTION_MS as f64 {
            0
        } else {
            skew_ms as i64
        };
        let old = self.skew.set(skew_ms);
        if (old - skew_ms).abs() >= SKEW_RESOLUTION_MS {
            tracing::debug!(skew_ms, "gateway clock skew updated from its Date header");
        }
    }
}
