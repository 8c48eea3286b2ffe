//! Message codecs: proto3 JSON (the SDK's default) and binary protobuf.
use super::error::ConnectError;

/// Everything a request or response message needs to cross the wire.
pub trait RpcMessage:
    buffa::Message + serde::Serialize + serde::de::DeserializeOwned + Send + 'static
{
}
impl<T> RpcMessage for T where
    T: buffa::Message + serde::Serialize + serde::de::DeserializeOwned + Send + 'static
{
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Json,
    Proto,
}

/// How a request is framed, read from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireFormat {
    pub codec: Codec,
    /// `application/connect+*`: enveloped messages and an end-of-stream frame.
    pub streaming: bool,
}

impl WireFormat {
    /// Parses a Connect content type; `None` for anything else (answer 415).
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let (codec, streaming) = match essence.as_str() {
            "application/json" => (Codec::Json, false),
            "application/proto" => (Codec::Proto, false),
            "application/connect+json" => (Codec::Json, true),
            "application/connect+proto" => (Codec::Proto, true),
            _ => return None,
        };
        Some(Self { codec, streaming })
    }

    pub fn content_type(self) -> &'static str {
        match (self.codec, self.streaming) {
            (Codec::Json, false) => "application/json",
            (Codec::Proto, false) => "application/proto",
            (Codec::Json, true) => "application/connect+json",
            (Codec::Proto, true) => "application/connect+proto",
        }
    }
}

impl Codec {
    /// Decodes one message; an empty body is the default message.
    pub fn decode<M: RpcMessage>(self, data: &[u8]) -> Result<M, ConnectError> {
        if data.is_empty() {
            return Ok(M::default());
        }
        match self {
            Codec::Json => serde_json::from_slice(data).map_err(|err| {
                ConnectError::invalid_argument(format!("invalid JSON message: {err}"))
            }),
            Codec::Proto => M::decode_from_slice(data).map_err(|err| {
                ConnectError::invalid_argument(format!("invalid protobuf message: {err}"))
            }),
        }
    }

    pub fn encode<M: RpcMessage>(self, message: &M) -> Vec<u8> {
        match self {
            // Generated messages always serialize (no maps with non-string keys).
            Codec::Json => serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec()),
            Codec::Proto => message.encode_to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wrenn_proto::process::{
        process_event, ProcessEvent, ProcessSelector, SendSignalRequest, Signal, StartResponse,
    };

    #[test]
    fn from_content_type_accepts_charset_parameter() {
        let format = WireFormat::from_content_type("application/json; charset=utf-8");
        assert_eq!(
            format,
            Some(WireFormat {
                codec: Codec::Json,
                streaming: false
            })
        );
    }

    #[test]
    fn from_content_type_when_unknown_then_none() {
        assert_eq!(WireFormat::from_content_type("text/plain"), None);
    }

    #[test]
    fn json_decode_reads_camel_case_and_enum_names() {
        let body = br#"{"process":{"pid":42},"signal":"SIGNAL_SIGKILL"}"#;
        let request: SendSignalRequest = Codec::Json.decode(body).expect("valid JSON");
        assert_eq!(request.signal.as_known(), Some(Signal::SIGNAL_SIGKILL));
        let selector = request.process.as_option().expect("process set");
        assert_eq!(
            selector.selector,
            Some(wrenn_proto::process::__buffa::oneof::process_selector::Selector::Pid(42))
        );
    }

    #[test]
    fn json_encode_writes_bytes_as_base64() {
        let event = ProcessEvent {
            event: Some(
                process_event::DataEvent {
                    output: Some(
                        wrenn_proto::process::__buffa::oneof::process_event::data_event::Output::Stdout(
                            b"hi\n".to_vec(),
                        ),
                    ),
                    ..Default::default()
                }
                .into(),
            ),
            ..Default::default()
        };
        let response = StartResponse {
            event: event.into(),
            ..Default::default()
        };
        let json: serde_json::Value =
            serde_json::from_slice(&Codec::Json.encode(&response)).expect("JSON");
        assert_eq!(json["event"]["data"]["stdout"], "aGkK");
    }

    #[test]
    fn proto_round_trip_keeps_fields() {
        let selector = ProcessSelector {
            selector: Some(
                wrenn_proto::process::__buffa::oneof::process_selector::Selector::Tag("web".into()),
            ),
            ..Default::default()
        };
        let bytes = Codec::Proto.encode(&selector);
        let back: ProcessSelector = Codec::Proto.decode(&bytes).expect("valid proto");
        assert_eq!(back, selector);
    }

    #[test]
    fn decode_when_garbage_then_invalid_argument() {
        let err = Codec::Json
            .decode::<SendSignalRequest>(b"{not json")
            .expect_err("must fail");
        assert_eq!(err.code, super::super::error::Code::InvalidArgument);
        let err = Codec::Proto
            .decode::<SendSignalRequest>(&[0xff, 0xff, 0xff])
            .expect_err("must fail");
        assert_eq!(err.code, super::super::error::Code::InvalidArgument);
    }
}
