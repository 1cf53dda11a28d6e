//! What the TUI shows, drawn into ratatui's TestBackend and snapshotted: the dashboard during a
//! boot, and console panes fed recorded byte streams (colours, cursor moves, wrapping, wide
//! characters, a resize). Also the keys the dashboard understands.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

#[path = "common/fabric.rs"]
mod fabric;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use vmlab::engine::api::BootStage;
use vmlab::engine::api::DirReport;
use vmlab::engine::api::export;
use vmlab::engine::api::{LabStatus, LinkCounters, LinkRow, NodeRow, RelayRow};
use vmlab::engine::api::{LinkState, NodeStatus};
use vmlab::engine::api::{Observation, Usage};
use vmlab::plan::{Accel, LinkTransport};
use vmlab::spec::LinkImpair;
use vmlab::spec::impair::Impairment;
use vmlab::term::session::SessionEvent;
use vmlab::tui::app::App;
use vmlab::tui::shared::{Action, Focus, TabKind};
use vmlab::tui::view;

fn node(name: &str, status: NodeStatus, stage: Option<BootStage>, up: Option<u64>) -> NodeRow {
    NodeRow {
        name: name.into(),
        platform: "sonic-vs".into(),
        status,
        stage,
        patch: None,
        pid: up.map(|_| 1000),
        ssh_port: 40000,
        console_port: Some(30000),
        host: "localhost".into(),
        uptime_secs: up,
        started: None,
        ready_at: None,
        waiting: None,
        boot_secs: (status == NodeStatus::Running).then_some(38.4),
        ssh_user: None,
        device_type: None,
        host_ip: None,
        vm: None,
        namespace: None,
    }
}

/// The demo spine-leaf's state as planned (the topology the observation draws).
fn demo_state() -> vmlab::engine::api::LabState {
    fabric::planned(&fabric::demo(), None)
}

/// A link row: the up one carries traffic through an impairment, the waiting one waits for
/// leaf2, the down one was set down.
fn link(
    index: usize,
    (a, a_guest): (&str, &str),
    (z, z_guest): (&str, &str),
    state: LinkState,
) -> LinkRow {
    let dir = |fps: f64, bps: f64| DirReport {
        frames: 1200,
        bytes: 96_000,
        frames_per_sec: fps,
        bits_per_sec: bps,
        ..DirReport::default()
    };
    LinkRow {
        index,
        a: a.into(),
        z: z.into(),
        a_guest: a_guest.into(),
        z_guest: z_guest.into(),
        transport: LinkTransport::Relay,
        state,
        waiting_for: if state == LinkState::Waiting {
            vec!["leaf2".into()]
        } else {
            Vec::new()
        },
        admin_up: state != LinkState::Down,
        impair: if index == 0 {
            LinkImpair {
                a_to_z: Impairment {
                    delay_us: 20_000,
                    ..Impairment::default()
                },
                z_to_a: Impairment {
                    delay_us: 20_000,
                    ..Impairment::default()
                },
            }
        } else {
            LinkImpair::default()
        },
        counters: (state == LinkState::Up).then(|| LinkCounters {
            a_to_z: dir(12.0, 96_000.0),
            z_to_a: dir(3.0, 1_500.0),
        }),
        peer: None,
    }
}

