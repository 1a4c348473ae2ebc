//! What ARM says a compute instance is doing (`properties.state`), typed once so that the rules
//! that depend on it (state-aware decisions, reconciliation, idle shutdown) never compare
//! strings.

use crate::schedule::Action;
use std::fmt;

/// An instance's power state as ARM reports it, parsed case-insensitively (design §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// Up and idle or in use.
    Running,
    /// Up and running a job.
    JobRunning,
    /// On its way up (a Start was accepted).
    Starting,
    /// Deallocated.
    Stopped,
    /// On its way down (a Stop was accepted).
    Stopping,
    /// Being provisioned.
    Creating,
    /// Being deleted.
    Deleting,
    /// Changing VM size.
    Resizing,
    /// Restarting.
    Restarting,
    /// Running its setup scripts.
    SettingUp,
    /// Running the user's setup scripts.
    UserSettingUp,
    /// Broken beyond the governor's reach.
    Unusable,
    /// A failed operation (`CreateFailed`, `StartFailed`, `UserSetupFailed`, …), as ARM spells it.
    Failed(String),
    /// No state reported, or ARM's own `Unknown`.
    Unknown,
    /// Any other state, as ARM spells it: treated as transitional.
    Other(String),
}

impl PowerState {
    /// Parses ARM's `properties.state`; an empty string is `Unknown`, anything unrecognised is
    /// `Other` (kept as spelled, so it can be shown).
    pub fn parse(state: &str) -> PowerState {
        const NAMED: [(&str, PowerState); 13] = [
            ("Running", PowerState::Running),
            ("JobRunning", PowerState::JobRunning),
            ("Starting", PowerState::Starting),
            ("Stopped", PowerState::Stopped),
            ("Stopping", PowerState::Stopping),
            ("Creating", PowerState::Creating),
            ("Deleting", PowerState::Deleting),
            ("Resizing", PowerState::Resizing),
            ("Restarting", PowerState::Restarting),
            ("SettingUp", PowerState::SettingUp),
            ("UserSettingUp", PowerState::UserSettingUp),
            ("Unusable", PowerState::Unusable),
            ("Unknown", PowerState::Unknown),
        ];
        if state.is_empty() {
            return PowerState::Unknown;
        }
        if let Some((_, s)) = NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(state)) {
            return s.clone();
        }
        let failed = state
            .len()
            .checked_sub(6)
            .and_then(|i| state.get(i..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case("failed"));
        if failed {
            PowerState::Failed(state.to_string())
        } else {
            PowerState::Other(state.to_string())
        }
    }

    /// [`PowerState::parse`] of an optional state: a missing one is `Unknown`.
    pub fn of(state: Option<&str>) -> PowerState {
        state.map_or(PowerState::Unknown, PowerState::parse)
    }

    /// Whether the instance shows that `action` was taken: where it leads, or on its way there
    /// (Start: Running/Starting; Stop: Stopped/Stopping). Reconciliation asks this.
    pub fn has_reached(&self, action: Action) -> bool {
        match action {
            Action::Start => matches!(self, PowerState::Running | PowerState::Starting),
            Action::Stop => matches!(self, PowerState::Stopped | PowerState::Stopping),
        }
    }

    /// Whether `action` has nothing left to do here: [`has_reached`](Self::has_reached), or,
    /// for a Start, an instance busy with a job (it is up). The governor records these `NoOp`.
    pub fn fulfils(&self, action: Action) -> bool {
        self.has_reached(action) || (action == Action::Start && *self == PowerState::JobRunning)
    }

    /// Whether ARM can take `action` from here (Stop: Running/JobRunning; Start: Stopped);
    /// neither this nor [`fulfils`](Self::fulfils) means transitional or broken: defer.
    pub fn accepts(&self, action: Action) -> bool {
        match action {
            Action::Stop => matches!(self, PowerState::Running | PowerState::JobRunning),
            Action::Start => *self == PowerState::Stopped,
        }
    }

    /// The state an accepted `action` leaves the instance in (Stopping/Starting): what later
    /// decisions of the same tick are made against.
    pub fn after(action: Action) -> PowerState {
        match action {
            Action::Stop => PowerState::Stopping,
            Action::Start => PowerState::Starting,
        }
    }
}

