//! Where a worker's next claim starts scanning the claim index.
//!
//! Claimed and finished jobs leave index entries behind until vacuum removes them, and a
//! long-running transaction anywhere in the database stops vacuum from removing any. A
//! claim that always scans from the start of the index then walks every such entry, and
//! its cost grows with the length of that transaction: the way PostgreSQL queues
//! classically collapse. So a worker mostly resumes after the last job it claimed.
//!
//! Resuming is only a shortcut: a job can become runnable behind the cursor (an older
//! job of a serial key whose predecessor finished, a more urgent priority, a claim that
//! another worker rolled back). A full scan from the start therefore still runs whenever
//! it is cheap, and at worst once per ten times its own last duration, so it takes at
//! most about a tenth of the claim loop and such jobs wait at most that long.

use std::time::{Duration, Instant};

use super::job::ClaimKey;

/// A full scan may be repeated after this many times its own duration.
const FULL_SCAN_SPACING: u32 = 10;

/// One worker's claim position.
#[derive(Debug, Default)]
pub(crate) struct ClaimCursor {
    after: Option<ClaimKey>,
    last_full: Option<(Instant, Duration)>,
}

/// What the next claim should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// From the start of the index.
    Full,
    /// After this job's place.
    After(ClaimKey),
}

impl ClaimCursor {
    /// The scan of the next claim, at `now`.
    pub fn next(&self, now: Instant) -> Scan {
        match (self.after, self.last_full) {
            (Some(after), Some((at, took))) if now < at + took * FULL_SCAN_SPACING => {
                Scan::After(after)
            }
            _ => Scan::Full,
        }
    }

    /// Records a claim that ran `scan` from `started` to `now` and claimed the jobs at
    /// `claimed` places.
    pub fn record(
        &mut self,
        scan: Scan,
        started: Instant,
        now: Instant,
        claimed: impl IntoIterator<Item = ClaimKey>,
    ) {
        if scan == Scan::Full {
            self.last_full = Some((now, now.saturating_duration_since(started)));
        }
        if let Some(last) = claimed.into_iter().max() {
            self.after = Some(match (scan, self.after) {
                (Scan::After(_), Some(after)) => after.max(last),
                _ => last,
            });
        }
    }

    /// Forgets the position: the next claim scans from the start.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn key(id: i64) -> ClaimKey {
        ClaimKey {
            priority: 1,
            run_at: Utc
                .timestamp_opt(1_700_000_000 + id, 0)
                .single()
                .unwrap_or_default(),
            id,
        }
    }

    #[test]
    fn starts_with_a_full_scan_and_resumes_after_the_last_claimed_job() {
        let mut cursor = ClaimCursor::default();
        let t0 = Instant::now();
        assert_eq!(cursor.next(t0), Scan::Full);
        cursor.record(
            Scan::Full,
            t0,
            t0 + Duration::from_millis(100),
            [key(3), key(7), key(5)],
        );
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!(cursor.next(t1), Scan::After(key(7)));
        cursor.record(Scan::After(key(7)), t1, t1, [key(9)]);
        assert_eq!(cursor.next(t1), Scan::After(key(9)));
        // An empty claim keeps the position.
        cursor.record(Scan::After(key(9)), t1, t1, []);
        assert_eq!(cursor.next(t1), Scan::After(key(9)));
    }

    #[test]
    fn repeats_the_full_scan_after_ten_times_its_duration() {
        let mut cursor = ClaimCursor::default();
        let t0 = Instant::now();
        let took = Duration::from_millis(50);
        cursor.record(Scan::Full, t0, t0 + took, [key(1)]);
        assert_eq!(cursor.next(t0 + took + took * 9), Scan::After(key(1)));
        assert_eq!(cursor.next(t0 + took + took * 10), Scan::Full);
    }

    #[test]
    fn a_cheap_full_scan_is_repeated_at_once() {
        let mut cursor = ClaimCursor::default();
        let t0 = Instant::now();
        cursor.record(Scan::Full, t0, t0, [key(1)]);
        assert_eq!(cursor.next(t0), Scan::Full);
        cursor.reset();
        assert_eq!(cursor.next(t0), Scan::Full);
    }
}
