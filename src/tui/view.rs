//! Drawing: a pure function of the [`App`] state (and the clock) onto a ratatui frame.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};
use tui_term::widget::PseudoTerminal;

use super::app::{App, Focus, Overlay, TabState, Table as Pick};
use super::keymap;
use super::layout::Areas;
use crate::engine::api::{BootStage, LinkState, NodeRow, NodeStatus, Owner};

const ACCENT: Color = Color::Cyan;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let areas = Areas::of(f.area());
    header(f, app, areas.header);
    tab_bar(f, app, areas.tab_bar);
    match app.focus {
        Focus::Dashboard => {
            nodes(f, app, areas.nodes);
            links(f, app, areas.links);
            log(f, app, areas.log);
        }
        Focus::Topology => topology(f, app, areas.pane),
        Focus::Tab(i) => pane(f, app, i, areas.pane),
    }
    footer(f, app, areas.footer);
    match app.overlay.clone() {
        Overlay::None => {}
        Overlay::Help => help(f, f.area()),
        Overlay::ConfirmDestroy => confirm(f, app, f.area()),
        Overlay::ConfirmSnapshot(name) => ask(
            f,
            " snapshot ",
            &format!(
                "Take a live snapshot {name} of lab {}? Every VM pauses for a moment, then runs \
                 on.\n\n  y: take it    any other key: cancel",
                app.lab
            ),
            Color::Yellow,
        ),
        Overlay::ConfirmRestore(name) => ask(
            f,
            " restore ",
            &format!(
                "Restore lab {} to snapshot {name}? Every VM goes back to that moment; what \
                 changed since is lost.\n\n  y: restore    any other key: cancel",
                app.lab
            ),
            Color::Red,
        ),
        Overlay::Snapshots(i) => snapshots(f, app, i),
    }
    if app.no_color {
        strip_colour(f);
    }
}

/// `NO_COLOR`: every colour goes; what stood out by its background (the selection, the
/// active tab) stands out in reverse video instead.
fn strip_colour(f: &mut Frame) {
    let buf = f.buffer_mut();
    let area = buf.area;
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if let Some(cell) = buf.cell_mut((x, y)) {
                if cell.bg != Color::Reset {
                    cell.modifier.insert(Modifier::REVERSED);
                }
                cell.fg = Color::Reset;
                cell.bg = Color::Reset;
            }
        }
    }
}

