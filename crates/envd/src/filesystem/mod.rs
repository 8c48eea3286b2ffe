//! `filesystem.Filesystem` handlers: stat, list, make, move, remove, and
//! directory watches. Every operation runs with the user's filesystem ids.
mod entry;
pub mod watch;
pub mod watchers;

use std::path::{Path, PathBuf};

use axum::response::Response;
use wrenn_proto::filesystem::{
    ListDirRequest, ListDirResponse, MakeDirRequest, MakeDirResponse, MoveRequest, MoveResponse,
    RemoveRequest, RemoveResponse, StatRequest, StatResponse,
};

pub use entry::entry_info;

use crate::{
    connect::{self, Code, ConnectError, RpcRequest},
    dirs,
    state::SharedState,
    users::{resolve_path, run_as, UserInfo},
};

/// Deepest `ListDir` we walk, whatever the client asks.
const MAX_DEPTH: u32 = 64;

/// Dispatches `/filesystem.Filesystem/{method}`.
pub async fn handle(
    state: SharedState,
    method: &str,
    user: Option<String>,
    rpc: RpcRequest,
) -> Response {
    let codec = rpc.format.codec;
    macro_rules! unary {
        ($req:ty, $f:expr) => {{
            let result = async {
                let request: $req = rpc.message().await?;
                let user = state.user(user.as_deref()).await?;
                $f(&state, user, request).await
            }
            .await;
            connect::unary_response(codec, result)
        }};
    }
    match method {
        "Stat" => unary!(StatRequest, stat),
        "ListDir" => unary!(ListDirRequest, list_dir),
        "MakeDir" => unary!(MakeDirRequest, make_dir),
        "Move" => unary!(MoveRequest, move_entry),
        "Remove" => unary!(RemoveRequest, remove),
        "WatchDir" => watch::watch_dir(state, user, rpc).await,
        "CreateWatcher" => unary!(
            wrenn_proto::filesystem::CreateWatcherRequest,
            watch::create_watcher
        ),
        "GetWatcherEvents" => unary!(
            wrenn_proto::filesystem::GetWatcherEventsRequest,
            watch::get_events
        ),
        "RemoveWatcher" => unary!(
            wrenn_proto::filesystem::RemoveWatcherRequest,
            watch::remove_watcher
        ),
        other => connect::error_response(
            rpc.format,
            &ConnectError::new(
                Code::Unimplemented,
                format!("filesystem.Filesystem/{other} does not exist"),
            ),
        ),
    }
}

async fn stat(
    _: &SharedState,
    user: UserInfo,
    request: StatRequest,
) -> Result<StatResponse, ConnectError> {
    let path = resolve_path(&request.path, &user.home)?;
    let entry = run_as(&user, move || entry_info(&path)).await?;
    Ok(StatResponse {
        entry: entry.into(),
        ..Default::default()
    })
}

async fn make_dir(
    _: &SharedState,
    user: UserInfo,
    request: MakeDirRequest,
) -> Result<MakeDirResponse, ConnectError> {
    let path = resolve_path(&request.path, &user.home)?;
    let check = path.clone();
    run_as(&user, move || match std::fs::metadata(&check) {
        Ok(meta) if meta.is_dir() => Err(ConnectError::new(
            Code::AlreadyExists,
            format!("directory {} already exists", check.display()),
        )),
        Ok(_) => Err(ConnectError::invalid_argument(format!(
            "{} exists and is not a directory",
            check.display()
        ))),
        Err(_) => Ok(()),
    })
    .await?;
    // As E2B's envd: made by envd, each new directory handed to the user.
    dirs::ensure_dirs(&path, &user).await?;
    let entry = run_as(&user, move || entry_info(&path)).await?;
    Ok(MakeDirResponse {
        entry: entry.into(),
        ..Default::default()
    })
}

async fn move_entry(
    _: &SharedState,
    user: UserInfo,
    request: MoveRequest,
) -> Result<MoveResponse, ConnectError> {
    let source = resolve_path(&request.source, &user.home)?;
    let destination = resolve_path(&request.destination, &user.home)?;
    let check = source.clone();
    run_as(&user, move || {
        std::fs::symlink_metadata(&check)
            .map(drop)
            .map_err(|err| ConnectError::from_io(&err, &format!("source {}", check.display())))
    })
    .await?;
    if let Some(parent) = destination.parent() {
        dirs::ensure_dirs(parent, &user).await?;
    }
    // A rename keeps the inode, and with it the `user.e2b.*` metadata.
    let entry = run_as(&user, move || {
        std::fs::rename(&source, &destination).map_err(|err| {
            ConnectError::from_io(
                &err,
                &format!("move {} to {}", source.display(), destination.display()),
            )
        })?;
        entry_info(&destination)
    })
    .await?;
    Ok(MoveResponse {
        entry: entry.into(),
        ..Default::default()
    })
}

async fn remove(
    _: &SharedState,
    user: UserInfo,
    request: RemoveRequest,
) -> Result<RemoveResponse, ConnectError> {
    let path = resolve_path(&request.path, &user.home)?;
    // E2B's envd removes with Go's `os.RemoveAll`: a path that is not
    // there is already removed, not an error.
    run_as(&user, move || {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => {
                return Err(ConnectError::from_io(
                    &err,
                    &format!("remove {}", path.display()),
                ))
            }
        };
        let result = if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(ConnectError::from_io(
                &err,
                &format!("remove {}", path.display()),
            )),
            _ => Ok(()),
        }
    })
    .await?;
    Ok(RemoveResponse::default())
}

async fn list_dir(
    _: &SharedState,
    user: UserInfo,
    request: ListDirRequest,
) -> Result<ListDirResponse, ConnectError> {
    let path = resolve_path(&request.path, &user.home)?;
    let depth = request.depth.clamp(1, MAX_DEPTH);
    let entries = run_as(&user, move || {
        let meta = std::fs::metadata(&path)
            .map_err(|err| ConnectError::from_io(&err, &format!("list {}", path.display())))?;
        if !meta.is_dir() {
            return Err(ConnectError::invalid_argument(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        let mut out = Vec::new();
        walk(&path, depth, &mut out)?;
        Ok(out)
    })
    .await?;
    Ok(ListDirResponse {
        entries,
        ..Default::default()
    })
}

fn walk(
    dir: &Path,
    depth: u32,
    out: &mut Vec<wrenn_proto::filesystem::EntryInfo>,
) -> Result<(), ConnectError> {
    let reader = std::fs::read_dir(dir)
        .map_err(|err| ConnectError::from_io(&err, &format!("list {}", dir.display())))?;
    let mut children: Vec<PathBuf> = reader.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        let Ok(meta) = std::fs::symlink_metadata(&child) else {
            continue;
        };
        out.push(entry::from_metadata(&child, &meta));
        if depth > 1 && meta.is_dir() {
            // Unreadable subdirectories are listed but not entered.
            let _ = walk(&child, depth - 1, out);
        }
    }
    Ok(())
}
