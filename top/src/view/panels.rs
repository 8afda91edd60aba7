//! The panels other than the worker table: the fleet, the selected
//! runtime's header, spawn sites, the steal heatmap, the poll-time
//! histogram, recent stalls and slow polls, and the help.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::format::{opt, pct, secs, uptime};
use super::{App, MAX_SITES};
use crate::state::{total, Process, RuntimeView};
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

pub(super) fn draw_fleet(app: &App, area: Rect, buf: &mut Buffer) {
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

pub(super) fn draw_header(app: &App, rt: Option<&RuntimeView>, area: Rect, buf: &mut Buffer) {
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

pub(super) fn draw_spawn_sites(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
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

pub(super) fn draw_steals(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
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

pub(super) fn draw_histogram(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
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

pub(super) fn draw_events(rt: &RuntimeView, area: Rect, buf: &mut Buffer) {
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

pub(super) fn draw_help(area: Rect, buf: &mut Buffer) {
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
