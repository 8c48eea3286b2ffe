//! Moving a file's bytes between the disk and a body on one blocking thread
//! per transfer: [`FileSink`] writes an upload, [`FileSource`] reads a
//! download.
//!
//! A request body arrives as reference-counted chunks; handing them to a
//! thread that owns the file lets the socket be read while the disk is
//! written, with no copy on the way and one thread hand-off per chunk (an
//! async file copies every chunk into its own buffer and waits for each
//! write before the next may start). Reading works the same way round: the
//! thread reads ahead while the socket takes the previous chunks.
use std::{
    fs::File,
    io::{Read, Write},
};

use bytes::Bytes;
use tokio::{sync::mpsc, task::JoinHandle};

/// Chunks queued for the writer; with the server's read buffer (at most
/// ~400 KiB a chunk) this bounds an upload's memory to a few MiB.
const DEPTH: usize = 4;

/// A file being written by its own thread.
#[derive(Debug)]
pub struct FileSink {
    chunks: Option<mpsc::Sender<Bytes>>,
    writer: JoinHandle<std::io::Result<File>>,
}

impl FileSink {
    pub fn new(file: File) -> Self {
        let (chunks, mut rx) = mpsc::channel::<Bytes>(DEPTH);
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let mut queued = Vec::with_capacity(DEPTH);
            while let Some(chunk) = rx.blocking_recv() {
                // Whatever else is queued goes in the same system call.
                queued.push(chunk);
                while let Ok(more) = rx.try_recv() {
                    queued.push(more);
                }
                write_all_vectored(&mut file, &mut queued)?;
            }
            Ok(file)
        });
        Self {
            chunks: Some(chunks),
            writer,
        }
    }

    /// Queues a chunk; fails with the writer's error once it has stopped.
    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let Some(chunks) = self.chunks.as_ref() else {
            return Err(std::io::Error::other("file already finished"));
        };
        if chunks.send(chunk).await.is_ok() {
            return Ok(());
        }
        // The writer hung up: it failed, and says why when joined.
        self.chunks = None;
        match (&mut self.writer).await {
            Ok(Err(err)) => Err(err),
            Ok(Ok(_)) => Err(std::io::Error::other("file writer stopped")),
            Err(err) => Err(std::io::Error::other(format!("file writer failed: {err}"))),
        }
    }

    /// Waits for every queued chunk to be written and gives the file back.
    pub async fn finish(mut self) -> std::io::Result<File> {
        self.chunks = None;
        match self.writer.await {
            Ok(result) => result,
            Err(err) => Err(std::io::Error::other(format!("file writer failed: {err}"))),
        }
    }
}

/// Writes every chunk of `chunks` in order, as few `writev` calls as the
/// kernel allows, and leaves `chunks` empty.
fn write_all_vectored(file: &mut File, chunks: &mut Vec<Bytes>) -> std::io::Result<()> {
    let mut first = 0;
    while first < chunks.len() {
        let slices: Vec<std::io::IoSlice<'_>> = chunks[first..]
            .iter()
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut written = match file.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        drop(slices);
        while written > 0 {
            let len = chunks[first].len();
            if written >= len {
                written -= len;
                first += 1;
            } else {
                let rest = chunks[first].slice(written..);
                chunks[first] = rest;
                written = 0;
            }
        }
    }
    chunks.clear();
    Ok(())
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

    #[tokio::test]
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

    #[tokio::test]
    async fn write_when_disk_refuses_then_error_from_the_writer() {
        // /dev/full fails every write with ENOSPC.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
        let mut sink = FileSink::new(file);
        let mut result = Ok(());
        for _ in 0..(DEPTH + 4) {
            result = sink.write(Bytes::from_static(b"x")).await;
            if result.is_err() {
                break;
            }
        }
        let err = match result {
            Err(err) => err,
            Ok(()) => sink.finish().await.expect_err("ENOSPC at the end"),
        };
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }
}
