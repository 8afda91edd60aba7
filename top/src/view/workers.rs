//! The worker table: its columns (dropped in order on a narrow terminal),
//! the sort, and the panel that draws it.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Cell, Row, Table};

use super::format::{opt, pct, secs, short_state, sparkline, state_shares};
use super::{App, Sort};
use crate::state::{RuntimeView, WorkerRow};
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

pub(super) fn draw_workers(app: &App, rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
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
