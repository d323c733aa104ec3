//! The exit status of `quince`, by what went wrong (documented in `--help`).

use quince_updater::fetch::FetchError;
use quince_updater::install::InstallError;
use quince_updater::ClientError;

/// What `quince --help` says about exit codes.
pub const HELP: &str = "Exit status: 0 done; 1 failed (files, disk, network setup); \
2 usage (bad arguments; no such app, version or program); 3 no peer (none found, \
or none gave valid data in time); 4 refused (a signature, log, file, freshness or \
health check did not hold: nothing installed was changed).";

/// Bad arguments, or no such app, version or program.
pub const USAGE: i32 = 2;
/// No peer found, or none gave valid data in time.
pub const NO_PEERS: i32 = 3;
/// Something did not verify.
pub const REFUSED: i32 = 4;

/// An error that exits with [`REFUSED`]: what was checked did not hold.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// An error that exits with [`USAGE`]: a bad argument value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// An error that exits with [`NO_PEERS`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoPeers(pub String);

/// The exit code for `error`: the first cause in its chain that says.
/// (Errors marked `transparent` hide their inner error from the chain, so
/// the client's and installer's wrappers are opened here.)
pub fn code(error: &anyhow::Error) -> i32 {
    for cause in error.chain() {
        if cause.is::<Refused>() {
            return REFUSED;
        }
        if cause.is::<NoPeers>() {
            return NO_PEERS;
        }
        if cause.is::<clap::Error>() || cause.is::<Usage>() {
            return USAGE;
        }
        let code = match cause.downcast_ref::<ClientError>() {
            Some(ClientError::NoPeers { .. }) => Some(NO_PEERS),
            Some(ClientError::Install(e)) => install(e),
            _ => None,
        }
        .or_else(|| cause.downcast_ref::<InstallError>().and_then(install))
        .or_else(|| cause.downcast_ref::<FetchError>().and_then(fetch));
        if let Some(code) = code {
            return code;
        }
    }
    1
}

fn install(e: &InstallError) -> Option<i32> {
    match e {
        InstallError::UnknownApp { .. }
        | InstallError::NotInstalled(_)
        | InstallError::NoSuchVersion { .. }
        | InstallError::NoPrevious(_)
        | InstallError::NoRunCommand(_)
        | InstallError::BadRunCommand { .. } => Some(USAGE),
        InstallError::NotFresh { .. } => Some(REFUSED),
        InstallError::Fetch(f) => fetch(f),
        _ => None,
    }
}

fn fetch(e: &FetchError) -> Option<i32> {
    match e {
        FetchError::Exhausted { .. } => Some(NO_PEERS),
        FetchError::Equivocation { .. } | FetchError::Fork(_) => Some(REFUSED),
        _ => None,
    }
}
