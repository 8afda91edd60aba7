//! Drawing one frame: the fleet (several processes), the selected
//! runtime's header, worker table, steal heatmap, poll-time histogram and
//! recent stalls and slow polls, and the key line. The same code draws the
//! terminal view, `--once`'s text frame and the demo's in-process view.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use crate::state::{total, Process, RuntimeView, WorkerRow};

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

fn status_of(process: &Process) -> (String, Style) {
    match &process.error {
        Some((err, since)) => (
            format!(
                "disconnected, retrying ({:.0} s): {}",
                since.elapsed().as_secs_f64(),
                // The label is on the line already.
                err.strip_prefix(&format!("{}: ", process.label))
                    .unwrap_or(err)
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        None if !process.ever_connected => {
            ("connecting…".to_string(), Style::new().fg(Color::Yellow))
        }
        None => ("connected".to_string(), Style::new().fg(Color::Green)),
    }
}

fn draw_fleet(app: &App, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let rows = app.processes.iter().enumerate().map(|(i, p)| {
        let views = p.runtimes();
        let polls: f64 = views.iter().map(|r| r.polls_per_sec).sum();
        let workers: usize = views.iter().map(|r| r.workers.len()).sum();
        let busy: Vec<f64> = views.iter().filter_map(|r| r.busy).collect();
        let stalls = total(views.iter().map(|r| r.stalls));
        let (status, style) = status_of(p);
        let mark = if i == app.selected { ">" } else { " " };
        Row::new(vec![
            Cell::from(format!("{mark}{}", p.label)),
            Cell::from(p.latest().map_or("-".into(), |d| d.pid.to_string())),
            Cell::from(views.len().to_string()),
            Cell::from(workers.to_string()),
            Cell::from(format!("{polls:.0}")),
            Cell::from(if busy.is_empty() {
                "-".to_string()
            } else {
                pct(busy.iter().sum::<f64>() / busy.len() as f64)
            }),
            Cell::from(stalls.to_string()),
            Cell::from(status).style(style),
        ])
    });
    Table::new(
        rows,
        [
            Constraint::Length(28),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "process", "pid", "runtimes", "workers", "polls/s", "busy", "stalls", "status",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(" fleet "))
    .render(area, buf);
}

fn draw_header(app: &App, rt: Option<&RuntimeView>, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let Some(process) = app.processes.get(app.selected) else {
        return;
    };
    let (status, style) = status_of(process);
    let runtimes = process.latest().map_or(0, |d| d.runtimes.len());
    let mut lines = vec![Line::from(vec![
        Span::styled(
            "tokio-pulse top ",
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "{}  pid {}  ",
            process.label,
            process.latest().map_or("-".into(), |d| d.pid.to_string())
        )),
        Span::styled(status, style),
        Span::styled(
            if app.paused { "  PAUSED" } else { "" },
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
    ])];
    match rt {
        Some(rt) => {
            lines.push(Line::from(format!(
                "runtime {:?} (id {}, {}/{runtimes})  up {}  polls/s {:.0}  spawns/s {:.0} local, {:.0} remote  busy {}",
                rt.name,
                rt.id,
                app.runtime.min(runtimes.saturating_sub(1)) + 1,
                uptime(rt.uptime),
                rt.polls_per_sec,
                rt.spawns_local_per_sec,
                rt.spawns_remote_per_sec,
                rt.busy.map_or("-".into(), pct),
            )));
            lines.push(Line::from(format!(
                "stalls {}  slow polls {}  tasks alive {}  global queue {}  poll timing {}  slow poll ≥ {}  stall ≥ {}",
                rt.stalls,
                rt.slow_polls,
                opt(rt.alive_tasks),
                opt(rt.global_queue),
                if rt.poll_timing {
                    "on"
                } else {
                    "off (TOKIO_PULSE_POLL_TIMING=1 for busy, p50/p99, stalls)"
                },
                rt.slow_threshold.map_or("-".into(), secs),
                rt.stall_threshold.map_or("-".into(), secs),
            )));
            lines.push(Line::from(format!(
                "schedule latency mean {}  inject queue oldest {}  pressure some {} full {}",
                rt.sched_mean.map_or("-".into(), secs),
                rt.inject_oldest.map_or("-".into(), secs),
                rt.pressure_some.map_or("-".into(), pct),
                rt.pressure_full.map_or("-".into(), pct),
            )));
        }
        None if process.ever_connected => lines.push(Line::from("no live runtime in this process")),
        None => {}
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn uptime(s: f64) -> String {
    let s = s as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A duration in seconds, in a short human unit.
///
/// # Examples
///
/// ```
/// assert_eq!(tokio_pulse_top::view::secs(0.000_512), "512µs");
/// assert_eq!(tokio_pulse_top::view::secs(0.25), "250ms");
/// assert_eq!(tokio_pulse_top::view::secs(2.0), "2.0s");
/// ```
pub fn secs(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0}µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.0}ms", s * 1e3)
    } else {
        format!("{s:.1}s")
    }
}

/// A sparkline of `points` in at most `width` characters (the latest at
/// the right; older points merged by their maximum).
///
/// # Examples
///
/// ```
/// assert_eq!(tokio_pulse_top::view::sparkline(&[0.0, 1.0, 2.0, 4.0], 4), "▁▃▅█");
/// assert_eq!(tokio_pulse_top::view::sparkline(&[], 4), "");
/// ```
pub fn sparkline(points: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if points.is_empty() || width == 0 {
        return String::new();
    }
    let per = points.len().div_ceil(width);
    let merged: Vec<f64> = points
        .rchunks(per)
        .rev()
        .map(|c| c.iter().copied().fold(0.0, f64::max))
        .collect();
    let max = merged.iter().copied().fold(0.0, f64::max);
    merged
        .iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

fn sorted(rows: &[WorkerRow], sort: Sort) -> Vec<&WorkerRow> {
    let mut rows: Vec<&WorkerRow> = rows.iter().collect();
    let key = |r: &WorkerRow| -> f64 {
        match sort {
            Sort::Index => -(r.index as f64),
            Sort::Polls => r.polls_per_sec,
            Sort::Busy => r.busy.unwrap_or(-1.0),
            Sort::P99 => r.p99.unwrap_or(-1.0),
            Sort::SchedP99 => r.sched_p99.unwrap_or(-1.0),
            Sort::CurrentPoll => r.current_poll.unwrap_or(-1.0),
        }
    };
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    rows
}

/// The worker table's columns: header, width, and the order in which a
/// narrow terminal drops them (0: never; higher: sooner).
const WORKER_COLUMNS: [(&str, u16, u8); 17] = [
    ("worker", 6, 0),
    ("polls/s", 9, 0),
    ("last 60 s", 0, 0), // the sparkline: the width left over
    ("busy", 5, 3),
    ("p50", 8, 5),
    ("p99", 8, 0),
    ("sch p50", 8, 6),
    ("sch p99", 8, 0),
    ("steals in", 10, 9),
    ("steals out", 10, 10),
    ("parks/s", 8, 8),
    ("queue", 6, 4),
    ("oldest", 6, 2),
    ("in poll", 8, 1),
    ("LIFO", 5, 11),
    ("now", 5, 0),
    ("time in states", STATES_WIDTH, 0),
];

/// The columns shown in `width` characters (borders included), and the
/// sparkline's width: columns are dropped, least useful first, until the
/// rest fit with a sparkline of at least 8.
fn worker_columns(width: u16) -> (Vec<bool>, u16) {
    let mut shown = vec![true; WORKER_COLUMNS.len()];
    let needed = |shown: &[bool]| -> u16 {
        let cols = WORKER_COLUMNS.iter().zip(shown).filter(|(_, s)| **s);
        // Borders, one space between columns, the sparkline's minimum.
        let (sum, count) = cols.fold((0u16, 0u16), |(sum, n), (c, _)| (sum + c.1, n + 1));
        sum + count.saturating_sub(1) + 2 + 8
    };
    let mut rank = u8::MAX;
    while needed(&shown) > width && rank > 0 {
        let next = WORKER_COLUMNS
            .iter()
            .zip(&shown)
            .filter(|(c, s)| **s && c.2 > 0 && c.2 <= rank)
            .map(|(c, _)| c.2)
            .max();
        let Some(drop) = next else { break };
        for (c, s) in WORKER_COLUMNS.iter().zip(shown.iter_mut()) {
            if c.2 == drop {
                *s = false;
            }
        }
        rank = drop;
    }
    let spark = (8 + width.saturating_sub(needed(&shown))).min(60);
    (shown, spark)
}

fn draw_workers(app: &App, rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let (shown, spark_width) = worker_columns(area.width);
    let keep = |cells: Vec<Cell<'static>>| -> Vec<Cell<'static>> {
        cells
            .into_iter()
            .zip(&shown)
            .filter_map(|(c, s)| s.then_some(c))
            .collect()
    };
    let red_past = rt.stall_threshold.or(rt.slow_threshold);
    let rows = sorted(&rt.workers, app.sort).into_iter().map(|w| {
        let current = match w.current_poll {
            Some(s) => {
                let style = if red_past.is_some_and(|t| s >= t) {
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
                } else {
                    Style::new()
                };
                Cell::from(secs(s)).style(style)
            }
            None => Cell::from("-"),
        };
        Row::new(keep(vec![
            Cell::from(w.index.to_string()),
            Cell::from(format!("{:.0}", w.polls_per_sec)),
            Cell::from(sparkline(&w.spark, spark_width as usize))
                .style(Style::new().fg(Color::Cyan)),
            Cell::from(w.busy.map_or("-".into(), pct)),
            Cell::from(w.p50.map_or("-".into(), |s| format!("<{}", secs(s)))),
            Cell::from(w.p99.map_or("-".into(), |s| format!("<{}", secs(s)))),
            Cell::from(w.sched_p50.map_or("-".into(), |s| format!("<{}", secs(s)))),
            Cell::from(w.sched_p99.map_or("-".into(), |s| format!("<{}", secs(s)))),
            Cell::from(format!("{:.0}", w.steals_in)),
            Cell::from(format!("{:.0}", w.steals_out)),
            Cell::from(format!("{:.0}", w.parks_per_sec)),
            Cell::from(opt(w.queue)),
            Cell::from(w.queue_oldest.map_or("-".into(), secs)),
            current,
            Cell::from(w.lifo_share.map_or("-".into(), pct)),
            Cell::from(w.state_now.as_deref().map_or("-", short_state).to_string()),
            Cell::from(w.states.as_deref().map_or("-".into(), state_shares)),
        ]))
    });
    let widths: Vec<Constraint> = WORKER_COLUMNS
        .iter()
        .zip(&shown)
        .filter(|(_, s)| **s)
        .map(|(c, _)| match c.0 {
            "last 60 s" => Constraint::Length(spark_width),
            "time in states" => Constraint::Min(c.1),
            _ => Constraint::Length(c.1),
        })
        .collect();
    let header: Vec<Cell<'static>> = WORKER_COLUMNS.iter().map(|c| Cell::from(c.0)).collect();
    Table::new(rows, widths)
        .header(Row::new(keep(header)).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(format!(" workers (sorted by {}) ", app.sort.name())))
        .render(area, buf);
}

/// The width the states column asks for: five states, as `poll 47% drv 11% srch 5% park 27% mnt 1%`.
const STATES_WIDTH: u16 = 42;

/// A worker state's short name (`/pulse.json` names), as the table shows it.
///
/// # Examples
///
/// ```
/// assert_eq!(tokio_pulse_top::view::short_state("search"), "srch");
/// assert_eq!(tokio_pulse_top::view::short_state("something new"), "somet");
/// ```
pub fn short_state(name: &str) -> &str {
    match name {
        "poll" => "poll",
        "driver" => "drv",
        "search" => "srch",
        "park" => "park",
        "maintenance" => "mnt",
        "blocking" => "blk",
        // A state a newer exporter adds: its first five characters.
        other => other
            .char_indices()
            .nth(5)
            .map_or(other, |(end, _)| &other[..end]),
    }
}

/// The states a worker spent at least 0.5% of the interval in, with their
/// shares: `poll 62% srch 10% park 25% drv 1%`.
///
/// # Examples
///
/// ```
/// let shares = [("poll", 0.62), ("driver", 0.01), ("search", 0.1), ("park", 0.25), ("blocking", 0.001)];
/// assert_eq!(tokio_pulse_top::view::state_shares(&shares), "poll 62% drv 1% srch 10% park 25%");
/// ```
pub fn state_shares(shares: &[(&str, f64)]) -> String {
    let parts: Vec<String> = shares
        .iter()
        .filter(|(_, share)| *share >= 0.005)
        .map(|(name, share)| format!("{} {}", short_state(name), pct(*share)))
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" ")
    }
}

fn draw_spawn_sites(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let block = Block::bordered().title(" CPU by spawn site (sampled polls, last interval) ");
    let mut lines: Vec<Line> = Vec::new();
    match &rt.spawn_sites {
        None => lines.push(Line::from("-")),
        Some(sites) if sites.is_empty() && rt.spawn_sites_other == 0 => {
            lines.push(Line::from(if rt.poll_timing {
                "no samples in the interval (the workers were idle)"
            } else {
                "no samples: the sampler needs poll timing"
            }))
        }
        Some(sites) => {
            let all = total(sites.iter().map(|s| s.samples)).saturating_add(rt.spawn_sites_other);
            lines.push(Line::from(Span::styled(
                format!(" share  samples  spawn site ({all} samples)"),
                Style::new().add_modifier(Modifier::BOLD),
            )));
            let bar_width = 20usize;
            for site in sites.iter().take(MAX_SITES) {
                let bar = "█".repeat((site.share * bar_width as f64).round() as usize);
                lines.push(Line::from(vec![
                    Span::raw(format!("{:>6} {:>8}  ", pct(site.share), site.samples)),
                    Span::styled(
                        format!("{bar:<bar_width$} "),
                        Style::new().fg(Color::Magenta),
                    ),
                    Span::raw(
                        site.location
                            .as_deref()
                            .unwrap_or("(no location)")
                            .to_string(),
                    ),
                ]));
            }
            if rt.spawn_sites_other > 0 {
                let share = rt.spawn_sites_other as f64 / all.max(1) as f64;
                lines.push(Line::from(format!(
                    "{:>6} {:>8}  {:bar_width$} (other sites)",
                    pct(share),
                    rt.spawn_sites_other,
                    ""
                )));
            }
        }
    }
    Paragraph::new(lines).block(block).render(area, buf);
}

fn draw_steals(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    const SHADES: [char; 5] = ['·', '░', '▒', '▓', '█'];
    let n = rt.steals.len();
    let max = rt.steals.iter().flatten().copied().max().unwrap_or(0);
    let total = total(rt.steals.iter().flatten().copied());
    let mut lines = vec![Line::from(format!(
        "thief↓ victim→  {total} tasks stolen in {:.0} s",
        rt.window
    ))];
    let mut head = String::from("      ");
    for v in 0..n {
        head.push_str(&format!("{:>3}", v % 1000));
    }
    lines.push(Line::from(head));
    for (thief, row) in rt.steals.iter().enumerate() {
        let mut spans = vec![Span::raw(format!("{thief:>5} "))];
        for &tasks in row {
            let level = if tasks == 0 || max == 0 {
                0
            } else {
                1 + ((tasks as f64 / max as f64) * 3.0).round() as usize
            }
            .min(4);
            let color = [
                Color::DarkGray,
                Color::Blue,
                Color::Cyan,
                Color::Yellow,
                Color::Red,
            ][level];
            let glyph = SHADES[level];
            spans.push(Span::styled(
                format!(" {glyph}{glyph}"),
                Style::new().fg(color),
            ));
        }
        lines.push(Line::from(spans));
    }
    Paragraph::new(lines)
        .block(Block::bordered().title(" steals, thief × victim (60 s) "))
        .render(area, buf);
}

fn draw_histogram(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let block = Block::bordered().title(" poll time (60 s) ");
    if !rt.poll_timing {
        Paragraph::new("poll timing is off")
            .block(block)
            .render(area, buf);
        return;
    }
    // Tiers two by two: 11 rows.
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut k = 0;
    while k < rt.tiers.len() {
        let count = rt.tiers[k].saturating_add(rt.tiers.get(k + 1).copied().unwrap_or(0));
        let label = match rt.tier_bounds.get(k + 1).copied().flatten() {
            Some(us) => format!("<{}", secs(us as f64 * 1e-6)),
            // The last pair: from the lower bound of its first tier up.
            None => match k
                .checked_sub(1)
                .and_then(|j| rt.tier_bounds.get(j).copied().flatten())
            {
                Some(us) => format!("≥{}", secs(us as f64 * 1e-6)),
                None => "rest".to_string(),
            },
        };
        rows.push((label, count));
        k += 2;
    }
    let total = total(rows.iter().map(|r| r.1));
    let bar_width = (area.width as usize).saturating_sub(26).max(4);
    let lines: Vec<Line> = rows
        .iter()
        .map(|(label, count)| {
            let share = if total == 0 {
                0.0
            } else {
                *count as f64 / total as f64
            };
            let bar = "█".repeat((share * bar_width as f64).round() as usize);
            Line::from(vec![
                Span::raw(format!("{label:>8} ")),
                Span::styled(format!("{bar:<bar_width$}"), Style::new().fg(Color::Green)),
                Span::raw(format!(" {:>5.1}% ", share * 100.0)),
            ])
        })
        .collect();
    Paragraph::new(lines).block(block).render(area, buf);
}

fn draw_events(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let mut lines: Vec<Line> = Vec::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for (worker, e) in &rt.events {
        let what = match (e.kind.as_str(), e.ended) {
            ("stall", Some(false)) => Span::styled(
                "STALL    ",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            ("stall", _) => Span::styled("stall end", Style::new().fg(Color::Red)),
            _ => Span::styled("slow poll", Style::new().fg(Color::Yellow)),
        };
        let ago = e.at_unix_ms.map_or("-".into(), |at| {
            format!("{:.0}s ago", now_ms.saturating_sub(at) as f64 / 1000.0)
        });
        let task = if e.block_on {
            "block_on".to_string()
        } else {
            format!("task {}", e.task_id)
        };
        let mut spans = vec![
            Span::raw(format!("{ago:>8} ")),
            what,
            Span::raw(format!(
                " w{worker} {:>7} {task}{} at {}",
                secs(e.duration_seconds),
                e.task_name
                    .as_ref()
                    .map_or(String::new(), |n| format!(" {n:?}")),
                e.spawned_at.as_deref().unwrap_or("?"),
            )),
        ];
        if let Some(cpu) = e.cpu_share {
            spans.push(Span::raw(format!(" cpu {}", pct(cpu))));
        }
        if let Some(busy) = e.busy_share {
            spans.push(Span::raw(format!(" busy {}", pct(busy))));
        }
        if let Some(state) = &e.state {
            spans.push(Span::raw(format!(" {state}")));
        }
        if let Some(syscall) = &e.syscall {
            spans.push(Span::raw(format!(" in {syscall}")));
        }
        lines.push(Line::from(spans));
        // The application's own frames, innermost first: the runtime's and
        // the system's are marked by the exporter and left out here.
        if let Some(stack) = &e.stack {
            let own = stack
                .iter()
                .filter(|f| !f.ends_with(" [runtime]") && !f.ends_with(" [system]"));
            for frame in own.take(4) {
                lines.push(Line::from(Span::styled(
                    format!("             {frame}"),
                    Style::new().fg(Color::DarkGray),
                )));
            }
        }
    }
    if lines.is_empty() {
        lines.push(Line::from(if rt.poll_timing {
            "none yet"
        } else {
            "none: slow polls and stalls need poll timing"
        }));
    }
    Paragraph::new(Text::from(lines))
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(" recent stalls and slow polls "))
        .render(area, buf);
}

fn draw_help(area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::Widget;
    let w = 64.min(area.width);
    let h = 19.min(area.height);
    let popup = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(popup, buf);
    Paragraph::new(vec![
        Line::from("q, Ctrl-C   quit (the terminal is restored)"),
        Line::from("Tab         next runtime, then next process"),
        Line::from("s           sort workers: index, polls/s, busy, p99, sch p99,"),
        Line::from("            in poll"),
        Line::from("p           pause / resume updates"),
        Line::from("?           this help"),
        Line::from(""),
        Line::from("p50/p99: upper bound of the poll-time tier holding it."),
        Line::from("in poll: the poll running now; red past the stall threshold."),
        Line::from("steals in: tasks/s this worker stole; out: stolen from it."),
        Line::from("LIFO: share of polls from the LIFO slot."),
        Line::from("sch p50/p99: schedule latency (spawn or wake to poll)."),
        Line::from("oldest: age of the oldest task in the local queue."),
        Line::from("now, time in states: the state now and shares of the"),
        Line::from("interval (poll, drv, srch, park, mnt, blk)."),
    ])
    .block(Block::bordered().title(" help "))
    .render(popup, buf);
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