fn observation() -> Observation {
    let nodes = vec![
        node(
            "spine1",
            NodeStatus::Running,
            Some(BootStage::Ready),
            Some(40),
        ),
        node(
            "spine2",
            NodeStatus::Booting,
            Some(BootStage::ConsolePrompt),
            Some(30),
        ),
        node(
            "leaf1",
            NodeStatus::Booting,
            Some(BootStage::Booting),
            Some(6),
        ),
        node("leaf2", NodeStatus::Dead, None, None),
    ];
    let usage = HashMap::from([
        (
            "spine1".to_string(),
            Usage {
                cpu_percent: 12.4,
                rss_bytes: 300 << 20,
            },
        ),
        (
            "spine2".to_string(),
            Usage {
                cpu_percent: 97.0,
                rss_bytes: 280 << 20,
            },
        ),
        (
            "leaf1".to_string(),
            Usage {
                cpu_percent: 99.0,
                rss_bytes: 120 << 20,
            },
        ),
    ]);
    let expected = ["spine1", "spine2", "leaf1", "leaf2"]
        .iter()
        .map(|n| (n.to_string(), Duration::from_secs(60)))
        .collect();
    Observation {
        status: LabStatus {
            name: vmlab::spec::LabName::parse("fabric").unwrap(),
            lab_dir: PathBuf::from("/labs/fabric"),
            spec_dir: PathBuf::from("/specs"),
            accel: Accel::Tcg,
            // Far in the future: the header's age shows "-" and the snapshot stays stable.
            created: "2999-01-01T00:00:00Z".into(),
            ports_moved: None,
            nodes,
            links: vec![
                // The demo's first three links.
                link(
                    0,
                    ("spine1:Ethernet0", "eth1"),
                    ("leaf1:Ethernet0", "eth1"),
                    LinkState::Up,
                ),
                link(
                    1,
                    ("spine1:Ethernet4", "eth2"),
                    ("leaf2:Ethernet0", "eth1"),
                    LinkState::Waiting,
                ),
                link(
                    2,
                    ("spine2:Ethernet0", "eth1"),
                    ("leaf1:Ethernet1", "eth2"),
                    LinkState::Down,
                ),
            ],
            relay: Some(RelayRow {
                pid: Some(999),
                status: "running".into(),
                started: None,
            }),
            repair: Vec::new(),
        },
        usage,
        expected_boot: expected,
        snapshots: Vec::new(),
        interfaces: export::interface_map(&demo_state()),
        topology: std::sync::Arc::new(export::ascii(&demo_state(), &|n| {
            Some(
                match n {
                    "spine1" => "running",
                    "leaf2" => "dead",
                    _ => "booting",
                }
                .to_string(),
            )
        })),
        taken: Instant::now(),
    }
}

fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

/// The buffer as a terminal shows it: a wide character covers the cell after it.
fn text(b: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..b.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = b[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

fn app_with_lab() -> App {
    let mut app = App::new("fabric", false);
    app.screen = Rect::new(0, 0, 110, 30);
    app.observe(Ok(observation()));
    app
}

#[test]
fn dashboard_during_boot() {
    let mut app = app_with_lab();
    app.note("spine1: ready (38.0 s)", false);
    app.note("leaf2: FAILED: QEMU exited during boot", true);
    let b = render(&app, 110, 30);
    insta::assert_snapshot!(text(&b));
}

#[test]
fn help_overlay_lists_every_key() {
    let mut app = app_with_lab();
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Char('?'),
        KeyModifiers::NONE,
    )));
    let t = text(&render(&app, 110, 30));
    for b in vmlab::tui::keymap::BINDINGS {
        let key = b.keys;
        assert!(t.contains(key), "help lacks {key}:\n{t}");
    }
}

