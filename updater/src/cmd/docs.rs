//! `quince completions` and `quince man`: shell completions and manual
//! pages, generated from the same definitions as `--help`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
    /// Write it where the shell looks for a user's completions
    /// (bash: ~/.local/share/bash-completion/completions/quince; zsh and
    /// fish: their user folders) instead of to standard output.
    #[arg(long)]
    install: bool,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// The folder for the pages (default: ~/.local/share/man/man1, where
    /// `man quince` finds them).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Prints (or installs) the completion script for `shell`.
pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> Result<()> {
    use clap_complete::Shell;
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, &name, &mut script);
    if !args.install {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        return match out.write_all(&script).and_then(|()| out.flush()) {
            // A reader that stopped (`| head`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => Ok(r?),
        };
    }
    let data = quince_updater::home::xdg("XDG_DATA_HOME", ".local/share")
        .context("no data folder: set HOME")?;
    let config = quince_updater::home::xdg("XDG_CONFIG_HOME", ".config")
        .context("no config folder: set HOME")?;
    let path = match args.shell {
        Shell::Bash => data.join("bash-completion/completions").join(&name),
        Shell::Zsh => data.join("zsh/site-functions").join(format!("_{name}")),
        Shell::Fish => config.join("fish/completions").join(format!("{name}.fish")),
        other => anyhow::bail!(
            "--install knows bash, zsh and fish; for {other} print the script and save it yourself"
        ),
    };
    write(&path, &script)?;
    println!("{}", path.display());
    if args.shell == Shell::Zsh {
        println!(
            "note: add {} to fpath in ~/.zshrc (fpath+=({}))",
            path.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            path.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Writes `quince.1` and one page per subcommand (`quince-install.1`, ...),
/// and prints one line: how many pages, where (each path with `-v`).
pub fn man(args: ManArgs, command: clap::Command) -> Result<()> {
    let dir = match args.out {
        Some(d) => d,
        None => quince_updater::home::xdg("XDG_DATA_HOME", ".local/share")
            .context("no data folder: set HOME or give --out")?
            .join("man/man1"),
    };
    let name = command.get_name().to_string();
    let mut pages = vec![(name.clone(), command.clone())];
    for sub in command.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let full = format!("{name}-{}", sub.get_name());
        pages.push((full.clone(), sub.clone().name(full)));
    }
    let count = pages.len();
    for (file, page) in pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        let path = dir.join(format!("{file}.1"));
        write(&path, &out)?;
        tracing::debug!("wrote {}", path.display());
    }
    println!(
        "{count} manual pages in {} (man {name}, man {name}-install, ...)",
        dir.display()
    );
    Ok(())
}

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    quince_store::durable::write_atomic(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}
