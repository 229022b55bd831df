//! The attackers: each load's connections, reconnecting whenever the server closes one, and
//! their counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The attackers' counters.
#[derive(Debug, Default)]
pub struct Attack {
    pub open: AtomicUsize,
    pub peak_open: AtomicUsize,
    pub opened: AtomicUsize,
    pub connect_failures: AtomicUsize,
    /// Connections the server closed (end-of-file or reset).
    pub closed_by_server: AtomicUsize,
    /// Answers the attackers got, by status.
    pub answers: Mutex<BTreeMap<u16, usize>>,
}

impl Attack {
    pub fn connected(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_open.fetch_max(now, Ordering::Relaxed);
    }

    pub fn disconnected(&self, by_server: bool) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        if by_server {
            self.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn answered(&self, status: u16) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        *answers.entry(status).or_default() += 1;
    }
}

/// One attacking connection's life, repeated until the load ends: connect, then `behave`.
pub async fn attacker<F, Fut>(
    addr: String,
    attack: Arc<Attack>,
    connects: Arc<tokio::sync::Semaphore>,
    behave: F,
) where
    F: Fn(TcpStream, Arc<Attack>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        let stream = {
            let Ok(_turn) = connects.acquire().await else {
                return;
            };
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr)).await
        };
        match stream {
            Ok(Ok(stream)) => {
                attack.connected();
                behave(stream, attack.clone()).await;
            }
            _ => {
                // Out of descriptors or ports, or the server's queue is full: back off a little.
                attack.connect_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Slowloris: a request line, then a header line every `interval`, until the server closes.
pub async fn slowloris(mut stream: TcpStream, attack: Arc<Attack>, interval: Duration) {
    let mut line = 0u64;
    let mut buf = [0u8; 512];
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .is_err()
    {
        attack.disconnected(true);
        return;
    }
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            () = tokio::time::sleep(interval) => {
                line += 1;
                let header = format!("X-Slow-{line}: 1\r\n");
                if stream.write_all(header.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    }
    attack.disconnected(true);
}

/// The idle flood: one request, then nothing, until the server closes.
pub async fn idle(mut stream: TcpStream, attack: Arc<Attack>) {
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .is_err()
    {
        attack.disconnected(true);
        return;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if head.len() < 16 {
                    head.extend_from_slice(&buf[..n]);
                    if let Some(status) = status_of(&head) {
                        attack.answered(status);
                    }
                }
            }
        }
    }
    attack.disconnected(true);
}

/// A slow body: a hook call declaring `size` bytes and sending one a second.
pub async fn slow_body(mut stream: TcpStream, attack: Arc<Attack>, size: usize) {
    let head = format!(
        "POST /cds-services/gravida-patient-view HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        attack.disconnected(true);
        return;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if let Some(status) = status_of(&answer) {
                        // Answered: this call is over, start another.
                        attack.answered(status);
                        break;
                    }
                }
            },
            _ = ticks.tick() => {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
    }
    attack.disconnected(true);
}

/// The status of an HTTP/1.1 answer whose first bytes are `bytes`, once they hold it.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A large body: a hook call declaring `size` bytes, all of which but the last are sent at
/// once, with `token` if any; then it waits for the answer or the close, and starts again (the
/// attack of a replica's body memory).
pub async fn big_body(
    mut stream: TcpStream,
    attack: Arc<Attack>,
    size: usize,
    token: Option<String>,
) {
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /cds-services/gravida-patient-view HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\n{authorization}Content-Length: {size}\r\n\r\n"
    );
    let (mut reader, mut writer) = stream.split();
    let send = async {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut left = size.saturating_sub(1);
        while left > 0 {
            let n = left.min(chunk.len());
            writer.write_all(&chunk[..n]).await?;
            left -= n;
        }
        // All but the last byte: hold the connection until the server gives up on it.
        std::future::pending::<std::io::Result<()>>().await
    };
    let answer = async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if let Some(status) = status_of(&answer) {
                        attack.answered(status);
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = send => {}
        () = answer => {}
    }
    attack.disconnected(true);
}
