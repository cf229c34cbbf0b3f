//! The transfer process manager's own state: one stream `transfer-{transferId}` that
//! records how far a transfer got, so that re-running it continues where it stopped
//! and never moves money twice.
//!
//! ```text
//! TransferRequested ─► TransferDebited ─► TransferCompleted
//!        │                    └─► TransferCreditFailed ─► TransferRefunded
//!        └─► TransferFailed (the source could not be debited: nothing moved)
//! ```

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::money::Money;
use chronik_core::aggregate::{Aggregate, DomainEvent};

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStatus {
    /// Not requested yet.
    #[default]
    NotStarted,
    /// Requested; the source is not debited yet.
    Requested,
    /// The source was debited; the target is not credited yet (money in flight).
    Debited,
    /// The target could not be credited; the source is not refunded yet.
    CreditFailed,
    /// Done: the source was debited and the target credited.
    Completed,
    /// The source could not be debited: nothing moved.
    Failed,
    /// The target could not be credited and the source got its money back.
    Refunded,
}

impl TransferStatus {
    /// Whether the transfer is finished (completed, failed or refunded).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TransferStatus::Completed | TransferStatus::Failed | TransferStatus::Refunded
        )
    }
}

/// What the process manager records in a transfer stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum TransferEvent {
    /// A transfer of `amount` from `from` to `to` was asked for.
    TransferRequested {
        /// The source account id.
        from: String,
        /// The target account id.
        to: String,
        /// Amount in cents.
        amount: Money,
    },
    /// The source account was debited.
    TransferDebited,
    /// The target account was credited: the transfer is complete.
    TransferCompleted,
    /// The target account could not be credited.
    TransferCreditFailed {
        /// Why (the target's rejection).
        reason: String,
    },
    /// The source account got the amount back.
    TransferRefunded,
    /// The source account could not be debited; nothing moved.
    TransferFailed {
        /// Why (the source's rejection).
        reason: String,
    },
}

impl TransferEvent {
    /// Every event type a transfer stream holds.
    pub const TYPES: [&'static str; 6] = [
        "TransferRequested",
        "TransferDebited",
        "TransferCompleted",
        "TransferCreditFailed",
        "TransferRefunded",
        "TransferFailed",
    ];
}

impl DomainEvent for TransferEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TransferEvent::TransferRequested { .. } => "TransferRequested",
            TransferEvent::TransferDebited => "TransferDebited",
            TransferEvent::TransferCompleted => "TransferCompleted",
            TransferEvent::TransferCreditFailed { .. } => "TransferCreditFailed",
            TransferEvent::TransferRefunded => "TransferRefunded",
            TransferEvent::TransferFailed { .. } => "TransferFailed",
        }
    }

    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
        codec::to_data(self)
    }

    fn from_data(event_type: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        codec::from_data(event_type, data)
    }

    fn from_data_ref(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        codec::from_data_ref(event_type, data)
    }
}

/// What the process manager tells a transfer stream (internal to [`Bank::transfer`],
/// public so that tests and tools can drive a transfer by hand). Its JSON shape is
/// tagged by `type` with camelCase fields, as the sync outbox keeps it
/// (`transfer.request`, `transfer.markDebited`, … in [`commands`](crate::commands)).
///
/// [`Bank::transfer`]: super::Bank::transfer
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum TransferCommand {
    /// Record the request (a no-op when the same request is already recorded).
    Request {
        /// The source account id.
        from: String,
        /// The target account id.
        to: String,
        /// Amount in cents.
        amount: Money,
    },
    /// Record that the source was debited.
    MarkDebited,
    /// Record that the target was credited.
    MarkCompleted,
    /// Record that the target refused the credit.
    MarkCreditFailed {
        /// Why.
        reason: String,
    },
    /// Record that the source was refunded.
    MarkRefunded,
    /// Record that the source refused the debit.
    MarkFailed {
        /// Why.
        reason: String,
    },
}

/// Why a transfer step cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The transfer id was already used for another request. Use a fresh transfer id.
    #[error("transfer id already used for {from} -> {to} of {amount}; use a fresh transfer id")]
    IdReused {
        /// The recorded source.
        from: String,
        /// The recorded target.
        to: String,
        /// The recorded amount.
        amount: Money,
    },
    /// Source and target are the same account. Pick two different accounts.
    #[error("cannot transfer from an account to itself")]
    SameAccount,
    /// The step does not follow from the transfer's status (a bug in the caller).
    /// Re-run the transfer through [`Bank::transfer`](super::Bank::transfer).
    #[error("transfer is {status:?}; cannot record {step}")]
    OutOfOrder {
        /// The current status.
        status: TransferStatus,
        /// The step asked for.
        step: &'static str,
    },
}

/// A transfer: the fold of its stream. Serialized in camelCase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Transfer {
    /// The transfer id ([`Bank::transfer`](super::Bank::transfer) fills it in).
    pub id: String,
    /// The source account id.
    pub from: String,
    /// The target account id.
    pub to: String,
    /// Amount in cents.
    pub amount: Money,
    /// Where the transfer stands.
    pub status: TransferStatus,
    /// Why it failed or was refunded.
    pub reason: Option<String>,
}

