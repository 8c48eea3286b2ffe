//! Directory watches on inotify: the `WatchDir` stream and the polling
//! trio (`CreateWatcher` / `GetWatcherEvents` / `RemoveWatcher`).
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use axum::response::Response;
use futures_util::StreamExt;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::{sync::mpsc, task::JoinHandle};
use wrenn_proto::filesystem::{
    watch_dir_response, CreateWatcherRequest, CreateWatcherResponse, EventType, FilesystemEvent,
    GetWatcherEventsRequest, GetWatcherEventsResponse, RemoveWatcherRequest, RemoveWatcherResponse,
    WatchDirRequest, WatchDirResponse,
};

use super::{entry_info, watchers::EventQueue};
use crate::{
    connect::{self, Code, ConnectError, RpcRequest, StreamOptions},
    state::SharedState,
    users::{resolve_path, run_as, UserInfo},
};

/// What to watch, validated.
struct WatchSpec {
    root: PathBuf,
    recursive: bool,
    include_entry: bool,
}

async fn prepare(
    user: &UserInfo,
    path: &str,
    recursive: bool,
    include_entry: bool,
) -> Result<WatchSpec, ConnectError> {
    let root = resolve_path(path, &user.home)?;
    let check = root.clone();
    run_as(user, move || {
        let meta = std::fs::metadata(&check)
            .map_err(|err| ConnectError::from_io(&err, &format!("watch {}", check.display())))?;
        if !meta.is_dir() {
            return Err(ConnectError::invalid_argument(format!(
                "{} is not a directory",
                check.display()
            )));
        }
        std::fs::read_dir(&check)
            .map_err(|err| ConnectError::from_io(&err, &format!("watch {}", check.display())))?;
        Ok(())
    })
    .await?;
    Ok(WatchSpec {
        root,
        recursive,
        include_entry,
    })
}

/// Runs a watch, handing each event to `sink` until it returns false.
fn start(
    spec: WatchSpec,
    mut sink: impl FnMut(FilesystemEvent) -> futures_util::future::BoxFuture<'static, bool>
        + Send
        + 'static,
) -> Result<JoinHandle<()>, ConnectError> {
    let inotify = Inotify::init().map_err(|err| ConnectError::from_io(&err, "inotify"))?;
    let mut stream = inotify
        .into_event_stream(vec![0u8; 64 * 1024])
        .map_err(|err| ConnectError::from_io(&err, "inotify"))?;
    let mut watches = stream.watches();
    let mut dirs: HashMap<WatchDescriptor, PathBuf> = HashMap::new();
    add_tree(
        &mut watches,
        &mut dirs,
        &spec.root,
        Path::new(""),
        spec.recursive,
    )?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(event)) = stream.next().await {
            let Some(dir) = dirs.get(&event.wd).cloned() else {
                continue;
            };
            let Some(name) = event.name else { continue };
            let relative = dir.join(&name);
            let Some(kind) = event_type(event.mask) else {
                continue;
            };
            let full = spec.root.join(&relative);
            if spec.recursive
                && event.mask.contains(EventMask::ISDIR)
                && kind == EventType::EVENT_TYPE_CREATE
            {
                let _ = add_tree(&mut watches, &mut dirs, &full, &relative, true);
            }
            let entry = if spec.include_entry
                && kind != EventType::EVENT_TYPE_REMOVE
                && kind != EventType::EVENT_TYPE_RENAME
            {
                entry_info(&full).ok()
            } else {
                None
            };
            let fs_event = FilesystemEvent {
                name: relative.display().to_string(),
                r#type: kind.into(),
                entry: entry.into(),
                ..Default::default()
            };
            if !sink(fs_event).await {
                return;
            }
        }
    }))
}

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::MODIFY
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::ATTRIB
        | WatchMask::DONT_FOLLOW
}

fn add_tree(
    watches: &mut Watches,
    dirs: &mut HashMap<WatchDescriptor, PathBuf>,
    dir: &Path,
    relative: &Path,
    recursive: bool,
) -> Result<(), ConnectError> {
    let wd = watches
        .add(dir, mask())
        .map_err(|err| ConnectError::from_io(&err, &format!("watch {}", dir.display())))?;
    dirs.insert(wd, relative.to_path_buf());
    if recursive {
        if let Ok(reader) = std::fs::read_dir(dir) {
            for child in reader.flatten() {
                if child.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    let _ = add_tree(
                        watches,
                        dirs,
                        &child.path(),
                        &relative.join(child.file_name()),
                        true,
                    );
                }
            }
        }
    }
    Ok(())
}

