//! The topology drawn for a terminal: nodes placed in layers (a bipartite fabric on two rows),
//! links routed as box-drawing lines, each cell with its owner (a node or a link) so the TUI
//! can colour it, and a compact form for wide fabrics. Pure.

use std::collections::HashMap;

use super::inventory::interfaces_by_node;
use super::text::edges;
use crate::lab::state::LabState;

/// What a cell of the terminal drawing belongs to (the TUI colours by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Blank,
    /// A node's box, by topology index.
    Node(usize),
    /// A link's line, by link index.
    Link(usize),
    /// Text of the legend.
    Text,
}

/// A drawing: rows of characters with their owners.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drawing {
    pub rows: Vec<Vec<(char, Owner)>>,
    /// The names `Owner::Node` indexes.
    pub nodes: Vec<String>,
    /// Each node's box: (column, row) of its top-left corner, width, height.
    pub boxes: Vec<(usize, usize, usize, usize)>,
}

impl Drawing {
    /// Plain text, trailing spaces cut.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            let line: String = r.iter().map(|(c, _)| *c).collect();
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }
}

/// A grid being drawn: line directions per cell, merged into box-drawing characters.
struct Canvas {
    w: usize,
    h: usize,
    text: Vec<Vec<Option<(char, Owner)>>>,
    lines: Vec<Vec<(u8, Owner)>>,
}

const UP: u8 = 1;
const DOWN: u8 = 2;
const LEFT: u8 = 4;
const RIGHT: u8 = 8;

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            text: vec![vec![None; w]; h],
            lines: vec![vec![(0, Owner::Blank); w]; h],
        }
    }

    fn put(&mut self, x: usize, y: usize, s: &str, o: Owner) {
        for (i, c) in s.chars().enumerate() {
            if x + i < self.w && y < self.h {
                self.text[y][x + i] = Some((c, o));
            }
        }
    }

    /// Node `i`'s box at (x, y) of size w × h, its name and second line inside.
    fn node_box(
        &mut self,
        i: usize,
        (x, y, w, h): (usize, usize, usize, usize),
        label: &(String, Option<String>),
    ) {
        let o = Owner::Node(i);
        self.put(x, y, &format!("┌{}┐", "─".repeat(w - 2)), o);
        for r in 1..h - 1 {
            self.put(x, y + r, &format!("│{}│", " ".repeat(w - 2)), o);
        }
        self.put(x, y + h - 1, &format!("└{}┘", "─".repeat(w - 2)), o);
        self.put(x + 3, y + 1, &label.0, o);
        if let Some(b) = &label.1 {
            self.put(x + 3, y + 2, b, o);
        }
    }

    fn mark(&mut self, x: usize, y: usize, dirs: u8, o: Owner) {
        if x < self.w && y < self.h {
            let cell = &mut self.lines[y][x];
            cell.0 |= dirs;
            if cell.1 == Owner::Blank {
                cell.1 = o;
            }
        }
    }

    fn vline(&mut self, x: usize, y0: usize, y1: usize, o: Owner) {
        let (a, b) = (y0.min(y1), y0.max(y1));
        for y in a..=b {
            let mut d = 0;
            if y > a {
                d |= UP;
            }
            if y < b {
                d |= DOWN;
            }
            self.mark(x, y, d, o);
        }
    }

    fn hline(&mut self, y: usize, x0: usize, x1: usize, o: Owner) {
        let (a, b) = (x0.min(x1), x0.max(x1));
        for x in a..=b {
            let mut d = 0;
            if x > a {
                d |= LEFT;
            }
            if x < b {
                d |= RIGHT;
            }
            self.mark(x, y, d, o);
        }
    }

    fn finish(self) -> Drawing {
        let glyph = |d: u8| match d {
            0 => ' ',
            d if d == UP | DOWN || d == UP || d == DOWN => '│',
            d if d == LEFT | RIGHT || d == LEFT || d == RIGHT => '─',
            d if d == DOWN | RIGHT => '┌',
            d if d == DOWN | LEFT => '┐',
            d if d == UP | RIGHT => '└',
            d if d == UP | LEFT => '┘',
            d if d == UP | DOWN | RIGHT => '├',
            d if d == UP | DOWN | LEFT => '┤',
            d if d == LEFT | RIGHT | DOWN => '┬',
            d if d == LEFT | RIGHT | UP => '┴',
            _ => '┼',
        };
        let mut rows = Vec::with_capacity(self.h);
        for y in 0..self.h {
            let mut row = Vec::with_capacity(self.w);
            for x in 0..self.w {
                row.push(match self.text[y][x] {
                    Some(t) => t,
                    None => {
                        let (d, o) = self.lines[y][x];
                        (glyph(d), o)
                    }
                });
            }
            rows.push(row);
        }
        Drawing {
            rows,
            nodes: Vec::new(),
            boxes: Vec::new(),
        }
    }
}

