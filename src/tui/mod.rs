//! `vmlab tui`: a live dashboard of a lab's nodes, links and boot progress, with tabs attached
//! to serial consoles and SSH sessions.
//!
//! One `select!` loop owns everything: terminal input, engine events (a deploy or a node
//! action running in-process), the engine's lab monitor, session output and action results.
//! [`app`] turns input into actions and news into state without I/O; [`view`] draws state;
//! this module carries actions out by spawning engine work, so update and draw never block.
//! The screen is redrawn when something changed and once a second for the clocks — an idle
//! dashboard costs next to no CPU. The terminal is restored on quit, on error and on panic.

pub mod app;
pub mod layout;
pub mod view;

use std::collections::HashMap;
use std::io::Stdout;
use std::path::PathBuf;
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
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::engine::deploy::{Prepared, deploy, prepare};
use crate::engine::events::EventSink;
use crate::engine::labs::{self, LabSelector};
use crate::engine::state::LabState;
use crate::engine::{EngineError, destroy, lifecycle, monitor, paths, ssh};
use crate::plan::Accel;
use crate::term::session::{Session, SessionEvent, SessionId};
use app::{Action, App, TabKind};

/// How `vmlab tui` finds its lab.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub selector: LabSelector,
    /// With a spec dir: the accelerator for a deploy (`None`: probe).
    pub accel: Option<Accel>,
}

/// Results of work the loop spawned.
enum Done {
    Connected(SessionId, Result<Session, String>),
    NodeAction(String, &'static str, Result<(), String>),
    Deployed(Result<(), String>),
    Destroyed(Result<(), String>),
}

/// Runs the TUI until the user quits.
pub async fn run(opts: TuiOptions) -> Result<i32, EngineError> {
    // Find the lab, or prepare a deploy of it (all validation happens before the screen
    // changes, so errors print normally).
    let mut deploy_plan = None;
    let (name, lab_dir) = match &opts.selector {
        LabSelector::SpecDir(dir) => {
            let lab = crate::spec::load(dir, paths::user_home().as_deref())?;
            match prepare(&lab, opts.accel, false, &|m| eprintln!("{m}")).await? {
                Prepared::AlreadyRunning(state) => (state.name.clone(), state.lab_dir.clone()),
                Prepared::Ready(plan) => {
                    let dir = plan.lab_dir.clone();
                    let name = plan.name.clone();
                    deploy_plan = Some(plan);
                    (name, dir)
                }
            }
        }
        other => labs::find(other, false)?,
    };

    let mut terminal =
        setup_terminal().map_err(|e| EngineError::io("cannot set up the terminal", e))?;
    let result = event_loop(&mut terminal, &name, lab_dir, deploy_plan).await;
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
    name: &str,
    lab_dir: PathBuf,
    deploy_plan: Option<Box<crate::plan::LabPlan>>,
) -> Result<i32, EngineError> {
    let mut app = App::new(name, deploy_plan.is_some());
    let size = terminal
        .size()
        .map_err(|e| EngineError::io("terminal size", e))?;
    app.screen = Rect::new(0, 0, size.width, size.height);

    let (engine_sink, mut engine_rx) = EventSink::channel();
    let (sess_tx, mut sess_rx) = unbounded_channel::<(SessionId, SessionEvent)>();
    let (done_tx, mut done_rx) = unbounded_channel::<Done>();
    let mut sessions: HashMap<SessionId, Session> = HashMap::new();
    let mut input = EventStream::new();
    let mut monitor = monitor::spawn(lab_dir.clone(), Duration::from_secs(1), engine_sink.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));

    if let Some(plan) = deploy_plan {
        app.note(format!("deploying {} nodes", plan.nodes.len()), false);
        let sink = engine_sink.clone();
        let tx = done_tx.clone();
        tokio::spawn(async move {
            let r = deploy(&plan, &sink)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            if r.is_err() {
                let _ = destroy::destroy(&plan.lab_dir, true).await;
            }
            let _ = tx.send(Done::Deployed(r));
        });
    }

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
                Done::NodeAction(node, what, r) => app.action_done(&node, what, r),
                Done::Deployed(r) => {
                    app.deploying = false;
                    match r {
                        Ok(()) => app.note("deploy finished: every node is ready", false),
                        Err(e) => app.note(format!("deploy failed (stopped what it started): {e}"), true),
                    }
                }
                Done::Destroyed(Ok(())) => {
                    app.quit = true;
                }
                Done::Destroyed(Err(e)) => app.note(format!("destroy failed: {e}"), true),
            },
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
                    connect(
                        &lab_dir, session, &node, kind, rows, cols, &sess_tx, &done_tx,
                    );
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
                Action::Start(node) => {
                    spawn_node_action(&lab_dir, node, "start", &engine_sink, &done_tx)
                }
                Action::Stop(node) => {
                    spawn_node_action(&lab_dir, node, "stop", &engine_sink, &done_tx)
                }
                Action::Restart(node) => {
                    spawn_node_action(&lab_dir, node, "restart", &engine_sink, &done_tx)
                }
                Action::Destroy => {
                    let dir = lab_dir.clone();
                    let tx = done_tx.clone();
                    // The monitor would only report a missing lab from now on.
                    monitor = tokio::sync::mpsc::channel(1).1;
                    tokio::spawn(async move {
                        let r = destroy::destroy(&dir, true)
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
    if app.deploying {
        // Quitting in the middle of a deploy stops what it started, as Ctrl-C does in `deploy`.
        let _ = destroy::destroy(&lab_dir, true).await;
    }
    Ok(0)
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
    lab_dir: &std::path::Path,
    id: SessionId,
    node: &str,
    kind: TabKind,
    rows: u16,
    cols: u16,
    sess_tx: &UnboundedSender<(SessionId, SessionEvent)>,
    done_tx: &UnboundedSender<Done>,
) {
    let (lab_dir, node, sess_tx, done_tx) = (
        lab_dir.to_path_buf(),
        node.to_string(),
        sess_tx.clone(),
        done_tx.clone(),
    );
    tokio::spawn(async move {
        let r = async {
            let state = LabState::load(&lab_dir).map_err(|e| e.to_string())?;
            match kind {
                TabKind::Console => {
                    let port = state.nodes.get(&node).ok_or("no such node")?.console_port;
                    Session::console(id, port, sess_tx)
                        .await
                        .map_err(|e| e.to_string())
                }
                TabKind::Ssh => {
                    let me = std::env::current_exe().map_err(|e| e.to_string())?;
                    let cmd =
                        ssh::ssh_command(&state, &node, &[], &me).map_err(|e| e.to_string())?;
                    Session::pty(id, &cmd, rows, cols, sess_tx).map_err(|e| e.to_string())
                }
            }
        }
        .await;
        let _ = done_tx.send(Done::Connected(id, r));
    });
}

fn spawn_node_action(
    lab_dir: &std::path::Path,
    node: String,
    what: &'static str,
    sink: &EventSink,
    done_tx: &UnboundedSender<Done>,
) {
    let (dir, sink, tx) = (lab_dir.to_path_buf(), sink.clone(), done_tx.clone());
    tokio::spawn(async move {
        let r = match what {
            "start" => lifecycle::start_node(&dir, &node, &sink).await,
            "stop" => lifecycle::stop_node(&dir, &node, &sink).await,
            _ => lifecycle::restart_node(&dir, &node, &sink).await,
        };
        let _ = tx.send(Done::NodeAction(node, what, r.map_err(|e| e.to_string())));
    });
}
