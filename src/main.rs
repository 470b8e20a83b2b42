//! The `vltava` binary: parse arguments, load the config, run until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// A Kafka wire-protocol compatible broker.
///
/// Starts one broker. With no arguments it uses Kafka's defaults: a PLAINTEXT listener on
/// 127.0.0.1:9092 and data under /tmp/vltava-logs. Like `kafka-server-start.sh`, it takes
/// an optional `server.properties` file and `--override key=value` pairs (Kafka's key
/// names), which also work without a file.
#[derive(Parser, Debug)]
#[command(name = "vltava", version, about, long_about)]
struct Args {
    /// A Kafka `server.properties` file.
    config: Option<PathBuf>,
    /// Set a config key, overriding the file (repeatable), e.g. `--override num.partitions=3`.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let args = Args::parse();
    let config = match vltava::config::BrokerConfig::load(args.config.as_deref(), &args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vltava: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vltava: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = {
        let _runtime = runtime.enter();
        match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("vltava: cannot listen for SIGINT/SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    match runtime.block_on(vltava::broker::run(config, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vltava: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Registers the SIGINT and SIGTERM handlers now, before the broker starts (a signal
/// that arrives while it starts is kept, not fatal), and returns a future that
/// completes on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
    })
}
