//! What came of a decision once the executor carried it out, typed, so that reports, metrics and
//! the cost timeline ask [`Outcome::is_executed`] instead of re-parsing text. `Display` gives
//! the words `curfew tick` has always printed (JSON output and tests compare them).

use super::Status;
use std::fmt;

/// What came of one decision: written, executed, refused, or lost to another governor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `dry run`: decided and reported, nothing done or written.
    DryRun,
    /// `recorded`: a decision without an ARM call, written to the ledger (or already there).
    Recorded,
    /// `not recorded: {0}`: the store failed to write the decision (the next tick decides
    /// again); the store's error in words.
    NotRecorded(String),
    /// Another governor got to the occurrence first.
    Lost(LostRace),
    /// `not executed: claiming failed: {0}`: the store failed to claim the occurrence, so ARM
    /// was not called.
    NotClaimed(String),
    /// Claimed, then settled by the ARM call (or the lack of one).
    Settled {
        /// What ARM made of it, as the ledger records it.
        settlement: Settlement,
        /// The store's error when writing the settlement failed (the next tick reconciles the
        /// record still `Executing`).
        write_error: Option<String>,
    },
}

/// How another governor got to an occurrence first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostRace {
    /// `not recorded: already {0} (another governor)`: the record was settled or is executing
    /// elsewhere; the store state's name.
    AlreadySettled(String),
    /// `not recorded: another governor changed it first`: the write lost a compare-and-set.
    ChangedFirst,
    /// `not executed: already {0} (another governor)`: the record cannot be claimed any more;
    /// the store state's name.
    NotClaimable(String),
    /// `not executed: claimed by another governor`: the claim lost a compare-and-set.
    ClaimedFirst,
}

/// How a claimed occurrence settles after its ARM call; `Display` is the ledger's outcome text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// `accepted by ARM`: carried out (`Done`).
    Accepted,
    /// `deferred: {0}`: ARM answered 409 or failed transiently; re-decided next tick
    /// (`Deferred`). ARM's error in words.
    Deferred(String),
    /// `failed: {0}`: ARM refused (`Failed`). ARM's error in words.
    Refused(String),
    /// `the instance has no ARM id`: nothing to call (`Failed`).
    NoArmId,
}

impl Settlement {
    /// The ledger status the claimed record moves to.
    pub fn status(&self) -> Status {
        match self {
            Settlement::Accepted => Status::Done,
            Settlement::Deferred(_) => Status::Deferred,
            Settlement::Refused(_) | Settlement::NoArmId => Status::Failed,
        }
    }
}

impl Outcome {
    /// Whether ARM accepted the action: the cost timeline and the metrics count these.
    pub fn is_executed(&self) -> bool {
        matches!(
            self,
            Outcome::Settled {
                settlement: Settlement::Accepted,
                ..
            }
        )
    }

    /// Whether ARM refused the action or the store failed to write the decision: `curfew tick`
    /// exits 1 on these. A race lost to another governor is not one ([`Outcome::is_lost_race`]):
    /// the winner did the work, exactly once.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Settled {
                settlement: Settlement::Refused(_),
                ..
            } | Outcome::NotRecorded(_)
        )
    }

    /// Whether another governor got to the occurrence first: normal when governors run
    /// concurrently, counted in the tick report, never a failure.
    pub fn is_lost_race(&self) -> bool {
        matches!(self, Outcome::Lost(_))
    }
}

impl fmt::Display for Settlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Settlement::Accepted => f.write_str("accepted by ARM"),
            Settlement::Deferred(e) => write!(f, "deferred: {e}"),
            Settlement::Refused(e) => write!(f, "failed: {e}"),
            Settlement::NoArmId => f.write_str("the instance has no ARM id"),
        }
    }
}

