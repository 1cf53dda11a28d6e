//! The TUI's engine work: it carries out the actions [`App`] asks for — sessions to consoles
//! and SSH, node operations, link changes, captures, snapshots and restores, validation,
//! destroy, the deploy — by spawning engine calls, owns what they leave running (sessions,
//! capture stop flags, the deploy's task, the cancellation they share), and hands their
//! results back to the app. The event loop only routes between it, the app and the screen.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::app::App;
use super::shared::{Action, TabKind};
use crate::engine::api::{
    self, CheckResult, ConsoleAccess, Deployment, EngineError, EventSink, LabHandle, LinkChange,
    NodeOp,
};
use crate::term::session::{Session, SessionEvent, SessionId};

/// Results of work the loop spawned.
pub(super) enum Done {
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

/// Draws the screen now (a note said while the loop waits).
pub(super) type Redraw<'a> = dyn FnMut(&App) -> Result<(), EngineError> + 'a;

pub(super) struct Work {
    lab: LabHandle,
    /// Engine events of the work (progress, warnings), to the app.
    events: EventSink,
    sess_tx: UnboundedSender<(SessionId, SessionEvent)>,
    done_tx: UnboundedSender<Done>,
    sessions: HashMap<SessionId, Session>,
    /// Running captures' stop flags, by link index.
    captures: HashMap<usize, Arc<AtomicBool>>,
    /// Node operations, snapshots, restores and checks: quitting waits for them.
    tasks: JoinSet<()>,
    /// The deploy, while it runs; quitting or destroying cancels it and waits for it.
    deploy: Option<JoinHandle<()>>,
    /// Shared by the deploy and every task: quitting cancels them and waits until each has
    /// undone or finished what it began (a paused lab runs again).
    cancel: CancellationToken,
}

impl Work {
    pub(super) fn new(
        lab: LabHandle,
        events: EventSink,
        sess_tx: UnboundedSender<(SessionId, SessionEvent)>,
        done_tx: UnboundedSender<Done>,
    ) -> Self {
        Work {
            lab,
            events,
            sess_tx,
            done_tx,
            sessions: HashMap::new(),
            captures: HashMap::new(),
            tasks: JoinSet::new(),
            deploy: None,
            cancel: CancellationToken::new(),
        }
    }

    /// Runs the deploy the TUI was opened for.
    pub(super) fn deploy(&mut self, app: &mut App, d: Box<Deployment>) {
        app.note(
            format!("deploying {}", api::count(d.plan().nodes.len(), "node")),
            false,
        );
        let (sink, tx, cancel) = (
            self.events.clone(),
            self.done_tx.clone(),
            self.cancel.clone(),
        );
        self.deploy = Some(tokio::spawn(async move {
            let r = d
                .run(&sink, &cancel)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = tx.send(Done::Deployed(r));
        }));
    }

    pub(super) fn deploying(&self) -> bool {
        self.deploy.is_some()
    }

