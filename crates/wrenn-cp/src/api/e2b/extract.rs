//! The shared extractors with E2B's error answers: the caller (`X-API-KEY`,
//! or any credential Wrenn's API takes), JSON bodies, and sandbox ids from
//! the path (a malformed one names no sandbox: 404 like an unknown one).
use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use wrenn_types::SandboxId;

use super::error::E2bError;
use crate::{
    api::extract::{ApiJson, ApiPath},
    auth::Principal,
    state::AppState,
};

/// The authenticated caller; its rate limits are spent as on Wrenn's API.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = E2bError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, E2bError> {
        Principal::from_request_parts(parts, state)
            .await
            .map(Self)
            .map_err(E2bError::from)
    }
}

/// A JSON body.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = E2bError;

    async fn from_request(req: Request, state: &S) -> Result<Self, E2bError> {
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(value)| Self(value))
            .map_err(E2bError::from)
    }
}

/// A JSON body that may be absent (no bytes at all): then `T::default()`.
#[derive(Debug, Clone)]
pub struct OptionalBody<T>(pub T);

impl<S, T> FromRequest<S> for OptionalBody<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = E2bError;

    async fn from_request(req: Request, state: &S) -> Result<Self, E2bError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, crate::api::MAX_JSON_BODY)
            .await
            .map_err(|_| E2bError::bad_request("cannot read the request body"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        Body::<T>::from_request(req, state)
            .await
            .map(|Body(value)| Self(value))
    }
}

/// The `{sandboxID}` of the path.
#[derive(Debug, Clone)]
pub struct SandboxPath(pub SandboxId);

impl<S: Send + Sync> FromRequestParts<S> for SandboxPath {
    type Rejection = E2bError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, E2bError> {
        let ApiPath(id) = ApiPath::<String>::from_request_parts(parts, state)
            .await
            .map_err(E2bError::from)?;
        SandboxId::try_from(id)
            .map(Self)
            .map_err(|_| E2bError::sandbox_not_found())
    }
}
