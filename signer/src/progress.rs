//! What a keyholder sees while the tool works: a status line on a terminal
//! (redrawn in place, cleared when done), plain lines when stderr is a file or
//! pipe, so that logs stay readable.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A slow step (a scrypt unlock, a wait for keyholders) shown while it runs.
///
/// On a terminal the line `message  3s` is redrawn every quarter second and
/// erased on drop; elsewhere nothing is printed (the step's result is).
pub struct Busy {
    stop: Arc<AtomicBool>,
    message: Arc<Mutex<String>>,
    ticker: Option<JoinHandle<()>>,
}

impl Busy {
    /// Starts showing `message` and the seconds it has taken, if stderr is a terminal.
    pub fn start(message: impl Into<String>) -> Busy {
        Busy::spawn(message.into(), true)
    }

    /// Like [`Busy::start`], for messages that carry their own clock.
    pub fn without_clock(message: impl Into<String>) -> Busy {
        Busy::spawn(message.into(), false)
    }

    fn spawn(message: String, clock: bool) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let message = Arc::new(Mutex::new(message));
        let ticker = std::io::stderr().is_terminal().then(|| {
            let (stop, message) = (stop.clone(), message.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let text = message.lock().map(|m| m.clone()).unwrap_or_default();
                    let line = if clock {
                        render(&text, started.elapsed())
                    } else {
                        text
                    };
                    let _ = write!(std::io::stderr(), "\r\x1b[K{line}");
                    std::thread::sleep(Duration::from_millis(250));
                }
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            })
        });
        Busy {
            stop,
            message,
            ticker,
        }
    }

    /// Replaces the message shown (the clock keeps running).
    pub fn set(&self, message: impl Into<String>) {
        if let Ok(mut m) = self.message.lock() {
            *m = message.into();
        }
    }

    /// Whether a status line is being drawn (stderr is a terminal).
    pub fn is_drawn(&self) -> bool {
        self.ticker.is_some()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// One status line: the message and the whole seconds it has taken.
pub fn render(message: &str, elapsed: Duration) -> String {
    format!("{message}  {}s", elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_counts_whole_seconds() {
        assert_eq!(
            render("unlocking", Duration::from_millis(2900)),
            "unlocking  2s"
        );
        // Tests do not run on a terminal: nothing is drawn, drop returns at once.
        let busy = Busy::start("waiting");
        busy.set("still waiting");
        assert_eq!(busy.is_drawn(), std::io::stderr().is_terminal());
    }
}