#[test]
fn dashboard_keys_select_open_and_switch() {
    let mut app = app_with_lab();
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    app.input(key(KeyCode::Char('j')));
    app.input(key(KeyCode::Down));
    assert_eq!(app.nodes.selected, 2);
    app.input(key(KeyCode::Char('k')));
    assert_eq!(app.nodes.selected, 1);
    let actions = app.input(key(KeyCode::Enter));
    assert!(
        matches!(&actions[0], Action::Connect { node, kind: TabKind::Console, .. } if node == "spine2")
    );
    assert_eq!(app.focus, Focus::Tab(0));
    // Every key but Ctrl-] goes to the guest, byte-exact.
    let sent = app.input(key(KeyCode::Char('q')));
    assert_eq!(
        sent,
        vec![Action::Send(app.tabs.list[0].session, b"q".to_vec())]
    );
    let sent = app.input(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE)));
    assert_eq!(
        sent,
        vec![Action::Send(app.tabs.list[0].session, b"\x1b[A".to_vec())]
    );
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Char(']'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(app.focus, Focus::Dashboard);
    let actions = app.input(key(KeyCode::Char('s')));
    assert!(matches!(
        &actions[0],
        Action::Connect {
            kind: TabKind::Ssh,
            ..
        }
    ));
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Char('5'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(
        app.focus,
        Focus::Dashboard,
        "Ctrl-] reported as Ctrl-5 detaches too"
    );
    app.input(key(KeyCode::Char('1')));
    assert_eq!(app.focus, Focus::Tab(0));
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Char(']'),
        KeyModifiers::CONTROL,
    )));
    let closed = app.input(key(KeyCode::Char('x')));
    assert!(matches!(closed[0], Action::Disconnect(_)));
    assert_eq!(app.tabs.list.len(), 1);
    // Destroy asks first.
    assert!(app.input(key(KeyCode::Char('D'))).is_empty());
    assert!(app.input(key(KeyCode::Char('n'))).is_empty());
    app.input(key(KeyCode::Char('D')));
    assert_eq!(app.input(key(KeyCode::Char('y'))), vec![Action::Destroy]);
    assert_eq!(app.input(key(KeyCode::Char('q'))), vec![Action::Quit]);
}

/// Opens a console tab on the first node and feeds it `stream`.
fn console_with(stream: &[u8], w: u16, h: u16) -> App {
    let mut app = app_with_lab();
    app.screen = Rect::new(0, 0, w, h);
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let id = app.tabs.list[0].session;
    app.session_event(id, SessionEvent::Output(stream.to_vec()));
    app
}

