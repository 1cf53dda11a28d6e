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
pub mod style;
pub mod view;

use std::collections::HashMap;
use std::io::Stdout;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use tokio_util::sync::CancellationToken;

use crate::engine::api::{
    self, CheckResult, ConsoleAccess, DeployOptions, Deployment, EngineError, EventSink, LabHandle,
    LabSelector, LinkChange, NodeOp, Prepared,
};
use crate::plan::Accel;
use crate::term::session::{Session, SessionEvent, SessionId};
use app::{Action, App, TabKind};

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

/// Results of work the loop spawned.
enum Done {
    Connected(SessionId, Result<Session, String>),
    NodeAction(String, NodeOp, Result<(), String>),
    Deployed(Result<(), String>),
    Destroyed(Result<(), String>),
    LinkChanged(usize, Result<String, String>),
    SnapshotFinished(Result<String, String>),
    Validated(Result<Vec<CheckResult>, String>),
    CaptureStarted(usize, String),
    CaptureEnded(usize, Result<(u64, String), String>),
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
    let mut sessions: HashMap<SessionId, Session> = HashMap::new();
    // Running captures' stop flags, by link index.
    let mut captures: HashMap<usize, Arc<AtomicBool>> = HashMap::new();
    let mut input = EventStream::new();
    let mut monitor = lab.monitor(Duration::from_secs(1), engine_sink.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // SIGTERM and SIGHUP (a closed terminal) quit like q; Ctrl-C arrives as a key in raw mode.
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();

    // The deploy and its cancellation; quitting or destroying cancels it and waits for it.
    // Node operations, snapshots and restores share the token: quitting cancels them too and
    // waits until each has undone or finished what it began (a paused lab runs again).
    let cancel = CancellationToken::new();
    let mut work = tokio::task::JoinSet::new();
    let mut deploy_task = deployment.map(|d| {
        app.note(
            format!("deploying {}", api::count(d.plan().nodes.len(), "node")),
            false,
        );
        let (sink, tx, cancel) = (engine_sink.clone(), done_tx.clone(), cancel.clone());
        tokio::spawn(async move {
            let r = d
                .run(&sink, &cancel)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = tx.send(Done::Deployed(r));
        })
    });

    let mut dirty = true;
    loop {
        if dirty {
            terminal
                .draw(|f| view::draw(f, &app))
                .map_err(|e| EngineError::io("cannot draw", e))?;
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
                feed(&mut app, &sessions, id, ev);
                // Drain what else is queued before drawing once.
                while let Ok((id, ev)) = sess_rx.try_recv() {
                    feed(&mut app, &sessions, id, ev);
                }
            }
            Some(obs) = monitor.recv() => app.observe(obs),
            Some(done) = done_rx.recv() => match done {
                Done::Connected(id, Ok(s)) => {
                    // A tab closed or reconnected meanwhile drops the session.
                    if app.tabs.iter().any(|t| t.session == id) {
                        sessions.insert(id, s);
                        app.connected(id, Ok(()));
                    }
                }
                Done::Connected(id, Err(e)) => app.connected(id, Err(e)),
                Done::NodeAction(node, op, r) => app.action_done(&node, op, r),
                Done::Deployed(r) => {
                    app.deploying = false;
                    deploy_task = None;
                    match r {
                        Ok(()) => app.note("deploy finished: every node is ready", false),
                        Err(e) => app.note(format!("deploy failed (stopped what it started): {e}"), true),
                    }
                }
                Done::Destroyed(Ok(())) => {
                    app.quit = true;
                }
                Done::Destroyed(Err(e)) => app.note(format!("destroy failed: {e}"), true),
                Done::LinkChanged(index, r) => app.link_done(index, r),
                Done::SnapshotFinished(r) => app.snapshot_done(r),
                Done::Validated(r) => app.validate_done(r),
                Done::CaptureStarted(index, path) => app.capture_started(index, path),
                Done::CaptureEnded(index, r) => {
                    captures.remove(&index);
                    app.capture_ended(index, r);
                }
            },
            // Finished work has said so through `done_tx`; this only reaps it.
            Some(_) = work.join_next(), if !work.is_empty() => continue,
            Some(_) = recv_signal(&mut hangup) => app.quit = true,
            Some(_) = recv_signal(&mut terminate) => app.quit = true,
            _ = tick.tick() => {}
        }
        dirty = true;
        for a in actions {
            match a {
                Action::Quit => app.quit = true,
                Action::Connect {
                    session,
                    node,
                    kind,
                    rows,
                    cols,
                } => {
                    connect(&lab, session, &node, kind, rows, cols, &sess_tx, &done_tx);
                }
                Action::Disconnect(id) => {
                    sessions.remove(&id);
                }
                Action::Send(id, bytes) => {
                    if let Some(s) = sessions.get(&id) {
                        s.send(bytes);
                    }
                }
                Action::Resize(id, rows, cols) => {
                    if let Some(s) = sessions.get(&id) {
                        s.resize(rows, cols);
                    }
                }
                Action::Node(op, node) => {
                    spawn_node_action(&lab, node, op, &engine_sink, &done_tx, &cancel, &mut work)
                }
                Action::Link { index, end, up } => {
                    let (lab, tx) = (lab.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let (notes, _rx) = EventSink::channel();
                        let r = lab
                            .link(&end, &LinkChange::Admin { up }, &notes)
                            .await
                            .map(|i| format!("link {i} is {}", if up { "up" } else { "down" }))
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Done::LinkChanged(index, r));
                    });
                }
                Action::StartCapture { index, end } => {
                    let stop = Arc::new(AtomicBool::new(false));
                    captures.insert(index, stop.clone());
                    spawn_capture(&lab, index, end, stop, &done_tx);
                }
                Action::Snapshot(name) => {
                    let (lab, tx, sink) = (lab.clone(), done_tx.clone(), engine_sink.clone());
                    let cancel = cancel.clone();
                    work.spawn(async move {
                        let r = lab
                            .snapshot(&name, &sink, &cancel)
                            .await
                            .map(|s| {
                                format!("snapshot {} taken ({:.2} s paused)", s.name, s.paused_secs)
                            })
                            .map_err(|e| format!("snapshot {name} failed: {e}"));
                        let _ = tx.send(Done::SnapshotFinished(r));
                    });
                }
                Action::Restore(name) => {
                    let (lab, tx, sink) = (lab.clone(), done_tx.clone(), engine_sink.clone());
                    let cancel = cancel.clone();
                    work.spawn(async move {
                        let r = lab
                            .restore(&name, &sink, &cancel)
                            .await
                            .map(|r| {
                                format!(
                                    "restored {name}: every node answering SSH after {:.2} s",
                                    r.ssh_after.as_secs_f64()
                                )
                            })
                            .map_err(|e| format!("restore of {name} failed: {e}"));
                        let _ = tx.send(Done::SnapshotFinished(r));
                    });
                }
                Action::Validate => {
                    let (lab, tx, sink) = (lab.clone(), done_tx.clone(), engine_sink.clone());
                    let cancel = cancel.clone();
                    work.spawn(async move {
                        // A check may wait for minutes; quitting does not wait for it (its
                        // SSH commands are killed with the future).
                        let r = tokio::select! {
                            r = lab.validate(None, None, &sink) => r.map_err(|e| e.to_string()),
                            _ = cancel.cancelled() => Err("cancelled".to_string()),
                        };
                        let _ = tx.send(Done::Validated(r));
                    });
                }
                Action::StopCapture(index) => {
                    if let Some(stop) = captures.get(&index) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                Action::Destroy => {
                    // The monitor would only report a missing lab from now on.
                    monitor = tokio::sync::mpsc::channel(1).1;
                    if let Some(task) = deploy_task.take() {
                        // The deploy stops what it started itself: cancel it and wait.
                        app.note("cancelling the deploy; it stops what it started", false);
                        draw_now(terminal, &app)?;
                        cancel.cancel();
                        let _ = task.await;
                        app.quit = true;
                        continue;
                    }
                    let (lab, tx) = (lab.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let r = lab
                            .destroy(true, &EventSink::none())
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Done::Destroyed(r));
                    });
                }
            }
        }
        if app.quit {
            break;
        }
    }
    for stop in captures.values() {
        stop.store(true, Ordering::Relaxed);
    }
    if let Some(task) = deploy_task {
        // Quitting in the middle of a deploy stops what it started, as Ctrl-C does in `deploy`.
        app.note("cancelling the deploy; it stops what it started", false);
        draw_now(terminal, &app)?;
        cancel.cancel();
        let _ = task.await;
    }
    if !work.is_empty() {
        app.note("cancelling what runs; it stops what it started", false);
        draw_now(terminal, &app)?;
        cancel.cancel();
        while work.join_next().await.is_some() {}
    }
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

