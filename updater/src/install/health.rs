//! A new version's health check, as its app file (`.quince/app`) asks:
//! keep running for some seconds, exit 0 given some arguments (such as
//! `--version`), run another program of the release, or no check at all.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quince_protocol::appinfo::{AppInfo, Health, APP_FILE, MAX_APP_FILE_BYTES};
use quince_protocol::path::RelPath;

use super::AppState;

/// Environment variable a program sees during its health check.
pub const HEALTH_ENV: &str = "QUINCE_HEALTH_CHECK";
/// How long a check that must exit (`exits-ok`, `command`) may take.
pub const EXIT_WITHIN: Duration = Duration::from_secs(30);

impl Unhealthy {
    /// Whether the release itself failed (its program ran and exited with
    /// an error, is there but cannot be executed, or its app file is bad):
    /// only then is it refused for good.
    pub fn is_the_releases_fault(&self) -> bool {
        match self {
            Unhealthy::Exited { .. } | Unhealthy::TooSlow { .. } | Unhealthy::BadAppFile(_) => true,
            Unhealthy::DoesNotStart { missing, .. } => !missing,
            Unhealthy::BadRunCommand { .. } | Unhealthy::Lost { .. } => false,
        }
    }
}

/// Why a version failed its health check.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Unhealthy {
    /// The run command is not a safe relative path.
    #[error("run command {run:?}: {reason}")]
    BadRunCommand {
        /// The command.
        run: String,
        /// Why.
        reason: String,
    },
    /// The program could not be started.
    #[error("{program} does not start: {reason}")]
    DoesNotStart {
        /// The program.
        program: String,
        /// The OS error.
        reason: String,
        /// The program (or its interpreter) is not there: maybe a wrong
        /// `--run`, or a missing interpreter on this machine.
        missing: bool,
    },
    /// The program stopped with an error before the check's time was up.
    #[error("{program} exited with {status} after {seconds:.1} s")]
    Exited {
        /// The program, relative to the version's folder, and its arguments.
        program: String,
        /// How it ended.
        status: String,
        /// After how long.
        seconds: f64,
    },
    /// The program ran past the time a check that must exit allows.
    #[error("{program} {args} did not exit within {seconds} s")]
    TooSlow {
        /// The program, relative to the version's folder.
        program: String,
        /// Its arguments, joined.
        args: String,
        /// The time allowed.
        seconds: u64,
    },
    /// The release's app file (`.quince/app`) cannot be read.
    #[error("the release's app file: {0}")]
    BadAppFile(String),
    /// Waiting for the program failed.
    #[error("waiting for {program}: {reason}")]
    Lost {
        /// The program.
        program: String,
        /// Why.
        reason: String,
    },
}

/// Reads a version's app file, if it has one. The file was verified with
/// the rest of the release; this only bounds the read and parses it.
pub fn app_info(version_dir: &Path) -> Result<Option<AppInfo>, String> {
    let path = version_dir.join(APP_FILE);
    let bytes = match quince_store::durable::read_bounded(&path, MAX_APP_FILE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    AppInfo::parse(&bytes).map(Some).map_err(|e| e.to_string())
}

/// What a health check runs and what counts as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The program, relative to the version's folder.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Healthy if still running after this long (or exited 0 sooner);
    /// `None`: must exit 0 within [`EXIT_WITHIN`].
    pub runs_for: Option<Duration>,
}

impl Plan {
    /// The check for a version with app file `info` (if any), run command
    /// `run` and the installer's default time: `None` if nothing is to be
    /// checked (no program, or the publisher chose `health none`).
    pub fn new(info: Option<&AppInfo>, state: &AppState) -> Option<Plan> {
        let run = state.run.clone()?;
        let runs = |secs| Plan {
            program: run.clone(),
            args: Vec::new(),
            runs_for: Some(Duration::from_secs(secs)),
        };
        Some(match info.and_then(|i| i.health.as_ref()) {
            None => runs(state.health_seconds),
            Some(Health::Runs(secs)) => runs(*secs),
            Some(Health::ExitsOk(args)) => Plan {
                program: run.clone(),
                args: args.clone(),
                runs_for: None,
            },
            Some(Health::Command(program, args)) => Plan {
                program: program.as_str().to_string(),
                args: args.clone(),
                runs_for: None,
            },
            Some(Health::None) => return None,
        })
    }
}

