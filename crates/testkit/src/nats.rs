//! A NATS server with JetStream for one test: Debian's `nats-server` on a
//! free loopback port, its store in a folder of its own, stopped (and the
//! folder removed) on drop. It can be stopped and started again on the same
//! port and store, as a restart of the server would.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::eventually;

pub struct TestNats {
    port: u16,
    store: PathBuf,
    child: Option<Child>,
}

/// The server binary: `EARSHOT_NATS_SERVER`, else `nats-server` on the
/// `PATH` or in `/usr/sbin` (Debian's package).
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EARSHOT_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.exists() {
        return sbin;
    }
    PathBuf::from("nats-server")
}

impl TestNats {
    pub async fn start() -> Self {
        let port = crate::reserve()
            .await
            .local_addr()
            .expect("bound listener")
            .port();
        let store =
            std::env::temp_dir().join(format!("earshot-nats-{}-{port}", std::process::id()));
        let mut nats = Self {
            port,
            store,
            child: None,
        };
        nats.start_again().await;
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts a stopped server again on its port, with its store.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "nats-server is still running");
        let child = Command::new(binary())
            .args(["--jetstream", "--addr", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--store_dir")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (Debian: apt-get install nats-server)");
        self.child = Some(child);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        eventually("nats-server accepts connections", || async move {
            TcpStream::connect(addr).ok().map(|_| ())
        })
        .await;
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