/// Session output goes through the tab's emulator; terminal replies go back to the guest.
fn feed(app: &mut App, sessions: &HashMap<SessionId, Session>, id: SessionId, ev: SessionEvent) {
    if let Some(reply) = app.session_event(id, ev)
        && let Some(s) = sessions.get(&id)
    {
        s.send(reply);
    }
}

#[allow(clippy::too_many_arguments)]
fn connect(
    lab: &LabHandle,
    id: SessionId,
    node: &str,
    kind: TabKind,
    rows: u16,
    cols: u16,
    sess_tx: &UnboundedSender<(SessionId, SessionEvent)>,
    done_tx: &UnboundedSender<Done>,
) {
    let (lab, node, sess_tx, done_tx) = (
        lab.clone(),
        node.to_string(),
        sess_tx.clone(),
        done_tx.clone(),
    );
    tokio::spawn(async move {
        let r = async {
            match kind {
                TabKind::Console => match lab.console(&node).await.map_err(|e| e.to_string())? {
                    // A node on another host: its console, through that host's vmlab.
                    ConsoleAccess::Remote(cmd) => {
                        Session::pty(id, &cmd, rows, cols, sess_tx).map_err(|e| e.to_string())
                    }
                    ConsoleAccess::Local(c) => Ok(Session::console(id, c, sess_tx)),
                },
                TabKind::Ssh => {
                    let cmd = lab.ssh(&node, &[]).map_err(|e| e.to_string())?;
                    Session::pty(id, &cmd, rows, cols, sess_tx).map_err(|e| e.to_string())
                }
            }
        }
        .await;
        let _ = done_tx.send(Done::Connected(id, r));
    });
}