#[test]
fn console_pane_colours_cursor_and_wrap() {
    // A recorded boot tail: colours, bold, a cursor move, a long line that wraps, wide chars.
    let mut stream = Vec::new();
    stream.extend_from_slice(b"[  OK  ] \x1b[1;32mStarted\x1b[0m SONiC switch state service.\r\n");
    stream.extend_from_slice(b"\x1b[31mred\x1b[0m \x1b[7minverse\x1b[0m \x1b[4munder\x1b[0m\r\n");
    stream.extend_from_slice("wide: 网络 ok\r\n".as_bytes());
    stream.extend_from_slice(&[b'x'; 70]);
    stream.extend_from_slice(b"\r\nsonic login: \x1b[5;20Hmoved");
    let app = console_with(&stream, 60, 14);
    let b = render(&app, 60, 14);
    insta::assert_snapshot!(text(&b));
    // Colours and attributes reach the frame.
    let find = |needle: &str| -> (u16, u16) {
        for y in 0..b.area.height {
            let row: String = (0..b.area.width)
                .map(|x| b[(x, y)].symbol().to_string())
                .collect();
            if let Some(i) = row.find(needle) {
                return ((row[..i].chars().count()) as u16, y);
            }
        }
        panic!("{needle} not drawn");
    };
    let (x, y) = find("Started");
    assert_eq!(b[(x, y)].fg, Color::Indexed(2));
    assert!(b[(x, y)].modifier.contains(Modifier::BOLD));
    let (x, y) = find("red");
    assert_eq!(b[(x, y)].fg, Color::Indexed(1));
    let (x, y) = find("inverse");
    assert!(b[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn console_pane_follows_a_terminal_resize() {
    let mut app = console_with(b"prompt# ", 80, 20);
    assert_eq!(
        app.tabs.list[0].emu.size(),
        (15, 78),
        "20 rows less header, tab bar, footer and border"
    );
    let actions = app.input(Event::Resize(50, 12));
    assert_eq!(app.tabs.list[0].emu.size(), (7, 48));
    assert_eq!(
        actions,
        vec![Action::Resize(app.tabs.list[0].session, 7, 48)]
    );
    // A pane squeezed to nothing does not panic the emulator.
    app.input(Event::Resize(3, 3));
    let id = app.tabs.list[0].session;
    app.session_event(id, SessionEvent::Output(b"still alive\r\n".to_vec()));
    let b = render(&app, 3, 3);
    assert_eq!(b.area.width, 3);
    app.input(Event::Resize(50, 12));
    let t = text(&render(&app, 50, 12));
    insta::assert_snapshot!(t);
}

#[test]
fn console_answers_cursor_queries_through_the_session() {
    let mut app = console_with(b"", 80, 20);
    let id = app.tabs.list[0].session;
    let reply = app.session_event(id, SessionEvent::Output(b"# \x1b[6n".to_vec()));
    assert_eq!(reply, Some(b"\x1b[1;3R".to_vec()));
}

#[test]
fn link_keys_set_down_and_capture_the_selected_link() {
    let mut app = app_with_lab();
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    // t on the nodes table only says what to do.
    assert!(app.input(key(KeyCode::Char('t'))).is_empty());
    app.input(key(KeyCode::Right));
    assert_eq!(app.table, vmlab::tui::shared::Table::Links);
    app.input(key(KeyCode::Char('j')));
    app.input(key(KeyCode::Char('j')));
    app.input(key(KeyCode::Char('j')));
    assert_eq!(app.links.selected, 2, "stops at the last link");
    // Link 2 is down: t sets it up.
    let a = app.input(key(KeyCode::Char('t')));
    assert_eq!(
        a,
        vec![Action::Link {
            index: 2,
            end: "spine2:Ethernet0".into(),
            up: true
        }]
    );
    assert!(app.input(key(KeyCode::Char('t'))).is_empty(), "busy");
    let logged = app.log.len();
    app.link_done(2, Ok("link 2 is up".into()));
    app.engine_event(vmlab::engine::api::Event::LinkState {
        a: "spine2:Ethernet0".into(),
        z: "leaf1:Ethernet4".into(),
        state: vmlab::engine::api::LinkState::Up,
        waiting_for: Vec::new(),
    });
    assert_eq!(
        app.log.len(),
        logged + 1,
        "one t, one line (the state the monitor saw): {:?}",
        app.log
    );
    app.input(key(KeyCode::Char('g')));
    let a = app.input(key(KeyCode::Char('t')));
    assert_eq!(
        a,
        vec![Action::Link {
            index: 0,
            end: "spine1:Ethernet0".into(),
            up: false
        }]
    );
    let a = app.input(key(KeyCode::Char('w')));
    assert_eq!(
        a,
        vec![Action::StartCapture {
            index: 0,
            end: "spine1:Ethernet0".into()
        }]
    );
    app.capture_started(0, "/labs/fabric/captures/link0.pcap".into());
    assert_eq!(
        app.input(key(KeyCode::Char('w'))),
        vec![Action::StopCapture(0)]
    );
    app.capture_ended(0, Ok((10, "/labs/fabric/captures/link0.pcap".into())));
    assert!(app.links.captures.is_empty());
    assert!(app.log.iter().any(|l| {
        l.text
            .contains("captured 10 frames to /labs/fabric/captures/link0.pcap")
    }));
    // ← goes back to the nodes.
    app.input(key(KeyCode::Left));
    assert_eq!(app.table, vmlab::tui::shared::Table::Nodes);
}

#[test]
fn snapshot_keys_ask_then_take_or_restore() {
    let mut app = app_with_lab();
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    // No snapshots yet: L only says so.
    assert!(app.input(key(KeyCode::Char('L'))).is_empty());
    assert_eq!(app.overlay, vmlab::tui::shared::Overlay::None);
    // S asks first, with a name no snapshot has.
    let mut obs = observation();
    obs.snapshots = vec![("snap1".into(), "2026-11-25T10:00:00Z".into())];
    app.observe(Ok(obs));
    app.input(key(KeyCode::Char('S')));
    assert_eq!(
        app.overlay,
        vmlab::tui::shared::Overlay::ConfirmSnapshot("snap2".into())
    );
    let a = app.input(key(KeyCode::Char('y')));
    assert_eq!(a, vec![Action::Snapshot("snap2".into())]);
    assert!(app.snapshot_busy);
    app.snapshot_done(Ok("snapshot snap2 taken".into()));
    // L lists them; Enter on one asks; n cancels, y restores.
    let mut obs = observation();
    obs.snapshots = vec![
        ("snap1".into(), "2026-11-25T10:00:00Z".into()),
        ("snap2".into(), "2026-11-25T10:05:00Z".into()),
    ];
    app.observe(Ok(obs));
    app.input(key(KeyCode::Char('L')));
    app.input(key(KeyCode::Char('j')));
    app.input(key(KeyCode::Enter));
    assert_eq!(
        app.overlay,
        vmlab::tui::shared::Overlay::ConfirmRestore("snap2".into())
    );
    assert!(app.input(key(KeyCode::Char('n'))).is_empty());
    assert_eq!(app.overlay, vmlab::tui::shared::Overlay::None);
    app.input(key(KeyCode::Char('L')));
    app.input(key(KeyCode::Enter));
    let a = app.input(key(KeyCode::Char('y')));
    assert_eq!(a, vec![Action::Restore("snap1".into())]);
    // The overlay draws (a frame with the list, none with a panic).
    let mut t = Terminal::new(TestBackend::new(100, 30)).unwrap();
    app.snapshot_done(Ok("restored".into()));
    app.input(key(KeyCode::Char('L')));
    t.draw(|f| view::draw(f, &app)).unwrap();
    let screen = format!("{:?}", t.backend().buffer());
    assert!(screen.contains("snap2"), "the list shows the snapshots");
}

/// Every word of every key's description is on screen: nothing is cut, at 80 columns or 150.
#[test]
fn help_overlay_fits_its_text_at_80_columns_and_up() {
    for (w, h) in [(80, 40), (150, 40)] {
        let mut app = app_with_lab();
        app.screen = Rect::new(0, 0, w, h);
        app.input(Event::Key(KeyEvent::new(
            KeyCode::Char('?'),
            KeyModifiers::NONE,
        )));
        let t = text(&render(&app, w, h));
        let words: Vec<&str> = t.split_whitespace().collect();
        for b in vmlab::tui::keymap::BINDINGS {
            for word in b.does.split_whitespace() {
                assert!(
                    words.contains(&word),
                    "at {w} columns the help cuts {word:?} of {:?}:\n{t}",
                    b.does
                );
            }
        }
    }
}

#[test]
fn topology_view_draws_the_lab_with_live_states() {
    let mut app = app_with_lab();
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    app.input(key(KeyCode::Char('T')));
    assert_eq!(app.focus, Focus::Topology);
    let b = render(&app, 110, 30);
    let t = text(&b);
    insta::assert_snapshot!(t);
    // Each node's box is coloured by its state, the selected one (spine1) in reverse.
    let at = |needle: &str| -> (u16, u16) {
        for y in 0..b.area.height {
            let row: String = (0..b.area.width)
                .map(|x| b[(x, y)].symbol().to_string())
                .collect();
            if let Some(i) = row.find(needle) {
                return (row[..i].chars().count() as u16, y);
            }
        }
        panic!("{needle} not drawn:\n{t}");
    };
    let (x, y) = at("spine1");
    assert_eq!(b[(x, y)].fg, Color::Green);
    assert!(b[(x, y)].modifier.contains(Modifier::REVERSED));
    let (x, y) = at("leaf2");
    assert_eq!(b[(x, y)].fg, Color::Red);
    let (x, y) = at("spine2");
    assert_eq!(b[(x, y)].fg, Color::Yellow);
    // The dashboard's keys work here: select and open a console.
    app.input(key(KeyCode::Down));
    let a = app.input(key(KeyCode::Enter));
    assert!(
        matches!(&a[0], Action::Connect { node, kind: TabKind::Console, .. } if node == "spine2")
    );
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Char(']'),
        KeyModifiers::CONTROL,
    )));
    app.input(key(KeyCode::Char('T')));
    assert_eq!(app.focus, Focus::Topology);
    app.input(key(KeyCode::Char('T')));
    assert_eq!(app.focus, Focus::Dashboard);
}