/// Runs `plan` in `dir` with [`HEALTH_ENV`] and `env` set. The wait runs on
/// a blocking thread, never on the async runtime's workers.
pub async fn health_check(
    dir: &Path,
    plan: &Plan,
    env: Vec<(&'static str, String)>,
) -> Result<(), Unhealthy> {
    let (dir, p) = (dir.to_path_buf(), plan.clone());
    tokio::task::spawn_blocking(move || check_blocking(&dir, &p, &env))
        .await
        .unwrap_or_else(|e| {
            Err(Unhealthy::Lost {
                program: plan.program.clone(),
                reason: e.to_string(),
            })
        })
}

fn check_blocking(dir: &Path, plan: &Plan, env: &[(&str, String)]) -> Result<(), Unhealthy> {
    let rel = RelPath::parse(&plan.program).map_err(|e| Unhealthy::BadRunCommand {
        run: plan.program.clone(),
        reason: e.to_string(),
    })?;
    let program = dir.join(rel.as_str());
    let mut child = Command::new(&program)
        .args(&plan.args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(HEALTH_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Unhealthy::DoesNotStart {
            program: program.display().to_string(),
            reason: e.to_string(),
            missing: e.kind() == std::io::ErrorKind::NotFound,
        })?;
    let started = Instant::now();
    let limit = plan.runs_for.unwrap_or(EXIT_WITHIN);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(Unhealthy::Exited {
                    program: std::iter::once(rel.as_str())
                        .chain(plan.args.iter().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(" "),
                    status: status.to_string(),
                    seconds: started.elapsed().as_secs_f64(),
                })
            }
            Ok(None) if started.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                return match plan.runs_for {
                    Some(_) => Ok(()),
                    None => Err(Unhealthy::TooSlow {
                        program: rel.as_str().to_string(),
                        args: plan.args.join(" "),
                        seconds: limit.as_secs(),
                    }),
                };
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                return Err(Unhealthy::Lost {
                    program: rel.as_str().to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }
}

/// The program to start when the release does not name one: `bin/NAME` if
/// it is the only program in the version's `bin/`; else, for a release
/// that holds one macOS app bundle, `NAME.app/Contents/MacOS/PROGRAM` if
/// that is the bundle's only program.
pub(super) fn only_program(dir: &Path) -> Option<String> {
    let program = |e: &std::fs::DirEntry| {
        e.metadata()
            .is_ok_and(|m| crate::platform::is_executable(&e.path(), &m))
    };
    if let Some(name) = only_one(&dir.join("bin"), &program) {
        return Some(format!("bin/{name}"));
    }
    let inside = format!("{}/Contents/MacOS", app_bundle(dir)?);
    only_one(&dir.join(&inside), &program).map(|name| format!("{inside}/{name}"))
}

/// The name of the one macOS app bundle (`NAME.app` folder) at the top of
/// a version's folder, if it holds exactly one.
pub fn app_bundle(dir: &Path) -> Option<String> {
    only_one(dir, &|e| {
        let name = e.file_name();
        let name = name.as_encoded_bytes();
        name.len() > 4 && name.ends_with(b".app") && e.file_type().is_ok_and(|t| t.is_dir())
    })
}

/// The name of the one entry of `folder` that `pick` takes, if exactly one
/// (and its name is UTF-8).
fn only_one(folder: &Path, pick: &dyn Fn(&std::fs::DirEntry) -> bool) -> Option<String> {
    let mut found = None;
    for entry in std::fs::read_dir(folder).ok()?.flatten() {
        if pick(&entry) {
            if found.is_some() {
                return None;
            }
            found = Some(entry.file_name().into_string().ok()?);
        }
    }
    found
}