fn spawn_node_action(
    lab: &LabHandle,
    node: String,
    op: NodeOp,
    sink: &EventSink,
    done_tx: &UnboundedSender<Done>,
    cancel: &CancellationToken,
    work: &mut tokio::task::JoinSet<()>,
) {
    let (lab, sink, tx, cancel) = (lab.clone(), sink.clone(), done_tx.clone(), cancel.clone());
    work.spawn(async move {
        let r = lab.node(&node, op, &sink, &cancel).await;
        let _ = tx.send(Done::NodeAction(node, op, r.map_err(|e| e.to_string())));
    });
}

/// Captures a link into `<lab>/captures/` until `stop` is set (w again, or quitting).
fn spawn_capture(
    lab: &LabHandle,
    index: usize,
    end: String,
    stop: Arc<AtomicBool>,
    done_tx: &UnboundedSender<Done>,
) {
    let (lab, tx) = (lab.clone(), done_tx.clone());
    tokio::task::spawn_blocking(move || {
        let started = |p: &std::path::Path| {
            let _ = tx.send(Done::CaptureStarted(index, p.display().to_string()));
        };
        let r = lab
            .capture_to_file(&end, None, &stop, &started)
            .map(|(n, p)| (n, p.display().to_string()))
            .map_err(|e| e.to_string());
        let _ = tx.send(Done::CaptureEnded(index, r));
    });
}