/// Layers for drawing: a two-colouring when the graph is bipartite (spine-leaf: spines on
/// top, the side of the first node), else breadth-first levels from the first node of each
/// connected part.
fn layers(names: &[String], adj: &[Vec<usize>]) -> Vec<usize> {
    let n = names.len();
    let mut level = vec![usize::MAX; n];
    for start in 0..n {
        if level[start] != usize::MAX {
            continue;
        }
        level[start] = 0;
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(u) = queue.pop_front() {
            for &v in &adj[u] {
                if level[v] == usize::MAX {
                    level[v] = level[u] + 1;
                    queue.push_back(v);
                }
            }
        }
    }
    let bipartite = (0..n).all(|u| adj[u].iter().all(|&v| level[u] % 2 != level[v] % 2));
    if bipartite {
        level.iter().map(|l| l % 2).collect()
    } else {
        level
    }
}

/// The topology drawn for a terminal: a row of boxes per layer, each link on a track of its
/// own between layers (numbered where it turns), then a legend of links with both ends'
/// interfaces. `status` (one word per node, for the TUI: `running`, …) goes under each name.
pub fn ascii(state: &LabState, status: &dyn Fn(&str) -> Option<String>) -> Drawing {
    let names: Vec<String> = state.node_order.clone();
    let index = |n: &str| names.iter().position(|m| m == n);
    let es = edges(state);
    let mut adj = vec![Vec::new(); names.len()];
    for (_, a, _, z, _) in &es {
        if let (Some(i), Some(j)) = (index(a), index(z))
            && i != j
        {
            adj[i].push(j);
            adj[j].push(i);
        }
    }
    let level = layers(&names, &adj);
    let depth = level.iter().copied().max().map_or(0, |m| m + 1);
    // Box geometry per node.
    let labels = node_labels(state, &names, status);
    let width_of = |i: usize| {
        let (a, b) = &labels[i];
        a.chars()
            .count()
            .max(b.as_ref().map_or(0, |b| b.chars().count()))
            + 6
    };
    let box_h = if labels.iter().any(|(_, b)| b.is_some()) {
        4
    } else {
        3
    };
    // Links between adjacent layers are drawn; the others are in the legend only.
    let drawn: Vec<usize> = es
        .iter()
        .enumerate()
        .filter(|(_, (_, a, _, z, _))| match (index(a), index(z)) {
            (Some(i), Some(j)) => level[i].abs_diff(level[j]) == 1,
            _ => false,
        })
        .map(|(k, _)| k)
        .collect();
    let rows_of = rows_of_layers(&level, depth);
    let gap = 6;
    let row_w = |r: &Vec<usize>| r.iter().map(|&i| width_of(i)).sum::<usize>() + gap * r.len();
    let total_w = rows_of.iter().map(row_w).max().unwrap_or(0).max(20);
    if total_w > MAX_DRAWN_WIDTH {
        return compact(&names, &labels, &rows_of, box_h, &width_of, &es);
    }
    // Tracks between layer l and l+1: one per drawn link there.
    let tracks: Vec<Vec<usize>> = (0..depth.saturating_sub(1))
        .map(|l| {
            drawn
                .iter()
                .copied()
                .filter(|&k| {
                    let (_, a, _, z, _) = &es[k];
                    let (i, j) = (index(a).unwrap_or(0), index(z).unwrap_or(0));
                    level[i].min(level[j]) == l
                })
                .collect()
        })
        .collect();
    let (y_of_layer, y) = layer_tops(depth, box_h, &tracks);
    let legend_start = y + 1;
    let legend = legend_lines(&es, &drawn);
    let legend_w = legend.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut c = Canvas::new(total_w.max(legend_w), legend_start + legend.len());
    // Boxes, each row centred.
    let mut x_of = vec![0usize; names.len()];
    let mut boxes = vec![(0, 0, 0, 0); names.len()];
    for (l, row) in rows_of.iter().enumerate() {
        let mut x = (total_w.saturating_sub(row_w(row))) / 2 + gap / 2;
        for &i in row {
            x_of[i] = x;
            let w = width_of(i);
            let top = y_of_layer[l];
            boxes[i] = (x, top, w, box_h);
            c.node_box(i, (x, top, w, box_h), &labels[i]);
            x += w + gap;
        }
    }
    // Attachment points: spread along each box's bottom (links down) and top (links up).
    let attach = |i: usize, k: usize, down: bool| {
        let mine: Vec<usize> = drawn
            .iter()
            .copied()
            .filter(|&e| {
                let (_, a, _, z, _) = &es[e];
                let (p, q) = (index(a).unwrap_or(0), index(z).unwrap_or(0));
                let other = if p == i {
                    q
                } else if q == i {
                    p
                } else {
                    return false;
                };
                (level[other] > level[i]) == down
            })
            .collect();
        let pos = mine.iter().position(|&e| e == k).unwrap_or(0);
        let inner = width_of(i) - 2;
        x_of[i] + 1 + (pos + 1) * inner / (mine.len() + 1)
    };
    // Each link's columns: where it leaves its upper box and enters its lower one, every
    // column of a gap used by one link only, so lines meet only where they cross.
    let mut labels_at = Vec::new();
    for (l, ts) in tracks.iter().enumerate() {
        let mut used = std::collections::HashSet::new();
        let mut cols = Vec::with_capacity(ts.len());
        for &k in ts {
            let (_, a, _, z, _) = &es[k];
            let (i, j) = (index(a).unwrap_or(0), index(z).unwrap_or(0));
            let (up, low) = if level[i] == l { (i, j) } else { (j, i) };
            let xu = attach(up, k, true);
            used.insert(xu);
            cols.push((k, up, low, xu));
        }
        let mut placed = Vec::with_capacity(cols.len());
        for (k, up, low, xu) in cols {
            let (lo, hi) = (x_of[low] + 1, x_of[low] + width_of(low) - 2);
            let want = attach(low, k, false);
            let xl = (0..=(hi - lo))
                .flat_map(|d| [want + d, want.wrapping_sub(d)])
                .find(|x| (lo..=hi).contains(x) && !used.contains(x))
                .unwrap_or(want);
            used.insert(xl);
            placed.push((k, up, low, xu, xl));
        }
        for (t, (k, _, _, xu, xl)) in placed.into_iter().enumerate() {
            let idx = es[k].0;
            let o = Owner::Link(idx);
            let y_up = y_of_layer[l] + box_h;
            let y_track = y_up + t + 1;
            let y_low = y_of_layer[l + 1] - 1;
            c.vline(xu, y_up, y_track, o);
            c.hline(y_track, xu, xl, o);
            c.vline(xl, y_track, y_low, o);
            labels_at.push((idx, xl, xu, y_track, y_low));
        }
    }
    number_links(&mut c, labels_at);
    for (r, line) in legend.iter().enumerate() {
        c.put(0, legend_start + r, line, Owner::Link(es[r].0));
    }
    Drawing {
        nodes: names,
        boxes,
        ..c.finish()
    }
}

