//! The command line: argument parsing, the commands' output, exit codes. Thin by design —
//! every decision about labs is the engine's or the plan's, reached through `engine::api`.
//!
//! Where things live: the grammar (clap types, checked at the edge) in `args.rs`; this file
//! sets up the runtime, signals and logging and dispatches each command to the file of its
//! family (`lab.rs`, `node.rs`, `link.rs`, `snapshot.rs`, `image.rs`, `deploy.rs`, and the
//! toolbox in `tools.rs`); `say.rs` writes every line and `output.rs` draws the tables.

mod args;
mod deploy;
mod image;
mod lab;
mod link;
mod node;
mod output;
mod say;
mod server;
mod shard;
mod signals;
mod snapshot;
mod tools;
mod validate;

use clap::Parser;

use crate::engine::api::{self, EngineError, NodeOp};
pub use args::Cli;
use args::{Command, ExportWhat, ShardAction};
use say::{say, tell};

/// Runs vmlab with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    if let Command::Relay {
        lab_dir,
        foreground,
    } = &cli.command
    {
        // Before any thread exists: the relay forks itself away from its parent.
        init_tracing(cli.verbose.max(1) as i8);
        return api::relay_main(lab_dir, *foreground);
    }
    say::set_progress(match &cli.command {
        _ if cli.quiet => say::Progress::Quiet,
        Command::Deploy(a) => a.progress,
        _ => say::Progress::Auto,
    });
    init_tracing(if cli.quiet { -1 } else { cli.verbose as i8 });
    api::set_platforms_registry(cli.platforms.clone());
    api::set_patches_dir(cli.patches.clone());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tell(&format!("error: cannot start the async runtime: {e}"));
            return 1;
        }
    };
    let code = rt.block_on(async {
        // For commands that start VMs, Ctrl-C, SIGTERM and SIGHUP cancel what runs; it stops
        // what it started, and vmlab exits 128 + the signal's number. (The TUI handles its own.)
        let interrupts = match cli.command {
            Command::Deploy(_)
            | Command::Start { .. }
            | Command::Restart { .. }
            | Command::Repair { .. }
            | Command::Capture { .. }
            | Command::Snapshot { .. }
            | Command::Restore { .. }
            | Command::Shard {
                action: args::ShardAction::Run(_),
            } => signals::Interrupts::install(),
            _ => signals::Interrupts::none(),
        };
        let result = run(cli, &interrupts).await;
        match result {
            Ok(code) => code,
            Err(e) => {
                let code = match (&e, interrupts.signal()) {
                    (EngineError::Interrupted, Some(sig)) => 128 + sig,
                    _ => e.exit_code(),
                };
                if say::progress() == say::Progress::Json {
                    // The last line of a JSON progress stream: a program reads why, too.
                    tell(
                        &serde_json::json!({"event": "error", "message": e.to_string(),
                                            "exit_code": code})
                        .to_string(),
                    );
                } else {
                    tell(&format!("error: {e}"));
                }
                code
            }
        }
    });
    // Whatever still runs in the background (a blocked read of stdin, a lingering task) must
    // not hold up the exit.
    rt.shutdown_background();
    code
}

