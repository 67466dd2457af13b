//! The log format, and the request id on every log line of an action call without a span
//! per call.
//!
//! A tracing span per request cost about 2.5 µs of CPU per action call, 5 % of it (the fmt
//! layer formats and stores the span's fields, the registry allocates a slot, every poll
//! enters and leaves it; docs/decisions.md). Instead the call's future runs in [`scope`], a
//! task-local holding the id, and the format adds the id to the lines written while it is
//! set, where the span it replaces put it: `action{request_id=…}:` after the level in text,
//! `"span"` and `"spans"` in JSON. Lines outside a call are formatted as before, at no cost.

use std::fmt::{self, Write as _};
use std::future::Future;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the request id of the log lines it writes (on this task; a task or
/// thread it starts does not inherit it).
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Installs the process's logger: `filter` (an `EnvFilter` directive; `info` if it does not
/// parse), JSON lines or text (colored when `ansi`), written to `writer`. The binary and the
/// load benchmark both log through this.
pub fn init<W>(writer: W, filter: &str, json: bool, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter);
    if json {
        logs.json()
            .event_format(WithRequestId {
                inner: Format::default().json(),
                style: Style::Json,
            })
            .init();
    } else {
        logs.with_ansi(ansi)
            .event_format(WithRequestId {
                inner: Format::default(),
                style: Style::Text,
            })
            .init();
    }
}

/// How the id is put into a line.
#[derive(Debug, Clone, Copy)]
enum Style {
    Text,
    Json,
}

/// An event format that adds the request id of [`scope`] to what `inner` writes.
#[derive(Debug)]
struct WithRequestId<F> {
    inner: F,
    style: Style,
}

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let with_id = REQUEST_ID.try_with(|id| {
            // The line is written into a buffer (without color) and the id put into it.
            let mut line = String::new();
            self.inner
                .format_event(ctx, Writer::new(&mut line), event)?;
            let level = event.metadata().level().as_str();
            let in_span = ctx.lookup_current().is_some();
            writer.write_str(&with_request_id(&line, id, level, in_span, self.style))
        });
        match with_id {
            Ok(written) => written,
            Err(_) => self.inner.format_event(ctx, writer, event),
        }
    }
}

/// `line` (as the inner format wrote it, newline included) with the request `id`: in JSON as
/// the `action` span's field, or as a field of its own when the line has a span already
/// (`in_span`); in text after the level (`LEVEL action{request_id=ID}: …`), or, if the level
/// is not found, at the end.
fn with_request_id(line: &str, id: &str, level: &str, in_span: bool, style: Style) -> String {
    let (body, newline) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    let mut out = String::with_capacity(line.len() + 2 * id.len() + 80);
    match style {
        Style::Json => {
            let id = serde_json::Value::from(id);
            let Some(body) = body.strip_suffix('}') else {
                return line.to_string();
            };
            out.push_str(body);
            let sep = if body.ends_with('{') { "" } else { "," };
            if in_span {
                let _ = write!(out, "{sep}\"request_id\":{id}}}");
            } else {
                let span = format!("{{\"request_id\":{id},\"name\":\"action\"}}");
                let _ = write!(out, "{sep}\"span\":{span},\"spans\":[{span}]}}");
            }
        }
        Style::Text => {
            let padded = format!("{level:>5} ");
            match body.find(&padded) {
                Some(at) => {
                    let (head, tail) = body.split_at(at + padded.len());
                    let _ = write!(out, "{head}action{{request_id={id}}}: {tail}");
                }
                None => {
                    let _ = write!(out, "{body} request_id={id}");
                }
            }
        }
    }
    out.push_str(newline);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_carry_the_id_where_the_span_was() {
        let line =
            "2026-12-01T09:00:00.000001Z  WARN profilegate::action: could not notify error=x\n";
        assert_eq!(
            with_request_id(line, "r-1", "WARN", false, Style::Text),
            "2026-12-01T09:00:00.000001Z  WARN action{request_id=r-1}: profilegate::action: could not notify error=x\n"
        );
        // A format without the level: at the end.
        assert_eq!(
            with_request_id("message\n", "r-1", "INFO", false, Style::Text),
            "message request_id=r-1\n"
        );
    }

    #[test]
    fn json_lines_carry_the_id_as_the_action_span() {
        let line = r#"{"timestamp":"t","level":"WARN","fields":{"message":"m"},"target":"x"}"#;
        let out = with_request_id(&format!("{line}\n"), "r\"1", "WARN", false, Style::Json);
        assert!(out.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["span"]["request_id"], "r\"1");
        assert_eq!(v["span"]["name"], "action");
        assert_eq!(v["spans"][0]["request_id"], "r\"1");
        assert_eq!(v["fields"]["message"], "m");
        // Inside another span: a field of its own, the other span kept.
        let line = r#"{"level":"INFO","span":{"name":"sync"},"spans":[{"name":"sync"}]}"#;
        let v: serde_json::Value =
            serde_json::from_str(&with_request_id(line, "r-2", "INFO", true, Style::Json)).unwrap();
        assert_eq!(v["request_id"], "r-2");
        assert_eq!(v["span"]["name"], "sync");
    }

    /// Through a real subscriber: a line written in a scope has the id, one outside has none.
    #[test]
    fn lines_in_a_scope_have_the_id_and_others_do_not() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .json()
            .event_format(WithRequestId {
                inner: Format::default().json(),
                style: Style::Json,
            })
            .finish();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            rt.block_on(scope("rid-9".into(), async {
                tokio::task::yield_now().await;
                tracing::warn!("inside");
                tracing::info_span!("sync").in_scope(|| tracing::warn!("in a span"));
            }));
            tracing::warn!("outside");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["fields"]["message"], "inside");
        assert_eq!(lines[0]["span"]["request_id"], "rid-9");
        // Inside another span: that span kept, the id beside it.
        assert_eq!(lines[1]["span"]["name"], "sync", "{text}");
        assert_eq!(lines[1]["request_id"], "rid-9", "{text}");
        assert_eq!(lines[2]["fields"]["message"], "outside");
        assert!(lines[2].get("span").is_none(), "{text}");
    }
}
