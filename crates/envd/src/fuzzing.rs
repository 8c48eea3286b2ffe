//! Entry points for the cargo-fuzz targets in `fuzz/`: each takes arbitrary
//! bytes, must never panic, and checks that chunked and whole-buffer parsing
//! agree.
use crate::{
    connect::{envelope, Codec},
    multipart,
};

/// Connect envelope decoder, then both codecs on every frame.
pub fn connect_envelope(data: &[u8]) {
    let whole = envelope::decode_all(data, 1 << 20);
    // The same bytes fed in pieces must give the same frames.
    let split = data.first().map(|b| usize::from(*b) % 7 + 1).unwrap_or(1);
    let mut decoder = envelope::EnvelopeDecoder::new(1 << 20);
    let mut pieces = Vec::new();
    let mut failed = false;
    for chunk in data.chunks(split) {
        decoder.push(chunk);
        loop {
            match decoder.next_envelope() {
                Ok(Some(frame)) => pieces.push(frame),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
    }
    match &whole {
        Ok(frames) => {
            assert!(!failed && decoder.finish().is_ok());
            assert_eq!(frames, &pieces);
            for frame in frames {
                let _ = Codec::Json.decode::<wrenn_proto::process::StartRequest>(&frame.data);
                let _ = Codec::Proto.decode::<wrenn_proto::process::StartRequest>(&frame.data);
                let _ = Codec::Json.decode::<wrenn_proto::process::StreamInputRequest>(&frame.data);
                let _ = Codec::Proto.decode::<wrenn_proto::filesystem::ListDirRequest>(&frame.data);
            }
        }
        Err(_) => assert!(failed || decoder.finish().is_err()),
    }
}

/// Multipart parser with a boundary taken from the input; results must not
/// depend on how the body is chunked.
pub fn multipart(data: &[u8]) {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let len = usize::from(len % 16) + 1;
    if rest.len() < len {
        return;
    }
    let (boundary, body) = rest.split_at(len);
    let Ok(boundary) = std::str::from_utf8(boundary) else {
        return;
    };
    let whole = multipart::parse_all(boundary, body, body.len().max(1));
    for chunk in [1, 3, 64] {
        let chunked = multipart::parse_all(boundary, body, chunk);
        assert_eq!(whole.is_ok(), chunked.is_ok(), "chunk {chunk}");
        if let (Ok(a), Ok(b)) = (&whole, &chunked) {
            assert_eq!(a, b, "chunk {chunk}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cheap stand-in for the fuzzer where no nightly toolchain exists:
    /// pseudo-random inputs through both entry points.
    #[test]
    fn fuzz_entry_points_survive_pseudo_random_inputs() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let samples: [&[u8]; 3] = [
            b"\x00\x00\x00\x00\x02{}\x02\x00\x00\x00\x02{}",
            b"\x01b--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nxx\r\n--b--",
            b"",
        ];
        for sample in samples {
            connect_envelope(sample);
            multipart(sample);
        }
        for _ in 0..3000 {
            let len = (next() % 200) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 && !data.is_empty() {
                // Bias towards small, plausible frame headers.
                data[0] %= 4;
            }
            connect_envelope(&data);
            multipart(&data);
        }
    }
}
