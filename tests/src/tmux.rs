//! A terminal for tests: a tmux server of its own, to run a command as a
//! person would (a TTY, a screen of 160x40), read the screen and type.

#![allow(clippy::unwrap_used, clippy::panic)] // a test helper: a failed step stops the test

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own, killed when dropped.
pub struct Tmux(String);

impl Tmux {
    /// Starts `command` (an `sh -c` line) in a detached 160x40 session, or
    /// `None` if tmux is not installed (CI installs it: then a failure).
    pub fn start(name: &str, command: &str) -> Option<Tmux> {
        let socket = format!("quince-test-{name}-{}", std::process::id());
        let started = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "40",
                command,
            ])
            .status();
        match started {
            Ok(s) if s.success() => Some(Tmux(socket)),
            Ok(s) => panic!("tmux new-session: {s}"),
            Err(_) if std::env::var_os("CI").is_none() => {
                eprintln!("SKIPPED: tmux is not installed");
                None
            }
            Err(e) => panic!("tmux: {e} (install tmux)"),
        }
    }

    /// What the pane shows now.
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Waits until the pane shows `text`; returns every screen seen.
    pub fn wait_for(&self, text: &str, secs: u64) -> Vec<String> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            let screen = self.screen();
            let found = screen.contains(text);
            seen.push(screen);
            if found {
                return seen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "no {text:?} on the terminal within {secs} s; last screen:\n{}",
                seen.last().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}

impl Tmux {
    /// Types `keys` (tmux key names, such as `y` and `Enter`).
    pub fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["-L", &self.0, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success(), "tmux send-keys");
    }
}

/// `'path'` for sh.
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
