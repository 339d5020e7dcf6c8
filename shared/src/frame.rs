//! Length-prefixed frames for chassisd's own channels: a 4-byte big-endian length, then the
//! payload. Sans-IO: bytes are pushed in, whole frames come out.

/// Frames above this are refused: no honest message between our processes is near it, and a
/// corrupt length must not make the reader allocate gigabytes.
pub const MAX_FRAME: usize = 64 << 20;

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLarge(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes exceeds the {MAX_FRAME}-byte limit"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Prepends the length header.
pub fn encode(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(payload.len()));
    }
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Reassembles frames from a byte stream.
#[derive(Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one is buffered. After an error the stream is unusable.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = &self.buf[self.start..];
        let Some(header) = pending.get(..4) else { return Ok(None) };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        let Some(payload) = pending.get(4..4 + len) else { return Ok(None) };
        let frame = payload.to_vec();
        self.start += 4 + len;
        // Compact once the consumed prefix dominates, so the buffer does not grow forever.
        if self.start > 4096 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn frames_survive_any_split(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20), cut in 1usize..64) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| encode(p).unwrap()).collect();
            let mut dec = FrameDecoder::default();
            let mut out = Vec::new();
            for chunk in stream.chunks(cut) {
                dec.push(chunk);
                while let Some(f) = dec.next_frame().unwrap() {
                    out.push(f);
                }
            }
            prop_assert_eq!(out, payloads);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut dec = FrameDecoder::default();
            dec.push(&bytes);
            while let Ok(Some(_)) = dec.next_frame() {}
        }
    }

    #[test]
    fn oversized_length_is_refused() {
        let mut dec = FrameDecoder::default();
        dec.push(&u32::MAX.to_be_bytes());
        assert_eq!(dec.next_frame(), Err(FrameError::TooLarge(u32::MAX as usize)));
    }
}