#[test]
fn slash_filters_the_nodes() {
    let mut app = app_with_lab();
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    app.input(key(KeyCode::Char('j')));
    app.input(key(KeyCode::Char('j')));
    app.input(key(KeyCode::Char('j')));
    assert_eq!(app.nodes.selected, 3);
    app.input(key(KeyCode::Char('/')));
    for c in "LEAF".chars() {
        // Typed keys go to the filter, not to the key map (`L` would list snapshots).
        assert!(app.input(key(KeyCode::Char(c))).is_empty());
    }
    assert_eq!(app.node_names(), ["leaf1", "leaf2"]);
    assert_eq!(app.nodes.selected, 1, "the selection stays on a shown row");
    let t = text(&render(&app, 110, 30));
    assert!(t.contains("filter: LEAF"), "{t}");
    assert!(!t.contains("spine2 sonic"), "{t}");
    app.input(key(KeyCode::Enter));
    assert!(!app.nodes.filtering);
    app.input(key(KeyCode::Char('k')));
    let a = app.input(key(KeyCode::Enter));
    assert!(
        matches!(&a[0], Action::Connect { node, .. } if node == "leaf1"),
        "{a:?}"
    );
    app.input(Event::Key(KeyEvent::new(
        KeyCode::Char(']'),
        KeyModifiers::CONTROL,
    )));
    app.input(key(KeyCode::Char('/')));
    app.input(key(KeyCode::Esc));
    assert_eq!(app.node_names().len(), 4);
}

