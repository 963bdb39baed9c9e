//! Logging: `tracing` with one line per request (request id, route, status,
//! latency), pretty for people or JSON for machines.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, from the binary.
pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    init_with_writer(format, filter, std::io::stderr)
}

/// [`init`] writing to `writer` (the tests capture the log this way).
pub fn init_with_writer<W>(format: LogFormat, filter: &str, writer: W) -> anyhow::Result<()>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter)?;
    let installed = match format {
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_span_events(FmtSpan::NONE)
            .with_writer(writer)
            .with_target(false)
            .compact()
            .finish()
            .with(ClientFaults)
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(JsonLines { writer })
            .with(ClientFaults)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Keeps clients' mistakes out of the error level, where only our own
/// faults belong: actix-http logs a connection whose request it could not
/// read (a malformed request line, a body cut short) as `ERROR stream
/// error: ...`. That line is dropped and said again at INFO, under
/// `licensor::http`, with its cause.
struct ClientFaults;

/// The `message` of an event, as text.
struct MessageText(String);

impl tracing::field::Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClientFaults {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR || !meta.target().starts_with("actix_http::h1") {
            return true;
        }
        let mut message = MessageText(String::new());
        event.record(&mut message);
        let Some(cause) = message.0.strip_prefix("stream error: ") else {
            return true;
        };
        tracing::info!(
            target: "licensor::http",
            cause,
            "a client sent a request that could not be read"
        );
        false
    }
}

/// The JSON log: one object per line with the time, the level, the
/// event's fields and, under `span`, the fields of the span it happened in
/// (for a request: its method, path, client, request id and user).
///
/// tracing-subscriber's JSON formatter writes the same lines, but stores
/// each span's fields as a JSON text and parses it back for every line
/// (the request span and its line were ~13 % of a validating server's CPU;
/// docs/performance.md). Here a span keeps its fields as encoded JSON
/// values and a line is written in one pass into a buffer reused by the
/// thread.
struct JsonLines<W> {
    writer: W,
}

/// A span's fields: each name with its value encoded as JSON.
struct SpanFields(Vec<(&'static str, Vec<u8>)>);

impl SpanFields {
    /// A visitor that adds each field it is shown, replacing one recorded
    /// before (a span's opening fields, then each `record`).
    fn visitor(&mut self) -> JsonValues<impl FnMut(&'static str, &WriteValue) + '_> {
        JsonValues(|name: &'static str, write: &WriteValue| {
            let mut value = Vec::new();
            write(&mut value);
            match self.0.iter_mut().find(|(n, _)| *n == name) {
                Some(member) => member.1 = value,
                None => self.0.push((name, value)),
            }
        })
    }
}

/// Writes one field's value as JSON.
type WriteValue<'w> = dyn Fn(&mut Vec<u8>) + 'w;

/// Hands each field to a closure with a way to write its value as JSON.
struct JsonValues<F>(F);

impl<F: FnMut(&'static str, &WriteValue)> tracing::field::Visit for JsonValues<F> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        (self.0)(field.name(), &|out| push_json_string(out, value));
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        (self.0)(field.name(), &|out| push_json_string(out, &text));
    }
    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        let text = value.to_string();
        (self.0)(field.name(), &|out| push_json_string(out, &text));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        (self.0)(field.name(), &|out| push_json(out, &value));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        (self.0)(field.name(), &|out| push_json(out, &value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        (self.0)(field.name(), &|out| push_json(out, &value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        // JSON has no NaN or infinity: serde_json writes them as null.
        (self.0)(field.name(), &|out| push_json(out, &value));
    }
}

fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and these types always serialize.
    let _ = serde_json::to_writer(out, value);
}

fn push_json_string(out: &mut Vec<u8>, text: &str) {
    push_json(out, text);
}

/// `"name":` after a comma unless it opens an object.
fn push_name(out: &mut Vec<u8>, name: &str) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    push_json_string(out, name);
    out.push(b':');
}

impl<S, W> tracing_subscriber::Layer<S> for JsonLines<W>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = SpanFields(Vec::with_capacity(attrs.fields().len()));
        attrs.record(&mut fields.visitor());
        span.extensions_mut().insert(fields);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut fields.visitor());
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        thread_local! {
            static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                // An event logged while this thread writes a line (from a
                // field's Debug, say) is dropped rather than interleaved.
                return;
            };
            let line = &mut *line;
            line.clear();
            line.extend_from_slice(b"{\"timestamp\":\"");
            push_timestamp(line, std::time::SystemTime::now());
            line.extend_from_slice(b"\",\"level\":\"");
            line.extend_from_slice(event.metadata().level().as_str().as_bytes());
            line.push(b'"');
            event.record(&mut JsonValues(|name: &'static str, write: &WriteValue| {
                push_name(line, name);
                write(line);
            }));
            if let Some(span) = ctx.event_span(event) {
                line.extend_from_slice(b",\"span\":{");
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (name, value) in &fields.0 {
                        push_name(line, name);
                        line.extend_from_slice(value);
                    }
                }
                push_name(line, "name");
                push_json_string(line, span.name());
                line.push(b'}');
            }
            line.extend_from_slice(b"}\n");
            let _ =
                std::io::Write::write_all(&mut self.writer.make_writer_for(event.metadata()), line);
        });
    }
}

