//! A seeder (the `quince` binary, as shipped) under peers that ask for
//! chunks and never read the answers: its memory stays bounded and an
//! honest `quince fetch` still completes.
//!
//! The hostile peers are real libp2p nodes in this process (TCP, noise,
//! yamux, the transfer protocol) whose codec writes each request and then
//! waits for ever instead of reading: yamux sends no window update, so the
//! seeder's answers stop after the first 256 KiB of each stream.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::prelude::*;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol};
use quince_protocol::codec::Encode as _;
use quince_protocol::manifest::ChunkId;
use quince_protocol::wire::{Request, Response};

mod common;

/// Hostile connections (one identity each).
const HOSTILE: usize = 30;
/// Requests each keeps open (a Quince seeder takes 48 per connection).
const STREAMS: usize = 48;
/// The bound the seeder's resident memory must stay under.
const RSS_BOUND_KB: u64 = 200 * 1024;

/// Writes a request, then never reads the answer.
#[derive(Clone, Default)]
struct Deaf;

impl request_response::Codec for Deaf {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Request> {
        Err(io::Error::other("a hostile peer serves nothing"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Response> {
        future::pending().await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Request,
    ) -> io::Result<()> {
        io.write_all(&r.to_bytes()).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Response,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// One hostile peer: keeps [`STREAMS`] chunk requests open on the seeder,
/// asking again whenever one ends, and dials again when disconnected,
/// until `stop`. Counts the disconnections it suffered.
async fn hostile(
    seeder: Multiaddr,
    chunks: Arc<Vec<ChunkId>>,
    stop: Arc<AtomicBool>,
    kicked: Arc<AtomicU64>,
) {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                Deaf,
                [(
                    quince_updater::codec::TRANSFER_PROTOCOL,
                    ProtocolSupport::Outbound,
                )],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(3600))
                    .with_max_concurrent_streams(STREAMS),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let libp2p::multiaddr::Protocol::P2p(target) = seeder.iter().last().unwrap() else {
        panic!("no peer id in {seeder}");
    };
    swarm.dial(seeder.clone()).unwrap();
    let mut open = 0usize;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            _ = tick.tick() => {
                if !swarm.is_connected(&target) {
                    open = 0;
                    let _ = swarm.dial(seeder.clone());
                    continue;
                }
                while open < STREAMS {
                    let chunk = chunks[next % chunks.len()];
                    next += 1;
                    swarm.behaviour_mut().send_request(&target, Request::Chunk(chunk));
                    open += 1;
                }
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(request_response::Event::Message { .. })
                | SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                    open = open.saturating_sub(1);
                }
                SwarmEvent::ConnectionClosed { .. } => {
                    kicked.fetch_add(1, Ordering::Relaxed);
                    open = 0;
                }
                _ => {}
            }
        }
    }
}

/// The ids of the chunks in `store`, largest first.
fn chunk_ids(store: &Path) -> Vec<ChunkId> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(store.join("chunks")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let file = file.unwrap();
            let name = file.file_name().to_string_lossy().to_string();
            let hex = name.strip_suffix(".zst").unwrap();
            let mut id = [0u8; 32];
            for (i, b) in id.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
            }
            found.push((file.metadata().unwrap().len(), ChunkId(id)));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, id)| id).collect()
}

