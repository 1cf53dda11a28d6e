//! TUI speed: console throughput (loopback socket → vt100 → a rendered frame), dashboard frame
//! time for a 200-node, 400-link lab, and the keystroke path of a console tab. Targets and
//! results: BENCHMARKS.md.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

#[path = "../tests/common/fabric.rs"]
mod fabric;

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use vmlab::engine::api::BootStage;
use vmlab::engine::api::{LabStatus, LinkRow, NodeRow};
use vmlab::engine::api::{LinkState, NodeStatus};
use vmlab::engine::api::{Observation, Usage};
use vmlab::plan::Accel;
use vmlab::term::screen::Emulator;
use vmlab::term::session::SessionEvent;
use vmlab::tui::app::App;
use vmlab::tui::shared::Action;
use vmlab::tui::view;

/// A 10 MB console stream like a busy boot: coloured status lines, plain log lines, cursor
/// movement and wrapping.
fn recorded_stream() -> Vec<u8> {
    let mut s = Vec::with_capacity(10 << 20);
    let mut i = 0u64;
    while s.len() < 10 << 20 {
        match i % 4 {
            0 => s.extend_from_slice(format!("[  \x1b[32mOK\x1b[0m  ] Started service number {i}.\r\n").as_bytes()),
            1 => s.extend_from_slice(format!("[{:>5}.{:06}] kernel: eth{}: link becomes ready\r\n", i / 1000, i % 1000000, i % 8).as_bytes()),
            2 => s.extend_from_slice(format!("\x1b[1;33mwarning\x1b[0m: a long line that wraps past the edge of an eighty column pane {}\r\n", "-".repeat(60)).as_bytes()),
            _ => s.extend_from_slice(b"\x1b[2K\rprogress \x1b[7m####\x1b[0m\r\n"),
        }
        i += 1;
    }
    s
}

fn console_throughput(c: &mut Criterion) {
    let stream = recorded_stream();
    let mut g = c.benchmark_group("console");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.sample_size(10);
    g.bench_function("10 MB socket → vt100 → frame", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let data = stream.clone();
                let writer = std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(&data).unwrap();
                });
                let (mut sock, _) = listener.accept().unwrap();
                let mut app = App::new("bench", false);
                app.screen = Rect::new(0, 0, 100, 40);
                app.observe(Ok(observation(1, 0)));
                app.input(Event::Key(KeyEvent::new(
                    KeyCode::Enter,
                    KeyModifiers::NONE,
                )));
                let id = app.tabs.list[0].session;
                let mut term = Terminal::new(TestBackend::new(100, 40)).unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                let t0 = Instant::now();
                let mut since_frame = 0usize;
                loop {
                    let n = sock.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    app.session_event(id, SessionEvent::Output(buf[..n].to_vec()));
                    since_frame += n;
                    // The UI drains what is queued, then draws: one frame per ~1 MB here.
                    if since_frame >= 1 << 20 {
                        term.draw(|f| view::draw(f, &app)).unwrap();
                        since_frame = 0;
                    }
                }
                term.draw(|f| view::draw(f, &app)).unwrap();
                total += t0.elapsed();
                writer.join().unwrap();
            }
            total
        })
    });
    g.finish();
}

fn observation(nodes: usize, links: usize) -> Observation {
    let stages = [
        BootStage::Launched,
        BootStage::Booting,
        BootStage::ConsolePrompt,
        BootStage::Ready,
    ];
    let nodes: Vec<NodeRow> = (0..nodes)
        .map(|i| NodeRow {
            name: format!("node{i}"),
            platform: "sonic-vs".into(),
            status: if i % 4 == 3 {
                NodeStatus::Running
            } else {
                NodeStatus::Booting
            },
            stage: Some(stages[i % 4]),
            patch: None,
            pid: Some(1000 + i as i32),
            ssh_port: 40000 + i as u16,
            console_port: Some(30000 + i as u16),
            host: "localhost".into(),
            uptime_secs: Some(i as u64),
            started: None,
            ready_at: None,
            waiting: None,
            boot_secs: None,
            ssh_user: None,
            device_type: None,
            host_ip: None,
            vm: None,
            namespace: None,
        })
        .collect();
    let usage: HashMap<String, Usage> = nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                Usage {
                    cpu_percent: 50.0,
                    rss_bytes: 256 << 20,
                },
            )
        })
        .collect();
    let expected = nodes
        .iter()
        .map(|n| (n.name.clone(), Duration::from_secs(120)))
        .collect();
    let links = (0..links)
        .map(|k| LinkRow {
            index: k,
            a: format!(
                "node{}:Ethernet{}",
                k % nodes.len().max(1),
                4 * (k / nodes.len().max(1))
            ),
            z: format!("node{}:Ethernet8", (k + 1) % nodes.len().max(1)),
            a_guest: "eth1".into(),
            z_guest: "eth3".into(),
            transport: vmlab::plan::LinkTransport::Relay,
            state: LinkState::Up,
            waiting_for: Vec::new(),
            admin_up: true,
            impair: Default::default(),
            counters: Some(vmlab::engine::api::LinkCounters {
                a_to_z: Default::default(),
                z_to_a: Default::default(),
            }),
            peer: None,
        })
        .collect();
    Observation {
        status: LabStatus {
            name: vmlab::spec::LabName::parse("bench").unwrap(),
            lab_dir: PathBuf::from("/labs/bench"),
            spec_dir: PathBuf::from("/specs"),
            accel: Accel::Tcg,
            created: "2026-01-01T00:00:00Z".into(),
            ports_moved: None,
            nodes,
            links,
            relay: None,
            repair: Vec::new(),
        },
        usage,
        expected_boot: expected,
        snapshots: Vec::new(),
        interfaces: HashMap::new(),
        topology: Default::default(),
        taken: Instant::now(),
    }
}

