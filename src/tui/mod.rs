//! `vmlab tui`: a live dashboard of a lab's nodes, links and boot progress, with tabs attached
//! to serial consoles and SSH sessions.
//!
//! One `select!` loop owns everything: terminal input, engine events (a deploy or a node
//! action running in-process), the engine's lab monitor, session output and action results.
//! [`app`] turns input into actions and news into state without I/O; [`view`] draws state;
//! this module carries actions out by spawning engine work, so update and draw never block.
//! A deploy runs through the same engine entry point as `vmlab deploy`; quitting, pressing D
//! or a SIGTERM/SIGHUP during it cancels it and waits until it has stopped what it started.
//! The screen is redrawn when something changed and once a second for the clocks — an idle
//! dashboard costs next to no CPU. The terminal is restored on quit, on error and on panic.

pub mod app;
pub mod keymap;
pub mod layout;
pub mod parts;
pub mod shared;
pub mod style;
pub mod view;
mod work;

use std::io::Stdout;
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    EventStream,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc::unbounded_channel;

use crate::engine::api::{
    self, DeployOptions, Deployment, EngineError, EventSink, LabHandle, LabSelector, Prepared,
};
use crate::plan::Accel;
use crate::term::session::{SessionEvent, SessionId};
use app::App;
use shared::Action;
use work::{Done, Work};

/// How `vmlab tui` finds its lab.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub selector: LabSelector,
    /// With a spec dir: the accelerator for a deploy (`None`: probe).
    pub accel: Option<Accel>,
    /// Multi-host lab: the host this machine is, when the TUI deploys the lab.
    pub host: Option<String>,
    /// Draw without colour (`NO_COLOR`): emphasis by reverse video and bold only.
    pub no_color: bool,
}

/// Runs the TUI until the user quits.
pub async fn run(opts: TuiOptions) -> Result<i32, EngineError> {
    // Find the lab, or prepare a deploy of it (all validation happens before the screen
    // changes, so errors print normally).
    let mut deployment = None;
    let lab = match &opts.selector {
        LabSelector::SpecDir(dir) => {
            let spec = api::load_spec(dir)?;
            let opts = DeployOptions {
                accel: opts.accel,
                host: opts.host.clone(),
                ..DeployOptions::default()
            };
            // Before the screen changes, notes go to stderr as `vmlab deploy` prints them.
            let (notes, mut rx) = EventSink::channel();
            let printer = tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    eprintln!("{}", e.describe());
                }
            });
            let prepared = api::prepare_deploy(&spec, opts, &notes).await;
            drop(notes);
            let _ = printer.await;
            match prepared? {
                Prepared::AlreadyRunning(_) => LabHandle::named(spec.name.clone()),
                Prepared::Ready(d) => {
                    let lab = LabHandle::named(d.lab().name().clone());
                    deployment = Some(d);
                    lab
                }
            }
        }
        other => LabHandle::find(other, false)?,
    };

    let mut terminal =
        setup_terminal().map_err(|e| EngineError::io("cannot set up the terminal", e))?;
    let result = event_loop(&mut terminal, lab, deployment, opts.no_color).await;
    restore_terminal();
    let _ = terminal.show_cursor();
    result
}

type Term = Terminal<CrosstermBackend<Stdout>>;

fn setup_terminal() -> std::io::Result<Term> {
    // Restore the terminal before any panic message is printed.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode()?;
    let mut out = std::io::stdout();
    execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    )?;
    Terminal::new(CrosstermBackend::new(out))
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen
    );
}

async fn event_loop(
    terminal: &mut Term,
    lab: LabHandle,
    deployment: Option<Box<Deployment>>,
    no_color: bool,
) -> Result<i32, EngineError> {
    let mut app = App::new(lab.name().as_str(), deployment.is_some());
    app.no_color = no_color;
    let size = terminal
        .size()
        .map_err(|e| EngineError::io("terminal size", e))?;
    app.screen = Rect::new(0, 0, size.width, size.height);

    let (engine_sink, mut engine_rx) = EventSink::channel();
    let (sess_tx, mut sess_rx) = unbounded_channel::<(SessionId, SessionEvent)>();
    let (done_tx, mut done_rx) = unbounded_channel::<Done>();
    let mut input = EventStream::new();
    let mut monitor = lab.monitor(Duration::from_secs(1), engine_sink.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // SIGTERM and SIGHUP (a closed terminal) quit like q; Ctrl-C arrives as a key in raw mode.
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut work = Work::new(lab, engine_sink, sess_tx, done_tx);
    if let Some(d) = deployment {
        work.deploy(&mut app, d);
    }

    let mut dirty = true;
    loop {
        if dirty {
            draw_now(terminal, &app)?;
            dirty = false;
        }
        let mut actions = Vec::new();
        tokio::select! {
            ev = input.next() => match ev {
                // Bare pointer motion changes nothing on screen.
                Some(Ok(crossterm::event::Event::Mouse(m)))
                    if m.kind == crossterm::event::MouseEventKind::Moved => continue,
                Some(Ok(ev)) => actions = app.input(ev),
                Some(Err(e)) => return Err(EngineError::io("terminal input", e)),
                None => break,
            },
            Some(ev) = engine_rx.recv() => app.engine_event(ev),
            Some((id, ev)) = sess_rx.recv() => {
                work.feed(&mut app, id, ev);
                // Drain what else is queued before drawing once.
                while let Ok((id, ev)) = sess_rx.try_recv() {
                    work.feed(&mut app, id, ev);
                }
            }
            Some(obs) = monitor.recv() => app.observe(obs),
            Some(done) = done_rx.recv() => work.done(&mut app, done),
            // Finished work has said so through `done_tx`; this only reaps it.
            Some(_) = work.reap(), if work.running() => continue,
            Some(_) = recv_signal(&mut hangup) => app.quit = true,
            Some(_) = recv_signal(&mut terminate) => app.quit = true,
            _ = tick.tick() => {}
        }
        dirty = true;
        for a in actions {
            if let Action::Destroy = a {
                // The monitor would only report a missing lab from now on.
                monitor = tokio::sync::mpsc::channel(1).1;
                if work.deploying() {
                    // The deploy stops what it started itself: cancel it and wait.
                    work.cancel_deploy(&mut app, &mut |app| draw_now(terminal, app))
                        .await?;
                    app.quit = true;
                    continue;
                }
            }
            work.act(&mut app, a);
        }
        if app.quit {
            break;
        }
    }
    work.finish(&mut app, &mut |app| draw_now(terminal, app))
        .await?;
    Ok(0)
}

fn draw_now(terminal: &mut Term, app: &App) -> Result<(), EngineError> {
    terminal
        .draw(|f| view::draw(f, app))
        .map(|_| ())
        .map_err(|e| EngineError::io("cannot draw", e))
}

/// The next delivery of a signal, or never when it could not be handled.
async fn recv_signal(s: &mut Option<Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
