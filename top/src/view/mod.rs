//! Drawing one frame: the fleet (several processes), the selected
//! runtime's header, worker table, steal heatmap, poll-time histogram and
//! recent stalls and slow polls, and the key line. The same code draws the
//! terminal view, `--once`'s text frame and the demo's in-process view.
//!
//! Here: the view's state ([`App`], [`Sort`]) and the layout ([`draw`],
//! [`render`], [`text_frame`]); the panels are in `panels` and `workers`,
//! the formatting helpers in `format`.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::state::{Process, RuntimeView};

mod format;
mod panels;
mod workers;

pub use format::{secs, short_state, sparkline, state_shares};
use panels::{
    draw_events, draw_fleet, draw_header, draw_help, draw_histogram, draw_spawn_sites, draw_steals,
};
use workers::draw_workers;

/// The worker table's sort order (`s` cycles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// By worker index.
    #[default]
    Index,
    /// Busiest by polls/s first.
    Polls,
    /// Busiest by busy share first.
    Busy,
    /// Slowest p99 first.
    P99,
    /// Longest p99 schedule latency first.
    SchedP99,
    /// Longest current poll first.
    CurrentPoll,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Index => Sort::Polls,
            Sort::Polls => Sort::Busy,
            Sort::Busy => Sort::P99,
            Sort::P99 => Sort::SchedP99,
            Sort::SchedP99 => Sort::CurrentPoll,
            Sort::CurrentPoll => Sort::Index,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sort::Index => "worker",
            Sort::Polls => "polls/s",
            Sort::Busy => "busy",
            Sort::P99 => "p99",
            Sort::SchedP99 => "sch p99",
            Sort::CurrentPoll => "current poll",
        }
    }
}

/// Everything one frame shows: the processes and the view's own state.
#[derive(Debug)]
pub struct App {
    /// The processes watched.
    pub processes: Vec<Process>,
    /// The process shown in detail.
    pub selected: usize,
    /// The runtime shown in detail, within the process.
    pub runtime: usize,
    /// The worker table's order.
    pub sort: Sort,
    /// Whether updates are held back (`p`).
    pub paused: bool,
    /// Whether the help is shown (`?`).
    pub help: bool,
    /// A line under the key line (the demo says where `/metrics` is).
    pub note: Option<String>,
}

impl App {
    /// An app watching `labels`, one process each.
    ///
    /// # Examples
    ///
    /// ```
    /// let app = tokio_pulse_top::view::App::new(["http://127.0.0.1:9464"]);
    /// assert_eq!(app.processes.len(), 1);
    /// ```
    pub fn new<S: Into<String>>(labels: impl IntoIterator<Item = S>) -> App {
        App {
            processes: labels.into_iter().map(Process::new).collect(),
            selected: 0,
            runtime: 0,
            sort: Sort::Index,
            paused: false,
            help: false,
            note: None,
        }
    }

    /// `Tab`: the next runtime of this process, then the next process.
    pub fn next(&mut self) {
        let runtimes = self
            .processes
            .get(self.selected)
            .map_or(0, |p| p.latest().map_or(0, |d| d.runtimes.len()));
        if self.runtime + 1 < runtimes {
            self.runtime += 1;
        } else {
            self.runtime = 0;
            self.selected = (self.selected + 1) % self.processes.len().max(1);
        }
    }

    /// `s`: the next sort order.
    pub fn next_sort(&mut self) {
        self.sort = self.sort.next();
    }
}

/// Draws the whole view into `frame`.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    render(app, area, frame.buffer_mut());
}

/// Height a frame needs to show everything of `app` (for `--once`).
pub fn wanted_height(app: &App) -> u16 {
    let fleet = fleet_height(app);
    let rt = selected_view(app);
    let workers = rt.as_ref().map_or(0, |r| r.workers.len()).min(1000) as u16;
    let events = rt.as_ref().map_or(0, |r| r.events.len().min(12)) as u16;
    let sites = sites_height(rt.as_ref());
    fleet + HEADER + (workers + 3) + (workers + 3).max(14) + sites + events.max(1) + 2 + 2
}

/// The header's height: a title line, three of numbers, one spare for
/// wrapping.
const HEADER: u16 = 5;

/// The most spawn sites the panel lists.
const MAX_SITES: usize = 8;

fn sites_height(rt: Option<&RuntimeView>) -> u16 {
    let listed = rt.map_or(0, |r| {
        r.spawn_sites.as_ref().map_or(0, |s| s.len().min(MAX_SITES))
            + usize::from(r.spawn_sites_other > 0)
    });
    // Borders, a heading line, at least one line.
    listed.max(1) as u16 + 3
}

fn fleet_height(app: &App) -> u16 {
    if app.processes.len() > 1 {
        app.processes.len().min(100) as u16 + 3
    } else {
        0
    }
}

fn selected_view(app: &App) -> Option<RuntimeView> {
    let process = app.processes.get(app.selected)?;
    let mut runtimes = process.runtimes();
    if runtimes.is_empty() {
        return None;
    }
    let i = app.runtime.min(runtimes.len() - 1);
    Some(runtimes.swap_remove(i))
}

/// Draws the view into `buf` over `area`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let rt = selected_view(app);
    let workers = rt.as_ref().map_or(1, |r| r.workers.len().clamp(1, 1000)) as u16;
    let [fleet, header, table, middle, sites, events, keys] = Layout::vertical([
        Constraint::Length(fleet_height(app)),
        Constraint::Length(HEADER),
        Constraint::Length(workers + 3),
        Constraint::Length((workers + 3).max(14)),
        Constraint::Length(sites_height(rt.as_ref())),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(area);
    if fleet.height > 0 {
        draw_fleet(app, fleet, buf);
    }
    draw_header(app, rt.as_ref(), header, buf);
    if let Some(rt) = &rt {
        draw_workers(app, rt, table, buf);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(middle);
        draw_steals(rt, left, buf);
        draw_histogram(rt, right, buf);
        draw_spawn_sites(rt, sites, buf);
        draw_events(rt, events, buf);
    }
    let mut key_lines = vec![Line::from(vec![
        Span::styled(" q", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" quit  "),
        Span::styled("Tab", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" next runtime/process  "),
        Span::styled("s", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" sort ({})  ", app.sort.name())),
        Span::styled("p", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(if app.paused { " resume  " } else { " pause  " }),
        Span::styled("?", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" help"),
    ])];
    if let Some(note) = &app.note {
        key_lines.push(Line::from(format!(" {note}")));
    }
    Paragraph::new(key_lines).render(keys, buf);
    if app.help {
        draw_help(area, buf);
    }
}

/// The view as plain text, `width` columns wide, as tall as it needs: what
/// `--once` prints.
pub fn text_frame(app: &App, width: u16) -> String {
    let height = wanted_height(app);
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    render(app, area, &mut buf);
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