fn dashboard_frame(c: &mut Criterion) {
    let mut app = App::new("bench", false);
    app.screen = Rect::new(0, 0, 200, 60);
    app.observe(Ok(observation(200, 400)));
    for i in 0..200 {
        app.note(format!("node{i}: booting"), false);
    }
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("dashboard frame, 200 nodes 400 links (200x60)", |b| {
        b.iter(|| {
            term.draw(|f| view::draw(f, black_box(&app))).unwrap();
        })
    });
}

fn keystroke(c: &mut Criterion) {
    let mut app = App::new("bench", false);
    app.screen = Rect::new(0, 0, 120, 40);
    app.observe(Ok(observation(4, 4)));
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let id = app.tabs.list[0].session;
    app.session_event(
        id,
        SessionEvent::Output(recorded_stream()[..64 * 1024].to_vec()),
    );
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    c.bench_function(
        "keystroke → bytes out, echo in → frame (console tab)",
        |b| {
            b.iter(|| {
                let out = app.input(Event::Key(KeyEvent::new(
                    KeyCode::Char('a'),
                    KeyModifiers::NONE,
                )));
                let Some(Action::Send(_, bytes)) = out.first() else {
                    panic!("no bytes sent")
                };
                // The guest's echo comes back; the UI feeds it and draws.
                app.session_event(id, SessionEvent::Output(bytes.clone()));
                term.draw(|f| view::draw(f, &app)).unwrap();
            })
        },
    );
    // Keep the emulator honest in the bench: it must hold what was typed.
    let e: &Emulator = &app.tabs.list[0].emu;
    assert!(e.screen().contents().contains('a'));
}

/// A 200-node spine-leaf (16 spines, 184 leaves, each leaf on two spines: 368 links, 23 per
/// spine: the most NICs a VM takes) as a deployed lab's state.
fn fabric_state() -> vmlab::engine::api::LabState {
    fabric::planned(&fabric::spine_leaf("fabric", 16, 184), None)
}

/// The topology the monitor draws every second, and one frame of the topology view.
fn topology(c: &mut Criterion) {
    use vmlab::engine::api::export;
    let state = fabric_state();
    assert_eq!((state.nodes.len(), state.links.len()), (200, 368));
    let status = |_: &str| Some("running".to_string());
    c.bench_function(
        "topology drawing, 200 nodes 368 links (export::ascii)",
        |b| b.iter(|| export::ascii(black_box(&state), &status)),
    );
    let mut obs = observation(0, 0);
    obs.topology = std::sync::Arc::new(export::ascii(&state, &status));
    obs.interfaces = export::interface_map(&state);
    let d = &obs.topology;
    eprintln!(
        "topology drawing: {} columns x {} rows",
        d.rows.first().map_or(0, Vec::len),
        d.rows.len()
    );
    let mut app = App::new("bench", false);
    app.screen = Rect::new(0, 0, 200, 60);
    app.observe(Ok(obs));
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Char('T'),
        KeyModifiers::NONE,
    )));
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("topology view frame, 200 nodes 368 links (200x60)", |b| {
        b.iter(|| {
            term.draw(|f| view::draw(f, black_box(&app))).unwrap();
        })
    });
}

criterion_group!(
    benches,
    console_throughput,
    dashboard_frame,
    keystroke,
    topology
);
criterion_main!(benches);