#[test]
fn no_color_draws_without_colour() {
    let mut app = app_with_lab();
    app.no_color = true;
    for focus in [Focus::Dashboard, Focus::Topology] {
        app.focus = focus;
        let b = render(&app, 110, 30);
        for cell in b.content() {
            assert_eq!(
                (cell.fg, cell.bg),
                (Color::Reset, Color::Reset),
                "{focus:?}: a coloured cell {cell:?}"
            );
        }
        // The selection still stands out.
        assert!(
            b.content()
                .iter()
                .any(|c| c.modifier.contains(Modifier::REVERSED))
        );
    }
}

/// The `/` filter filters the links table too: a link is shown when an end is on a node the
/// filter shows, and the selection moves among those links.
#[test]
fn slash_filters_the_links_too() {
    let mut app = app_with_lab();
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    let all: Vec<(usize, String, String)> = app
        .obs
        .as_ref()
        .expect("observed")
        .status
        .links
        .iter()
        .map(|l| (l.index, l.a.clone(), l.z.clone()))
        .collect();
    assert_eq!(app.shown_links().len(), all.len());
    let of_leaf1: Vec<usize> = all
        .iter()
        .filter(|(_, a, z)| a.starts_with("leaf1:") || z.starts_with("leaf1:"))
        .map(|(i, _, _)| *i)
        .collect();
    assert!(
        !of_leaf1.is_empty() && of_leaf1.len() < all.len(),
        "{all:?}"
    );
    app.input(key(KeyCode::Char('/')));
    for c in "leaf1".chars() {
        app.input(key(KeyCode::Char(c)));
    }
    app.input(key(KeyCode::Enter));
    let shown: Vec<usize> = app.shown_links().iter().map(|l| l.index).collect();
    assert_eq!(shown, of_leaf1, "the links of leaf1");
    let t = text(&render(&app, 110, 30));
    assert!(
        !t.contains("leaf2"),
        "leaf2 and its links are filtered out:\n{t}"
    );
    app.input(key(KeyCode::Char('/')));
    app.input(key(KeyCode::Esc));
    assert_eq!(app.shown_links().len(), all.len(), "the filter cleared");
}

#[test]
fn a_long_event_line_wraps_instead_of_being_cut() {
    let mut app = app_with_lab();
    let tail = "and this is the end of a rather long event line";
    app.note(format!("{} {tail}", "word ".repeat(30).trim_end()), false);
    let screen = text(&render(&app, 80, 30));
    assert!(
        screen.contains("end of a rather long event line"),
        "the line's end is on screen:\n{screen}"
    );
}

