//! Request extractors that turn axum's rejections into the API's error
//! envelope: malformed JSON, unknown fields, wrong content type, oversize
//! bodies, bad path or query parameters and requests to WebSocket routes
//! that are not upgrades all get a stable `code`.
use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        FromRequest, FromRequestParts, Request,
    },
    http::{request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` with the API's errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => ApiError::Validation(body_text(err.body_text())),
        JsonRejection::JsonSyntaxError(err) => ApiError::InvalidJson(body_text(err.body_text())),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("expected `Content-Type: application/json`".into())
        }
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge {
                limit: crate::api::MAX_JSON_BODY,
            }
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// serde's messages are good but axum prefixes them with a generic sentence.
fn body_text(text: String) -> String {
    text.split_once(": ")
        .map_or(text.clone(), |(_, rest)| rest.to_owned())
}

/// `Path<T>` with the API's errors.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|rejection: PathRejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// `Query<T>` with the API's errors.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|rejection: QueryRejection| {
                ApiError::BadRequest(body_text(rejection.body_text()))
            })
    }
}

/// `WebSocketUpgrade` with the API's errors: a plain request to a WebSocket
/// route is `400 bad_request`.
#[derive(Debug)]
pub struct ApiWebSocket(pub WebSocketUpgrade);

impl<S> FromRequestParts<S> for ApiWebSocket
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(Self)
            .map_err(|rejection: WebSocketUpgradeRejection| {
                ApiError::BadRequest(format!(
                    "this route needs a WebSocket upgrade: {}",
                    rejection.body_text()
                ))
            })
    }
}
