//! Plain HTTP endpoints: health, version, `/init`, env vars, metrics and
//! the shutdown request the host agent sends.
use std::collections::HashMap;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;

use crate::{
    auth,
    files::HttpError,
    state::{SharedState, ENVD_VERSION},
};

pub async fn health() -> Response {
    (StatusCode::NO_CONTENT, [("x-envd-version", ENVD_VERSION)]).into_response()
}

pub async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "version": ENVD_VERSION }))
}

/// `POST /init` body (E2B's field names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InitRequest {
    env_vars: Option<HashMap<String, String>>,
    access_token: Option<String>,
    default_user: Option<String>,
    default_workdir: Option<String>,
    timestamp: Option<String>,
    /// Wrenn's addition: a PEM bundle of the operator's extra CAs, added
    /// to the guest's trust store (see [`crate::trust`]).
    ca_certificates: Option<String>,
    /// Wrenn's addition: the resolvers for `/etc/resolv.conf`. A guest
    /// restored from a memory snapshot would otherwise keep those of the
    /// VM the snapshot was taken in.
    nameservers: Option<Vec<std::net::IpAddr>>,
}

/// Applies host settings. The first `/init` may set the access token; once
/// one is set, a later `/init` must prove it knows the token (header or the
/// same token in the body), so a process inside the sandbox cannot take
/// the guest over by re-initialising it.
pub async fn init(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, HttpError> {
    let request: InitRequest = if body.is_empty() {
        InitRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid /init body: {err}"),
            )
        })?
    };
    let mut settings = state.settings.write().await;
    if let Some(current) = settings.access_token.as_deref() {
        let header = headers
            .get("x-access-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let in_body = request.access_token.as_deref().unwrap_or("");
        if !auth::constant_time_eq(header.as_bytes(), current.as_bytes())
            && !auth::constant_time_eq(in_body.as_bytes(), current.as_bytes())
        {
            return Err(HttpError::new(
                StatusCode::UNAUTHORIZED,
                "envd is already initialised with another access token",
            ));
        }
    }
    if let Some(token) = request.access_token.filter(|t| !t.is_empty()) {
        settings.access_token = Some(token);
    }
    if let Some(vars) = request.env_vars {
        settings.env_vars.extend(vars);
    }
    if let Some(user) = request.default_user.filter(|u| !u.is_empty()) {
        settings.default_user = Some(user);
    }
    if let Some(dir) = request.default_workdir.filter(|d| !d.is_empty()) {
        settings.default_workdir = Some(dir);
    }
    if let Some(pem) = request.ca_certificates.filter(|p| !p.trim().is_empty()) {
        if state.is_vm {
            let installed = tokio::task::spawn_blocking(move || {
                crate::trust::install(
                    &pem,
                    crate::trust::SYSTEM_BUNDLE.as_ref(),
                    crate::trust::OPERATOR_ANCHOR.as_ref(),
                )
            })
            .await;
            if let Ok(Err(err)) | Err(err) = installed.map_err(std::io::Error::other) {
                return Err(HttpError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("installing the CA certificates: {err}"),
                ));
            }
        }
        crate::trust::default_env(&mut settings.env_vars);
    }
    drop(settings);
    if let Some(servers) = request.nameservers.filter(|s| !s.is_empty()) {
        if state.is_vm {
            let text = resolv_conf(&servers);
            if let Err(err) = tokio::fs::write("/etc/resolv.conf", text).await {
                tracing::warn!(%err, "cannot write /etc/resolv.conf");
            }
        }
    }
    if state.is_vm {
        crate::entropy::reseed_in_background();
    }
    if let Some(ts) = request.timestamp {
        match parse_rfc3339(&ts) {
            Some((secs, nanos)) if state.is_vm => set_clock(secs, nanos),
            Some(_) => {}
            None => {
                return Err(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid timestamp {ts:?}"),
                ))
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `nameserver` lines, three at most (the resolver library reads no more).
pub fn resolv_conf(servers: &[std::net::IpAddr]) -> String {
    servers
        .iter()
        .take(3)
        .map(|s| format!("nameserver {s}\n"))
        .collect()
}

fn set_clock(secs: i64, nanos: u32) {
    use nix::time::{clock_gettime, clock_settime, ClockId};
    let now = clock_gettime(ClockId::CLOCK_REALTIME)
        .map(|t| t.tv_sec())
        .unwrap_or(0);
    // Only step the clock when it is off by more than a second.
    if (now - secs).abs() > 1 {
        let target = nix::sys::time::TimeSpec::new(secs, nanos as _);
        if let Err(err) = clock_settime(ClockId::CLOCK_REALTIME, target) {
            tracing::warn!(%err, "cannot set the clock");
        }
    }
}

/// `2024-05-01T12:00:00.123Z` / `...+02:00` → unix seconds and nanoseconds.
pub fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut value: u32 = 0;
        for (i, c) in frac[..digits].bytes().enumerate().take(9) {
            value = value * 10 + u32::from(c - b'0');
            if i == digits.min(9) - 1 {
                value *= 10u32.pow(9 - digits.min(9) as u32);
            }
        }
        nanos = value;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    ))
}

