//! `quince service`: the background updater as a systemd user service (or
//! an autostart entry without systemd), its log, and `quince status`.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};
use quince_updater::home::Home;
use quince_updater::service::{self, RotatingLog};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Install the updater as a systemd user service, enabled and started
    /// (without systemd: an autostart entry, and the updater started now).
    Install {
        /// Quince's folder for this user.
        #[arg(long, env = "QUINCE_HOME")]
        home: Option<PathBuf>,
        /// Write it, start nothing.
        #[arg(long)]
        no_start: bool,
        /// Arguments for `quince update --watch` (such as --self-app ID).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Stop the service and remove its unit and autostart entry.
    Remove,
    /// Whether the service is installed and running, and its log's end.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the service runs: `quince update --watch`, its output
    /// timestamped into the log (rotated) and onto standard output.
    Run {
        /// Arguments for `quince update --watch`.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

pub async fn run(args: Args) -> Result<()> {
    match args.what {
        What::Install {
            home,
            no_start,
            args,
        } => install(home, no_start, &args),
        What::Remove => remove(),
        What::Status { json } => status(json),
        What::Run { args } => supervise(&args).await,
    }
}

/// True if a systemd user manager answers.
fn systemd_user() -> bool {
    systemctl(&["is-system-running"]).is_some_and(|(_, out)| !out.trim().is_empty())
        && systemctl(&["show-environment"]).is_some_and(|(ok, _)| ok)
}

/// `systemctl --user ARGS`: (success, stdout), or `None` without systemctl.
fn systemctl(args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    ))
}

fn this_program() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this program")?;
    Ok(quince_updater::desktop::stable_program(&exe))
}

fn install(home: Option<PathBuf>, no_start: bool, args: &[String]) -> Result<()> {
    let home = std::path::absolute(Home::or_default(home)?.dir())?;
    let quince = this_program()?;
    if cfg!(windows) {
        return install_run_key(&quince, &home, no_start, args);
    }
    if cfg!(target_os = "macos") {
        return install_launch_agent(&quince, &home, no_start, args);
    }
    let unit = service::unit_file().context("no config folder: set HOME")?;
    let text = service::unit_text(&quince, &home, args);
    write(&unit, &text)?;
    println!("unit {}", unit.display());
    if systemd_user() {
        systemctl(&["daemon-reload"]);
        let verb: &[&str] = if no_start {
            &["enable", service::UNIT_NAME]
        } else {
            &["enable", "--now", service::UNIT_NAME]
        };
        match systemctl(verb) {
            Some((true, _)) => println!(
                "enabled{}: systemctl --user status {}",
                if no_start { "" } else { " and started" },
                service::UNIT_NAME
            ),
            _ => bail!("systemctl --user {} failed", verb.join(" ")),
        }
        return Ok(());
    }
    // No systemd user manager (a container, another init): start at login.
    let entry = service::autostart_file().context("no config folder: set HOME")?;
    write(&entry, &service::autostart_text(&quince, &home, args))?;
    println!(
        "no systemd user manager here: autostart entry {} instead",
        entry.display()
    );
    if !no_start {
        start_now(&home, args)?;
    }
    Ok(())
}

/// Starts `quince service run -- ARGS` now, in the background.
fn start_now(home: &Path, args: &[String]) -> Result<()> {
    // This program's own path: the path through `current` that the unit
    // and the scripts use cannot be opened on Windows, where `current` is
    // a pointer file, not a link.
    let exe = std::env::current_exe().context("finding this program")?;
    let child = service::updater_command(&exe, home, args)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    println!("started (process {})", child.id());
    Ok(())
}

/// Windows: the login batch file and the Run key value that starts it.
fn install_run_key(quince: &Path, home: &Path, no_start: bool, args: &[String]) -> Result<()> {
    let script = service::login_script().context("no LOCALAPPDATA folder")?;
    write(&script, &service::login_script_text(quince, home, args))?;
    println!("login script {}", script.display());
    let value = format!("\"{}\"", script.display());
    reg(&[
        "add",
        service::RUN_KEY,
        "/v",
        service::RUN_VALUE,
        "/t",
        "REG_SZ",
        "/d",
        &value,
        "/f",
    ])
    .with_context(|| format!("registering it under {}", service::RUN_KEY))?;
    println!(
        "starts at login: {}\\{} (no admin rights needed)",
        service::RUN_KEY,
        service::RUN_VALUE
    );
    if !no_start {
        start_now(home, args)?;
    }
    Ok(())
}

/// macOS: the LaunchAgent, loaded into the user's launchd session (which
/// starts it now and at every login) unless `no_start`.
fn install_launch_agent(quince: &Path, home: &Path, no_start: bool, args: &[String]) -> Result<()> {
    let agent = service::launch_agent_file().context("no home folder: set HOME")?;
    write(&agent, &service::launch_agent_text(quince, home, args))?;
    println!("launch agent {}", agent.display());
    if no_start {
        return Ok(());
    }
    let domain = launchd_domain()?;
    // A loaded older copy is replaced: unload it first (an error here
    // means none was loaded).
    let _ = launchctl(&["bootout", &format!("{domain}/{}", service::AGENT_LABEL)]);
    launchctl(&["bootstrap", &domain, &agent.display().to_string()])?;
    println!(
        "loaded and started: launchctl print {domain}/{}",
        service::AGENT_LABEL
    );
    Ok(())
}

