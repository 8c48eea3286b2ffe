//! envd's file system through the agent's proxy: the `filesystem.Filesystem`
//! Connect service (list, mkdir, remove, rename) and the plain HTTP routes
//! (`/files` streamed both ways, `/metrics`).
use std::time::Duration;

use wrenn_proto::filesystem::{
    EntryInfo, FileType, ListDirRequest, MakeDirRequest, MoveRequest, RemoveRequest,
};

use super::{error::checked, Entry, EntryKind, Envd, EnvdError};

impl Envd {
    pub async fn list_dir(
        &self,
        user: &str,
        path: &str,
        depth: u32,
    ) -> Result<Vec<Entry>, EnvdError> {
        let request = ListDirRequest {
            path: path.into(),
            depth,
            ..Default::default()
        };
        let response = self
            .filesystem()?
            .list_dir_with_options(request, Self::as_user(user))
            .await?;
        Ok(response
            .into_owned()
            .entries
            .into_iter()
            .map(entry)
            .collect())
    }

    pub async fn make_dir(&self, user: &str, path: &str) -> Result<(), EnvdError> {
        let request = MakeDirRequest {
            path: path.into(),
            ..Default::default()
        };
        self.filesystem()?
            .make_dir_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn remove(&self, user: &str, path: &str) -> Result<(), EnvdError> {
        let request = RemoveRequest {
            path: path.into(),
            ..Default::default()
        };
        self.filesystem()?
            .remove_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), EnvdError> {
        let request = MoveRequest {
            source: from.into(),
            destination: to.into(),
            ..Default::default()
        };
        self.filesystem()?
            .move_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    /// `GET /files`: the file's bytes as they arrive.
    pub async fn download(&self, user: &str, path: &str) -> Result<reqwest::Response, EnvdError> {
        let response = self
            .http(reqwest::Method::GET, "/files")
            .query(&[("path", path), ("username", user)])
            .send()
            .await?;
        checked(response).await
    }

    /// `POST /files` (octet-stream): streams `body` into the file.
    pub async fn upload(
        &self,
        user: &str,
        path: &str,
        body: reqwest::Body,
    ) -> Result<(), EnvdError> {
        let response = self
            .http(reqwest::Method::POST, "/files")
            .query(&[("path", path), ("username", user)])
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await?;
        checked(response).await.map(|_| ())
    }

    /// envd's `GET /metrics` JSON.
    pub async fn metrics(&self) -> Result<serde_json::Value, EnvdError> {
        let response = self
            .http(reqwest::Method::GET, "/metrics")
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        Ok(checked(response).await?.json().await?)
    }
}

fn entry(info: EntryInfo) -> Entry {
    let kind = match info.r#type.as_known() {
        Some(FileType::FILE_TYPE_DIRECTORY) => EntryKind::Dir,
        Some(FileType::FILE_TYPE_SYMLINK) => EntryKind::Symlink,
        _ if info.is_symlink => EntryKind::Symlink,
        _ => EntryKind::File,
    };
    let modified_at_ms = info
        .modified_time
        .as_option()
        .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
    Entry {
        name: info.name,
        path: info.path,
        kind,
        size: info.size,
        mode: info.mode,
        modified_at_ms,
    }
}