pub async fn envs(State(state): State<SharedState>) -> Json<HashMap<String, String>> {
    Json(state.settings.read().await.env_vars.clone())
}

pub async fn metrics() -> Json<serde_json::Value> {
    let cpu_used_pct = cpu_used_pct().await;
    let mem = meminfo();
    let kib = |key: &str| mem.get(key).copied().unwrap_or(0) * 1024;
    let (mem_total, mem_available) = (kib("MemTotal"), kib("MemAvailable"));
    // fsblkcnt_t and c_ulong are u64 on every 64-bit Linux target envd is
    // built for.
    let (disk_total, disk_used) = match nix::sys::statvfs::statvfs("/") {
        Ok(vfs) => {
            let frsize = vfs.fragment_size();
            let total = vfs.blocks() * frsize;
            (total, total - vfs.blocks_free() * frsize)
        }
        Err(_) => (0, 0),
    };
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let cpu_count = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Json(serde_json::json!({
        "ts": ts,
        "cpu_count": cpu_count,
        "cpu_used_pct": cpu_used_pct,
        "mem_total": mem_total,
        "mem_used": mem_total.saturating_sub(mem_available),
        "mem_cache": kib("Cached"),
        "mem_total_mib": mem_total >> 20,
        "mem_used_mib": mem_total.saturating_sub(mem_available) >> 20,
        "disk_total": disk_total,
        "disk_used": disk_used,
    }))
}

fn meminfo() -> HashMap<String, u64> {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            Some((
                key.to_string(),
                rest.split_whitespace().next()?.parse().ok()?,
            ))
        })
        .collect()
}

fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    Some((fields.iter().sum(), idle))
}

async fn cpu_used_pct() -> f64 {
    let Some((total0, idle0)) = cpu_times() else {
        return 0.0;
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let Some((total1, idle1)) = cpu_times() else {
        return 0.0;
    };
    let total = total1.saturating_sub(total0);
    if total == 0 {
        return 0.0;
    }
    let busy = total - idle1.saturating_sub(idle0).min(total);
    (busy as f64 * 1000.0 / total as f64).round() / 10.0
}

/// Asks the init (PID 1) for a clean shutdown: it stops every process, syncs
/// and unmounts the disks, then resets the VM (which the VMM turns into exit).
pub async fn shutdown() -> StatusCode {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(1), nix::sys::signal::SIGTERM) {
        Ok(()) => StatusCode::ACCEPTED,
        Err(err) => {
            tracing::warn!(%err, "shutdown requested but PID 1 could not be signalled");
            StatusCode::CONFLICT
        }
    }
}

/// Flushes every filesystem's dirty pages to disk, for a host that copies
/// the disk of a running guest next (a disk snapshot, a pause). envd does
/// it itself so no guest program is needed: an image without `sync` (or
/// without a shell) would otherwise lose its last writes to the copy.
pub async fn sync() -> StatusCode {
    match tokio::task::spawn_blocking(nix::unistd::sync).await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(err) => {
            tracing::warn!(%err, "sync task failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rfc3339_utc_with_fraction() {
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.5Z"),
            Some((1_714_564_800, 500_000_000))
        );
    }

    #[test]
    fn parse_rfc3339_with_offset() {
        assert_eq!(parse_rfc3339("1970-01-01T02:00:00+02:00"), Some((0, 0)));
    }

    #[test]
    fn resolv_conf_when_servers_then_one_line_each_at_most_three() {
        let servers: Vec<std::net::IpAddr> = ["10.255.255.53", "1.1.1.1", "8.8.8.8", "9.9.9.9"]
            .iter()
            .map(|s| s.parse().expect("ip"))
            .collect();
        assert_eq!(
            resolv_conf(&servers),
            "nameserver 10.255.255.53\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n"
        );
    }

    #[test]
    fn parse_rfc3339_rejects_garbage() {
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
    }
}
