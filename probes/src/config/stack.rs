//! [`StackSignal`], the real-time signal stack capture interrupts a stuck
//! worker with, and its parser.

/// A real-time signal, as an offset from `SIGRTMIN` or as a number.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::StackSignal;
/// assert_eq!("SIGRTMIN+3".parse(), Ok(StackSignal::RtMinPlus(3)));
/// assert_eq!("40".parse(), Ok(StackSignal::Number(40)));
/// assert!("SIGUSR1".parse::<StackSignal>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackSignal {
    /// `SIGRTMIN + n`.
    RtMinPlus(i32),
    /// The signal with this number.
    Number(i32),
}

impl std::str::FromStr for StackSignal {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<StackSignal, &'static str> {
        const EXPECTED: &str = "expected a signal number or SIGRTMIN+n";
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("SIGRTMIN") {
            let rest = rest.trim();
            if rest.is_empty() {
                return Ok(StackSignal::RtMinPlus(0));
            }
            let offset = rest.strip_prefix('+').ok_or(EXPECTED)?;
            return offset
                .trim()
                .parse()
                .map(StackSignal::RtMinPlus)
                .map_err(|_| EXPECTED);
        }
        text.parse().map(StackSignal::Number).map_err(|_| EXPECTED)
    }
}
