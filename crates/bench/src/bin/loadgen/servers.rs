//! The servers a run loads: each started as its own process on a free loopback port, ready when
//! `/readyz` answers 200, and killed (by its own handle) when dropped; and the temp folder that
//! holds Gravida's audit store.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

/// A folder of its own under the system's temp folder, removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> anyhow::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("gravida-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server process this program started; killed (by its own handle) when dropped.
pub(super) struct Server {
    pub(super) name: &'static str,
    /// Behind a lock so that the end of the run can stop it while the targets still name it.
    child: std::sync::Mutex<Child>,
    pub(super) base: String,
    pub(super) ready_after: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Server {
    pub(super) fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).id()
    }

    /// Whether it has exited (and reaps it if so).
    pub(super) fn exited(&self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self
            .child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_wait()?)
    }

    /// Starts `command` (which must listen on `port`) and waits for `/readyz` to answer 200.
    pub(super) async fn start(
        name: &'static str,
        mut command: Command,
        port: u16,
        client: &reqwest::Client,
    ) -> anyhow::Result<Server> {
        let started = Instant::now();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let mut server = Server {
            name,
            child: std::sync::Mutex::new(child),
            base: format!("http://127.0.0.1:{port}"),
            ready_after: Duration::ZERO,
        };
        let ready = format!("{}/readyz", server.base);
        loop {
            if let Ok(response) = client.get(&ready).send().await
                && response.status().is_success()
            {
                server.ready_after = started.elapsed();
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("{name} was not ready within 10 s");
            }
            if let Some(status) = server.exited()? {
                bail!("{name} exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A loopback port nobody is listening on (free when we looked).
pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
