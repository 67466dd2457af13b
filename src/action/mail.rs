//! The security-team e-mail of a decision, for both actions: queued into the outbox with the
//! decision's record, or sent before answering (blocking mode, where a failure refuses the
//! change, as in the seed). What to say is the callers' (`notify::message`); how it goes is here.

use crate::app::App;
use crate::model::{DeliveryMode, Settings};
use crate::service::decide::Mailed;
use crate::store::outbox::{OutboxItem, OutboxStatus};

impl App {
    /// Mails `body` to the security team in the configured mode (the decision planned it
    /// only with SMTP and recipients set: `service::decide::MailPlan`).
    pub(super) async fn mail_security_team(
        &self,
        settings: &Settings,
        request_id: Option<String>,
        subject: &str,
        body: String,
    ) -> Mailed {
        let Some(smtp) = settings.notify.configured() else {
            return Mailed::Failed("no SMTP server or recipient is set".into());
        };
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
