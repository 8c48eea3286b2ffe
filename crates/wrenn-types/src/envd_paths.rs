//! envd's routes that only the host agent may call (`POST /init` hands envd
//! its access token and environment, `POST /shutdown` powers the guest
//! off, `POST /sync` flushes its disks before the host copies one). The sandbox proxy, in the control plane and again in the agent,
//! refuses them on envd's port whatever the client sends: the check is on
//! the path as envd could end up reading it, so percent-encoding, repeated
//! or trailing slashes and case do not slip past it.

/// The port envd listens on inside every guest.
pub const ENVD_PORT: u16 = 49983;

/// Routes of envd no client of the proxy may reach.
const HOST_ONLY: [&str; 3] = ["/init", "/shutdown", "/sync"];

/// Whether `path` (the raw path of a request, without query) names one of
/// envd's host-only routes.
pub fn is_host_only(path: &str) -> bool {
    let normalised = normalise(path);
    HOST_ONLY.iter().any(|route| normalised == *route)
}

/// Percent-decoded (repeatedly, so `%2569` cannot hide an `i`), lowercase,
/// one slash between segments, no trailing slash, rooted.
fn normalise(path: &str) -> String {
    let mut decoded = path.as_bytes().to_vec();
    loop {
        let next = percent_decode(&decoded);
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let text = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
    let segments: Vec<&str> = text
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", segments.join("/"))
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(hi), Some(lo)) = (hex(input[i + 1]), hex(input[i + 2])) {
                // Two hex digits make one byte.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_host_only_when_disguised_then_still_refused() {
        for path in [
            "/init",
            "/shutdown",
            "/sync",
            "/Sync/",
            "//init",
            "/init/",
            "/./init",
            "/INIT",
            "/%69nit",
            "/%2569nit",
            "/%2finit",
            "\\init",
        ] {
            assert!(is_host_only(path), "{path} allowed");
        }
    }

    #[test]
    fn is_host_only_when_client_route_then_allowed() {
        for path in [
            "/",
            "/health",
            "/files",
            "/process.Process/Start",
            "/initialise",
            "/files/init",
            "/%",
            "/%zz",
        ] {
            assert!(!is_host_only(path), "{path} refused");
        }
    }
}
