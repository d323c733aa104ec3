//! Benchmark helper (not a test): builds a release of one random file of
//! `--mib` MiB, serves it from `--seeders` nodes on loopback (each optionally
//! limited to `--rate` bytes/s), fetches it with a fresh node, verifies and
//! unpacks it, and prints the seconds the fetch took. `bench/network.sh` runs
//! it next to its baselines.
//!
//! The files are unpacked while the chunks arrive, as an install does;
//! with `--unpack-after`, only once every chunk is stored (the way before).
//!
//! With `--file PATH` the release is that file; with `--tree DIR`, that
//! folder's files (the many-file bench, `bench/install-tree.sh`).
//!
//! With `--prepare DIR` it only writes the published app for each seeder to
//! `DIR/seeder<i>/{store,log}`, prints the app id and exits (the `tc` bench
//! then runs real `quince seed` processes in network namespaces).

use std::sync::Arc;
use std::time::{Duration, Instant};

use quince_packager::build::{build, Source};
use quince_packager::{release, LogDir};
use quince_protocol::note::Note;
use quince_protocol::record::Platform;
use quince_store::Store;
use quince_updater::fetch::{self, Peers};
use quince_updater::{Library, Node, NodeConfig};

mod common;
use common::arg;

fn config(rate: Option<u64>, bootstrap: Vec<quince_updater::node::Multiaddr>) -> NodeConfig {
    NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("literal")],
        bootstrap,
        request_timeout: Duration::from_secs(60),
        upload_rate: rate,
        ..NodeConfig::default()
    }
}

#[tokio::main]
async fn main() {
    let mib = arg("--mib", 100) as usize;
    let seeders = arg("--seeders", 1) as usize;
    let rate = Some(arg("--rate", 0)).filter(|r| *r > 0);
    let window = arg("--window", 16) as usize;
    let prepare = std::env::args()
        .skip_while(|a| a != "--prepare")
        .nth(1)
        .map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir_path = prepare.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let dir = &dir_path;
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("src");
    let file = std::env::args().skip_while(|a| a != "--file").nth(1);
    let tree = std::env::args().skip_while(|a| a != "--tree").nth(1);
    match (file, tree) {
        (_, Some(tree)) => copy_tree(std::path::Path::new(&tree), &src),
        (Some(path), None) => {
            std::fs::copy(path, src.join("payload")).expect("copy payload");
        }
        (None, None) => {
            let data = quince_protocol::testkit::noise(mib * 1024 * 1024, 0x1234_5678_9abc_def1);
            std::fs::write(src.join("payload"), data).expect("payload");
        }
    }
    let (root, key) = quince_protocol::testkit::danger_single_key_root("Bench", 5);
    let app = root.app_id();
    let mut seeder_nodes = Vec::new();
    let mut boot = Vec::new();
    for i in 0..seeders {
        let sdir = dir.join(format!("seeder{i}"));
        let store = Store::open(&sdir.join("store")).expect("store");
        let (manifest, _) = build(
            &[Source {
                dir: src.clone(),
                platform: None,
            }],
            &store,
            1,
        )
        .expect("build");
        let log = LogDir::create(&sdir.join("log"), &root).expect("log");
        let staged = release::stage(
            &log,
            &store,
            &manifest,
            "1.0.0".parse().expect("v"),
            &["any".parse().expect("p")],
            0,
            1,
        )
        .expect("stage");
        let mut note = Note::unsigned(&staged.pending.body).expect("note");
        note.sign_ed25519(&app.origin(), &key).expect("sign");
        log.publish(&note.to_bytes()).expect("publish");
        if prepare.is_some() {
            continue;
        }
        let lib = Library::new(store);
        lib.add_app(app, sdir.join("log"));
        let node = Node::start(config(rate, boot.clone()), Arc::new(lib))
            .await
            .expect("seeder");
        boot.extend(node.addresses().await);
        seeder_nodes.push(node);
    }
    if prepare.is_some() {
        println!("{app}");
        return;
    }
    let cdir = dir.join("client");
    let store = Store::open(&cdir.join("store")).expect("store");
    let client = Node::start(
        config(None, boot.clone()),
        Arc::new(Library::new(store.clone())),
    )
    .await
    .expect("client");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut peers = Peers::new(seeder_nodes.iter().map(Node::peer_id));
    let synced = fetch::sync_log(&client, app, &mut peers, None, &cdir.join("log"))
        .await
        .expect("sync");
    let platform = Platform::current();
    let record = synced.latest_release(&platform).expect("release");
    let out = cdir.join("out");
    // The install's way: files unpacked while the chunks arrive; with
    // `--unpack-after`, the way before it (fetch everything, then unpack).
    let fetched = if std::env::args().any(|a| a == "--unpack-after") {
        let manifest =
            fetch::fetch_release(&client, app, &mut peers, &record, &platform, &store, window)
                .await
                .expect("fetch");
        let fetched = started.elapsed().as_secs_f64();
        quince_store::unpack(&manifest, &platform, &store, &out).expect("unpack");
        fetched
    } else {
        let (_, unpacked) = fetch::fetch_release_unpacking(
            &client,
            app,
            &mut peers,
            &record,
            &platform,
            &store,
            window,
            None,
            &[],
            &out,
        )
        .await
        .expect("fetch");
        unpacked.expect("unpack");
        0.0
    };
    let secs = started.elapsed().as_secs_f64();
    // The phases go to standard error; the scripts read the total only.
    if fetched > 0.0 {
        eprintln!(
            "fetched in {fetched:.3} s, unpacked in {:.3} s",
            secs - fetched
        );
    }
    println!("{secs:.3}");
}

/// Copies the files and folders below `from` into `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("read tree") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
