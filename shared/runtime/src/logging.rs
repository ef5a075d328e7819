//! JSON log lines that Cloud Logging understands: `severity`, `message`, `time`,
//! `logging.googleapis.com/trace`, plus the event's and its spans' fields.

use serde_json::{Map, Value};
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The span field that carries the Cloud Trace resource name.
pub const TRACE_FIELD: &str = "logging.googleapis.com/trace";

/// Installs the JSON logger; `RUST_LOG` filters (default `info`). Safe to call twice.
pub fn init() {
    init_with_default("info");
}

/// Like [`init`], with another filter when `RUST_LOG` is unset.
pub fn init_with_default(filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(JsonLines)
        .try_init();
}

struct JsonLines;

#[derive(Default)]
struct Fields(Map<String, Value>);

/// The longest text one field of a log line carries: whatever a value holds
/// (a client's input quoted in an error, a store's error body), the line stays
/// bounded, cut on a character boundary and marked `…`.
pub const MAX_FIELD_CHARS: usize = 1_000;

fn bounded(mut text: String) -> Value {
    hermes_core::excerpt::truncate_in_place(&mut text, MAX_FIELD_CHARS);
    Value::String(text)
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), bounded(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let text = hermes_core::excerpt::preview(value, MAX_FIELD_CHARS);
        self.0.insert(field.name().to_string(), Value::String(text));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
}

impl<S> Layer<S> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        line.insert(
            "severity".into(),
            severity(*event.metadata().level()).into(),
        );
        line.insert("time".into(), rfc3339_now().into());
        // Outer spans first, so inner spans and the event itself win on a name clash.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<Fields>() {
                    for (k, v) in &fields.0 {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        line.extend(fields.0);
        line.entry("message").or_insert_with(|| Value::from(""));
        line.insert("target".into(), event.metadata().target().into());
        let mut out = serde_json::to_vec(&line).unwrap_or_default();
        out.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&out);
    }
}

fn severity(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

/// UTC now, RFC 3339.
fn rfc3339_now() -> String {
    hermes_core::time::format_timestamp(std::time::SystemTime::now())
}

/// The Cloud Trace resource name for an `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` header.
pub fn trace_resource(project: Option<&str>, header: &str) -> Option<String> {
    let trace_id = header.split('/').next()?.trim();
    if trace_id.is_empty() || !trace_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(match project {
        Some(p) => format!("projects/{p}/traces/{trace_id}"),
        None => trace_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_header() {
        assert_eq!(
            super::trace_resource(Some("p"), "105445aa7843bc8bf206b12000100000/1;o=1").as_deref(),
            Some("projects/p/traces/105445aa7843bc8bf206b12000100000")
        );
        assert_eq!(super::trace_resource(Some("p"), "zz/1"), None);
    }

    #[test]
    fn fields_are_bounded() {
        use tracing::field::Visit;
        let mut fields = super::Fields::default();
        let huge = "é".repeat(200_000);
        let callsite = tracing::info_span!("t", x = tracing::field::Empty);
        let field = callsite.field("x").unwrap();
        fields.record_str(&field, &huge);
        fields.record_debug(&field, &huge);
        let text = fields.0["x"].as_str().unwrap();
        assert!(
            text.chars().count() <= super::MAX_FIELD_CHARS + 1,
            "{}",
            text.len()
        );
        assert!(text.ends_with('…'));
    }

    #[test]
    fn time_format() {
        let t = super::rfc3339_now();
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