    pub(super) fn running(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// The next finished task (its result came through `Done` already).
    pub(super) async fn reap(&mut self) -> Option<()> {
        self.tasks.join_next().await.map(|_| ())
    }

    /// Session output goes through the tab's emulator; terminal replies go back to the guest.
    pub(super) fn feed(&self, app: &mut App, id: SessionId, ev: SessionEvent) {
        if let Some(reply) = app.session_event(id, ev)
            && let Some(s) = self.sessions.get(&id)
        {
            s.send(reply);
        }
    }

    /// A result of spawned work, to the app (and what it leaves to keep: a session, or a
    /// capture that ended).
    pub(super) fn done(&mut self, app: &mut App, done: Done) {
        match done {
            Done::Connected(id, Ok(s)) => {
                // A tab closed or reconnected meanwhile drops the session.
                if app.tabs.list.iter().any(|t| t.session == id) {
                    self.sessions.insert(id, s);
                    app.connected(id, Ok(()));
                }
            }
            Done::Connected(id, Err(e)) => app.connected(id, Err(e)),
            Done::NodeAction(node, op, r) => app.action_done(&node, op, r),
            Done::Deployed(r) => {
                app.deploying = false;
                self.deploy = None;
                match r {
                    Ok(()) => app.note("deploy finished: every node is ready", false),
                    Err(e) => app.note(
                        format!("deploy failed (stopped what it started): {e}"),
                        true,
                    ),
                }
            }
            Done::Destroyed(Ok(())) => app.quit = true,
            Done::Destroyed(Err(e)) => app.note(format!("destroy failed: {e}"), true),
            Done::LinkChanged(index, r) => app.link_done(index, r),
            Done::SnapshotFinished(r) => app.snapshot_done(r),
            Done::Validated(r) => app.validate_done(r),
            Done::CaptureStarted(index, path) => app.capture_started(index, path),
            Done::CaptureEnded(index, r) => {
                self.captures.remove(&index);
                app.capture_ended(index, r);
            }
        }
    }

    /// Carries out one action of the app's.
    pub(super) fn act(&mut self, app: &mut App, a: Action) {
        match a {
            Action::Quit => app.quit = true,
            Action::Connect {
                session,
                node,
                kind,
                rows,
                cols,
            } => self.connect(session, node, kind, rows, cols),
            Action::Disconnect(id) => {
                self.sessions.remove(&id);
            }
            Action::Send(id, bytes) => {
                if let Some(s) = self.sessions.get(&id) {
                    s.send(bytes);
                }
            }
            Action::Resize(id, rows, cols) => {
                if let Some(s) = self.sessions.get(&id) {
                    s.resize(rows, cols);
                }
            }
            Action::Node(op, node) => self.node(node, op),
            Action::Link { index, end, up } => self.link(index, end, up),
            Action::StartCapture { index, end } => self.capture(index, end),
            Action::StopCapture(index) => {
                if let Some(stop) = self.captures.get(&index) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Action::Snapshot(name) => self.snapshot(name),
            Action::Restore(name) => self.restore(name),
            Action::Validate => self.validate(),
            Action::Destroy => self.destroy(),
        }
    }

    fn connect(&self, id: SessionId, node: String, kind: TabKind, rows: u16, cols: u16) {
        let (lab, sess_tx, done_tx) =
            (self.lab.clone(), self.sess_tx.clone(), self.done_tx.clone());
        tokio::spawn(async move {
            let r = async {
                match kind {
                    TabKind::Console => {
                        match lab.console(&node).await.map_err(|e| e.to_string())? {
                            // A node on another host: its console, through that host's vmlab.
                            ConsoleAccess::Remote(cmd) => {
                                Session::pty(id, &cmd, rows, cols, sess_tx)
                                    .map_err(|e| e.to_string())
                            }
                            ConsoleAccess::Local(c) => Ok(Session::console(id, c, sess_tx)),
                        }
                    }
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

    fn node(&mut self, node: String, op: NodeOp) {
        let (lab, sink, tx, cancel) = self.parts();
        self.tasks.spawn(async move {
            let r = lab.node(&node, op, &sink, &cancel).await;
            let _ = tx.send(Done::NodeAction(node, op, r.map_err(|e| e.to_string())));
        });
    }

    fn link(&self, index: usize, end: String, up: bool) {
        let (lab, tx) = (self.lab.clone(), self.done_tx.clone());
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

    /// Captures a link into `<lab>/captures/` until its flag is set (w again, or quitting).
    fn capture(&mut self, index: usize, end: String) {
        let stop = Arc::new(AtomicBool::new(false));
        self.captures.insert(index, stop.clone());
        let (lab, tx) = (self.lab.clone(), self.done_tx.clone());
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

    fn snapshot(&mut self, name: String) {
        let (lab, sink, tx, cancel) = self.parts();
        self.tasks.spawn(async move {
            let r = lab
                .snapshot(&name, &sink, &cancel)
                .await
                .map(|s| format!("snapshot {} taken ({:.2} s paused)", s.name, s.paused_secs))
                .map_err(|e| format!("snapshot {name} failed: {e}"));
            let _ = tx.send(Done::SnapshotFinished(r));
        });
    }

    fn restore(&mut self, name: String) {
        let (lab, sink, tx, cancel) = self.parts();
        self.tasks.spawn(async move {
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

    fn validate(&mut self) {
        let (lab, sink, tx, cancel) = self.parts();
        self.tasks.spawn(async move {
            // A check may wait for minutes; quitting does not wait for it (its SSH commands
            // are killed with the future).
            let r = tokio::select! {
                r = lab.validate(None, None, &sink) => r.map_err(|e| e.to_string()),
                _ = cancel.cancelled() => Err("cancelled".to_string()),
            };
            let _ = tx.send(Done::Validated(r));
        });
    }

    fn destroy(&self) {
        let (lab, tx) = (self.lab.clone(), self.done_tx.clone());
        tokio::spawn(async move {
            let r = lab
                .destroy(true, &EventSink::none())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = tx.send(Done::Destroyed(r));
        });
    }

    /// What a spawned engine call takes along: the lab, the event sink, the way back, the
    /// shared cancellation.
    fn parts(
        &self,
    ) -> (
        LabHandle,
        EventSink,
        UnboundedSender<Done>,
        CancellationToken,
    ) {
        (
            self.lab.clone(),
            self.events.clone(),
            self.done_tx.clone(),
            self.cancel.clone(),
        )
    }

    /// Cancels the running deploy and waits until it has stopped what it started.
    pub(super) async fn cancel_deploy(
        &mut self,
        app: &mut App,
        redraw: &mut Redraw<'_>,
    ) -> Result<(), EngineError> {
        if let Some(task) = self.deploy.take() {
            app.note("cancelling the deploy; it stops what it started", false);
            redraw(app)?;
            self.cancel.cancel();
            let _ = task.await;
        }
        Ok(())
    }

    /// On quit: captures stop, and a deploy or tasks still running are cancelled and waited
    /// for (as Ctrl-C does in `deploy`), each step said on screen.
    pub(super) async fn finish(
        mut self,
        app: &mut App,
        redraw: &mut Redraw<'_>,
    ) -> Result<(), EngineError> {
        for stop in self.captures.values() {
            stop.store(true, Ordering::Relaxed);
        }
        self.cancel_deploy(app, redraw).await?;
        if !self.tasks.is_empty() {
            app.note("cancelling what runs; it stops what it started", false);
            redraw(app)?;
            self.cancel.cancel();
            while self.tasks.join_next().await.is_some() {}
        }
        Ok(())
    }
}