/// The nodes of each layer, in order.
fn rows_of_layers(level: &[usize], depth: usize) -> Vec<Vec<usize>> {
    let mut rows_of = vec![Vec::new(); depth];
    for (i, l) in level.iter().enumerate() {
        rows_of[*l].push(i);
    }
    rows_of
}

/// Each node's box text: its name, and under it its status and its host (`running @h2`).
fn node_labels(
    state: &LabState,
    names: &[String],
    status: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, Option<String>)> {
    names
        .iter()
        .map(|n| {
            let host = state.nodes.get(n).and_then(|s| s.host.clone());
            let st = status(n);
            let second = match (host, st) {
                (Some(h), Some(s)) => Some(format!("{s} @{h}")),
                (Some(h), None) => Some(format!("@{h}")),
                (None, s) => s,
            };
            (n.clone(), second)
        })
        .collect()
}

/// Where each layer's boxes start (a box, then a track per link below it and room), and the
/// first row after the last layer.
fn layer_tops(depth: usize, box_h: usize, tracks: &[Vec<usize>]) -> (Vec<usize>, usize) {
    let mut y_of_layer = Vec::with_capacity(depth);
    let mut y = 0;
    for l in 0..depth {
        y_of_layer.push(y);
        y += box_h;
        if let Some(t) = tracks.get(l) {
            y += t.len() + 3;
        }
    }
    (y_of_layer, y)
}

