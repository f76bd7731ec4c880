//! Plugin states, the transitions allowed between them, and each instance's history (S8.1).

use std::fmt;
use std::time::SystemTime;

/// Where a plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum State {
    /// On disk, not yet resolved.
    Installed = 0,
    /// Its dependencies are resolved.
    Resolved = 1,
    /// Verified, mapped and created; not yet started.
    Loaded = 2,
    /// Its `start` hook is running.
    Starting = 3,
    /// Serving calls and events.
    Active = 4,
    /// Its `stop` hook is running.
    Stopping = 5,
    /// Stopped cleanly; may be started again.
    Stopped = 6,
    /// Turned off by an operator.
    Disabled = 7,
    /// A hook failed or plugin code panicked; takes no more calls.
    Failed = 8,
    /// Removed from the host.
    Removed = 9,
    /// Serving, while a hot reload hands it over to a new version: new calls wait for the
    /// handover (then go to the new code, or back to the old one if the reload failed).
    Reloading = 10,
}

impl State {
    pub(crate) fn from_u8(n: u8) -> State {
        match n {
            0 => State::Installed,
            1 => State::Resolved,
            2 => State::Loaded,
            3 => State::Starting,
            4 => State::Active,
            5 => State::Stopping,
            6 => State::Stopped,
            7 => State::Disabled,
            8 => State::Failed,
            10 => State::Reloading,
            _ => State::Removed,
        }
    }

    /// The state's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Installed => "installed",
            State::Resolved => "resolved",
            State::Loaded => "loaded",
            State::Starting => "starting",
            State::Active => "active",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Disabled => "disabled",
            State::Failed => "failed",
            State::Removed => "removed",
            State::Reloading => "reloading",
        }
    }

    /// Whether the lifecycle allows going from `self` to `to`.
    ///
    /// # Example
    ///
    /// ```
    /// use switchboard_host::State;
    ///
    /// assert!(State::Loaded.can_go_to(State::Starting));
    /// assert!(!State::Loaded.can_go_to(State::Stopping));
    /// assert!(State::Active.can_go_to(State::Failed));
    /// ```
    pub fn can_go_to(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Installed, Resolved)
                | (Installed, Disabled)
                | (Resolved, Loaded)
                | (Resolved, Disabled)
                | (Loaded, Starting)
                | (Starting, Active)
                | (Active, Stopping)
                | (Stopping, Stopped)
                | (Stopped, Starting)
                | (Stopped, Disabled)
                | (Disabled, Installed)
                | (Active, Reloading)
                | (Reloading, Active)
                | (Loaded | Starting | Active | Stopping | Reloading, Failed)
                | (
                    Installed | Resolved | Loaded | Stopped | Disabled | Failed,
                    Removed
                )
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step in a plugin's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state before (`None` for the first entry).
    pub from: Option<State>,
    /// The state after.
    pub to: State,
    /// When it happened.
    pub at: SystemTime,
    /// Why, when there is more to say (an error message, for `failed`).
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [State; 11] = [
        State::Installed,
        State::Resolved,
        State::Loaded,
        State::Starting,
        State::Active,
        State::Stopping,
        State::Stopped,
        State::Disabled,
        State::Failed,
        State::Removed,
        State::Reloading,
    ];

    #[test]
    fn wire_numbers_round_trip() {
        for s in ALL {
            assert_eq!(State::from_u8(s as u8), s);
        }
    }

    #[test]
    fn removed_and_failed_are_terminal_but_for_removal() {
        for to in ALL {
            assert!(!State::Removed.can_go_to(to));
            assert_eq!(State::Failed.can_go_to(to), to == State::Removed);
        }
    }

    #[test]
    fn no_state_goes_to_itself() {
        for s in ALL {
            assert!(!s.can_go_to(s));
        }
    }
}