/// fsnotify's mapping, which E2B's envd reports.
fn event_type(mask: EventMask) -> Option<EventType> {
    if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
        Some(EventType::EVENT_TYPE_CREATE)
    } else if mask.contains(EventMask::DELETE) {
        Some(EventType::EVENT_TYPE_REMOVE)
    } else if mask.contains(EventMask::MOVED_FROM) {
        Some(EventType::EVENT_TYPE_RENAME)
    } else if mask.contains(EventMask::MODIFY) {
        Some(EventType::EVENT_TYPE_WRITE)
    } else if mask.contains(EventMask::ATTRIB) {
        Some(EventType::EVENT_TYPE_CHMOD)
    } else {
        None
    }
}

fn keepalive() -> WatchDirResponse {
    WatchDirResponse {
        event: Some(watch_dir_response::KeepAlive::default().into()),
        ..Default::default()
    }
}

pub async fn watch_dir(state: SharedState, user: Option<String>, rpc: RpcRequest) -> Response {
    let format = rpc.format;
    let options = StreamOptions {
        deadline: rpc.deadline,
        keepalive: Some((
            connect::keepalive_interval(&rpc.headers),
            keepalive as fn() -> _,
        )),
    };
    let result = async {
        let request: WatchDirRequest = rpc.message().await?;
        let user = state.user(user.as_deref()).await?;
        let spec = prepare(
            &user,
            &request.path,
            request.recursive,
            request.include_entry,
        )
        .await?;
        let (tx, rx) = mpsc::channel(64);
        let _ = tx.try_send(Ok(WatchDirResponse {
            event: Some(watch_dir_response::StartEvent::default().into()),
            ..Default::default()
        }));
        let closed = tx.clone();
        let task = start(spec, move |event| {
            let tx = tx.clone();
            Box::pin(async move {
                tx.send(Ok(WatchDirResponse {
                    event: Some(event.into()),
                    ..Default::default()
                }))
                .await
                .is_ok()
            })
        })?;
        // Stop watching as soon as the client goes away, even when idle.
        tokio::spawn(async move {
            closed.closed().await;
            task.abort();
        });
        Ok(rx)
    }
    .await;
    match result {
        Ok(rx) => connect::stream_response(format.codec, rx, options),
        Err(err) => connect::error_response(format, &err),
    }
}

pub async fn create_watcher(
    state: &SharedState,
    user: UserInfo,
    request: CreateWatcherRequest,
) -> Result<CreateWatcherResponse, ConnectError> {
    let spec = prepare(
        &user,
        &request.path,
        request.recursive,
        request.include_entry,
    )
    .await?;
    let events = EventQueue::default();
    let sink = events.clone();
    let task = start(spec, move |event| {
        sink.push(event);
        Box::pin(async { true })
    })?;
    let id = state.watchers.insert(events, task);
    Ok(CreateWatcherResponse {
        watcher_id: id,
        ..Default::default()
    })
}

pub async fn get_events(
    state: &SharedState,
    _: UserInfo,
    request: GetWatcherEventsRequest,
) -> Result<GetWatcherEventsResponse, ConnectError> {
    let events = state
        .watchers
        .take_events(&request.watcher_id)
        .ok_or_else(|| {
            ConnectError::not_found(format!("watcher {:?} not found", request.watcher_id))
        })?;
    Ok(GetWatcherEventsResponse {
        events,
        ..Default::default()
    })
}

pub async fn remove_watcher(
    state: &SharedState,
    _: UserInfo,
    request: RemoveWatcherRequest,
) -> Result<RemoveWatcherResponse, ConnectError> {
    if !state.watchers.remove(&request.watcher_id) {
        return Err(ConnectError::new(
            Code::NotFound,
            format!("watcher {:?} not found", request.watcher_id),
        ));
    }
    Ok(RemoveWatcherResponse::default())
}
