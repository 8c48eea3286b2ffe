//! The proxy's own answers, in the body the e2b SDKs read:
//! `{"sandboxId", "message", "code"}` with `code` the HTTP status. An
//! unknown, paused, stopped or malformed sandbox all answer the same 502
//! (the SDK's "not running"), so nothing tells an id that exists from one
//! that does not.
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// Why the proxy answered itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Unknown, paused, stopped, malformed id or port, or its host gone.
    #[error("The sandbox {0} was not found or is not running")]
    NotRunning(String),
    /// The sandbox runs, but nothing answered on the port.
    #[error("The sandbox {id} is running but port {port} is not answering")]
    PortClosed { id: String, port: u16 },
    #[error("The port {port} of sandbox {id} sent no answer in time")]
    Timeout { id: String, port: u16 },
    #[error("This route of envd is only for the sandbox's host")]
    HostOnly(String),
    #[error("Missing or wrong e2b-traffic-access-token for this sandbox's port")]
    TrafficToken(String),
    #[error("The request's headers are larger than {limit} bytes")]
    HeadersTooLarge { id: String, limit: usize },
    /// The routing table could not be read.
    #[error("The sandbox proxy cannot read its routes; retry")]
    Unavailable(String),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotRunning(_) | Self::PortClosed { .. } => StatusCode::BAD_GATEWAY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::HostOnly(_) | Self::TrafficToken(_) => StatusCode::FORBIDDEN,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn sandbox_id(&self) -> &str {
        match self {
            Self::NotRunning(id)
            | Self::HostOnly(id)
            | Self::TrafficToken(id)
            | Self::Unavailable(id)
            | Self::PortClosed { id, .. }
            | Self::Timeout { id, .. }
            | Self::HeadersTooLarge { id, .. } => id,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = self.status();
        // The id as the client sent it, cut short: a reflected header must
        // not make a large answer.
        let sandbox_id: String = self.sandbox_id().chars().take(64).collect();
        let message = match &self {
            Self::NotRunning(_) => {
                format!("The sandbox {sandbox_id} was not found or is not running")
            }
            _ => self.to_string(),
        };
        let body = serde_json::json!({
            "sandboxId": sandbox_id,
            "message": message,
            "code": status.as_u16(),
        });
        (status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(refusal: Refusal) -> (StatusCode, serde_json::Value) {
        let response = refusal.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn into_response_when_not_running_then_502_with_exact_keys() {
        let (status, json) = body(Refusal::NotRunning("abc".into())).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["code", "message", "sandboxId"]);
        assert_eq!(json["code"], 502);
        assert_eq!(json["sandboxId"], "abc");
    }

    #[tokio::test]
    async fn into_response_when_long_id_then_cut() {
        let (_, json) = body(Refusal::NotRunning("x".repeat(5000))).await;
        assert_eq!(json["sandboxId"].as_str().unwrap().len(), 64);
        assert!(json["message"].as_str().unwrap().len() < 200);
    }
}