impl Aggregate for Transfer {
    type Command = TransferCommand;
    type Event = TransferEvent;
    type Error = TransferError;
    const CATEGORY: &'static str = "transfer";

    fn decide(&self, command: &TransferCommand) -> Result<Vec<TransferEvent>, TransferError> {
        use TransferStatus as S;
        let out_of_order = |step| TransferError::OutOfOrder {
            status: self.status,
            step,
        };
        match command {
            TransferCommand::Request { from, to, amount } => {
                if from == to {
                    return Err(TransferError::SameAccount);
                }
                if self.status == S::NotStarted {
                    return Ok(vec![TransferEvent::TransferRequested {
                        from: from.clone(),
                        to: to.clone(),
                        amount: *amount,
                    }]);
                }
                if (&self.from, &self.to, self.amount) == (from, to, *amount) {
                    Ok(Vec::new())
                } else {
                    Err(TransferError::IdReused {
                        from: self.from.clone(),
                        to: self.to.clone(),
                        amount: self.amount,
                    })
                }
            }
            // A step already recorded (by another run of the same transfer, say on
            // another device) decides nothing; a step that contradicts the recorded
            // path is out of order.
            TransferCommand::MarkDebited => match self.status {
                S::Requested => Ok(vec![TransferEvent::TransferDebited]),
                S::Debited | S::CreditFailed | S::Completed | S::Refunded => Ok(Vec::new()),
                _ => Err(out_of_order("debit")),
            },
            TransferCommand::MarkFailed { reason } => match self.status {
                S::Requested => Ok(vec![TransferEvent::TransferFailed {
                    reason: reason.clone(),
                }]),
                S::Failed => Ok(Vec::new()),
                _ => Err(out_of_order("failure")),
            },
            TransferCommand::MarkCompleted => match self.status {
                S::Debited => Ok(vec![TransferEvent::TransferCompleted]),
                S::Completed => Ok(Vec::new()),
                _ => Err(out_of_order("completion")),
            },
            TransferCommand::MarkCreditFailed { reason } => match self.status {
                S::Debited => Ok(vec![TransferEvent::TransferCreditFailed {
                    reason: reason.clone(),
                }]),
                S::CreditFailed | S::Refunded => Ok(Vec::new()),
                _ => Err(out_of_order("credit failure")),
            },
            TransferCommand::MarkRefunded => match self.status {
                S::CreditFailed => Ok(vec![TransferEvent::TransferRefunded]),
                S::Refunded => Ok(Vec::new()),
                _ => Err(out_of_order("refund")),
            },
        }
    }

    fn evolve(&mut self, event: &TransferEvent) {
        match event {
            TransferEvent::TransferRequested { from, to, amount } => {
                self.from = from.clone();
                self.to = to.clone();
                self.amount = amount.clamped();
                self.status = TransferStatus::Requested;
            }
            TransferEvent::TransferDebited => self.status = TransferStatus::Debited,
            TransferEvent::TransferCompleted => self.status = TransferStatus::Completed,
            TransferEvent::TransferCreditFailed { reason } => {
                self.status = TransferStatus::CreditFailed;
                self.reason = Some(reason.clone());
            }
            TransferEvent::TransferRefunded => self.status = TransferStatus::Refunded,
            TransferEvent::TransferFailed { reason } => {
                self.status = TransferStatus::Failed;
                self.reason = Some(reason.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(events: &[TransferEvent]) -> Transfer {
        let mut t = Transfer::default();
        for e in events {
            t.evolve(e);
        }
        t
    }

    #[test]
    fn a_step_recorded_twice_decides_nothing_and_a_contradicting_one_is_out_of_order() {
        let requested = TransferEvent::TransferRequested {
            from: "a".into(),
            to: "b".into(),
            amount: Money::from_cents(100),
        };
        let debited = after(&[requested.clone(), TransferEvent::TransferDebited]);
        assert_eq!(debited.decide(&TransferCommand::MarkDebited), Ok(vec![]));
        let done = after(&[
            requested.clone(),
            TransferEvent::TransferDebited,
            TransferEvent::TransferCompleted,
        ]);
        assert_eq!(done.decide(&TransferCommand::MarkCompleted), Ok(vec![]));
        assert_eq!(done.decide(&TransferCommand::MarkDebited), Ok(vec![]));
        let failed = |reason: &str| TransferCommand::MarkFailed {
            reason: reason.into(),
        };
        assert!(matches!(
            done.decide(&failed("late")),
            Err(TransferError::OutOfOrder { .. })
        ));
        let gave_up = after(&[
            requested,
            TransferEvent::TransferFailed {
                reason: "no money".into(),
            },
        ]);
        assert_eq!(gave_up.decide(&failed("again")), Ok(vec![]));
        assert!(matches!(
            gave_up.decide(&TransferCommand::MarkDebited),
            Err(TransferError::OutOfOrder { .. })
        ));
    }
}
