//! Usage: the ledger's intervals (`db::usage`) summed per hour, day,
//! sandbox or template over a bounded range, and the invoice preview of a
//! period (the plan's flat price plus burst vCPU-hours at the plan's
//! price). Reads the ledger a page at a time, so a team's 100,000 rows
//! never sit in memory at once.
mod invoice;
mod rollup;

pub use invoice::{invoice, Invoice};
pub use rollup::{clip, rollup, GroupBy, Totals, UsageLine};

/// The longest range one usage query or export covers (400 days).
pub const MAX_RANGE_MS: i64 = 400 * 86_400_000;

/// Rows read per page of the ledger.
pub const PAGE: i64 = 20_000;

/// Why a usage query was refused.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("start must be before end")]
    EmptyRange,
    #[error("a usage range covers at most 400 days; ask for several shorter ones")]
    RangeTooLong,
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// Checks a `[start, end)` range (Unix ms).
pub fn check_range(start: i64, end: i64) -> Result<(), UsageError> {
    if start >= end {
        return Err(UsageError::EmptyRange);
    }
    if end.saturating_sub(start) > MAX_RANGE_MS {
        return Err(UsageError::RangeTooLong);
    }
    Ok(())
}
