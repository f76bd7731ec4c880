//! The runner dies with its parent: `PR_SET_PDEATHSIG` with `SIGKILL`, and an immediate exit
//! when the parent is already gone (it died before the signal was set, and the runner was
//! re-parented). Not a reported layer: it always runs.

use rustix::process::{getppid, set_parent_process_death_signal, Pid, Signal};

use super::EXIT_PARENT_GONE;

/// Sets the parent-death signal, then exits with [`EXIT_PARENT_GONE`] if the parent is not
/// `expected` any more. Checking after setting closes the race: a parent that dies later
/// sends the signal.
pub(super) fn tie_to_parent(expected: Option<u32>) {
    // Failing to set it only loses the tie; the runner's socket to the host still closes.
    let _ = set_parent_process_death_signal(Some(Signal::KILL));
    if let Some(expected) = expected {
        if !is_parent(getppid(), expected) {
            std::process::exit(EXIT_PARENT_GONE);
        }
    }
}

fn is_parent(actual: Option<Pid>, expected: u32) -> bool {
    actual.is_some_and(|pid| u32::try_from(pid.as_raw_nonzero().get()) == Ok(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_compared_by_pid() {
        let me = Pid::from_raw(1234);
        assert!(is_parent(me, 1234));
        assert!(!is_parent(me, 1));
        assert!(!is_parent(None, 1234));
    }
}