/// `V` runs the lab's checks: the panel opens at once and fills in as each check ends (the
/// engine's check events), the selected row's whole detail shows under the table, the run goes
/// on when the panel closes, and a run that cannot start says why.
#[test]
fn v_runs_the_checks_in_a_panel_that_fills_as_they_end() {
    use vmlab::engine::api::Event as EngineEvent;
    use vmlab::engine::api::{CheckResult, CheckVerdict};
    use vmlab::tui::shared::Overlay;
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    let result = |check: &str, on: &str, verdict, detail: &str| CheckResult {
        check: check.into(),
        on: on.into(),
        verdict,
        detail: detail.into(),
        attempts: 1,
        seconds: 0.4,
    };
    let mut app = app_with_lab();
    assert_eq!(app.input(key(KeyCode::Char('V'))), vec![Action::Validate]);
    assert_eq!(app.overlay, Overlay::Checks(0));
    let screen = text(&render(&app, 110, 30));
    assert!(screen.contains("0 pass · running…"), "{screen}");
    assert!(screen.contains("the first check runs…"), "{screen}");

    let ok = result("answers", "spine1", CheckVerdict::Pass, "");
    let bad = result(
        "bgp-up",
        "leaf2",
        CheckVerdict::Fail,
        "expected stdout to match \"Established\"; exit 0, stdout: Idle Idle Idle Idle Idle Idle \
         Idle Idle Idle Idle Idle Idle Idle Idle Idle Idle Idle the end",
    );
    app.engine_event(EngineEvent::Check(ok.clone()));
    app.engine_event(EngineEvent::Check(bad.clone()));
    let screen = text(&render(&app, 110, 30));
    assert!(screen.contains("1 pass · 1 FAIL · running…"), "{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("answers") && l.contains("spine1") && l.contains("pass")),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.contains("bgp-up") && l.contains("leaf2") && l.contains("FAIL")),
        "{screen}"
    );
    // The failure is red in the table, and logged as a problem.
    let b = render(&app, 110, 30);
    // The table's row (the title also says FAIL, uncoloured).
    let fail_cell = (0..30u16)
        .filter(|&y| {
            let row: String = (0..110u16)
                .map(|x| b[(x, y)].symbol().to_string())
                .collect();
            row.contains("bgp-up") && row.contains("leaf2")
        })
        .flat_map(|y| (0..108u16).map(move |x| (x, y)))
        .find(|&(x, y)| {
            b[(x, y)].symbol() == "F"
                && b[(x + 1, y)].symbol() == "A"
                && b[(x + 2, y)].symbol() == "I"
        })
        .expect("the failure's row is on screen");
    assert_eq!(b[fail_cell].fg, Color::Red);
    assert!(
        app.log
            .iter()
            .any(|l| l.error && l.text.contains("bgp-up: FAIL on leaf2"))
    );

    // ↓ selects the failure: its whole detail is shown under the table, wrapped.
    app.input(key(KeyCode::Char('j')));
    assert_eq!(app.overlay, Overlay::Checks(1));
    let screen = text(&render(&app, 110, 30));
    assert!(
        screen.contains("the end"),
        "the detail is shown whole: {screen}"
    );

    // Closing the panel does not stop the run; V shows it again without a second run.
    app.input(key(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.input(key(KeyCode::Char('V'))).is_empty());
    assert_eq!(app.overlay, Overlay::Checks(0));

    // The run ends: its list is the whole answer; the log says how it went.
    let also = result("ports-up", "leaf1", CheckVerdict::Pass, "");
    app.validate_done(Ok(vec![ok, bad, also]));
    assert!(!app.checks.running);
    let screen = text(&render(&app, 110, 30));
    assert!(screen.contains("2 pass · 1 FAIL · "), "{screen}");
    assert!(!screen.contains("running…"), "{screen}");
    assert!(screen.contains("ports-up"), "{screen}");
    assert!(
        app.log
            .iter()
            .any(|l| l.error && l.text.contains("checks: 2 of 3 pass")),
        "the summary is logged as a problem when a check failed"
    );
    // A check event from nobody's run changes nothing.
    app.engine_event(EngineEvent::Check(result("x", "y", CheckVerdict::Pass, "")));
    assert_eq!(app.checks.results.len(), 3);

    // V in the panel runs them again, from nothing; a run that cannot start says why.
    assert_eq!(app.input(key(KeyCode::Char('V'))), vec![Action::Validate]);
    assert!(app.checks.results.is_empty());
    app.validate_done(Err(
        "cannot read /labs/fabric/validate.json: No such file or directory; write the lab's \
         checks there"
            .into(),
    ));
    let screen = text(&render(&app, 110, 30));
    assert!(screen.contains("validate.json"), "{screen}");
    assert!(screen.contains("write the lab's"), "{screen}");

    // During a deploy, V waits for it.
    let mut deploying = App::new("fabric", true);
    assert!(deploying.input(key(KeyCode::Char('V'))).is_empty());
    assert_eq!(deploying.overlay, Overlay::None);
}

/// At 80 columns the link table cuts the ends in the middle and keeps their ports (every end
/// still tells its node and port, the port in SONiC's short form), shows that it cut them, and
/// writes rates in the CLI's units.
#[test]
fn at_80_columns_cut_link_ends_keep_their_port_and_say_so() {
    let mut app = app_with_lab();
    app.screen = Rect::new(0, 0, 80, 30);
    let t = text(&render(&app, 80, 30));
    let rows: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("up ") || l.contains("waiting") || l.contains("down "))
        .filter(|l| l.contains(":Eth"))
        .collect();
    assert!(!rows.is_empty(), "{t}");
    for port in ["Eth0", "Eth4"] {
        assert!(
            rows.iter().any(|r| r.contains(&format!(":{port} "))),
            "{port}: {t}"
        );
    }
    assert!(
        rows.iter().any(|r| r.contains('…')),
        "a cut end shows it: {t}"
    );
    assert!(t.contains("kbit/s"), "{t}");
    assert!(!t.contains("spine1:Eth "), "{t}");
}