/// macOS: the user's launchd domain, `gui/UID`.
fn launchd_domain() -> Result<String> {
    let out = Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .context("running id -u")?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
        bail!("id -u did not give a user id");
    }
    Ok(format!("gui/{uid}"))
}

/// macOS: `launchctl ARGS`, or why it failed.
fn launchctl(args: &[&str]) -> Result<()> {
    let out = Command::new("launchctl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running launchctl")?;
    if !out.status.success() {
        bail!(
            "launchctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Runs Windows' `reg ARGS`: its output, or why it failed.
fn reg(args: &[&str]) -> Result<String> {
    let out = Command::new("reg")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running reg")?;
    if !out.status.success() {
        bail!(
            "reg {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Windows: the Run key's value for the updater, if there is one.
fn run_key_value() -> Option<String> {
    if !cfg!(windows) {
        return None;
    }
    let out = reg(&["query", service::RUN_KEY, "/v", service::RUN_VALUE]).ok()?;
    out.lines()
        .find_map(|l| l.split_once("REG_SZ").map(|(_, v)| v.trim().to_string()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    quince_store::durable::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The file, if it is there and was written by Quince (runs `service run`).
fn ours(path: Option<PathBuf>) -> Option<PathBuf> {
    let path = path?;
    let text = quince_store::durable::read_bounded(&path, 64 * 1024).ok()?;
    String::from_utf8_lossy(&text)
        .contains(" service run")
        .then_some(path)
}

fn remove() -> Result<()> {
    if let Some(agent) = ours(service::launch_agent_file()) {
        if let Ok(domain) = launchd_domain() {
            let _ = launchctl(&["bootout", &format!("{domain}/{}", service::AGENT_LABEL)]);
        }
        std::fs::remove_file(&agent).with_context(|| format!("removing {}", agent.display()))?;
        println!("removed {}", agent.display());
        return Ok(());
    }
    if cfg!(windows) {
        let mut removed = false;
        if run_key_value().is_some() {
            reg(&["delete", service::RUN_KEY, "/v", service::RUN_VALUE, "/f"])?;
            println!("removed {}\\{}", service::RUN_KEY, service::RUN_VALUE);
            removed = true;
        }
        if let Some(path) = ours(service::login_script()) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            println!("removed {}", path.display());
            removed = true;
        }
        if !removed {
            println!("no Quince service was installed");
        }
        return Ok(());
    }
    if systemd_user() {
        systemctl(&["disable", "--now", service::UNIT_NAME]);
    }
    let mut removed = 0;
    for path in [ours(service::unit_file()), ours(service::autostart_file())]
        .into_iter()
        .flatten()
    {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        println!("removed {}", path.display());
        removed += 1;
    }
    if systemd_user() {
        systemctl(&["daemon-reload"]);
    }
    if removed == 0 {
        println!("no Quince service was installed");
    }
    Ok(())
}

/// `quince status`: the apps (as `list`), then the service.
pub fn overview(args: super::list::ListArgs) -> Result<()> {
    let json = args.json;
    let rows = super::list::rows(&args)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "apps": rows, "service": service_json() })
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no apps installed");
    }
    status(false)
}

fn service_json() -> serde_json::Value {
    let s = Service::read();
    serde_json::json!({
        "unit": s.unit, "autostart": s.autostart, "run_key": s.run_key,
        "launch_agent": s.launch_agent, "systemd": s.systemd,
        "enabled": s.enabled, "active": s.active, "log": s.log, "log_tail": s.tail,
    })
}

/// What is known of the installed service.
struct Service {
    unit: Option<PathBuf>,
    autostart: Option<PathBuf>,
    /// Windows: the Run key's command.
    run_key: Option<String>,
    /// macOS: the LaunchAgent.
    launch_agent: Option<PathBuf>,
    systemd: bool,
    enabled: Option<String>,
    active: Option<String>,
    log: Option<PathBuf>,
    tail: Vec<String>,
}

impl Service {
    fn read() -> Service {
        let systemd = systemd_user();
        let state = |verb: &str| {
            systemd
                .then(|| systemctl(&[verb, service::UNIT_NAME]))
                .flatten()
                .map(|(_, out)| out.trim().to_string())
        };
        let log = service::log_file();
        let tail: Vec<String> = log
            .as_deref()
            .and_then(|p| {
                quince_store::durable::read_bounded(p, 2 * service::LOG_MAX_BYTES as usize).ok()
            })
            .map(|b| {
                let text = String::from_utf8_lossy(&b).to_string();
                let lines: Vec<String> = text.lines().map(String::from).collect();
                lines[lines.len().saturating_sub(10)..].to_vec()
            })
            .unwrap_or_default();
        Service {
            unit: ours(service::unit_file()),
            autostart: ours(service::autostart_file()),
            run_key: run_key_value(),
            launch_agent: ours(service::launch_agent_file()),
            systemd,
            enabled: state("is-enabled"),
            active: state("is-active"),
            log,
            tail,
        }
    }
}

fn status(json: bool) -> Result<()> {
    if json {
        println!("{}", service_json());
        return Ok(());
    }
    let Service {
        unit,
        autostart,
        run_key,
        launch_agent,
        enabled,
        active,
        log,
        tail,
        ..
    } = Service::read();
    match (&unit, &autostart) {
        _ if launch_agent.is_some() => println!(
            "service: launch agent {} (launchd starts it at login)",
            launch_agent.as_deref().unwrap_or(Path::new("")).display()
        ),
        _ if run_key.is_some() => println!(
            "service: starts at login from {}\\{}: {}",
            service::RUN_KEY,
            service::RUN_VALUE,
            run_key.as_deref().unwrap_or_default()
        ),
        (None, None) => println!("service: not installed (quince service install)"),
        (Some(u), _) => println!(
            "service: systemd user unit {} ({}, {})",
            u.display(),
            enabled.as_deref().unwrap_or("no systemd user manager here"),
            active.as_deref().unwrap_or("state unknown")
        ),
        (None, Some(a)) => println!("service: autostart entry {} (starts at login)", a.display()),
    }
    if let Some(log) = &log {
        println!("log: {}", log.display());
    }
    for line in &tail {
        println!("  {line}");
    }
    Ok(())
}

/// The file where `update` notes its last check of an app.
const LAST_CHECK: &str = "last-check";

/// Notes when `app` was last checked for updates, with what result and
/// how many peers answered (`quince status` shows it).
pub fn record_check(
    apps: &quince_updater::install::Apps,
    app: &quince_protocol::root::AppId,
    result: &Result<quince_updater::client::Report, quince_updater::ClientError>,
) {
    use quince_updater::install::Outcome;
    let (text, peers) = match result {
        Ok(r) => (
            match &r.outcome {
                Outcome::Installed { version, .. } => format!("installed {version}"),
                Outcome::UpToDate(v) => format!("up to date at {v}"),
                Outcome::RolledBack { refused, .. } => {
                    format!("release {refused} failed its health check and was rolled back")
                }
            },
            r.peers.usable().len(),
        ),
        Err(e) => (format!("error: {e}"), 0),
    };
    let text = text.replace(['\n', '\r'], " ");
    let record = format!("time={}\nresult={text}\npeers={peers}\n", unix_now());
    let _ = quince_store::durable::write_atomic(&apps.dir(app).join(LAST_CHECK), record.as_bytes());
}

/// The last check of `app`: (time, result, peers), if one was noted.
pub fn last_check(
    apps: &quince_updater::install::Apps,
    app: &quince_protocol::root::AppId,
) -> Option<(u64, String, u64)> {
    let bytes = quince_store::durable::read_bounded(&apps.dir(app).join(LAST_CHECK), 8192).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some((
        get("time")?.parse().ok()?,
        get("result")?,
        get("peers")?.parse().ok()?,
    ))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs `quince update --watch ARGS`, writing its lines with timestamps to
/// the log and to standard output; SIGTERM or Ctrl-C is passed on to it.
async fn supervise(args: &[String]) -> Result<()> {
    let path = service::log_file().context("no state folder for the log: set HOME")?;
    let log = RotatingLog::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let log = std::sync::Arc::new(std::sync::Mutex::new(log));
    let quince = std::env::current_exe().context("finding this program")?;
    let mut child = Command::new(&quince)
        .args(["update", "--watch"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} update --watch", quince.display()))?;
    let write = {
        let log = log.clone();
        move |line: &str| {
            let mut log = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match log.line(unix_now(), line) {
                Ok(text) => print!("{text}"),
                Err(e) => println!("{line} (not logged: {e})"),
            }
        }
    };
    write(&format!(
        "service started: {} update --watch {}",
        quince.display(),
        args.join(" ")
    ));
    let mut readers = Vec::new();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let write = write.clone();
        readers.push(std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                write(&line);
            }
        }));
    }
    let pid = child.id();
    let waited = tokio::task::spawn_blocking(move || child.wait());
    tokio::pin!(waited);
    let status = tokio::select! {
        s = &mut waited => s,
        _ = super::stop_signal() => {
            write("stopping: asking the updater to save and exit");
            let grace = if quince_updater::platform::ask_to_stop(pid) { 15 } else { 0 };
            match tokio::time::timeout(std::time::Duration::from_secs(grace), &mut waited).await {
                Ok(s) => s,
                Err(_) => {
                    quince_updater::platform::kill(pid);
                    waited.await
                }
            }
        }
    };
    for r in readers {
        let _ = r.join();
    }
    let status = status.context("waiting for the updater")??;
    write(&format!("service stopped: the updater {status}"));
    if !status.success() {
        bail!("the updater ended with {status}");
    }
    Ok(())
}
