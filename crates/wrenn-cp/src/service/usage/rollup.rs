//! Sums of ledger intervals clipped to a range, grouped by hour, day,
//! sandbox or template. Integer arithmetic in MiB·ms and vCPU·ms: exact,
//! converted to seconds and GiB only for the answer.
use std::collections::BTreeMap;

use crate::db::{self, usage::IntervalRow, Db};

use super::{check_range, UsageError};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Hour,
    Day,
    Sandbox,
    Template,
    /// Every team's total (admin view).
    Team,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            "sandbox" => Some(Self::Sandbox),
            "template" => Some(Self::Template),
            "team" => Some(Self::Team),
            _ => None,
        }
    }
}

/// Metered amounts, exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub running_ms: i64,
    pub paused_ms: i64,
    /// Reserved vCPUs × running milliseconds.
    pub vcpu_ms: i64,
    /// Reserved memory MiB × running milliseconds.
    pub memory_mib_ms: i64,
    /// Storage MiB × paused milliseconds.
    pub storage_mib_ms: i64,
    /// CPU milliseconds the guests actually used (their VMM processes).
    pub guest_cpu_ms: i64,
}

/// The share of an interval's guest CPU (`cpu_ms` over its `whole`
/// duration) that falls in `part` of it, rounded to the millisecond; the
/// whole of it when `part` is the whole interval.
pub fn cpu_share(cpu_ms: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 || part >= whole {
        return cpu_ms;
    }
    let share =
        (i128::from(cpu_ms) * i128::from(part.max(0)) + i128::from(whole) / 2) / i128::from(whole);
    i64::try_from(share).unwrap_or(i64::MAX)
}

impl Totals {
    /// Adds `ms` of `row`, the part of it that lasts `whole` ms.
    fn add(&mut self, row: &IntervalRow, ms: i64, whole: i64) {
        if row.phase == "running" {
            self.running_ms += ms;
            self.vcpu_ms += row.vcpus * ms;
            self.memory_mib_ms += row.memory_mb * ms;
            self.guest_cpu_ms += cpu_share(row.cpu_ms.unwrap_or(0), ms, whole);
        } else {
            self.paused_ms += ms;
            self.storage_mib_ms += row.storage_mb * ms;
        }
    }

    pub fn vcpu_seconds(&self) -> f64 {
        self.vcpu_ms as f64 / 1000.0
    }

    pub fn memory_gib_seconds(&self) -> f64 {
        self.memory_mib_ms as f64 / 1024.0 / 1000.0
    }

    pub fn storage_gib_hours(&self) -> f64 {
        self.storage_mib_ms as f64 / 1024.0 / HOUR_MS as f64
    }

    pub fn guest_cpu_seconds(&self) -> f64 {
        self.guest_cpu_ms as f64 / 1000.0
    }
}

/// One group: its key (an instant's RFC 3339 for time groups, else the
/// sandbox id or template name) and its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLine {
    pub key: String,
    /// The template of a sandbox line (empty for other groups).
    pub template: String,
    pub totals: Totals,
}

/// The part of `[from, to)` (an interval; `to` `None`: open until `now`)
/// inside `[start, end)`.
pub fn clip(from: i64, to: Option<i64>, start: i64, end: i64, now: i64) -> Option<(i64, i64)> {
    let to = to.unwrap_or(now).min(end);
    let from = from.max(start);
    (from < to).then_some((from, to))
}

