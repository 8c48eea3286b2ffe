//! Connect streaming envelopes: 1 flag byte, a 4-byte big-endian length and
//! the message. Flag 0x01 marks a compressed message, 0x02 the end of stream.
use bytes::{Buf, Bytes, BytesMut};

pub const FLAG_COMPRESSED: u8 = 0x01;
pub const FLAG_END_STREAM: u8 = 0x02;
const HEADER_LEN: usize = 5;

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub flags: u8,
    pub data: Bytes,
}

impl Envelope {
    pub fn is_end_stream(&self) -> bool {
        self.flags & FLAG_END_STREAM != 0
    }
    pub fn is_compressed(&self) -> bool {
        self.flags & FLAG_COMPRESSED != 0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// A frame announced more bytes than we accept.
    #[error("message of {len} bytes exceeds the {max} byte limit")]
    TooLarge { len: usize, max: usize },
    /// Flag bits we do not know.
    #[error("unknown envelope flags {0:#04x}")]
    UnknownFlags(u8),
    /// The body ended inside a frame.
    #[error("stream ended inside an envelope ({0} bytes left over)")]
    Truncated(usize),
}

/// Incremental decoder: push body chunks, pull complete envelopes.
#[derive(Debug)]
pub struct EnvelopeDecoder {
    buf: BytesMut,
    max: usize,
}

impl EnvelopeDecoder {
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max: max_message,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete envelope, or `None` until more bytes arrive.
    pub fn next_envelope(&mut self) -> Result<Option<Envelope>, EnvelopeError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let flags = self.buf[0];
        if flags & !(FLAG_COMPRESSED | FLAG_END_STREAM) != 0 {
            return Err(EnvelopeError::UnknownFlags(flags));
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > self.max {
            return Err(EnvelopeError::TooLarge { len, max: self.max });
        }
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let data = self.buf.split_to(len).freeze();
        Ok(Some(Envelope { flags, data }))
    }

    /// Call at the end of the body: left-over bytes mean a cut frame.
    pub fn finish(&self) -> Result<(), EnvelopeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(EnvelopeError::Truncated(n)),
        }
    }
}

/// Decodes a complete body into its envelopes.
pub fn decode_all(body: &[u8], max_message: usize) -> Result<Vec<Envelope>, EnvelopeError> {
    let mut decoder = EnvelopeDecoder::new(max_message);
    decoder.push(body);
    let mut out = Vec::new();
    while let Some(envelope) = decoder.next_envelope()? {
        out.push(envelope);
    }
    decoder.finish()?;
    Ok(out)
}

/// Frames one message.
pub fn encode(flags: u8, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + data.len());
    out.extend_from_slice(&[flags]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_all_when_two_frames_then_both_in_order() {
        let mut body = encode(0, b"{\"a\":1}").to_vec();
        body.extend_from_slice(&encode(FLAG_END_STREAM, b"{}"));
        let frames = decode_all(&body, 1024).expect("valid body");
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0].data[..], b"{\"a\":1}");
        assert!(frames[1].is_end_stream());
    }

    #[test]
    fn decoder_when_split_across_chunks_then_waits_for_rest() {
        let frame = encode(0, b"hello");
        let mut decoder = EnvelopeDecoder::new(1024);
        decoder.push(&frame[..3]);
        assert_eq!(decoder.next_envelope(), Ok(None));
        decoder.push(&frame[3..]);
        let envelope = decoder.next_envelope().expect("ok").expect("complete");
        assert_eq!(&envelope.data[..], b"hello");
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn decode_all_when_cut_then_truncated() {
        let frame = encode(0, b"hello");
        assert_eq!(
            decode_all(&frame[..7], 1024),
            Err(EnvelopeError::Truncated(7))
        );
    }

    #[test]
    fn decode_all_when_too_large_then_error_without_allocating() {
        let body = [0u8, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode_all(&body, 1024),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }

    #[test]
    fn decode_all_when_unknown_flag_then_error() {
        let body = encode(0x80, b"x");
        assert_eq!(
            decode_all(&body, 1024),
            Err(EnvelopeError::UnknownFlags(0x80))
        );
    }

    #[test]
    fn encode_writes_big_endian_length() {
        let frame = encode(FLAG_END_STREAM, b"{}");
        assert_eq!(&frame[..], &[2, 0, 0, 0, 2, b'{', b'}']);
    }
}