/// Logs on stderr: warnings by default, errors only with `-q` (-1), more with each `-v`.
fn init_tracing(verbose: i8) {
    let level = match verbose {
        ..0 => "error",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMLAB_LOG").unwrap_or_else(|_| {
        // vmlab serve's one line per request is shown unless -q.
        let access = if verbose < 0 { "error" } else { "info" };
        tracing_subscriber::EnvFilter::new(format!("vmlab={level},vmlab::serve::access={access}"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && !say::no_color())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one parsed command; its exit code.
async fn run(cli: Cli, interrupts: &signals::Interrupts) -> Result<i32, EngineError> {
    let cancel = interrupts.token();
    match cli.command {
        Command::Deploy(args) => deploy::run(args, interrupts).await,
        Command::Destroy { all: true, .. } => Err(EngineError::Usage {
            what: "vmlab destroy has no --all: it always destroys the whole lab".into(),
            fix: "name the lab (`vmlab destroy demo`); --all-hosts destroys a multi-host lab \
                  on every host"
                .into(),
        }),
        Command::Destroy {
            name,
            lab,
            host,
            all_hosts: true,
            ..
        } => lab::destroy_all(&lab.or_named(name), &host).await,
        Command::Destroy {
            name,
            lab,
            host,
            force,
            missing_ok,
            ..
        } => lab::destroy(&lab.or_named(name), &host, force, missing_ok).await,
        Command::Status {
            lab,
            host,
            out,
            all_hosts: true,
        } => lab::status_all(&lab, &host, &out).await,
        Command::Status { lab, host, out, .. } => lab::status(&lab, &host, &out),
        Command::Labs { out } => lab::labs(out.json()),
        Command::Repair { lab, host } => lab::repair(&lab, &host, cancel).await,
        Command::Ssh { lab, node, command } => node::ssh(&lab, &node, &command),
        Command::Console { lab, node } => node::console(&lab, &node).await,
        Command::Stop { lab, host, nodes } => {
            node::op(&lab, &host, &nodes, NodeOp::Stop, cancel).await
        }
        Command::Start { lab, host, nodes } => {
            node::op(&lab, &host, &nodes, NodeOp::Start, cancel).await
        }
        Command::Restart { lab, host, nodes } => {
            node::op(&lab, &host, &nodes, NodeOp::Restart, cancel).await
        }
        Command::Links { lab, out } => link::table(&lab, &out),
        Command::Link { lab, action } => link::change(&lab, action).await,
        Command::Capture { lab, end, write } => link::capture(&lab, end, write, cancel).await,
        Command::Snapshot {
            lab,
            snapshot: positional,
            name,
            // `--list` is what no name and no `--delete` do anyway.
            list: _,
            delete,
            out,
        } => snapshot::snapshot(&lab, positional.or(name), delete, &out, cancel).await,
        Command::Restore {
            lab,
            snapshot: positional,
            name,
        } => {
            // clap requires one of the two.
            let name = positional.or(name).unwrap_or_default();
            snapshot::restore(&lab, &name, cancel).await
        }
        Command::Image { action } => image::run(action).await,
        Command::Tui { lab, accel, host } => {
            crate::tui::run(crate::tui::TuiOptions {
                selector: lab.selector(),
                accel: accel.wanted(),
                host,
                no_color: say::no_color(),
            })
            .await
        }
        Command::SshConfig { lab } => tools::ssh_config(&lab),
        Command::Inventory { lab, format } => tools::inventory(&lab, format),
        Command::Graph { lab, format } => tools::graph(&lab, format).await,
        Command::Export {
            what: ExportWhat::K8s(args),
        } => tools::export_k8s(&args),
        Command::Shard { action } => match action {
            ShardAction::Plan(args) => shard::plan(&args).await,
            ShardAction::Run(args) => shard::run(&args, interrupts).await,
            ShardAction::Ready(args) => shard::ready(&args),
            ShardAction::Alive(_) => shard::alive(),
        },
        Command::Exec {
            lab,
            nodes,
            platform,
            all,
            format,
            timeout,
            command,
        } => tools::exec(&lab, nodes, platform, all, format, timeout, &command).await,
        Command::Validate {
            lab,
            file,
            only,
            format,
            json,
        } => {
            let format = if json {
                args::ValidateFormat::Json
            } else {
                format
            };
            validate::run(&lab, file.as_deref(), &only, format).await
        }
        Command::Serve(args) => server::serve(args, cancel.clone()).await,
        Command::Doctor { specs, out } => tools::doctor(specs.as_deref(), out.json()).await,
        Command::Completions { shell } => tools::completions(shell),
        Command::Man { command } => tools::man(&command),
        Command::Relay { .. } => Ok(0),
        Command::HostCall => Ok(api::answer_host_call().await),
        Command::SpecReceive { lab } => {
            let dir = tokio::task::spawn_blocking(move || {
                api::receive_spec(std::io::stdin().lock(), &lab)
            })
            .await
            .map_err(|e| EngineError::io("spec-receive", std::io::Error::other(e)))??;
            say(&dir.display().to_string());
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command a user sees shows an example, and every argument says what it is.
    #[test]
    fn every_command_has_an_example_and_every_argument_a_help() {
        fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_name() == "help" {
                    continue;
                }
                let leaf = !sub.has_subcommands();
                let example = sub
                    .get_after_help()
                    .is_some_and(|h| h.to_string().contains("vmlab "));
                if leaf && !example {
                    problems.push(format!("{path}: no example"));
                }
                for a in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                    if a.get_help().is_none() && !["help", "version"].contains(&a.get_id().as_str())
                    {
                        problems.push(format!("{path}: argument {} has no help", a.get_id()));
                    }
                }
                walk(sub, &path, problems);
            }
        }
        let cli = super::Cli::command();
        cli.clone().debug_assert();
        let mut problems = Vec::new();
        walk(&cli, "vmlab", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