/// Sums the ledger of `team_id` (`None`: every team) over `[start, end)`.
pub async fn rollup(
    db: &Db,
    team_id: Option<&str>,
    by: GroupBy,
    start: i64,
    end: i64,
) -> Result<Vec<UsageLine>, UsageError> {
    check_range(start, end)?;
    let now = db::now_ms();
    let summed = match by {
        GroupBy::Sandbox => Some(db::usage::SumBy::Sandbox),
        GroupBy::Template => Some(db::usage::SumBy::Template),
        GroupBy::Team => Some(db::usage::SumBy::Team),
        GroupBy::Hour | GroupBy::Day => None,
    };
    if let Some(sum_by) = summed {
        // Groups that need no splitting in time: the database sums them.
        let rows = db::usage::sums(db, team_id, sum_by, start, end, now).await?;
        return Ok(rows
            .into_iter()
            .filter(|r| r.2 + r.3 > 0)
            .map(
                |(
                    key,
                    template,
                    running_ms,
                    paused_ms,
                    vcpu_ms,
                    memory_mib_ms,
                    storage_mib_ms,
                    guest_cpu_ms,
                )| {
                    UsageLine {
                        key,
                        template,
                        totals: Totals {
                            running_ms,
                            paused_ms,
                            vcpu_ms,
                            memory_mib_ms,
                            storage_mib_ms,
                            guest_cpu_ms,
                        },
                    }
                },
            )
            .collect());
    }
    let bucket = if by == GroupBy::Hour { HOUR_MS } else { DAY_MS };
    let mut groups: BTreeMap<String, (String, Totals)> = BTreeMap::new();
    // Intervals inside one bucket are summed by the database; only those
    // crossing a bucket's (or the range's) edge are split here.
    for (key, sums) in db::usage::bucket_sums(db, team_id, bucket, start, end, now).await? {
        let totals = &mut groups.entry(crate::timestamp::rfc3339(key)).or_default().1;
        totals.running_ms += sums.2;
        totals.paused_ms += sums.3;
        totals.vcpu_ms += sums.4;
        totals.memory_mib_ms += sums.5;
        totals.storage_mib_ms += sums.6;
        totals.guest_cpu_ms += sums.7;
    }
    let mut cursor = None;
    loop {
        let (rows, next) =
            db::usage::crossing(db, team_id, bucket, (start, end, now), cursor.take()).await?;
        for row in &rows {
            let Some((from, to)) = clip(row.started_at, row.ended_at, start, end, now) else {
                continue;
            };
            let whole = row.ended_at.unwrap_or(now) - row.started_at;
            add(&mut groups, by, row, (from, to), whole);
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(groups
        .into_iter()
        .map(|(key, (template, totals))| UsageLine {
            key,
            template,
            totals,
        })
        .collect())
}

fn add(
    groups: &mut BTreeMap<String, (String, Totals)>,
    by: GroupBy,
    row: &IntervalRow,
    (from, to): (i64, i64),
    whole: i64,
) {
    let bucket = match by {
        GroupBy::Hour => HOUR_MS,
        GroupBy::Day => DAY_MS,
        GroupBy::Sandbox | GroupBy::Template | GroupBy::Team => {
            let (key, template) = match by {
                GroupBy::Sandbox => (row.sandbox_id.clone(), row.template.clone()),
                GroupBy::Template => (row.template.clone(), String::new()),
                _ => (row.team_id.clone(), String::new()),
            };
            groups
                .entry(key)
                .or_insert_with(|| (template, Totals::default()))
                .1
                .add(row, to - from, whole);
            return;
        }
    };
    let mut at = from;
    while at < to {
        let bucket_start = at - at.rem_euclid(bucket);
        let until = (bucket_start + bucket).min(to);
        groups
            .entry(crate::timestamp::rfc3339(bucket_start))
            .or_default()
            .1
            .add(row, until - at, whole);
        at = until;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(phase: &str, started_at: i64, ended_at: Option<i64>) -> IntervalRow {
        IntervalRow {
            sandbox_id: "sbx_1".into(),
            team_id: "team_1".into(),
            template: "base".into(),
            host_id: None,
            phase: phase.into(),
            vcpus: 2,
            memory_mb: 512,
            storage_mb: 1024,
            started_at,
            ended_at,
            cpu_ms: (phase == "running").then_some(4000),
        }
    }

    #[test]
    fn clip_when_open_interval_then_ends_at_now_within_range() {
        assert_eq!(clip(10, None, 0, 100, 50), Some((10, 50)));
        assert_eq!(clip(10, Some(20), 30, 100, 50), None);
        assert_eq!(clip(10, Some(200), 30, 100, 50), Some((30, 100)));
    }

    #[test]
    fn add_when_interval_spans_midnight_then_split_between_days() {
        let mut groups = BTreeMap::new();
        let r = row("running", DAY_MS - 1000, Some(DAY_MS + 3000));
        add(
            &mut groups,
            GroupBy::Day,
            &r,
            (DAY_MS - 1000, DAY_MS + 3000),
            4000,
        );
        let totals: Vec<i64> = groups.values().map(|(_, t)| t.running_ms).collect();
        assert_eq!(totals, vec![1000, 3000]);
        assert_eq!(groups.values().map(|(_, t)| t.vcpu_ms).sum::<i64>(), 8000);
        // The guest's 4 s of CPU in proportion to each day's share.
        let cpu: Vec<i64> = groups.values().map(|(_, t)| t.guest_cpu_ms).collect();
        assert_eq!(cpu, vec![1000, 3000]);
    }

    #[test]
    fn cpu_share_when_part_of_interval_then_proportional_and_whole_when_all() {
        assert_eq!(cpu_share(4000, 1000, 4000), 1000);
        assert_eq!(cpu_share(4000, 4000, 4000), 4000);
        assert_eq!(cpu_share(1000, 1, 3), 333);
        assert_eq!(cpu_share(1000, 2, 3), 667);
        assert_eq!(cpu_share(7, 0, 0), 7);
        // No overflow for long intervals with large figures.
        let year = 365 * DAY_MS;
        assert_eq!(cpu_share(1 << 62, year / 2, year), 1 << 61);
    }

    #[test]
    fn add_when_paused_then_storage_not_vcpus() {
        let mut groups = BTreeMap::new();
        add(
            &mut groups,
            GroupBy::Sandbox,
            &row("paused", 0, Some(HOUR_MS)),
            (0, HOUR_MS),
            HOUR_MS,
        );
        let (_, t) = &groups["sbx_1"];
        assert_eq!((t.vcpu_ms, t.paused_ms, t.guest_cpu_ms), (0, HOUR_MS, 0));
        assert!((t.storage_gib_hours() - 1.0).abs() < 1e-9);
    }
}
