//! Crash points for the crash-safety tests. Each durable step of an install
//! or update (a chunk stored, a file unpacked, a rename, a state write) calls
//! [`point`]. When the environment variable `QUINCE_TEST_CRASH_AT` holds a
//! number N, the process kills itself with SIGKILL at the N-th point it
//! reaches, exactly as if the machine had lost power there (no destructors,
//! no flushing). When `QUINCE_TEST_CRASH_COUNT` names a file, every point
//! reached appends its label there, so a test can learn how many points an
//! operation has. Without these variables, a point costs one relaxed load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static REACHED: AtomicU64 = AtomicU64::new(0);

struct Plan {
    at: Option<u64>,
    count_file: Option<std::path::PathBuf>,
}

fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| Plan {
        at: std::env::var("QUINCE_TEST_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok()),
        count_file: std::env::var_os("QUINCE_TEST_CRASH_COUNT").map(Into::into),
    })
}

/// A point where a crash must leave everything recoverable.
pub fn point(label: &str) {
    let plan = plan();
    if plan.at.is_none() && plan.count_file.is_none() {
        return;
    }
    let n = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(path) = &plan.count_file {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{n} {label}");
        }
    }
    if plan.at == Some(n) {
        #[cfg(unix)]
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        // SIGKILL cannot be caught; should the call fail (or elsewhere than
        // Unix), stop as abruptly anyway.
        std::process::abort();
    }
}
