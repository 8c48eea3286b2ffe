//! Identity API behaviour, on SQLite and PostgreSQL: signup, login, `me`,
//! credentials (JWTs and API keys), teams and members, the admin flag, the
//! audit log, and the error envelope of refused requests.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use common::{assert_error, Kind, TestApp, JWT_SECRET, PASSWORD};
use serde_json::{json, Value};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const DELETE: Method = Method::DELETE;

fn creds(email: &str, password: &str) -> Option<Value> {
    Some(json!({"email": email, "password": password}))
}

fn forge_user_token(sub: &str, exp: u64) -> String {
    let claims = json!({"sub": sub, "typ": "user", "iat": 1, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("encode")
}

#[path = "api_identity/admin.rs"]
mod admin;
#[path = "api_identity/audit.rs"]
mod audit;
#[path = "api_identity/credentials.rs"]
mod credentials;
#[path = "api_identity/deletion.rs"]
mod deletion;
#[path = "api_identity/key_owner.rs"]
mod key_owner;
#[path = "api_identity/keys.rs"]
mod keys;
#[path = "api_identity/limits.rs"]
mod limits;
#[path = "api_identity/signup.rs"]
mod signup;
#[path = "api_identity/teams.rs"]
mod teams;
