//! `notify` and `send-test-email`: adapters over `service::notifications`.

use std::io::Write;
use std::process::ExitCode;

use super::{
    block_on, cli_ctx, io_err, w, CliError, EncryptionArg, ListCmd, ModeArg, NotifyCmd, OutboxCmd,
};
use crate::model::{DeliveryMode, Encryption};
use crate::service::notifications::{self, ListEdit, Password, SmtpInput};
use crate::service::ServiceError;
use crate::store::Store;

pub(super) fn run(
    store: &Store,
    cmd: NotifyCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        NotifyCmd::Smtp {
            host,
            port,
            encryption,
            username,
            password_stdin,
            from,
            timeout_ms,
            tls_ca,
        } => {
            let tls_ca_pem = match tls_ca {
                None => None,
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(io_err(format!("cannot read {}", path.display())))?,
                ),
            };
            let password = if password_stdin {
                let mut p = String::new();
                std::io::stdin()
                    .read_line(&mut p)
                    .map_err(io_err("cannot read the password"))?;
                Password::Set(p.trim_end_matches(['\r', '\n']).to_string())
            } else {
                Password::Clear
            };
            let input = SmtpInput {
                host,
                port,
                encryption: match encryption {
                    EncryptionArg::None => Encryption::None,
                    EncryptionArg::Starttls => Encryption::Starttls,
                    EncryptionArg::Tls => Encryption::Tls,
                },
                username,
                password,
                from,
                timeout_ms,
                tls_ca_pem,
            };
            let smtp =
                block_on(notifications::set_smtp(cli_ctx(store), input))?.map_err(|e| match e {
                    ServiceError::Invalid {
                        field: "tls_ca_pem",
                        message,
                    } => CliError::Input(format!("--tls-ca: {message}")),
                    other => other.into(),
                })?;
            w(
                out,
                format!(
                    "SMTP set: {}:{} ({:?}), from {}, timeout {} ms{}.\nCheck it with `profilegate send-test-email`.\n",
                    smtp.host,
                    smtp.port,
                    smtp.encryption,
                    smtp.from,
                    smtp.timeout_ms,
                    smtp.username.as_ref().map(|u| format!(", login {u}")).unwrap_or_default()
                ),
            )?;
        }
        NotifyCmd::Mode { mode } => {
            let mode = match mode {
                ModeArg::Blocking => DeliveryMode::Blocking,
                ModeArg::Queued => DeliveryMode::Queued,
            };
            block_on(notifications::set_mode(cli_ctx(store), mode))??;
            w(out, match mode {
                DeliveryMode::Blocking => "E-mail is sent before answering; if it fails the update is refused (email_error).\n".into(),
                DeliveryMode::Queued => "E-mail is queued durably with the decision and delivered in the background with retries.\n".into(),
            })?;
        }
        NotifyCmd::Outbox {
            cmd: OutboxCmd::List,
        } => {
            let items = store.outbox_items()?;
            if items.is_empty() {
                w(out, "The outbox is empty.\n".into())?;
            }
            for (id, it) in items {
                w(
                    out,
                    format!(
                        "{id}  {:?}  attempts {}  request {}  created {}{}\n",
                        it.status,
                        it.attempts,
                        it.request_id.as_deref().unwrap_or("-"),
                        it.created,
                        it.last_error
                            .map(|e| format!("  last error: {e}"))
                            .unwrap_or_default()
                    ),
                )?;
            }
        }
        NotifyCmd::Outbox {
            cmd: OutboxCmd::Retry { id },
        } => {
            let n = block_on(notifications::retry_outbox(cli_ctx(store), id))??;
            w(
                out,
                format!("{n} e-mail(s) queued again; the server delivers them when it runs.\n"),
            )?;
        }
        NotifyCmd::Recipients { cmd } => {
            let list = match list_edit(cmd) {
                None => store.settings().notify.recipients.clone(),
                Some(edit) => block_on(notifications::edit_recipients(cli_ctx(store), edit))??,
            };
            w(out, list_text(&list, "No recipients."))?;
        }
        NotifyCmd::Sensitive { cmd } => {
            let list = match list_edit(cmd) {
                None => store.settings().notify.sensitive.clone(),
                Some(edit) => block_on(notifications::edit_sensitive(cli_ctx(store), edit))??,
            };
            w(
                out,
                list_text(&list, "No sensitive claims: no e-mail will be sent."),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list_text(list: &[String], empty: &str) -> String {
    if list.is_empty() {
        format!("{empty}\n")
    } else {
        list.iter().map(|i| format!("{i}\n")).collect()
    }
}

/// The change a list command asks for; `None` to list.
fn list_edit(cmd: ListCmd) -> Option<ListEdit> {
    match cmd {
        ListCmd::List => None,
        ListCmd::Add { items } => Some(ListEdit::Add(items)),
        ListCmd::Remove { items } => Some(ListEdit::Remove(items)),
    }
}

pub(super) fn send_test_email(
    store: &Store,
    to: Option<String>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    // The transport's connection pool must be dropped inside the runtime.
    let sent = block_on(async {
        let notifier = crate::notify::Notifier::default();
        notifications::send_test(
            cli_ctx(store),
            &notifier,
            to,
            "`profilegate send-test-email`",
        )
        .await
    })?;
    match sent {
        Ok((recipients, smtp)) => {
            w(
                out,
                format!(
                    "Test e-mail sent to {} via {}:{}.\n",
                    recipients.join(", "),
                    smtp.host,
                    smtp.port
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ServiceError::Upstream { message, .. }) => {
            w(out, format!("{message}\n"))?;
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