fn header(f: &mut Frame, app: &App, area: Rect) {
    let (ready, total, accel, age) = match &app.obs {
        Some(o) => {
            let ready = o
                .status
                .nodes
                .iter()
                .filter(|n| n.status == NodeStatus::Running)
                .count();
            let age = humantime::parse_rfc3339(&o.status.created)
                .ok()
                .and_then(|c| SystemTime::now().duration_since(c).ok());
            (ready, o.status.nodes.len(), o.status.accel.to_string(), age)
        }
        None => (0, 0, "-".into(), None),
    };
    let mut spans = vec![
        Span::styled(
            " vmlab ",
            Style::default()
                .fg(Color::Black)
                .bg(ACCENT)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" lab {} ", app.lab)),
        Span::styled(
            format!(" ready {ready}/{total} "),
            Style::default().fg(if total > 0 && ready == total {
                Color::Green
            } else {
                Color::Yellow
            }),
        ),
        Span::raw(format!(" {accel} ")),
        Span::raw(format!(
            " up {} ",
            age.map(clock).unwrap_or_else(|| "-".into())
        )),
    ];
    if app.deploying {
        spans.push(Span::styled(
            " deploying ",
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(e) = &app.obs_error {
        spans.push(Span::styled(
            format!(" {e} "),
            Style::default().fg(Color::Red),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn tab_bar(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (k, title) in app.tab_titles().into_iter().enumerate() {
        let active = match app.focus {
            Focus::Dashboard => k == 0,
            Focus::Topology => k == 1,
            Focus::Tab(i) => k == i + 2,
        };
        let closed = k > 1
            && matches!(
                app.tabs.get(k - 2).map(|t| &t.state),
                Some(TabState::Closed(_))
            );
        let style = if active {
            Style::default()
                .fg(Color::Black)
                .bg(ACCENT)
                .add_modifier(Modifier::BOLD)
        } else if closed {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {title} "), style));
        spans.push(Span::raw("│"));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A text gauge `width` cells wide.
pub fn gauge(frac: f64, width: usize) -> String {
    let frac = frac.clamp(0.0, 1.0);
    let full = (frac * width as f64).round() as usize;
    format!(
        "{}{}",
        "█".repeat(full),
        "░".repeat(width - full.min(width))
    )
}

/// A node's state word and its colour.
fn node_state(app: &App, n: &NodeRow) -> (String, Color) {
    match (app.busy.get(&n.name), n.status) {
        (Some(op), _) => (format!("{}…", op.doing()), Color::Yellow),
        (None, NodeStatus::Running) => ("running".into(), Color::Green),
        (None, NodeStatus::Booting) => ("booting".into(), Color::Yellow),
        (None, NodeStatus::Paused) => ("paused".into(), Color::Magenta),
        (None, NodeStatus::Dead | NodeStatus::Failed) => (n.status.label().into(), Color::Red),
        (None, s) => (s.label().into(), Color::DarkGray),
    }
}

/// The nodes table: what matters first (state, boot, the interface map); ports and usage in
/// fixed narrow columns; the host column only in a multi-host lab.
fn nodes(f: &mut Frame, app: &App, area: Rect) {
    let multi_host = app.obs.as_ref().is_some_and(|o| {
        o.status
            .nodes
            .iter()
            .any(|n| n.host != o.status.nodes[0].host)
    });
    let mut head = vec!["NODE", "PLATFORM"];
    if multi_host {
        head.push("HOST");
    }
    // Narrow screens give the ports' room to the interface map (`vmlab status` and
    // ssh_config have the ports).
    let ports = area.width >= 110;
    head.extend(["STATE", "BOOT", "UP"]);
    if ports {
        head.extend(["SSH", "CONSOLE"]);
    }
    head.extend(["CPU", "MEM", "INTERFACES (spec=guest)"]);
    let header = Row::new(head).style(Style::default().add_modifier(Modifier::BOLD));
    let mut rows = Vec::new();
    let mut shown = 0;
    let mut total = 0;
    if let Some(o) = &app.obs {
        total = o.status.nodes.len();
        for n in o.status.nodes.iter().filter(|n| app.shown(n)) {
            shown += 1;
            let stage = app.stages.get(&n.name).copied().or(n.stage);
            let (state, color) = node_state(app, n);
            let boot = match (n.status, stage) {
                (NodeStatus::Running, _) | (_, Some(BootStage::Ready)) => match n.boot_secs {
                    Some(s) => format!("ready in {}", clock(Duration::from_secs_f64(s))),
                    None => "ready".into(),
                },
                (NodeStatus::Booting, stage) => {
                    let expected = o
                        .expected_boot
                        .get(&n.name)
                        .copied()
                        .unwrap_or(Duration::from_secs(180));
                    let elapsed = n.uptime_secs.unwrap_or(0) as f64;
                    let frac = (elapsed / expected.as_secs_f64().max(1.0)).min(0.99);
                    format!(
                        "{} {}",
                        gauge(frac, 6),
                        stage.map(|s| s.label()).unwrap_or("launching")
                    )
                }
                (NodeStatus::Pending, _) => n.waiting.clone().unwrap_or_else(|| "-".into()),
                _ => "-".into(),
            };
            let usage = o.usage.get(&n.name);
            let ifaces = o
                .interfaces
                .get(&n.name)
                .map(|v| {
                    v.iter()
                        .map(|(spec, guest)| format!("{spec}={guest}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let mut cells = vec![Cell::from(n.name.clone()), Cell::from(n.platform.clone())];
            if multi_host {
                cells.push(Cell::from(n.host.clone()));
            }
            cells.extend([
                Cell::from(Span::styled(state, Style::default().fg(color))),
                Cell::from(boot),
                Cell::from(
                    n.uptime_secs
                        .map(|s| clock(Duration::from_secs(s)))
                        .unwrap_or_else(|| "-".into()),
                ),
            ]);
            if ports {
                cells.extend([
                    Cell::from(n.ssh_port.to_string()),
                    Cell::from(
                        n.console_port
                            .map_or_else(|| "unix".into(), |p| p.to_string()),
                    ),
                ]);
            }
            cells.extend([
                Cell::from(
                    usage
                        .map(|u| format!("{:.0}%", u.cpu_percent))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(
                    usage
                        .map(|u| mib(u.rss_bytes))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(ifaces),
            ]);
            rows.push(Row::new(cells));
        }
    }
    // A column as wide as its longest value, within [min, max]; 8 before the first status.
    let widest = |field: fn(&NodeRow) -> &str, min: usize, max: usize| {
        app.obs.as_ref().map_or(8, |o| {
            let longest = o.status.nodes.iter().map(|n| field(n).chars().count());
            longest.max().unwrap_or(min).clamp(min, max) as u16
        })
    };
    let name_w = widest(|n| &n.name, 4, u16::MAX as usize);
    let platform_w = widest(|n| &n.platform, 8, 16);
    let mut widths = vec![Constraint::Length(name_w), Constraint::Length(platform_w)];
    if multi_host {
        widths.push(Constraint::Length(8));
    }
    widths.extend([
        Constraint::Length(9),
        Constraint::Length(21),
        Constraint::Length(7),
    ]);
    if ports {
        widths.extend([Constraint::Length(5), Constraint::Length(7)]);
    }
    widths.extend([
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Fill(1),
    ]);
    let title = if app.filtering || !app.filter.is_empty() {
        format!(
            " nodes — filter: {}{} ({shown}/{total}) ",
            app.filter,
            if app.filtering { "▏" } else { "" }
        )
    } else {
        " nodes ".to_string()
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(
            Style::default()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▶ ")
        .column_spacing(1);
    let selected = (app.table == Pick::Nodes).then_some(app.selected);
    let mut state = TableState::default().with_selected(selected);
    f.render_stateful_widget(table, area, &mut state);
}

/// The topology drawing with live states: node boxes coloured by their state (the
/// selected one in reverse), links by theirs (the selected one bold); nodes the filter hides
/// are dimmed.
fn topology(f: &mut Frame, app: &App, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" topology — T back to the dashboard · ↑↓ select · ⏎ console · s ssh ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(o) = &app.obs else {
        f.render_widget(Paragraph::new("waiting for the lab's state…"), inner);
        return;
    };
    let d = &o.topology;
    let selected_node = app.node_names().get(app.selected).cloned();
    let selected_link = (app.table == Pick::Links)
        .then(|| o.status.links.get(app.selected_link).map(|l| l.index))
        .flatten();
    let node_style = |i: usize| {
        let Some(name) = d.nodes.get(i) else {
            return Style::default();
        };
        let Some(n) = o.status.nodes.iter().find(|n| &n.name == name) else {
            return Style::default();
        };
        if !app.shown(n) {
            return Style::default().fg(Color::DarkGray);
        }
        let (_, color) = node_state(app, n);
        let mut st = Style::default().fg(color);
        if selected_node.as_deref() == Some(name.as_str()) && app.table == Pick::Nodes {
            st = st.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        }
        st
    };
    let link_style = |i: usize| {
        let color = match o
            .status
            .links
            .iter()
            .find(|l| l.index == i)
            .map(|l| l.state)
        {
            Some(LinkState::Up) => Color::Green,
            Some(LinkState::Waiting) => Color::Yellow,
            Some(LinkState::Down) => Color::Red,
            _ => Color::DarkGray,
        };
        let st = Style::default().fg(color);
        if selected_link == Some(i) {
            st.add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            st
        }
    };
    // Only what fits is turned into spans: centred when it all fits, else scrolled so the
    // selected node's box is in view (a 200-node drawing is thousands of columns wide).
    let (w, h) = (d.rows.first().map_or(0, Vec::len), d.rows.len());
    let (vw, vh) = (inner.width as usize, inner.height as usize);
    let focus = selected_node
        .as_ref()
        .and_then(|n| d.nodes.iter().position(|m| m == n))
        .and_then(|i| d.boxes.get(i).copied());
    let offset = |size: usize, view: usize, at: Option<(usize, usize)>| -> (usize, usize) {
        if size <= view {
            return ((view - size) / 2, 0);
        }
        let skip = at.map_or(0, |(start, len)| {
            (start + len / 2).saturating_sub(view / 2).min(size - view)
        });
        (0, skip)
    };
    let (pad_x, skip_x) = offset(w, vw, focus.map(|(x, _, bw, _)| (x, bw)));
    let (_, skip_y) = offset(h, vh, focus.map(|(_, y, _, bh)| (y, bh)));
    let lines: Vec<Line> = d
        .rows
        .iter()
        .skip(skip_y)
        .take(vh)
        .map(|row| {
            let mut spans = vec![Span::raw(" ".repeat(pad_x))];
            let mut run = String::new();
            let mut owner = None;
            for &(ch, o) in row.iter().skip(skip_x).take(vw) {
                if owner != Some(o) && !run.is_empty() {
                    spans.push(owned(
                        std::mem::take(&mut run),
                        owner,
                        &node_style,
                        &link_style,
                    ));
                }
                owner = Some(o);
                run.push(ch);
            }
            if !run.is_empty() {
                spans.push(owned(run, owner, &node_style, &link_style));
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn owned(
    text: String,
    owner: Option<Owner>,
    node: &dyn Fn(usize) -> Style,
    link: &dyn Fn(usize) -> Style,
) -> Span<'static> {
    let style = match owner {
        Some(Owner::Node(i)) => node(i),
        Some(Owner::Link(i)) => link(i),
        _ => Style::default(),
    };
    Span::styled(text, style)
}

fn links(f: &mut Frame, app: &App, area: Rect) {
    let header = Row::new([
        "#",
        "A",
        "Z",
        "STATE",
        "A→Z",
        "Z→A",
        "DROPPED",
        "IMPAIRMENTS",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows: Vec<Row> = app
        .obs
        .as_ref()
        .map(|o| {
            o.status
                .links
                .iter()
                .map(|l| {
                    let (label, color) = match l.state {
                        LinkState::Up => ("up".to_string(), Color::Green),
                        LinkState::Waiting => (
                            format!("waiting: {}", l.waiting_for.join(",")),
                            Color::Yellow,
                        ),
                        LinkState::Down => ("down".to_string(), Color::Red),
                        LinkState::Remote => ("other hosts".to_string(), Color::DarkGray),
                    };
                    // A link between hosts says so: its frames leave this machine.
                    let label = if l.transport == crate::plan::LinkTransport::CrossHost {
                        format!("{label} ⇄")
                    } else {
                        label
                    };
                    let label = match app.captures.get(&l.index) {
                        Some(_) => format!("{label} ●rec"),
                        None if app.busy_links.contains(&l.index) => format!("{label}…"),
                        None => label,
                    };
                    let (ab, ba, dropped) = match &l.counters {
                        Some(c) => (
                            rate(c.a_to_z.frames_per_sec, c.a_to_z.bits_per_sec),
                            rate(c.z_to_a.frames_per_sec, c.z_to_a.bits_per_sec),
                            (c.a_to_z.dropped.total() + c.z_to_a.dropped.total()).to_string(),
                        ),
                        None => ("-".into(), "-".into(), "-".into()),
                    };
                    let impair = if l.impair.is_clean() {
                        "-".to_string()
                    } else if l.impair.a_to_z == l.impair.z_to_a {
                        l.impair.a_to_z.to_string()
                    } else {
                        format!("→ {} ← {}", l.impair.a_to_z, l.impair.z_to_a)
                    };
                    Row::new(vec![
                        Cell::from(l.index.to_string()),
                        Cell::from(format!("{} {}", l.a, l.a_guest)),
                        Cell::from(format!("{} {}", l.z, l.z_guest)),
                        Cell::from(Span::styled(label, Style::default().fg(color))),
                        Cell::from(ab),
                        Cell::from(ba),
                        Cell::from(dropped),
                        Cell::from(impair),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    let widths = [
        Constraint::Length(2),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(14),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(7),
        Constraint::Fill(1),
    ];
    let title = match &app.obs {
        Some(o) => match &o.status.relay {
            Some(r) if r.status == "running" => " links (relay running) ".to_string(),
            Some(_) => " links — relay NOT running: vmlab repair ".to_string(),
            None => " links (direct) ".to_string(),
        },
        None => " links ".to_string(),
    };
    let mut table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title))
        .column_spacing(1);
    let selected = (app.table == Pick::Links).then_some(app.selected_link);
    if selected.is_some() {
        table = table
            .row_highlight_style(
                Style::default()
                    .bg(Color::DarkGray)
                    .add_modifier(Modifier::BOLD),
            )
            .highlight_symbol("▶ ");
    }
    let mut state = TableState::default().with_selected(selected);
    f.render_stateful_widget(table, area, &mut state);
}

/// A direction's rate in one short cell: `12 f/s 96k`.
fn rate(fps: f64, bps: f64) -> String {
    let bits = match bps {
        b if b >= 1e9 => format!("{:.1}G", b / 1e9),
        b if b >= 1e6 => format!("{:.1}M", b / 1e6),
        b if b >= 1e3 => format!("{:.0}k", b / 1e3),
        b => format!("{b:.0}"),
    };
    format!("{fps:.0} f/s {bits}")
}

fn log(f: &mut Frame, app: &App, area: Rect) {
    let visible = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = app
        .log
        .iter()
        .skip(app.log.len().saturating_sub(visible))
        .map(|l| {
            let style = if l.error {
                Style::default().fg(Color::Red)
            } else {
                Style::default()
            };
            Line::from(vec![
                Span::styled(
                    format!("{:>6.1}s ", l.at.as_secs_f64()),
                    Style::default().fg(Color::DarkGray),
                ),
                Span::styled(l.text.clone(), style),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" events ")),
        area,
    );
}

fn pane(f: &mut Frame, app: &App, i: usize, area: Rect) {
    let Some(tab) = app.tabs.get(i) else { return };
    let mut title = format!(" {} {} ", tab.node, tab.kind.label());
    match &tab.state {
        TabState::Connecting => title.push_str("— connecting "),
        TabState::Connected => {}
        TabState::Closed(why) => {
            title.push_str(&format!("— closed: {why} (r reconnects, x closes) "))
        }
    }
    if tab.emu.scrolled_back() > 0 {
        title.push_str(&format!(
            "[scrolled back {} lines] ",
            tab.emu.scrolled_back()
        ));
    }
    let mut block = Block::default().borders(Borders::ALL).title(title);
    if let Some(n) = &tab.notice {
        block = block.title_bottom(Line::from(Span::styled(
            format!(" {n} "),
            Style::default().fg(Color::Yellow),
        )));
    }
    let term = PseudoTerminal::new(tab.emu.screen()).block(block);
    f.render_widget(term, area);
}

fn footer(f: &mut Frame, app: &App, area: Rect) {
    let text = match app.focus {
        _ if app.filtering => {
            " type to filter nodes by name, platform or host · Enter keeps it · Esc clears it"
                .to_string()
        }
        Focus::Dashboard | Focus::Topology => keymap::footer(area.width as usize),
        Focus::Tab(_) => {
            " Ctrl-] dashboard · Shift-PgUp/PgDn or wheel scroll · every other key goes to the VM"
                .to_string()
        }
    };
    f.render_widget(
        Paragraph::new(Span::styled(text, Style::default().fg(Color::DarkGray))),
        area,
    );
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Words of `text` in lines of at most `width` characters (a longer word gets a line of its
/// own, cut by the frame).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + w.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// The keys, in a box as wide as the screen allows (up to 100 columns); each description
/// wraps under itself, so nothing is cut at any width from 80 columns up.
fn help(f: &mut Frame, area: Rect) {
    let keys_w = keymap::BINDINGS
        .iter()
        .map(|b| b.keys.chars().count())
        .max()
        .unwrap_or(10)
        + 2;
    let w = area.width.min(100);
    let text_w = (w as usize).saturating_sub(keys_w + 4).max(10);
    let mut lines: Vec<Line> = Vec::new();
    for b in keymap::BINDINGS {
        for (k, part) in wrap_words(b.does, text_w).into_iter().enumerate() {
            let keys = if k == 0 { b.keys } else { "" };
            lines.push(Line::from(vec![
                Span::styled(
                    format!(" {keys:<keys_w$}"),
                    Style::default().fg(ACCENT).add_modifier(Modifier::BOLD),
                ),
                Span::raw(part),
            ]));
        }
    }
    let r = centered(area, w, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys — any key closes "),
        ),
        r,
    );
}

fn confirm(f: &mut Frame, app: &App, area: Rect) {
    let r = centered(area, 60, 6);
    f.render_widget(Clear, r);
    let text = format!(
        "Destroy lab {}? Every VM stops and its disk overlay is deleted.\n\n  y: destroy    any other key: cancel",
        app.lab
    );
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" destroy ")
                .border_style(Style::default().fg(Color::Red)),
        ),
        r,
    );
}

fn ask(f: &mut Frame, title: &str, text: &str, color: Color) {
    let r = centered(f.area(), 64, 7);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(text.to_string())
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title.to_string())
                    .border_style(Style::default().fg(color)),
            ),
        r,
    );
}

fn snapshots(f: &mut Frame, app: &App, selected: usize) {
    let snaps = app.snapshots();
    let r = centered(f.area(), 64, snaps.len() as u16 + 4);
    f.render_widget(Clear, r);
    let rows: Vec<Row> = snaps
        .iter()
        .map(|(name, taken)| Row::new(vec![Cell::from(name.clone()), Cell::from(taken.clone())]))
        .collect();
    let table = Table::new(rows, [Constraint::Min(16), Constraint::Length(22)])
        .header(
            Row::new(["SNAPSHOT", "TAKEN"]).style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" snapshots — ↑↓ select · Enter restore · any other key closes "),
        )
        .row_highlight_style(
            Style::default()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(selected));
    f.render_stateful_widget(table, r, &mut state);
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}