/// `time` as RFC 3339 in UTC with microseconds (`2026-12-04T19:49:40.950550Z`,
/// as tracing-subscriber writes it), the seconds formatted once a second
/// per thread.
fn push_timestamp(line: &mut Vec<u8>, time: std::time::SystemTime) {
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            let mut text = crate::domain::time::Timestamp::from_unix(secs).to_rfc3339();
            text.pop(); // the `Z`
            *second = (secs, text);
        }
        line.extend_from_slice(second.1.as_bytes());
    });
    use std::io::Write;
    let _ = write!(line, ".{:06}Z", since.subsec_micros());
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(run: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(JsonLines {
            writer: move || writer.clone(),
        });
        tracing::subscriber::with_default(subscriber, run);
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn a_line_carries_the_event_and_its_span() {
        let got = lines(|| {
            let span = tracing::info_span!(
                "HTTP request",
                http.method = %"GET",
                request_id = "r-1",
                user_id = tracing::field::Empty,
            );
            span.record("user_id", "u-\"7\"");
            span.in_scope(|| {
                tracing::warn!(
                    status = 503_u64,
                    offset = -2_i64,
                    latency_ms = 1.5,
                    cached = false,
                    why = ?"a\nb",
                    "request finished"
                );
            });
            tracing::info!(count = 3, "outside any span");
        });
        assert_eq!(got.len(), 2);
        let line = &got[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "request finished");
        assert_eq!(line["status"], 503);
        assert_eq!(line["offset"], -2);
        assert_eq!(line["latency_ms"], 1.5);
        assert_eq!(line["cached"], false);
        assert_eq!(line["why"], "\"a\\nb\"");
        assert_eq!(line["span"]["name"], "HTTP request");
        assert_eq!(line["span"]["http.method"], "GET");
        assert_eq!(line["span"]["request_id"], "r-1");
        assert_eq!(line["span"]["user_id"], "u-\"7\"");
        let stamp = line["timestamp"].as_str().unwrap_or_default();
        assert_eq!(stamp.len(), "2026-12-04T19:49:40.950550Z".len(), "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        assert_eq!(got[1]["message"], "outside any span");
        assert_eq!(got[1]["count"], 3);
        assert!(got[1].get("span").is_none());
    }

    #[test]
    fn a_field_recorded_again_replaces_the_first() {
        let got = lines(|| {
            let span = tracing::info_span!("s", user_id = "a", other = 1);
            span.record("user_id", "b");
            span.in_scope(|| tracing::info!("x"));
        });
        let text = got[0]["span"].to_string();
        assert_eq!(got[0]["span"]["user_id"], "b");
        assert_eq!(text.matches("user_id").count(), 1, "{text}");
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let mut line = Vec::new();
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_796_413_780_950_550);
        push_timestamp(&mut line, time);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "2026-12-04T19:49:40.950550Z"
        );
    }
}
