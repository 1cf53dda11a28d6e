//! The topology view: the engine's drawing of the lab, coloured by each cell's owner's state.

use super::links::{self, LinksPart};
use super::nodes::NodesPart;
use crate::engine::api::{LinkState, Observation, Owner};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::shared::Table as Pick;

/// The topology drawing with live states: node boxes coloured by their state (the
/// selected one in reverse), links by theirs (the selected one bold); nodes the filter hides
/// are dimmed. It reads the nodes' and the links' tables (their selection, the filter, the
/// actions in flight); `table` is the one the selection keys move in.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    obs: Option<&Observation>,
    nodes: &NodesPart,
    links: &LinksPart,
    table: Pick,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" topology — T back to the dashboard · ↑↓ select · ⏎ console · s ssh ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(o) = obs else {
        f.render_widget(Paragraph::new("waiting for the lab's state…"), inner);
        return;
    };
    let d = &o.topology;
    let selected_node = nodes.selected_node(obs);
    let selected_link = (table == Pick::Links)
        .then(|| {
            links::shown(obs, nodes)
                .get(links.selected)
                .map(|l| l.index)
        })
        .flatten();
    let node_style = |i: usize| {
        let Some(name) = d.nodes.get(i) else {
            return Style::default();
        };
        let Some(n) = o.status.nodes.iter().find(|n| &n.name == name) else {
            return Style::default();
        };
        if !nodes.shown(n) {
            return Style::default().fg(Color::DarkGray);
        }
        let (_, color) = nodes.state(n);
        let mut st = Style::default().fg(color);
        if selected_node.as_deref() == Some(name.as_str()) && table == Pick::Nodes {
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