#[test]
fn the_boot_column_says_which_boot_patch_a_node_is_at() {
    let mut app = app_with_lab();
    // From the state file (a TUI opened mid-boot)...
    let mut o = observation();
    o.status.nodes[1].stage = Some(BootStage::Patching);
    o.status.nodes[1].patch = Some([1, 3]);
    app.observe(Ok(o));
    let t = text(&render(&app, 110, 30));
    assert!(t.contains("patching 1/3"), "{t}");
    // ... and ahead of it, from the engine's events.
    app.engine_event(vmlab::engine::api::Event::NodePatch {
        node: "spine2".into(),
        index: 2,
        total: 3,
        description: "Fix empty port_config.ini".into(),
        elapsed: Duration::from_secs(31),
    });
    let t = text(&render(&app, 110, 30));
    assert!(t.contains("patching 2/3"), "{t}");
    assert!(
        t.contains("spine2: boot patch 2/3: Fix empty port_config.ini"),
        "{t}"
    );
}

/// The links table words each link as `vmlab links` does (one projection, `vmlab::present`):
/// its state, its rates, its impairments and the relay's line are the CLI's words.
#[test]
fn the_links_table_words_a_link_as_the_cli_does() {
    let mut app = app_with_lab();
    app.screen = Rect::new(0, 0, 170, 30);
    let t = text(&render(&app, 170, 30));
    let o = observation();
    assert!(!o.status.links.is_empty());
    for l in &o.status.links {
        let c = vmlab::present::link_cells(l);
        for word in [&c.state, &c.a_to_z_rate, &c.z_to_a_rate, &c.impairments] {
            assert!(
                t.contains(word.as_str()),
                "link {}: {word:?} in\n{t}",
                l.index
            );
        }
    }
    assert!(t.contains(&vmlab::present::relay_line(&o.status)), "{t}");
}
