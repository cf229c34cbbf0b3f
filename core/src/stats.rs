//! Store statistics: how many events, streams and snapshots, by type and by day.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::store::{EventStore, ReadAllOptions};

/// How many events are read per page while computing statistics.
const PAGE: usize = 1_000;

/// A summary of what a store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStats {
    /// Number of events over all streams.
    pub event_count: u64,
    /// Number of streams.
    pub stream_count: u64,
    /// Number of snapshots over all streams.
    pub snapshot_count: u64,
    /// Number of events per event type.
    pub events_by_type: BTreeMap<String, u64>,
    /// Number of events per UTC day of `recorded_at`, keyed `YYYY-MM-DD`.
    pub events_by_day: BTreeMap<String, u64>,
    /// Number of streams per stream type (category).
    pub streams_by_type: BTreeMap<String, u64>,
}

/// Computes [`StoreStats`] from any store by paging through the global log. This is the
/// default of [`EventStore::stats`]; a backend with indexes may answer faster.
pub async fn compute_stats<S: EventStore + ?Sized>(store: &S) -> Result<StoreStats, StoreError> {
    let mut stats = StoreStats::default();
    let mut from_position = 1;
    loop {
        let page = store
            .read_all(ReadAllOptions {
                from_position,
                limit: Some(PAGE),
                ..Default::default()
            })
            .await?;
        for event in &page {
            stats.event_count += 1;
            *stats
                .events_by_type
                .entry(event.event_type.clone())
                .or_default() += 1;
            *stats
                .events_by_day
                .entry(utc_date(event.recorded_at))
                .or_default() += 1;
        }
        match page.last() {
            Some(last) if page.len() == PAGE => from_position = last.position + 1,
            _ => break,
        }
    }
    let streams = store.list_streams().await?;
    stats.stream_count = streams.len() as u64;
    for stream in streams {
        *stats.streams_by_type.entry(stream.stream_type).or_default() += 1;
    }
    stats.snapshot_count = store.snapshot_count().await?;
    Ok(stats)
}

/// The UTC calendar date (`YYYY-MM-DD`) of `ms` milliseconds since the Unix epoch.
///
/// ```
/// assert_eq!(chronik_core::utc_date(0), "1970-01-01");
/// assert_eq!(chronik_core::utc_date(1_700_000_000_000), "2023-11-14");
/// assert_eq!(chronik_core::utc_date(-1), "1969-12-31");
/// ```
pub fn utc_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cover_leap_years_and_boundaries() {
        let day = 86_400_000;
        assert_eq!(utc_date(day - 1), "1970-01-01");
        assert_eq!(utc_date(day), "1970-01-02");
        // 2024-02-29 is day 19_782 since the epoch.
        assert_eq!(utc_date(19_782 * day), "2024-02-29");
        assert_eq!(utc_date(19_783 * day), "2024-03-01");
        assert_eq!(utc_date(10_957 * day), "2000-01-01");
        assert_eq!(utc_date(-719_468 * day), "0000-03-01");
    }
}
