//! `shinso`: see `shinso --help`.

use std::process::ExitCode;

use clap::error::ErrorKind;

/// Every error is one line on stderr.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = (payload.downcast_ref::<&str>().copied())
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("panic");
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        eprintln!("error: internal error: {}{at}", one_line(msg));
    }));
    let Err(e) = shinso_host::cmd::run(std::env::args_os()) else {
        return ExitCode::SUCCESS;
    };
    let Some(usage) = e.downcast_ref::<clap::Error>() else {
        eprintln!("error: {}", one_line(&format!("{e:#}")));
        return ExitCode::from(1);
    };
    if matches!(
        usage.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = usage.print();
        return ExitCode::SUCCESS;
    }
    // clap's message and usage, without its hint to try --help
    let text = usage.render().to_string();
    let (message, _hint) = text
        .split_once("For more information")
        .unwrap_or((&text, ""));
    let line = one_line(message);
    eprintln!("error: {}", line.strip_prefix("error: ").unwrap_or(&line));
    ExitCode::from(2)
}
