//! A Quince app that follows its own updates through `quince-app`: prints
//! `running VERSION`, then looks for a ready update ten times a second and
//! restarts into it (`update VERSION ready`). Its health check passes at once.

fn main() {
    if std::env::var_os("QUINCE_HEALTH_CHECK").is_some() {
        return;
    }
    let Some(app) = quince_app::App::from_env() else {
        eprintln!("quince-follow-app: not started by Quince (no QUINCE_APP_ID)");
        std::process::exit(2);
    };
    println!("running {}", app.version());
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        match app.update_ready() {
            Ok(Some(update)) => {
                println!("update {} ready", update.version);
                let error = app.restart(&update, std::env::args_os().skip(1));
                eprintln!("quince-follow-app: restarting: {error}");
                std::process::exit(1);
            }
            Ok(None) => {}
            Err(e) => eprintln!("quince-follow-app: {e}"),
        }
    }
}
