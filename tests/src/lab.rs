//! The NAT lab from Rust: `tests/lab/natlab.sh` builds a small internet in
//! network namespaces (a public bridge with a relay and a publisher, and three
//! hosts behind a restricted-cone, a port-restricted-cone and a symmetric NAT);
//! [`Lab::start_node`] runs a real Quince node inside one of them.
//!
//! Each node runs on its own thread, which first moves into the namespace and
//! then drives a single-threaded runtime, so every socket the node opens
//! (listeners, dials, QUIC) lives in that namespace. The returned [`Node`]
//! handle works from any runtime. Dropping the [`Lab`] stops its nodes and
//! removes every namespace it made, also when a test fails.

use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use quince_updater::{Node, NodeConfig, Serve};

/// The lab script.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab/natlab.sh")
}

/// A running lab; removed on drop.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// The lab's fixed addresses (they exist only inside its namespaces).
pub mod addr {
    /// The relay and bootstrap node, on the public bridge.
    pub const RELAY: &str = "10.200.0.2";
    /// The publisher, on the public bridge.
    pub const PUBLISHER: &str = "10.200.0.3";
    /// The public address of NAT router `n` (1: restricted cone, 2: port-restricted, 3: symmetric).
    pub fn router(n: u8) -> String {
        format!("10.200.0.1{n}")
    }
}

impl Lab {
    /// Builds the lab, or says why this machine cannot (not root, no netns,
    /// no iptables).
    pub fn up() -> Result<Lab, String> {
        let check = Command::new("bash")
            .arg(script())
            .arg("check")
            .output()
            .map_err(|e| format!("cannot run the lab script: {e}"))?;
        if !check.status.success() {
            return Err(String::from_utf8_lossy(&check.stdout).trim().to_string());
        }
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("ql{}x{n}", std::process::id() % 100_000);
        let lab = Lab {
            prefix,
            stops: Vec::new(),
        };
        let up = Command::new("bash")
            .arg(script())
            .args(["up", &lab.prefix])
            .output()
            .map_err(|e| format!("cannot run the lab script: {e}"))?;
        if !up.status.success() {
            return Err(format!(
                "building the lab failed: {}",
                String::from_utf8_lossy(&up.stderr).trim()
            ));
        }
        Ok(lab)
    }

    /// The full name of the lab's namespace `host` (relay, pub, h1, h2, h3...).
    pub fn namespace(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Starts a node inside namespace `host`; it runs until the lab is dropped
    /// or [`Node::shutdown`] is called.
    pub fn start_node(
        &mut self,
        host: &str,
        config: NodeConfig,
        library: Arc<dyn Serve>,
    ) -> Result<Node, String> {
        let path = format!("/var/run/netns/{}", self.namespace(host));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("lab-{host}"))
            .spawn(move || {
                let entered = std::fs::File::open(&path)
                    .map_err(|e| format!("{path}: {e}"))
                    .and_then(|f| {
                        rustix::thread::move_into_link_name_space(
                            f.as_fd(),
                            Some(rustix::thread::LinkNameSpaceType::Network),
                        )
                        .map_err(|e| format!("entering {path}: {e}"))
                    });
                if let Err(e) = entered {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Node::start(config, library).await {
                        Ok(node) => {
                            let _ = ready_tx.send(Ok(node.clone()));
                            let _ = stop_rx.await;
                            node.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| e.to_string())?;
        let node = ready_rx
            .recv()
            .map_err(|_| "the lab node's thread ended".to_string())??;
        self.stops.push(stop_tx);
        Ok(node)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        let _ = Command::new("bash")
            .arg(script())
            .args(["down", &self.prefix])
            .status();
    }
}