/// A field of `/proc/PID/status`, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `quince fetch` of `app` from `seeder` into a new folder; the time it took.
fn honest_fetch(w: &Path, app: &str, seeder: &str, name: &str) -> Duration {
    let started = Instant::now();
    if std::env::var_os("QUINCE_TEST_LOG").is_some() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        println!("{name} starts at {:.3} (Unix time)", t.as_secs_f64());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .env("QUINCE_NETWORK", "private")
        .current_dir(w)
        .env("QUINCE_HOME", w.join(format!("{name}-home")))
        .args(["fetch", "--app", app, "--peer", seeder])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--json"])
        .args([
            "--store",
            &format!("{name}-store"),
            "--log",
            &format!("{name}-log"),
        ])
        .args(["--out", &format!("{name}-out")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    if std::env::var_os("QUINCE_TEST_LOG").is_some() {
        println!(
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        out.status.success(),
        "{name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(w.join(format!("{name}-out/bin/tool"))).unwrap(),
        std::fs::read(w.join("src/bin/tool")).unwrap()
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_peers_that_never_read_leave_a_seeder_bounded_and_an_honest_fetch_completes() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().to_path_buf();
    let tool = quince_protocol::testkit::noise(8 * 1024 * 1024, 91);
    let root = common::publish_tool(&w, "Hostile", 41, &tool, "1.0.0");
    let app = root.app_id().to_string();
    let chunks = Arc::new(chunk_ids(&w.join("store")));
    assert!(chunks.len() >= 8, "{} chunks", chunks.len());

    let mut seeder = common::seeder(&w, "seeder-home")
        .env(
            "RUST_LOG",
            std::env::var("QUINCE_SEEDER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(w.join("seeder.err")).unwrap())
        .spawn()
        .unwrap();
    let pid = seeder.id();
    let addr = common::listening_on(&mut seeder);

    let fetch = |name: String| {
        let (w, app, addr) = (w.clone(), app.clone(), addr.clone());
        tokio::task::spawn_blocking(move || honest_fetch(&w, &app, &addr, &name))
    };
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(status_kb(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Rounds (one in the test; more for bench/hostile.sh), each an honest
    // fetch alone and then one under attack by fresh hostile peers.
    let rounds: usize = std::env::var("QUINCE_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let kicked = Arc::new(AtomicU64::new(0));
    let target: Multiaddr = addr.parse().unwrap();
    let (mut alone, mut attacked) = (Vec::new(), Vec::new());
    let (mut before_kb, mut during_kb) = (0, 0);
    for round in 0..rounds {
        alone.push(fetch(format!("alone-{round}")).await.unwrap());
        before_kb = status_kb(pid, "VmRSS:");
        let stop = Arc::new(AtomicBool::new(false));
        let attackers: Vec<_> = (0..HOSTILE)
            .map(|_| {
                tokio::spawn(hostile(
                    target.clone(),
                    chunks.clone(),
                    stop.clone(),
                    kicked.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(5)).await;
        attacked.push(fetch(format!("attacked-{round}")).await.unwrap());
        // Long enough for unread answers to time out and their peers to
        // be refused.
        tokio::time::sleep(Duration::from_secs(10)).await;
        during_kb = status_kb(pid, "VmRSS:");
        stop.store(true, Ordering::Relaxed);
        for a in attackers {
            a.await.unwrap();
        }
        println!(
            "bench: round {round}: honest 8 MiB fetch {:.3} s alone, {:.3} s under attack: ratio {:.2}",
            alone[round].as_secs_f64(),
            attacked[round].as_secs_f64(),
            attacked[round].as_secs_f64() / alone[round].as_secs_f64()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let after_kb = status_kb(pid, "VmRSS:");
    let hwm_kb = status_kb(pid, "VmHWM:");
    let peak_kb = peak.load(Ordering::Relaxed);
    println!(
        "bench: seeder RSS high-water {hwm_kb} kB ({HOSTILE} hostile peers x {STREAMS} streams)"
    );

    // The seeder still serves after the attack.
    let afterwards = fetch("after".into()).await.unwrap();
    let alive = seeder.try_wait().unwrap().is_none();
    let _ = seeder.kill();
    let _ = seeder.wait();
    let log = std::fs::read_to_string(w.join("seeder.err")).unwrap();
    println!(
        "seeder RSS: {before_kb} kB before, {during_kb} kB under attack (peak sampled {peak_kb} kB, \
         high-water {hwm_kb} kB), {after_kb} kB after; honest fetch {alone:?} alone, \
         {attacked:?} under attack, {afterwards:?} after; hostile peers disconnected {} times",
        kicked.load(Ordering::Relaxed)
    );
    if std::env::var_os("QUINCE_TEST_LOG").is_some() {
        println!("{log}");
    }
    assert!(alive, "the seeder died: {log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        hwm_kb < RSS_BOUND_KB,
        "the seeder's resident memory reached {hwm_kb} kB (bound {RSS_BOUND_KB} kB)"
    );
    // The hostile peers were told: disconnected for leaving answers unread.
    assert!(
        log.contains("unread"),
        "the seeder never acted on unread answers: {log}"
    );
}
