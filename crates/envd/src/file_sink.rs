//! Moving a file's bytes between the disk and a body: [`FileSink`] writes an
//! upload where its chunks arrive, [`FileSource`] reads a download ahead on
//! its own thread.
//!
//! An upload chunk is a slice of the HTTP server's read buffer. Writing it
//! at once and dropping it hands that buffer back to the server whole, so
//! the next socket read goes into the same (cache-warm) memory. Queueing
//! chunks for another thread kept several buffers alive, so every read
//! took a fresh ~400 KiB buffer, which musl's allocator maps and unmaps
//! afresh: a page fault and a zeroed page per 4 KiB of upload, more than
//! the two copies (socket, page cache) themselves. The write blocks the
//! worker thread for as long as the page cache takes the chunk, so it runs
//! under `block_in_place` and the runtime moves its other tasks off it.
//! Reading works the other way round: a thread reads ahead while the socket
//! takes the previous chunks.
use std::{
    fs::File,
    io::{Read, Write},
};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Chunks a download reads ahead.
const DEPTH: usize = 4;

/// A file being written, one chunk at a time.
#[derive(Debug)]
pub struct FileSink {
    file: Option<File>,
}

impl FileSink {
    pub fn new(file: File) -> Self {
        Self { file: Some(file) }
    }

    /// Writes a chunk; fails with the first write error, and ever after.
    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other("file already failed"));
        };
        let written = blocking(|| file.write_all(&chunk));
        if written.is_err() {
            self.file = None;
        }
        written
    }

    /// Gives the file back once every chunk is written.
    pub async fn finish(mut self) -> std::io::Result<File> {
        self.file
            .take()
            .ok_or_else(|| std::io::Error::other("file already failed"))
    }
}

/// Runs a short blocking call on this worker, after moving the runtime's
/// other work off it; a single-threaded runtime (tests) runs it in place.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// A file being read ahead by its own thread.
#[derive(Debug)]
pub struct FileSource {
    chunks: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl FileSource {
    /// Reads `file` in chunks of at most `chunk` bytes, [`DEPTH`] ahead.
    pub fn new(file: File, chunk: usize) -> Self {
        let (tx, chunks) = mpsc::channel(DEPTH);
        tokio::task::spawn_blocking(move || {
            let mut file = file;
            loop {
                let mut buf = vec![0u8; chunk];
                let item = match file.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(Bytes::from(buf))
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => Err(err),
                };
                let failed = item.is_err();
                // A closed channel: the client went away.
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        Self { chunks }
    }

    /// The next chunk; empty at the end of the file.
    pub async fn next(&mut self) -> std::io::Result<Bytes> {
        self.chunks.recv().await.unwrap_or_else(|| Ok(Bytes::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Multi-threaded, as in the server: the writes go through block_in_place.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_when_written_then_file_holds_them_in_order() {
        let path = std::env::temp_dir().join(format!("envd-sink-{}", std::process::id()));
        let file = File::create(&path).expect("create");
        let mut sink = FileSink::new(file);
        for i in 0..50u8 {
            sink.write(Bytes::from(vec![i; 10_000]))
                .await
                .expect("write");
        }
        sink.finish().await.expect("finish");
        let mut back = Vec::new();
        File::open(&path)
            .expect("open")
            .read_to_end(&mut back)
            .expect("read");
        std::fs::remove_file(&path).ok();
        let expected: Vec<u8> = (0..50u8).flat_map(|i| vec![i; 10_000]).collect();
        assert_eq!(back, expected);
    }

    #[tokio::test]
    async fn source_when_read_then_chunks_in_order_then_empty() {
        let path = std::env::temp_dir().join(format!("envd-source-{}", std::process::id()));
        let expected: Vec<u8> = (0..250_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &expected).expect("write");
        let mut source = FileSource::new(File::open(&path).expect("open"), 64 * 1024);
        let mut back = Vec::new();
        loop {
            let chunk = source.next().await.expect("read");
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 64 * 1024);
            back.extend_from_slice(&chunk);
        }
        std::fs::remove_file(&path).ok();
        assert_eq!(back, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_when_disk_refuses_then_error_then_every_later_write_fails() {
        // /dev/full fails every write with ENOSPC.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
        let mut sink = FileSink::new(file);
        let err = sink
            .write(Bytes::from_static(b"x"))
            .await
            .expect_err("ENOSPC");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert!(sink.write(Bytes::from_static(b"y")).await.is_err());
        assert!(sink.finish().await.is_err());
    }

    #[tokio::test]
    async fn write_when_single_threaded_runtime_then_written_in_place() {
        let path = std::env::temp_dir().join(format!("envd-sink-st-{}", std::process::id()));
        let mut sink = FileSink::new(File::create(&path).expect("create"));
        sink.write(Bytes::from_static(b"abc")).await.expect("write");
        sink.write(Bytes::new()).await.expect("empty chunk");
        drop(sink.finish().await.expect("finish"));
        let back = std::fs::read(&path).expect("read");
        std::fs::remove_file(&path).ok();
        assert_eq!(back, b"abc");
    }
}
