//! The terminal: raw mode and the alternate screen while the view runs,
//! restored on drop, on panic (a hook that runs before the panic message)
//! and so on every way out; keys read with a timeout.

use std::io::{self, Stdout};
use std::sync::Once;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use ratatui::backend::CrosstermBackend;

use crate::view::{self, App};

/// The terminal, in the view's mode until dropped.
pub(crate) struct Terminal {
    inner: ratatui::Terminal<CrosstermBackend<Stdout>>,
}

/// Puts the terminal back as it was; safe to call more than once.
fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

impl Terminal {
    /// Raw mode, alternate screen, hidden cursor.
    pub(crate) fn enter() -> io::Result<Terminal> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        terminal::enable_raw_mode()?;
        let entered = execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)
            .and_then(|()| ratatui::Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(inner) => Ok(Terminal { inner }),
            Err(err) => {
                restore();
                Err(err)
            }
        }
    }

    pub(crate) fn draw(&mut self, app: &App) -> io::Result<()> {
        self.inner.draw(|frame| view::draw(frame, app)).map(drop)
    }

    pub(crate) fn autoresize(&mut self) -> io::Result<()> {
        self.inner.autoresize()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore();
    }
}

/// What the user did.
pub(crate) enum Input {
    /// `q`, `Esc` or Ctrl-C.
    Quit,
    /// Another key (`\t` for Tab).
    Key(char),
    /// The terminal changed size.
    Resize,
}

/// The next input within `timeout`, if any.
pub(crate) fn next_key(timeout: Duration) -> io::Result<Option<Input>> {
    if !event::poll(timeout)? {
        return Ok(None);
    }
    Ok(match event::read()? {
        Event::Key(key) if key.kind != KeyEventKind::Release => match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Input::Quit)
            }
            KeyCode::Char('q') | KeyCode::Esc => Some(Input::Quit),
            KeyCode::Tab => Some(Input::Key('\t')),
            KeyCode::Char(c) => Some(Input::Key(c)),
            _ => None,
        },
        Event::Resize(..) => Some(Input::Resize),
        _ => None,
    })
}
