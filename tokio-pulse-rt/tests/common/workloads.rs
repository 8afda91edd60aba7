//! Workloads more than one test binary runs.

use std::future::{poll_fn, Future};
use std::task::Poll;

use tokio::sync::mpsc::Receiver;

/// Receives everything from both channels, one message per select, with a
/// select written with `poll_fn` that polls each open channel in turn (as
/// `futures::select!` and most hand-written combinators do: no budget check
/// of its own), and returns how many messages it received once both are
/// closed and empty.
pub fn poll_fn_select_drain(channels: [Receiver<usize>; 2]) -> impl Future<Output = usize> {
    let mut channels = channels;
    let (mut received, mut open) = (0, [true, true]);
    poll_fn(move |cx| loop {
        let mut pending = false;
        let mut got = false;
        for (rx, open) in channels.iter_mut().zip(&mut open) {
            if !*open {
                continue;
            }
            match rx.poll_recv(cx) {
                Poll::Ready(Some(_)) => {
                    received += 1;
                    got = true;
                    break;
                }
                Poll::Ready(None) => *open = false,
                Poll::Pending => pending = true,
            }
        }
        if got {
            continue;
        }
        if pending {
            return Poll::Pending;
        }
        return Poll::Ready(received);
    })
}
