//! Process events framed for a `Start` or `Connect` stream.
//!
//! Output is nearly all of a busy stream, and in the SDKs' JSON codec its
//! generic encoding (base64 into a string, then a scan of that string for
//! characters to escape, then a copy into the envelope) costs more than the
//! read itself. Data events are therefore written straight into the
//! envelope: `{"event":{"data":{"stdout":"<base64>"}}}`, byte for byte what
//! the generic encoder writes (a test holds them equal). Every other event,
//! and every event in the binary codec, takes the generic path.
use base64::Engine;
use bytes::{BufMut, BytesMut};
use wrenn_proto::process::ProcessEvent;

use crate::connect::{message_frame, Codec, RpcMessage};

type Event = wrenn_proto::process::__buffa::oneof::process_event::Event;
type Output = wrenn_proto::process::__buffa::oneof::process_event::data_event::Output;

/// Appends the envelope of `wrap(event)`; `wrap` puts the event into the
/// stream's response message, whose only field is `event`.
pub fn event_frame<M: RpcMessage>(
    codec: Codec,
    event: ProcessEvent,
    wrap: fn(ProcessEvent) -> M,
    out: &mut BytesMut,
) {
    if codec == Codec::Json {
        if let Some(Event::Data(data)) = &event.event {
            if let Some((key, bytes)) = data.output.as_ref().and_then(output_parts) {
                json_data_frame(key, bytes, out);
                return;
            }
        }
    }
    message_frame(codec, &wrap(event), out);
}

fn output_parts(output: &Output) -> Option<(&'static str, &[u8])> {
    let (key, bytes) = match output {
        Output::Stdout(bytes) => ("stdout", bytes),
        Output::Stderr(bytes) => ("stderr", bytes),
        Output::Pty(bytes) => ("pty", bytes),
    };
    (!bytes.is_empty()).then_some((key, bytes.as_slice()))
}

fn json_data_frame(key: &str, bytes: &[u8], out: &mut BytesMut) {
    const HEAD: &[u8] = br#"{"event":{"data":{""#;
    const TAIL: &[u8] = br#""}}}"#;
    let encoded = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    let len = HEAD.len() + key.len() + 3 + encoded + TAIL.len();
    out.reserve(5 + len);
    out.put_u8(0);
    out.put_u32(len as u32);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(br#"":""#);
    let start = out.len();
    out.resize(start + encoded, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
    out.extend_from_slice(TAIL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use wrenn_proto::process::{process_event, ConnectResponse, StartResponse};

    fn data(output: Output) -> ProcessEvent {
        ProcessEvent {
            event: Some(
                process_event::DataEvent {
                    output: Some(output),
                    ..Default::default()
                }
                .into(),
            ),
            ..Default::default()
        }
    }

    fn start(event: ProcessEvent) -> StartResponse {
        StartResponse {
            event: event.into(),
            ..Default::default()
        }
    }

    fn connect(event: ProcessEvent) -> ConnectResponse {
        ConnectResponse {
            event: event.into(),
            ..Default::default()
        }
    }

    fn generic<M: RpcMessage>(codec: Codec, message: &M) -> BytesMut {
        let mut out = BytesMut::new();
        message_frame(codec, message, &mut out);
        out
    }

    fn samples() -> Vec<ProcessEvent> {
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        vec![
            data(Output::Stdout(b"hi\n".to_vec())),
            data(Output::Stdout(b"a".to_vec())),
            data(Output::Stderr(b"ab\"\\\n\t\x00".to_vec())),
            data(Output::Pty(binary.clone())),
            data(Output::Stdout(binary)),
            data(Output::Stdout(Vec::new())),
        ]
    }

    #[test]
    fn event_frame_when_json_data_then_same_bytes_as_generic_encoder() {
        for event in samples() {
            let mut fast = BytesMut::new();
            event_frame(Codec::Json, event.clone(), start, &mut fast);
            assert_eq!(fast, generic(Codec::Json, &start(event.clone())));
            let mut fast = BytesMut::new();
            event_frame(Codec::Json, event.clone(), connect, &mut fast);
            assert_eq!(fast, generic(Codec::Json, &connect(event)));
        }
    }

    #[test]
    fn event_frame_when_proto_then_generic_encoding() {
        for event in samples() {
            let mut out = BytesMut::new();
            event_frame(Codec::Proto, event.clone(), start, &mut out);
            assert_eq!(out, generic(Codec::Proto, &start(event)));
        }
    }
}
