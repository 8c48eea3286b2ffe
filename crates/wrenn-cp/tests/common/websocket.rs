//! Just enough of a WebSocket client (RFC 6455) to test the API's
//! WebSocket routes over a real socket: the upgrade handshake, one masked
//! text frame out, and unmasked frames in.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// An open connection after the handshake.
#[derive(Debug)]
pub struct Socket {
    stream: TcpStream,
}

/// What the server answered to an upgrade request.
#[derive(Debug)]
pub enum Upgrade {
    /// `101 Switching Protocols`.
    Open(Socket),
    /// Any other status, with the body (the error envelope).
    Refused(u16, serde_json::Value),
}

/// Sends the upgrade request for `path` with `token` as the bearer.
pub async fn connect(addr: SocketAddr, path: &str, token: &str) -> Upgrade {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the upgrade");
    let head = read_head(&mut stream).await;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    if status == 101 {
        return Upgrade::Open(Socket { stream });
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.expect("error body");
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Upgrade::Refused(status, body)
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.expect("response head");
        head.push(byte);
    }
    String::from_utf8_lossy(&head).into_owned()
}

impl Socket {
    /// Sends one text frame (masked with a zero key, as clients must mask).
    pub async fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81];
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | u8::try_from(n).expect("small")),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(n).expect("< 64 KiB").to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await.expect("send a frame");
    }

    /// The next text frame as JSON; `None` when the server closed.
    pub async fn next_json(&mut self) -> Option<serde_json::Value> {
        loop {
            let (opcode, payload) = self.read_frame().await?;
            match opcode {
                0x1 => return serde_json::from_slice(&payload).ok(),
                0x8 => return None,
                _ => {}
            }
        }
    }

    async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let first = self.stream.read_u8().await.ok()?;
        let second = self.stream.read_u8().await.ok()?;
        let length = match second & 0x7f {
            126 => u64::from(self.stream.read_u16().await.ok()?),
            127 => self.stream.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0; usize::try_from(length).ok()?];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some((first & 0x0f, payload))
    }
}
