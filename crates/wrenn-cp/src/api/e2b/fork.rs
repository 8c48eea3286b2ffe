//! `POST /sandboxes/{sandboxID}/fork {timeout?, count?}`: 201 with one
//! `{sandbox}` per copy (E2B's `SandboxForkResult` list), onto
//! `service::sandboxes::fork`. Wrenn forks all copies or none, so a
//! refusal is one error answer for the request, never a per-copy `error`.
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use super::{
    error::{E2bError, E2bResult},
    extract::{Caller, OptionalBody, SandboxPath},
    views::{visible, Created},
};
use crate::{
    api::sandboxes::types::TIMEOUT_SECS,
    service::sandboxes::{self as service, MAX_FORK_COUNT},
    state::AppState,
};

/// E2B's `SandboxForkRequest` (unknown fields are ignored, as E2B does).
#[derive(Debug, Default, Deserialize)]
pub struct ForkBody {
    /// The copies' timeout in seconds; default the source's.
    timeout: Option<i64>,
    /// Copies to make; default 1.
    count: Option<i64>,
}

/// One copy (E2B's `SandboxForkResult`; `error` is never set).
#[derive(Debug, Serialize)]
pub struct ForkResult {
    sandbox: Created,
}

pub async fn fork(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    OptionalBody(body): OptionalBody<ForkBody>,
) -> E2bResult<(StatusCode, Json<Vec<ForkResult>>)> {
    let request = request(&body)?;
    visible(service::get(&state, &principal.team_id, &id).await?)?;
    let rows = service::fork(&state, &principal, &id, request).await?;
    let mut results = Vec::with_capacity(rows.len());
    for row in rows {
        let token = service::envd_access_token(&state, &row)
            .await?
            .ok_or_else(|| E2bError::unavailable("a forked sandbox is not running"))?;
        results.push(ForkResult {
            sandbox: Created::new(&state, &row, &token),
        });
    }
    Ok((StatusCode::CREATED, Json(results)))
}

/// The body as the service's request: count 1 to [`MAX_FORK_COUNT`] and a
/// timeout in Wrenn's range, else 400.
fn request(body: &ForkBody) -> E2bResult<service::ForkSandbox> {
    let count = body.count.unwrap_or(1);
    let count = u32::try_from(count)
        .ok()
        .filter(|c| (1..=MAX_FORK_COUNT).contains(c))
        .ok_or_else(|| {
            E2bError::bad_request(format!(
                "count must be between 1 and {MAX_FORK_COUNT}, not {count}"
            ))
        })?;
    let timeout_secs = body
        .timeout
        .map(|t| {
            u64::try_from(t)
                .ok()
                .filter(|t| TIMEOUT_SECS.contains(t))
                .ok_or_else(|| {
                    E2bError::bad_request(format!(
                        "timeout must be between {} and {} seconds",
                        TIMEOUT_SECS.start(),
                        TIMEOUT_SECS.end()
                    ))
                })
        })
        .transpose()?;
    Ok(service::ForkSandbox {
        count,
        timeout_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> ForkBody {
        serde_json::from_value(json).expect("parses")
    }

    #[test]
    fn request_when_empty_then_one_copy_source_timeout() {
        let request = request(&ForkBody::default()).expect("valid");
        assert_eq!((request.count, request.timeout_secs), (1, None));
    }

    #[test]
    fn request_when_count_out_of_range_then_400() {
        for count in [0, -1, i64::from(MAX_FORK_COUNT) + 1] {
            let err = request(&body(serde_json::json!({"count": count}))).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "count {count}");
        }
    }

    #[test]
    fn request_when_timeout_zero_then_400() {
        let err = request(&body(serde_json::json!({"timeout": 0}))).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