impl fmt::Display for LostRace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostRace::AlreadySettled(s) => {
                write!(f, "not recorded: already {s} (another governor)")
            }
            LostRace::ChangedFirst => {
                f.write_str("not recorded: another governor changed it first")
            }
            LostRace::NotClaimable(s) => write!(f, "not executed: already {s} (another governor)"),
            LostRace::ClaimedFirst => f.write_str("not executed: claimed by another governor"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::DryRun => f.write_str("dry run"),
            Outcome::Recorded => f.write_str("recorded"),
            Outcome::NotRecorded(e) => write!(f, "not recorded: {e}"),
            Outcome::Lost(race) => race.fmt(f),
            Outcome::NotClaimed(e) => write!(f, "not executed: claiming failed: {e}"),
            Outcome::Settled {
                settlement,
                write_error,
            } => {
                if *settlement == Settlement::Accepted {
                    f.write_str("executed: ")?;
                }
                settlement.fmt(f)?;
                match write_error {
                    Some(e) => write!(f, "; recording it failed: {e} (the next tick reconciles)"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(settlement: Settlement, write_error: Option<&str>) -> Outcome {
        Outcome::Settled {
            settlement,
            write_error: write_error.map(str::to_string),
        }
    }

    /// The words are the interface: JSON output, the audit log and tests compare them.
    #[test]
    fn outcomes_read_as_they_always_have() {
        let table = [
            (Outcome::DryRun, "dry run"),
            (Outcome::Recorded, "recorded"),
            (
                Outcome::NotRecorded("store unavailable".into()),
                "not recorded: store unavailable",
            ),
            (
                Outcome::Lost(LostRace::AlreadySettled("Done".into())),
                "not recorded: already Done (another governor)",
            ),
            (
                Outcome::Lost(LostRace::ChangedFirst),
                "not recorded: another governor changed it first",
            ),
            (
                Outcome::Lost(LostRace::NotClaimable("Executing".into())),
                "not executed: already Executing (another governor)",
            ),
            (
                Outcome::Lost(LostRace::ClaimedFirst),
                "not executed: claimed by another governor",
            ),
            (
                Outcome::NotClaimed("timeout".into()),
                "not executed: claiming failed: timeout",
            ),
            (
                settled(Settlement::Accepted, None),
                "executed: accepted by ARM",
            ),
            (
                settled(Settlement::Accepted, Some("disk full")),
                "executed: accepted by ARM; recording it failed: disk full (the next tick reconciles)",
            ),
            (
                settled(Settlement::Deferred("409 Conflict".into()), None),
                "deferred: 409 Conflict",
            ),
            (
                settled(Settlement::Refused("403 Forbidden".into()), None),
                "failed: 403 Forbidden",
            ),
            (
                settled(Settlement::Refused("403 Forbidden".into()), Some("disk full")),
                "failed: 403 Forbidden; recording it failed: disk full (the next tick reconciles)",
            ),
            (
                settled(Settlement::NoArmId, None),
                "the instance has no ARM id",
            ),
        ];
        for (outcome, text) in table {
            assert_eq!(outcome.to_string(), text);
        }
    }

    /// Executed means ARM accepted it, whether or not the settlement was written; failure is
    /// what the text's `failed` / `not recorded` prefixes always meant, except a race lost to
    /// another governor (`(another governor)` / `another governor …`), which is not a failure.
    #[test]
    fn executed_and_failure_as_the_text_always_said() {
        let all = [
            Outcome::DryRun,
            Outcome::Recorded,
            Outcome::NotRecorded("e".into()),
            Outcome::Lost(LostRace::AlreadySettled("Done".into())),
            Outcome::Lost(LostRace::ChangedFirst),
            Outcome::Lost(LostRace::NotClaimable("Done".into())),
            Outcome::Lost(LostRace::ClaimedFirst),
            Outcome::NotClaimed("e".into()),
            settled(Settlement::Accepted, None),
            settled(Settlement::Accepted, Some("e")),
            settled(Settlement::Deferred("e".into()), None),
            settled(Settlement::Deferred("e".into()), Some("e")),
            settled(Settlement::Refused("e".into()), None),
            settled(Settlement::Refused("e".into()), Some("e")),
            settled(Settlement::NoArmId, None),
        ];
        for o in &all {
            let text = o.to_string();
            assert_eq!(o.is_executed(), text.starts_with("executed"), "{text}");
            let lost = text.contains("another governor");
            assert_eq!(o.is_lost_race(), lost, "{text}");
            assert_eq!(
                o.is_failure(),
                !lost && (text.starts_with("failed") || text.starts_with("not recorded")),
                "{text}"
            );
        }
        assert!(settled(Settlement::Accepted, Some("e")).is_executed());
        assert!(!Outcome::Lost(LostRace::ClaimedFirst).is_executed());
    }

    #[test]
    fn settlements_move_the_record_to_their_status_and_read_as_the_ledger_records_them() {
        for (s, status, text) in [
            (Settlement::Accepted, Status::Done, "accepted by ARM"),
            (
                Settlement::Deferred("409".into()),
                Status::Deferred,
                "deferred: 409",
            ),
            (
                Settlement::Refused("403".into()),
                Status::Failed,
                "failed: 403",
            ),
            (
                Settlement::NoArmId,
                Status::Failed,
                "the instance has no ARM id",
            ),
        ] {
            assert_eq!(s.status(), status, "{s}");
            assert_eq!(s.to_string(), text);
        }
    }
}
