//! The HTTP side of envd: routes, the auth layer and the listener.
use std::net::SocketAddr;

use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};

use crate::{
    auth::{self, FileOperation, SignedRequest},
    connect::{self, Code, ConnectError, RpcRequest, WireFormat},
    drain,
    files::{self, HttpError},
    filesystem, http, process, start_routes,
    state::{AppState, SharedState},
};

/// Line printed on the console once the server listens; hosts wait for it
/// (or for `GET /health`) to know the guest is ready.
pub const READY_LINE: &str = "wrenn-envd: ready";

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/health", get(http::health))
        .route("/version", get(http::version))
        .route("/init", post(http::init))
        .route("/envs", get(http::envs))
        .route("/metrics", get(http::metrics))
        .route("/shutdown", post(http::shutdown))
        .route("/sync", post(http::sync))
        .route("/files", get(files::download).post(files::upload))
        .route(
            "/wrenn/start",
            get(start_routes::get).post(start_routes::post),
        )
        .route("/process.Process/{method}", post(process_rpc))
        .route("/filesystem.Filesystem/{method}", post(filesystem_rpc))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn(drain::drain_refused_uploads))
        .with_state(state)
}

fn rpc_user(request: &Request) -> Option<String> {
    auth::basic_auth_user(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

async fn process_rpc(
    State(state): State<SharedState>,
    Path(method): Path<String>,
    request: Request,
) -> Response {
    let user = rpc_user(&request);
    match RpcRequest::parse(request) {
        Ok(rpc) => process::rpc::handle(state, &method, user, rpc).await,
        Err(response) => response,
    }
}

async fn filesystem_rpc(
    State(state): State<SharedState>,
    Path(method): Path<String>,
    request: Request,
) -> Response {
    let user = rpc_user(&request);
    match RpcRequest::parse(request) {
        Ok(rpc) => filesystem::handle(state, &method, user, rpc).await,
        Err(response) => response,
    }
}

/// Once `/init` set an access token every route but `/health`, `/version`
/// and `/init` needs it in `X-Access-Token`; `/files` also accepts a valid
/// URL signature instead.
async fn authorize(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if matches!(path, "/health" | "/version" | "/init") {
        return next.run(request).await;
    }
    let Some(token) = state.settings.read().await.access_token.clone() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get("x-access-token")
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|g| auth::constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let message = if given.is_some() {
        "invalid access token"
    } else {
        "missing access token"
    };
    if path == "/files" {
        return match check_signature(&request, &token) {
            Ok(()) => next.run(request).await,
            Err(message) => HttpError::new(StatusCode::UNAUTHORIZED, message).into_response(),
        };
    }
    let err = ConnectError::new(Code::Unauthenticated, message);
    if path.starts_with("/process.Process/") || path.starts_with("/filesystem.Filesystem/") {
        let format = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(WireFormat::from_content_type)
            .unwrap_or(WireFormat {
                codec: connect::Codec::Json,
                streaming: false,
            });
        return connect::error_response(format, &err);
    }
    HttpError::new(StatusCode::UNAUTHORIZED, message).into_response()
}

fn check_signature(request: &Request<Body>, token: &str) -> Result<(), String> {
    let query = request.uri().query().unwrap_or("");
    let params: Vec<(String, String)> = serde_urlencoded_pairs(query);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let signature = get("signature").ok_or("missing access token or signature")?;
    let operation = if request.method() == Method::GET {
        FileOperation::Read
    } else {
        FileOperation::Write
    };
    let signed = SignedRequest {
        path: get("path").unwrap_or(""),
        operation,
        username: get("username").unwrap_or(""),
        signature,
        expiration: get("signature_expiration"),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    auth::verify_signature(&signed, token, now).map_err(|err| err.to_string())
}

/// Decodes `a=1&b=x%20y` (the query extractor's rules, without a type).
fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

pub async fn serve(addr: SocketAddr, is_vm: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, version = crate::state::ENVD_VERSION, "envd listening");
    println!("{READY_LINE} on {addr}");
    axum::serve(listener, router(AppState::new(is_vm))).await?;
    Ok(())
}
