//! Small scripts that start a program with fixed arguments: a user's
//! launcher on PATH (`hello` runs `quince run APP`) and the updater's
//! login entry. A `sh` script on Unix; a batch file (`.cmd`) on Windows.
//! Both writers are compiled everywhere, so each is tested on every OS.
//!
//! The program is usually Quince inside its own installed app, named
//! through the app's `current` (see [`crate::desktop::stable_program`]), so
//! that the script follows Quince's updates. On Unix `current` is a link
//! the OS follows. On Windows it is a pointer file, so the batch file reads
//! it (`set /p`) each time it runs and starts the program in the version
//! folder it names: an update switches every launcher at once, with no
//! launcher rewritten.

use std::path::Path;

/// What a script runs.
#[derive(Debug, Clone)]
pub struct Script<'a> {
    /// The line that marks the file as Quince's (without a comment sign).
    pub mark: &'a str,
    /// A line saying what the script is for.
    pub about: &'a str,
    /// Environment variables set first.
    pub env: &'a [(&'a str, &'a Path)],
    /// The program.
    pub program: &'a Path,
    /// Its fixed arguments; the script's own arguments follow them.
    pub args: &'a [&'a str],
}

/// The script's file name for `name` on this OS: `name` on Unix,
/// `name.cmd` on Windows.
pub fn file_name(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.cmd")
    } else {
        name.to_string()
    }
}

/// The script's text for this OS.
pub fn text(script: &Script<'_>) -> String {
    if cfg!(windows) {
        batch(script)
    } else {
        sh(script)
    }
}

/// A `sh` script: `exec PROGRAM ARGS "$@"`.
pub fn sh(s: &Script<'_>) -> String {
    let quote = |t: &str| format!("'{}'", t.replace('\'', r"'\''"));
    let env: String = s
        .env
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", quote(&v.display().to_string())))
        .collect();
    let args: String = s.args.iter().map(|a| format!(" {}", quote(a))).collect();
    format!(
        "#!/bin/sh\n# {}\n# {}\n{env}exec {}{args} \"$@\"\n",
        s.mark,
        s.about,
        quote(&s.program.display().to_string())
    )
}

/// A Windows batch file (CRLF lines). A program inside an app's
/// `current` is started through the pointer file, read when the batch
/// file runs. The exit status is the program's.
pub fn batch(s: &Script<'_>) -> String {
    // In a batch file `%` starts a variable: a literal one is `%%`.
    // Everything is double-quoted; Windows paths cannot hold `"`.
    let quote = |t: &str| format!("\"{}\"", t.replace('%', "%%"));
    let path = |p: &Path| p.display().to_string().replace('/', "\\");
    let mut lines = vec![
        "@echo off".to_string(),
        format!("rem {}", s.mark),
        format!("rem {}", s.about),
        "setlocal".to_string(),
    ];
    for (k, v) in s.env {
        lines.push(format!("set \"{k}={}\"", path(v).replace('%', "%%")));
    }
    let program = match through_current(s.program) {
        Some((pointer, rest)) => {
            lines.push(format!("set /p QUINCE_VERSION_DIR=<{}", quote(&pointer)));
            let app = pointer.rsplit_once('\\').map_or("", |(a, _)| a);
            // The pointer holds `versions/V`, with `/`: made `\` here.
            format!(
                "\"{}\\%QUINCE_VERSION_DIR:/=\\%\\{}\"",
                app.replace('%', "%%"),
                rest.replace('%', "%%")
            )
        }
        None => quote(&path(s.program)),
    };
    let args: String = s.args.iter().map(|a| format!(" {}", quote(a))).collect();
    lines.push(format!("{program}{args} %*"));
    lines.push("exit /b %ERRORLEVEL%".to_string());
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    text
}

/// `(APPS\ID\current, REST)` if `program` is `APPS/ID/current/REST`, with
/// `\` between the parts (split at `/` and `\` alike, so that Windows paths
/// are read the same on every OS).
fn through_current(program: &Path) -> Option<(String, String)> {
    let text = program.display().to_string();
    let parts: Vec<&str> = text.split(['/', '\\']).collect();
    let i = (2..parts.len())
        .rev()
        .find(|&i| parts[i] == "current" && parts[i - 2] == "apps" && i + 1 < parts.len())?;
    Some((parts[..=i].join("\\"), parts[i + 1..].join("\\")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script<'a>(program: &'a Path, env: &'a [(&'a str, &'a Path)]) -> Script<'a> {
        Script {
            mark: "quince launcher: app abc",
            about: "Starts the app.",
            env,
            program,
            args: &["run", "abc", "--"],
        }
    }

    #[test]
    fn a_batch_file_reads_the_pointer_each_time_and_passes_arguments_on() {
        let program =
            Path::new(r"C:\Users\a b\AppData\Local\quince\apps\f00\current\bin\quince.exe");
        let home = Path::new(r"C:\Users\a b\AppData\Local\quince");
        let text = batch(&script(program, &[("QUINCE_HOME", home)]));
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines,
            [
                "@echo off",
                "rem quince launcher: app abc",
                "rem Starts the app.",
                "setlocal",
                r#"set "QUINCE_HOME=C:\Users\a b\AppData\Local\quince""#,
                r#"set /p QUINCE_VERSION_DIR=<"C:\Users\a b\AppData\Local\quince\apps\f00\current""#,
                r#""C:\Users\a b\AppData\Local\quince\apps\f00\%QUINCE_VERSION_DIR:/=\%\bin\quince.exe" "run" "abc" "--" %*"#,
                "exit /b %ERRORLEVEL%",
                "",
            ]
        );
        // A program outside any app is started as it is; `%` is escaped.
        let text = batch(&script(Path::new(r"D:\tools\100%\quince.exe"), &[]));
        assert!(
            text.contains("\r\n\"D:\\tools\\100%%\\quince.exe\" \"run\" \"abc\" \"--\" %*\r\n"),
            "{text}"
        );
    }

    #[test]
    fn a_sh_script_execs_with_quoted_words() {
        let text = sh(&script(
            Path::new("/home/o'k/quince"),
            &[("QUINCE_HOME", Path::new("/h"))],
        ));
        assert_eq!(
            text,
            "#!/bin/sh\n# quince launcher: app abc\n# Starts the app.\nexport QUINCE_HOME='/h'\nexec '/home/o'\\''k/quince' 'run' 'abc' '--' \"$@\"\n"
        );
    }
}
