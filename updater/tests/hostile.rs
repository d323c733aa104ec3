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
    let mut found = quince_store::Store::open(store).unwrap().chunks().unwrap();
    found.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
    found.into_iter().map(|(id, _)| id).collect()
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

/// An 8 MiB app published in `w` and a `quince seed` of it: the app id,
/// its chunks (largest first), the seeder and its address. The seeder's
/// standard error goes to `w/seeder.err`.
fn seeded_app(w: &Path) -> (String, Arc<Vec<ChunkId>>, std::process::Child, String) {
    let tool = quince_protocol::testkit::noise(8 * 1024 * 1024, 91);
    let root = common::publish_tool(w, "Hostile", 41, &tool, "1.0.0");
    let chunks = Arc::new(chunk_ids(&w.join("store")));
    assert!(chunks.len() >= 8, "{} chunks", chunks.len());
    let mut seeder = common::seeder(w, "seeder-home")
        .env(
            "RUST_LOG",
            std::env::var("QUINCE_SEEDER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(w.join("seeder.err")).unwrap())
        .spawn()
        .unwrap();
    let addr = common::listening_on(&mut seeder);
    (root.app_id().to_string(), chunks, seeder, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_peers_that_never_read_leave_a_seeder_bounded_and_an_honest_fetch_completes() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().to_path_buf();
    let (app, chunks, mut seeder, addr) = seeded_app(&w);
    let pid = seeder.id();

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

/// The median of `v` (not empty).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The soak (opt-in: `bash bench/hostile-soak.sh`): one seeder for
/// `QUINCE_SOAK_SECS` (default 1800) under honest and hostile peers at
/// once. The attack runs throughout, except for a quiet 20 s every five
/// minutes in which an honest fetch runs alone (the baseline, interleaved
/// with the attack): 30 peers that never read, replaced by fresh
/// identities every minute, and a churn of short-lived ones (a new
/// identity every half second, each gone after 3 s). Honest fetches run
/// back to back; the seeder's resident memory is sampled every 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 30-minute soak: bash bench/hostile-soak.sh"]
async fn soak_honest_and_hostile_peers_at_once() {
    let secs: u64 = std::env::var("QUINCE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800);
    let t = tempfile::tempdir().unwrap();
    let w = t.path().to_path_buf();
    let (app, chunks, mut seeder, addr) = seeded_app(&w);
    let pid = seeder.id();
    let target: Multiaddr = addr.parse().unwrap();
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let quiet = Arc::new(AtomicBool::new(false));
    let kicked = Arc::new(AtomicU64::new(0));
    let identities = Arc::new(AtomicU64::new(0));

    // Memory, every 5 s.
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let kb = status_kb(pid, "VmRSS:");
                println!("soak: rss t={} kb={kb}", started.elapsed().as_secs());
                samples.push((started.elapsed().as_secs(), kb));
                std::thread::sleep(Duration::from_secs(5));
            }
            samples
        })
    };

    // The attack: waves of 30 deaf peers, one a minute, each wave stopped
    // when the next starts or when it is quiet.
    let waves = {
        let (done, quiet, kicked, identities) = (
            done.clone(),
            quiet.clone(),
            kicked.clone(),
            identities.clone(),
        );
        let (target, chunks) = (target.clone(), chunks.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if quiet.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                let stop = Arc::new(AtomicBool::new(false));
                let wave: Vec<_> = (0..HOSTILE)
                    .map(|_| {
                        identities.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(hostile(
                            target.clone(),
                            chunks.clone(),
                            stop.clone(),
                            kicked.clone(),
                        ))
                    })
                    .collect();
                let wave_started = Instant::now();
                while wave_started.elapsed() < Duration::from_secs(60)
                    && !quiet.load(Ordering::Relaxed)
                    && !done.load(Ordering::Relaxed)
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                stop.store(true, Ordering::Relaxed);
                for peer in wave {
                    peer.await.unwrap();
                }
            }
        })
    };
    // The churn: a fresh identity every half second, each gone after 3 s.
    let churn = {
        let (done, quiet, kicked, identities) = (
            done.clone(),
            quiet.clone(),
            kicked.clone(),
            identities.clone(),
        );
        let (target, chunks) = (target.clone(), chunks.clone());
        tokio::spawn(async move {
            let mut alive = Vec::new();
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if quiet.load(Ordering::Relaxed) {
                    continue;
                }
                identities.fetch_add(1, Ordering::Relaxed);
                let stop = Arc::new(AtomicBool::new(false));
                let peer = tokio::spawn(hostile(
                    target.clone(),
                    chunks.clone(),
                    stop.clone(),
                    kicked.clone(),
                ));
                alive.push((Instant::now(), stop, peer));
                let mut still = Vec::new();
                for (born, stop, peer) in alive.drain(..) {
                    if born.elapsed() >= Duration::from_secs(3) {
                        stop.store(true, Ordering::Relaxed);
                        peer.await.unwrap();
                    } else {
                        still.push((born, stop, peer));
                    }
                }
                alive = still;
            }
            for (_, stop, peer) in alive {
                stop.store(true, Ordering::Relaxed);
                peer.await.unwrap();
            }
        })
    };

    // Honest fetches, back to back; alone in the quiet windows.
    let (mut alone, mut attacked) = (Vec::new(), Vec::new());
    let mut next_quiet = Duration::from_secs(0);
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let alone_now = started.elapsed() >= next_quiet;
        if alone_now {
            quiet.store(true, Ordering::Relaxed);
            // Long enough for the waves and the churn to wind down and the
            // seeder's held answers to go.
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        let at = started.elapsed().as_secs();
        let (w, app, addr, name) = (w.clone(), app.clone(), addr.clone(), format!("f{n}"));
        let took = tokio::task::spawn_blocking(move || {
            let took = honest_fetch(&w, &app, &addr, &name);
            for part in ["home", "store", "log", "out"] {
                let _ = std::fs::remove_dir_all(w.join(format!("{name}-{part}")));
            }
            took
        })
        .await
        .unwrap()
        .as_secs_f64();
        n += 1;
        println!(
            "soak: fetch t={at} took={took:.3} {}",
            if alone_now { "alone" } else { "attacked" }
        );
        if alone_now {
            alone.push((at, took));
            next_quiet = started.elapsed() + Duration::from_secs(300);
            quiet.store(false, Ordering::Relaxed);
            // The next wave's peers connect before the next fetch.
            tokio::time::sleep(Duration::from_secs(5)).await;
        } else {
            attacked.push((at, took));
        }
    }
    done.store(true, Ordering::Relaxed);
    waves.await.unwrap();
    churn.await.unwrap();
    let rss = sampler.join().unwrap();
    let hwm_kb = status_kb(pid, "VmHWM:");
    let alive = seeder.try_wait().unwrap().is_none();
    let _ = seeder.kill();
    let _ = seeder.wait();
    let log = std::fs::read_to_string(w.join("seeder.err")).unwrap();

    // The plot: per five minutes, the seeder's highest resident memory and
    // the honest fetches' median times.
    println!("soak: minutes | RSS max (MB) | fetch alone (s) | fetch attacked, median (s) | ratio");
    let window = 300;
    for start in (0..secs.max(1)).step_by(window) {
        let end = start + window as u64;
        let within = |t: u64| t >= start && t < end;
        let rss_max = rss
            .iter()
            .filter(|(t, _)| within(*t))
            .map(|(_, kb)| *kb)
            .max()
            .unwrap_or(0);
        let mut a: Vec<f64> = alone
            .iter()
            .filter(|(t, _)| within(*t))
            .map(|(_, s)| *s)
            .collect();
        let mut b: Vec<f64> = attacked
            .iter()
            .filter(|(t, _)| within(*t))
            .map(|(_, s)| *s)
            .collect();
        let (a, nb) = (
            if a.is_empty() {
                f64::NAN
            } else {
                median(&mut a)
            },
            b.len(),
        );
        let b = if b.is_empty() {
            f64::NAN
        } else {
            median(&mut b)
        };
        let bar = "#".repeat((rss_max / 1024 / 5) as usize);
        println!(
            "soak: {:>3}-{:<3} | {:>5.1} {bar:<40} | {a:>6.3} | {b:>6.3} ({nb} fetches) | {:.2}",
            start / 60,
            end / 60,
            rss_max as f64 / 1024.0,
            b / a
        );
    }
    let mut all_alone: Vec<f64> = alone.iter().map(|(_, s)| *s).collect();
    let mut all_attacked: Vec<f64> = attacked.iter().map(|(_, s)| *s).collect();
    let worst = all_attacked.iter().copied().fold(0.0, f64::max);
    let (ma, mb) = (median(&mut all_alone), median(&mut all_attacked));
    println!(
        "soak: {} honest fetches under attack (median {mb:.3} s, worst {worst:.3} s), {} alone \
         (median {ma:.3} s): ratio {:.2}; {} hostile identities, disconnected {} times; \
         seeder RSS high-water {hwm_kb} kB",
        attacked.len(),
        alone.len(),
        mb / ma,
        identities.load(Ordering::Relaxed),
        kicked.load(Ordering::Relaxed)
    );
    assert!(alive, "the seeder died: {log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        hwm_kb < RSS_BOUND_KB,
        "the seeder's resident memory reached {hwm_kb} kB (bound {RSS_BOUND_KB} kB)"
    );
    assert!(!attacked.is_empty() && !alone.is_empty());
}