impl fmt::Display for PowerState {
    /// ARM's spelling (`Running`, `SettingUp`); `Failed` and `Other` as ARM wrote them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PowerState::Running => "Running",
            PowerState::JobRunning => "JobRunning",
            PowerState::Starting => "Starting",
            PowerState::Stopped => "Stopped",
            PowerState::Stopping => "Stopping",
            PowerState::Creating => "Creating",
            PowerState::Deleting => "Deleting",
            PowerState::Resizing => "Resizing",
            PowerState::Restarting => "Restarting",
            PowerState::SettingUp => "SettingUp",
            PowerState::UserSettingUp => "UserSettingUp",
            PowerState::Unusable => "Unusable",
            PowerState::Unknown => "Unknown",
            PowerState::Failed(s) | PowerState::Other(s) => s,
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PowerState::*;

    #[test]
    fn arm_spellings_parse_case_insensitively_and_display_as_arm_spells_them() {
        for (text, state) in [
            ("Running", Running),
            ("running", Running),
            ("RUNNING", Running),
            ("JobRunning", JobRunning),
            ("Starting", Starting),
            ("stopped", Stopped),
            ("Stopping", Stopping),
            ("Creating", Creating),
            ("Deleting", Deleting),
            ("Resizing", Resizing),
            ("Restarting", Restarting),
            ("settingup", SettingUp),
            ("UserSettingUp", UserSettingUp),
            ("Unusable", Unusable),
            ("Unknown", Unknown),
            ("", Unknown),
        ] {
            assert_eq!(PowerState::parse(text), state, "{text:?}");
            if !text.is_empty() {
                assert!(state.to_string().eq_ignore_ascii_case(text), "{text:?}");
            }
        }
        assert_eq!(PowerState::of(None), Unknown);
        assert_eq!(PowerState::of(Some("Stopped")), Stopped);
    }

    #[test]
    fn any_failed_state_is_failed_and_anything_else_is_other_both_kept_as_spelled() {
        for s in [
            "CreateFailed",
            "StartFailed",
            "userSetupFailed",
            "RESIZEFAILED",
            "Failed",
        ] {
            assert_eq!(PowerState::parse(s), Failed(s.to_string()));
            assert_eq!(PowerState::parse(s).to_string(), s);
        }
        for s in [
            "Whatever", " Running", "Runnin", "Stopped!", "Fail", "€€a", "Ünknown",
        ] {
            assert_eq!(PowerState::parse(s), Other(s.to_string()), "{s:?}");
            assert_eq!(PowerState::parse(s).to_string(), s);
        }
    }

    /// Per action: the states that show it was taken, those with nothing left to do, and those
    /// ARM can take it from. Everything else (transitional, broken, unknown) is none of them.
    #[test]
    fn reached_fulfilled_and_accepting_states_per_action() {
        let all = [
            Running,
            JobRunning,
            Starting,
            Stopped,
            Stopping,
            Creating,
            Deleting,
            Resizing,
            Restarting,
            SettingUp,
            UserSettingUp,
            Unusable,
            Failed("StartFailed".into()),
            Unknown,
            Other("Whatever".into()),
        ];
        // (action, reached, fulfilled, accepting)
        type States<'a> = &'a [PowerState];
        let table: [(Action, States<'_>, States<'_>, States<'_>); 2] = [
            (
                Action::Start,
                &[Running, Starting],
                &[Running, Starting, JobRunning],
                &[Stopped],
            ),
            (
                Action::Stop,
                &[Stopped, Stopping],
                &[Stopped, Stopping],
                &[Running, JobRunning],
            ),
        ];
        for (action, reached, fulfilled, accepting) in table {
            for s in &all {
                assert_eq!(s.has_reached(action), reached.contains(s), "{action} {s}");
                assert_eq!(s.fulfils(action), fulfilled.contains(s), "{action} {s}");
                assert_eq!(s.accepts(action), accepting.contains(s), "{action} {s}");
            }
        }
    }

    #[test]
    fn an_accepted_action_leaves_the_instance_on_its_way_there() {
        for action in [Action::Start, Action::Stop] {
            let after = PowerState::after(action);
            assert!(
                after.has_reached(action) && !after.accepts(action),
                "{action}"
            );
        }
        assert_eq!(PowerState::after(Action::Stop), Stopping);
        assert_eq!(PowerState::after(Action::Start), Starting);
    }
}
