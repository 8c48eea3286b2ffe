//! The invoice preview of a period: the plan's flat price, plus, with the
//! `burst` overflow, the vCPU-hours the team ran past its pool's vCPUs at
//! the plan's price per vCPU-hour.
use crate::{
    config::CpConfig,
    db::{self, Db},
    service::pools,
};

use super::{check_range, clip, UsageError, PAGE};

#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    /// `None`: no plan (nothing to charge).
    pub plan: Option<String>,
    pub period: String,
    pub price_cents: i64,
    /// vCPU-milliseconds run past the pool's vCPUs.
    pub burst_vcpu_ms: i64,
    pub burst_cents_per_vcpu_hour: i64,
    pub burst_cents: i64,
    pub total_cents: i64,
}

/// The team's invoice preview for `[start, end)`.
pub async fn invoice(
    db: &Db,
    config: &CpConfig,
    team_id: &str,
    start: i64,
    end: i64,
) -> Result<Invoice, UsageError> {
    check_range(start, end)?;
    let pool = pools::effective(db, config, team_id).await?;
    let Some(plan) = pool.plan else {
        return Ok(Invoice {
            plan: None,
            period: String::new(),
            price_cents: 0,
            burst_vcpu_ms: 0,
            burst_cents_per_vcpu_hour: 0,
            burst_cents: 0,
            total_cents: 0,
        });
    };
    let pool_vcpus = pool.sizes.map_or(0, |s| s.vcpus);
    let burst_vcpu_ms = if plan.overflow == "burst" {
        over_pool_ms(db, team_id, start, end, pool_vcpus).await?
    } else {
        0
    };
    // Rounded up to the cent.
    let product = i128::from(burst_vcpu_ms) * i128::from(plan.burst_cents_per_vcpu_hour);
    let burst_cents = (product + 3_599_999) / 3_600_000;
    let burst_cents = i64::try_from(burst_cents).unwrap_or(i64::MAX);
    Ok(Invoice {
        plan: Some(plan.name),
        period: plan.period,
        price_cents: plan.price_cents,
        burst_vcpu_ms,
        burst_cents_per_vcpu_hour: plan.burst_cents_per_vcpu_hour,
        burst_cents,
        total_cents: plan.price_cents.saturating_add(burst_cents),
    })
}

/// vCPU-ms the team's running sandboxes held above `pool_vcpus`: a sweep
/// over the starts and ends of their intervals.
async fn over_pool_ms(
    db: &Db,
    team_id: &str,
    start: i64,
    end: i64,
    pool_vcpus: i64,
) -> Result<i64, UsageError> {
    let now = db::now_ms();
    let mut events: Vec<(i64, i64)> = Vec::new();
    let mut cursor = None;
    loop {
        let (rows, next) =
            db::usage::overlapping(db, Some(team_id), start, end, cursor.take(), PAGE).await?;
        for row in rows.iter().filter(|r| r.phase == "running") {
            if let Some((from, to)) = clip(row.started_at, row.ended_at, start, end, now) {
                events.push((from, row.vcpus));
                events.push((to, -row.vcpus));
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(sweep(events, pool_vcpus))
}

/// ∫ max(0, level − pool) dt over `(instant, change)` events.
fn sweep(mut events: Vec<(i64, i64)>, pool: i64) -> i64 {
    events.sort_unstable();
    let (mut level, mut last, mut over) = (0_i64, i64::MIN, 0_i64);
    for (at, change) in events {
        if last != i64::MIN {
            over += (level - pool).max(0) * (at - last);
        }
        level += change;
        last = at;
    }
    over
}

#[cfg(test)]
mod tests {
    #[test]
    fn sweep_when_two_overlap_past_pool_then_only_excess_counted() {
        // 4 vCPUs over [0, 10) and 4 over [5, 15) against a pool of 6:
        // 2 over the pool during [5, 10).
        let events = vec![(0, 4), (10, -4), (5, 4), (15, -4)];
        assert_eq!(super::sweep(events, 6), 10);
    }
}
