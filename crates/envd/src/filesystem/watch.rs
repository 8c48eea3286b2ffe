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

/// Super-block magic numbers of network file systems (Linux
/// `include/uapi/linux/magic.h`): NFS, CIFS, SMB, SMB2 and FUSE, the set
/// E2B's envd refuses to watch unless the request allows network mounts
/// (inotify sees no changes made on other machines).
const NETWORK_FS_MAGIC: [i64; 5] = [0x6969, 0xFF53_4D42, 0x517B, 0xFE53_4D42, 0x6573_5546];

/// The flags of a `WatchDir` / `CreateWatcher` request.
#[derive(Clone, Copy, Debug)]
struct WatchOptions {
    recursive: bool,
    include_entry: bool,
    allow_network_mounts: bool,
}

async fn prepare(
    user: &UserInfo,
    path: &str,
    options: WatchOptions,
) -> Result<WatchSpec, ConnectError> {
    let WatchOptions {
        recursive,
        include_entry,
        allow_network_mounts,
    } = options;
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
        if !allow_network_mounts {
            let fs = nix::sys::statfs::statfs(&check).map_err(|err| {
                ConnectError::from_io(&err.into(), &format!("statfs {}", check.display()))
            })?;
            if NETWORK_FS_MAGIC.contains(&(fs.filesystem_type().0 as i64)) {
                return Err(ConnectError::invalid_argument(format!(
                    "cannot watch {} on a network file system",
                    check.display()
                )));
            }
        }
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
///
/// Events follow E2B's envd (fsnotify, E2B's fork with recursive watches):
/// one inotify event gives one filesystem event per kind it carries, in the
/// order CREATE, RENAME, CHMOD, WRITE, REMOVE; names are relative to the
/// watched directory (`.` for the directory itself); a recursive watch
/// starts watching every directory created or moved into the tree.
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
            if event.mask.contains(EventMask::IGNORED) {
                dirs.remove(&event.wd);
                continue;
            }
            let Some(dir) = dirs.get(&event.wd).cloned() else {
                continue;
            };
            let is_root = dir.as_os_str().is_empty();
            let relative = match &event.name {
                Some(name) => dir.join(name),
                None => dir.clone(),
            };
            if event.name.is_none()
                && event
                    .mask
                    .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF)
            {
                // A subdirectory's removal or move is reported by its parent.
                if !is_root {
                    continue;
                }
                // The watched directory moved away: nothing more to see there.
                if event.mask.contains(EventMask::MOVE_SELF) {
                    let _ = watches.remove(event.wd.clone());
                    dirs.remove(&event.wd);
                }
            }
            let full = spec.root.join(&relative);
            if spec.recursive
                && event.name.is_some()
                && event.mask.contains(EventMask::ISDIR)
                && event
                    .mask
                    .intersects(EventMask::CREATE | EventMask::MOVED_TO)
            {
                // Also re-labels the watches of a tree renamed inside the
                // watch (same inodes, same descriptors).
                let _ = add_tree(&mut watches, &mut dirs, &full, &relative, true);
            }
            let name = if relative.as_os_str().is_empty() {
                ".".to_owned()
            } else {
                relative.display().to_string()
            };
            for kind in event_types(event.mask) {
                let entry = if spec.include_entry && carries_entry(kind) {
                    entry_info(&full).ok()
                } else {
                    None
                };
                let fs_event = FilesystemEvent {
                    name: name.clone(),
                    r#type: kind.into(),
                    entry: entry.into(),
                    ..Default::default()
                };
                if !sink(fs_event).await {
                    return;
                }
            }
        }
    }))
}

/// fsnotify's default set (E2B's envd adds no options).
fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::MODIFY
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::MOVE_SELF
        | WatchMask::ATTRIB
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

/// The kinds one inotify event stands for, in the order E2B's envd sends
/// them (fsnotify's mapping of the mask bits).
fn event_types(mask: EventMask) -> Vec<EventType> {
    let mut kinds = Vec::with_capacity(1);
    if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
        kinds.push(EventType::EVENT_TYPE_CREATE);
    }
    if mask.intersects(EventMask::MOVED_FROM | EventMask::MOVE_SELF) {
        kinds.push(EventType::EVENT_TYPE_RENAME);
    }
    if mask.contains(EventMask::ATTRIB) {
        kinds.push(EventType::EVENT_TYPE_CHMOD);
    }
    if mask.contains(EventMask::MODIFY) {
        kinds.push(EventType::EVENT_TYPE_WRITE);
    }
    if mask.intersects(EventMask::DELETE | EventMask::DELETE_SELF) {
        kinds.push(EventType::EVENT_TYPE_REMOVE);
    }
    kinds
}

/// Whether an event's path still names its entry (never after a removal
/// or a rename: a new file there would be the wrong one).
fn carries_entry(kind: EventType) -> bool {
    matches!(
        kind,
        EventType::EVENT_TYPE_CREATE | EventType::EVENT_TYPE_WRITE | EventType::EVENT_TYPE_CHMOD
    )
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
        let options = WatchOptions {
            recursive: request.recursive,
            include_entry: request.include_entry,
            allow_network_mounts: request.allow_network_mounts,
        };
        let spec = prepare(&user, &request.path, options).await?;
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
    let options = WatchOptions {
        recursive: request.recursive,
        include_entry: request.include_entry,
        allow_network_mounts: request.allow_network_mounts,
    };
    let spec = prepare(&user, &request.path, options).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_when_several_bits_then_fsnotify_order() {
        assert_eq!(
            event_types(EventMask::CREATE),
            vec![EventType::EVENT_TYPE_CREATE]
        );
        assert_eq!(
            event_types(EventMask::MODIFY | EventMask::ATTRIB),
            vec![EventType::EVENT_TYPE_CHMOD, EventType::EVENT_TYPE_WRITE]
        );
        assert_eq!(
            event_types(EventMask::MOVED_FROM),
            vec![EventType::EVENT_TYPE_RENAME]
        );
        assert_eq!(
            event_types(EventMask::DELETE | EventMask::ISDIR),
            vec![EventType::EVENT_TYPE_REMOVE]
        );
        assert!(event_types(EventMask::CLOSE_WRITE).is_empty());
    }
}
