//! The security-team e-mail of a decision, for both actions: queued into the outbox with the
//! decision's record, or sent before answering (blocking mode, where a failure refuses the
//! change, as in the seed). What to say is the callers' (`notify::message`); how it goes is here.

use crate::app::App;
use crate::model::{DeliveryMode, Settings, SmtpSettings};
use crate::store::outbox::{OutboxItem, OutboxStatus};

/// What became of one e-mail.
pub(super) enum Mailed {
    /// The outbox item to commit with the decision (its id is the record's sequence number).
    Queued(Vec<u8>),
    /// Sent to this many recipients (blocking mode).
    Sent(usize),
    /// Could not be sent or queued: the change is refused.
    Failed(String),
}

impl Mailed {
    /// The audit record's note.
    pub(super) fn note(&self) -> String {
        match self {
            Mailed::Queued(_) => "queued (outbox item = this record's seq)".into(),
            Mailed::Sent(n) => format!("sent to {n} recipient(s)"),
            Mailed::Failed(e) => format!("failed: {e}"),
        }
    }
}

impl App {
    /// Mails `body` to the security team in the configured mode, through `smtp` (the
    /// caller's `settings.notify.configured()`: it says in its own words why nothing is sent
    /// without one, and builds no body then).
    pub(super) async fn mail_security_team(
        &self,
        settings: &Settings,
        smtp: &SmtpSettings,
        request_id: Option<String>,
        subject: &str,
        body: String,
    ) -> Mailed {
        // Every security-team e-mail carries a signed checkpoint of the chain as it is now:
        // its recipients hold anchors the host cannot rewrite.
        let body = crate::service::audit::with_footer(&self.store, body);
        if settings.notify.mode == DeliveryMode::Queued {
            let item = OutboxItem {
                created: crate::store::now_rfc3339(),
                request_id,
                subject: subject.into(),
                body,
                status: OutboxStatus::Pending,
                attempts: 0,
                next_attempt_ms: 0,
                last_error: None,
            };
            return match serde_json::to_vec(&item) {
                Ok(bytes) => Mailed::Queued(bytes),
                Err(e) => Mailed::Failed(e.to_string()),
            };
        }
        let recipients = &settings.notify.recipients;
        match self.notifier.send(smtp, recipients, subject, body).await {
            Ok(()) => Mailed::Sent(recipients.len()),
            Err(e) => {
                tracing::warn!(error = %e, "could not notify the security team");
                Mailed::Failed(e.to_string())
            }
        }
    }
}
