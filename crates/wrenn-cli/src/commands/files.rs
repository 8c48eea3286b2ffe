//! `files put|get|ls|rm|mkdir|mv`. Transfers stream: uploads read the local
//! file chunk by chunk into the request body, downloads write each chunk of
//! the answer as it arrives.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{CommandError, Context};
use crate::cli::FilesCommand;
use crate::client::{Answer, ApiClient, ClientError};
use crate::render;
use crate::responses::{Listing, Uploaded};
use crate::values::PathSegment;

pub async fn run(ctx: &Context, cmd: FilesCommand) -> Result<u8, CommandError> {
    match cmd {
        FilesCommand::Put { id, local, remote } => {
            let answer = upload(&ctx.client, &id, &local, &remote).await?;
            ctx.output_as(&answer, |a| Some(format!("{} ({} bytes)", a.path, a.bytes)))?;
        }
        FilesCommand::Get { id, remote, local } => download(ctx, &id, &remote, local).await?,
        FilesCommand::Ls { id, path, depth } => {
            let mut query = vec![("path".to_owned(), path)];
            if let Some(depth) = depth {
                query.push(("depth".to_owned(), depth.to_string()));
            }
            let answer = ctx
                .client
                .get_as(&format!("/v1/sandboxes/{id}/files/list"), &query)
                .await?;
            ctx.output_as(&answer, |a| Some(listing(a)))?;
        }
        FilesCommand::Rm { id, path } => {
            let query = [("path".to_owned(), path)];
            let answer = ctx
                .client
                .delete(&format!("/v1/sandboxes/{id}/files"), &query)
                .await?;
            ctx.output(&answer, |_| None)?;
        }
        FilesCommand::Mkdir { id, path } => {
            let body = json!({ "path": path });
            let answer = ctx
                .client
                .post(&format!("/v1/sandboxes/{id}/files/mkdir"), &body)
                .await?;
            ctx.output(&answer, |_| None)?;
        }
        FilesCommand::Mv { id, from, to } => {
            let body = json!({ "from": from, "to": to });
            let answer = ctx
                .client
                .post(&format!("/v1/sandboxes/{id}/files/rename"), &body)
                .await?;
            ctx.output(&answer, |_| None)?;
        }
    }
    Ok(0)
}

/// Streams the local file at `local` to `remote` in sandbox `id`.
pub async fn upload(
    client: &ApiClient,
    id: &PathSegment,
    local: &Path,
    remote: &str,
) -> Result<Answer<Uploaded>, CommandError> {
    let local_err = |source| CommandError::LocalFile {
        path: local.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(local).await.map_err(local_err)?;
    let body = reqwest::Body::wrap_stream(ReaderStream::new(file));
    let rb = client
        .request(Method::PUT, &format!("/v1/sandboxes/{id}/files"))
        .query(&[("path", remote)])
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(body);
    Ok(client.send_as(rb).await?)
}

/// Streams `remote` to stdout (`-`), to `local`, or to its base name here.
async fn download(
    ctx: &Context,
    id: &PathSegment,
    remote: &str,
    local: Option<String>,
) -> Result<(), CommandError> {
    let rb = ctx
        .client
        .request(Method::GET, &format!("/v1/sandboxes/{id}/files"))
        .query(&[("path", remote)]);
    let response = ctx.client.send(rb).await?;
    if local.as_deref() == Some("-") {
        let written = copy_body(response, &mut tokio::io::stdout()).await?;
        return report_download(ctx, remote, "-", written);
    }
    let target = local_target(remote, local.as_deref())?;
    let local_err = |source| CommandError::LocalFile {
        path: target.clone(),
        source,
    };
    let mut file = tokio::fs::File::create(&target).await.map_err(local_err)?;
    let written = match copy_body(response, &mut file).await {
        Ok(written) => written,
        Err(err) => {
            // Leave no truncated file that looks like a finished download.
            drop(file);
            let _ = tokio::fs::remove_file(&target).await;
            return Err(err);
        }
    };
    file.sync_all().await.map_err(local_err)?;
    report_download(ctx, remote, &target.display().to_string(), written)
}

fn report_download(
    ctx: &Context,
    remote: &str,
    local: &str,
    bytes: u64,
) -> Result<(), CommandError> {
    if ctx.json {
        let doc = json!({ "path": remote, "local": local, "bytes": bytes });
        render::print_line(&render::json_document(&doc))?;
    }
    Ok(())
}

/// Where a download goes: `local` (inside it when it is a directory), or
/// the remote file's base name in the current directory.
fn local_target(remote: &str, local: Option<&str>) -> Result<PathBuf, CommandError> {
    let base = Path::new(remote.trim_end_matches('/'))
        .file_name()
        .map(PathBuf::from);
    match (local, base) {
        (Some(local), base) => {
            let local = PathBuf::from(local);
            match base {
                Some(base) if local.is_dir() => Ok(local.join(base)),
                _ => Ok(local),
            }
        }
        (None, Some(base)) => Ok(base),
        (None, None) => Err(CommandError::Usage(format!(
            "cannot name a local file after {remote:?}: give LOCAL"
        ))),
    }
}

async fn copy_body(
    response: reqwest::Response,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<u64, CommandError> {
    let url = response.url().to_string();
    let mut stream = response.bytes_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ClientError::Transport {
            url: url.clone(),
            source: e.into(),
        })?;
        out.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    out.flush().await?;
    Ok(written)
}

fn listing(listing: &Listing) -> String {
    let rows: Vec<Vec<String>> = listing
        .entries
        .iter()
        .map(|e| {
            vec![
                e.kind.clone(),
                e.size.to_string(),
                format!("{:o}", e.mode),
                render::cell_of(&e.modified_at),
                e.path.clone(),
            ]
        })
        .collect();
    render::table(&["TYPE", "SIZE", "MODE", "MODIFIED", "PATH"], &rows)
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