/// The legend: every link with both ends' interfaces, those not drawn said so.
fn legend_lines(es: &[(usize, String, String, String, String)], drawn: &[usize]) -> Vec<String> {
    es.iter()
        .enumerate()
        .map(|(k, (i, a, al, z, zl))| {
            format!(
                "{:>2}  {a} {al} ── {z} {zl}{}",
                i,
                if drawn.contains(&k) {
                    ""
                } else {
                    "  (not drawn)"
                }
            )
        })
        .collect()
}

/// Each link's number beside the line where it turns down, where nothing else is drawn:
/// `(index, column down, column up, track row, last row)` per link.
fn number_links(c: &mut Canvas, labels_at: Vec<(usize, usize, usize, usize, usize)>) {
    for (idx, xl, xu, y_track, y_low) in labels_at {
        let label = idx.to_string();
        let y = y_track + 1;
        if y >= y_low {
            continue;
        }
        let candidates = [xl + 1, xl.saturating_sub(label.len())];
        let order = if xl >= xu {
            candidates
        } else {
            [candidates[1], candidates[0]]
        };
        for lx in order {
            let free = (0..label.len())
                .all(|d| lx + d < c.w && c.text[y][lx + d].is_none() && c.lines[y][lx + d].0 == 0);
            if free {
                c.put(lx, y, &label, Owner::Link(idx));
                break;
            }
        }
    }
}

/// Wider than this, a drawing with link lines is no longer readable (nor cheap: a 200-node
/// fabric would be 3500 columns by 750 rows); [`compact`] is drawn instead.
pub const MAX_DRAWN_WIDTH: usize = 240;

/// A lab too wide for link lines: each layer's boxes wrapped into rows that fit
/// [`MAX_DRAWN_WIDTH`], then every link in the legend.
fn compact(
    names: &[String],
    labels: &[(String, Option<String>)],
    rows_of: &[Vec<usize>],
    box_h: usize,
    width_of: &dyn Fn(usize) -> usize,
    es: &[(usize, String, String, String, String)],
) -> Drawing {
    let gap = 2;
    // Lay out first: (node, x, y).
    let mut placed = Vec::with_capacity(names.len());
    let mut y = 0;
    for row in rows_of {
        let mut x = 0;
        for &i in row {
            let w = width_of(i);
            if x > 0 && x + w > MAX_DRAWN_WIDTH {
                x = 0;
                y += box_h;
            }
            placed.push((i, x, y));
            x += w + gap;
        }
        y += box_h + 1;
    }
    let note = format!(
        "{} links: too many to draw as lines here; `vmlab graph --format dot` draws them all",
        es.len()
    );
    let legend: Vec<String> = es
        .iter()
        .map(|(i, a, al, z, zl)| format!("{i:>2}  {a} {al} ── {z} {zl}"))
        .collect();
    let width = legend
        .iter()
        .map(|l| l.chars().count())
        .chain([note.chars().count(), MAX_DRAWN_WIDTH])
        .max()
        .unwrap_or(MAX_DRAWN_WIDTH);
    let mut c = Canvas::new(width, y + 1 + legend.len());
    let mut boxes = vec![(0, 0, 0, 0); names.len()];
    for &(i, x, top) in &placed {
        let w = width_of(i);
        boxes[i] = (x, top, w, box_h);
        c.node_box(i, boxes[i], &labels[i]);
    }
    c.put(0, y, &note, Owner::Text);
    for (r, line) in legend.iter().enumerate() {
        c.put(0, y + 1 + r, line, Owner::Link(es[r].0));
    }
    Drawing {
        nodes: names.to_vec(),
        boxes,
        ..c.finish()
    }
}

/// Each node's linked interfaces, as the spec names them and as the guest sees them
/// (`Ethernet4` is `eth2`), in guest order.
pub fn interface_map(state: &LabState) -> HashMap<String, Vec<(String, String)>> {
    interfaces_by_node(state)
        .into_iter()
        .map(|(node, v)| {
            let pairs = v.into_iter().map(|i| (i.name, i.guest)).collect();
            (node.to_string(), pairs)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_put_a_bipartite_fabric_on_two_rows() {
        let names: Vec<String> = ["s1", "s2", "l1", "l2"].map(String::from).to_vec();
        let adj = vec![vec![2, 3], vec![2, 3], vec![0, 1], vec![0, 1]];
        assert_eq!(layers(&names, &adj), [0, 0, 1, 1]);
        // A triangle is not bipartite: breadth-first levels.
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let adj = vec![vec![1, 2], vec![0, 2], vec![0, 1]];
        assert_eq!(layers(&names, &adj), [0, 1, 1]);
    }
}
