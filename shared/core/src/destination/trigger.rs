//! Whether a destination takes an event: its `events`, `require` and
//! `require_consent`, with the reason when it does not (the preview inspector
//! shows it).

use super::Destination;
use crate::field_path::FieldPath;
use crate::json::Json;

/// Whether a destination triggers for an event, and if not, why (shown by the
/// preview inspector). Not triggering is never a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    Fired,
    /// `event_name` is not one of the destination's `events`.
    EventNotMatched,
    /// A `require` path is missing or null.
    RequiredFieldMissing(&'a FieldPath),
    /// A `require_consent` entry is not `"GRANTED"` in the event's `consent`
    /// (absent, denied, or malformed).
    NoConsent(&'a str),
}

impl Trigger<'_> {
    pub fn fired(&self) -> bool {
        matches!(self, Self::Fired)
    }

    /// A stable code for the reason: `fired`, `not_matched`, `required_missing`, `no_consent`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::EventNotMatched => "not_matched",
            Self::RequiredFieldMissing(_) => "required_missing",
            Self::NoConsent(_) => "no_consent",
        }
    }
}

impl std::fmt::Display for Trigger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fired => f.write_str("triggered"),
            Self::EventNotMatched => f.write_str("not matched: event_name is not in `events`"),
            Self::RequiredFieldMissing(path) => {
                write!(
                    f,
                    "not matched: required field `{}` is missing",
                    path.as_str()
                )
            }
            Self::NoConsent(kind) => write!(f, "no consent: `consent.{kind}` is not \"GRANTED\""),
        }
    }
}

/// Whether the event's `consent` object (GA4 Measurement Protocol style)
/// grants `kind`: exactly the string `"GRANTED"`; anything else is no consent.
fn granted(event: &Json<'_>, kind: &str) -> bool {
    event
        .get("consent")
        .and_then(|c| c.get(kind))
        .is_some_and(|v| v.is_str("GRANTED"))
}

impl Destination {
    /// Whether this destination's trigger fires for a (schema-valid) event.
    pub fn triggers(&self, event: &Json<'_>) -> bool {
        self.trigger(event).fired()
    }

    /// The trigger decision for a (schema-valid) event, with its reason.
    pub fn trigger(&self, event: &Json<'_>) -> Trigger<'_> {
        if !self.events.is_empty() {
            let name = event.get("event_name");
            if !name.is_some_and(|n| self.events.iter().any(|e| n.is_str(e))) {
                return Trigger::EventNotMatched;
            }
        }
        if let Some(path) = self.require.iter().find(|p| p.lookup(event).is_none()) {
            return Trigger::RequiredFieldMissing(path);
        }
        if let Some(kind) = self.require_consent.iter().find(|k| !granted(event, k)) {
            return Trigger::NoConsent(kind);
        }
        Trigger::Fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::for_tests::destination;
    use serde_json::{json, Value};

    /// The trigger decision for an event written as a `Value`.
    fn trigger_of<'d>(d: &'d Destination, event: &Value) -> Trigger<'d> {
        let text = event.to_string();
        d.trigger(&crate::json::parse(&text).unwrap())
    }

    #[test]
    fn consent_matrix() {
        let d = destination(
            "events = [\"purchase\"]\nrequire_consent = [\"ad_user_data\", \"ad_personalization\"]",
        );
        let both = json!({"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"});
        let with = |consent: Value| json!({"event_name": "purchase", "consent": consent});
        assert_eq!(trigger_of(&d, &with(both.clone())), Trigger::Fired);
        for (consent, missing) in [
            (
                json!({"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}),
                "ad_personalization",
            ),
            (
                json!({"ad_user_data": "DENIED", "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (json!({"ad_user_data": "GRANTED"}), "ad_personalization"),
            (json!({}), "ad_user_data"),
            (
                json!({"ad_user_data": "granted", "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (
                json!({"ad_user_data": true, "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (
                json!({"ad_user_data": ["GRANTED"], "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (json!("GRANTED"), "ad_user_data"),
            (json!(["GRANTED"]), "ad_user_data"),
            (Value::Null, "ad_user_data"),
        ] {
            assert_eq!(
                trigger_of(&d, &with(consent.clone())),
                Trigger::NoConsent(missing),
                "{consent}"
            );
        }
        assert_eq!(
            trigger_of(&d, &json!({"event_name": "purchase"})),
            Trigger::NoConsent("ad_user_data")
        );
        assert_eq!(
            trigger_of(&d, &json!({"event_name": "page_view", "consent": both})),
            Trigger::EventNotMatched
        );
        // Without require_consent, consent plays no part.
        assert!(trigger_of(&destination(""), &json!({"consent": "nonsense"})).fired());
    }

    #[test]
    fn trigger_reasons() {
        let d = destination("require = [\"items\"]\nrequire_consent = [\"ad_user_data\"]");
        let missing = trigger_of(&d, &json!({"consent": {"ad_user_data": "GRANTED"}}));
        assert_eq!(missing.code(), "required_missing");
        assert_eq!(
            missing.to_string(),
            "not matched: required field `items` is missing"
        );
        let no_consent = trigger_of(&d, &json!({"items": []}));
        assert_eq!(no_consent.code(), "no_consent");
        assert!(no_consent.to_string().contains("consent.ad_user_data"));
        assert!(!no_consent.fired());
    }
}
