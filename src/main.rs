//! Thin entry point: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc. The action path allocates and frees many short-lived
/// buffers of one to a few KiB (request bodies, audit JSON, read buffers) on every runtime
/// thread; glibc spent about a sixth of the CPU on them (bin consolidation). Measured with the
/// load benchmark, alternating builds: CPU per action request 41 µs instead of 48-49 and
/// about 17 % more requests/s, `GET /healthz` unchanged. The benchmark, which hosts the
/// server in-process, uses the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    profilegate::disable_huge_pages();
    // Everything this process creates (data dir files, backups, the control socket, TLS keys)
    // is private to its owner unless it says otherwise.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    let cli = profilegate::cli::Cli::parse();
    let (config, unknown) = match cli.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    profilegate::logfmt::init(
        std::io::stderr,
        &config.log.0,
        config.log_format.0 == "json",
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    for key in unknown {
        tracing::warn!(%key, "unknown key in the configuration file (ignored; a typo?)");
    }
    match profilegate::cli::dispatch(cli, &config).map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
