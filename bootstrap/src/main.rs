//! `quince-bootstrap`: the end user's installer. Give it a link (or build it
//! with one: `QUINCE_APP_LINK=quince://... cargo build --profile bootstrap -p
//! quince-bootstrap`), and it joins the network, finds peers that hold the
//! app, fetches and verifies the log and the release for this machine,
//! installs it into the user's Quince home, and starts it. It shows progress as
//! it goes and ends with one line saying what happened.
//!
//! It is a thin shell over `quince_updater` with no argument-parsing or
//! progress-bar crates, to stay small (see BENCHMARKS.md for its size).

#![forbid(unsafe_code)]

use std::path::PathBuf;

use quince_bootstrap::{install, Options};

const USAGE: &str = "usage: quince-bootstrap [LINK] [options]

Installs the app named by LINK (quince://APP_ID[?peer=ADDR][&version=X.Y.Z]
[&channel=beta]) from peers, verifies every byte against the app id, and
starts it. With channel=, the install follows that release channel.

options:
  --run PATH         the program to start, relative to the app (default: bin/<only program>)
  --no-launch        install only
  --from DIR         install from an offline bundle (quince share), no network
  --home DIR         Quince's folder (default: $QUINCE_HOME or ~/.local/share/quince)
  --network NAME     public (the public libp2p DHT, default) or private
                     (only the peers given; $QUINCE_NETWORK)
  --bootstrap ADDR   a peer to join the network through (repeat; replaces the
                     network file's list and the built-in one)
  --kad-protocol P   the DHT's protocol name (default: by network)
  --config FILE      the network file (default: $QUINCE_CONFIG, else
                     ~/.config/quince/network.json; `quince network show`)
  --listen ADDR      address to listen on (repeat; default: any port, TCP)
  --find-for SECS    how long to look for peers (default 60)
  --no-mdns          do not look for peers on the local network
  -q, --quiet        no progress, only the final line
  --version          this program's version and SHA-256 (to check it against
                     Quince's signed log: quince verify-installer FILE)
  --help             this text

Exit status: 0 installed; 1 failed; 2 usage (bad arguments or link); 3 no
peer holds the app; 4 refused (its release does not start).

Peers are found through the DHT (bootstrap list, then peers remembered in
HOME/peers.json from earlier runs), the link's peers and the local network.

environment:
  QUINCE_SELF_APP    Quince's own app id: install it too, register its updater to
                     start at login (a systemd user service, else XDG autostart),
                     start it now, and put `quince` on PATH";

fn parse_args() -> Result<Options, String> {
    let mut args = Options {
        link: option_env!("QUINCE_APP_LINK").map(String::from),
        run: None,
        launch: true,
        home: std::env::var_os("QUINCE_HOME").map(PathBuf::from),
        bootstrap: Vec::new(),
        network: std::env::var("QUINCE_NETWORK")
            .ok()
            .filter(|v| !v.is_empty()),
        kad_protocol: None,
        config: std::env::var_os("QUINCE_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        listen: Vec::new(),
        find_for: 60,
        mdns: true,
        quiet: false,
        from: None,
        self_app: std::env::var("QUINCE_SELF_APP")
            .ok()
            .or(option_env!("QUINCE_SELF_APP").map(String::from)),
    };
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let text = |v: std::ffi::OsString, name: &str| {
        v.into_string()
            .map_err(|_| format!("{name}: the value is not UTF-8"))
    };
    let fail = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(fail)? {
        match arg {
            Long("help") | Short('h') => {
                quince_bootstrap::put!("{USAGE}");
                std::process::exit(0);
            }
            Long("version") | Short('V') => {
                print_version();
                std::process::exit(0);
            }
            Long("run") => args.run = Some(text(parser.value().map_err(fail)?, "--run")?),
            Long("no-launch") => args.launch = false,
            Long("from") => args.from = Some(PathBuf::from(parser.value().map_err(fail)?)),
            Long("home") => args.home = Some(PathBuf::from(parser.value().map_err(fail)?)),
            Long("bootstrap") => args
                .bootstrap
                .push(text(parser.value().map_err(fail)?, "--bootstrap")?),
            Long("listen") => args
                .listen
                .push(text(parser.value().map_err(fail)?, "--listen")?),
            Long("network") => {
                args.network = Some(text(parser.value().map_err(fail)?, "--network")?)
            }
            Long("kad-protocol") => {
                args.kad_protocol = Some(text(parser.value().map_err(fail)?, "--kad-protocol")?)
            }
            Long("config") => args.config = Some(PathBuf::from(parser.value().map_err(fail)?)),
            Long("find-for") => {
                args.find_for = text(parser.value().map_err(fail)?, "--find-for")?
                    .parse()
                    .ok()
                    .filter(|s| (1..=86_400).contains(s))
                    .ok_or_else(|| "--find-for takes seconds, from 1 to 86400".to_string())?
            }
            Long("no-mdns") => args.mdns = false,
            Long("quiet") | Short('q') => args.quiet = true,
            Value(v)
                if args.link.is_none()
                    || v.to_str().is_some_and(|s| s.starts_with("quince://")) =>
            {
                args.link = Some(text(v, "the link")?)
            }
            other => return Err(format!("{}\n\n{USAGE}", other.unexpected())),
        }
    }
    Ok(args)
}

/// The version, and the SHA-256 of this very file: what Quince's signed
/// log lists for the installer it released. (A tampered installer could
/// print anything here: check the hash with a tool you trust, such as
/// `sha256sum`, or `quince verify-installer` on a Quince you already have.)
fn print_version() {
    quince_bootstrap::put!("quince-bootstrap {}", env!("CARGO_PKG_VERSION"));
    let me = std::env::current_exe().and_then(std::fs::read);
    match me {
        Ok(bytes) => {
            quince_bootstrap::put!("sha256 {}", quince_protocol::Hash::of(&bytes).to_hex())
        }
        Err(e) => quince_bootstrap::put!("sha256 unknown ({e})"),
    }
    if let Some(app) = option_env!("QUINCE_SELF_APP") {
        quince_bootstrap::put!("a release of Quince, app {app}: check with `quince verify-installer FILE --self-app {app}`");
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            quince_bootstrap::say!("quince-bootstrap: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            quince_bootstrap::say!("quince-bootstrap: cannot start: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(install(args)) {
        Ok(line) => quince_bootstrap::put!("{line}"),
        Err(e) => {
            quince_bootstrap::say!("quince-bootstrap: failed: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
