//! Writing the health figures: one row per minute, kind and key, kept for
//! [`KEEP_MINUTES`]. The queue records published events here inside its own
//! transaction; the health route reads them back (the parent module).

use rusqlite::{params, Transaction};
use std::time::{SystemTime, UNIX_EPOCH};

/// Minutes kept.
pub(super) const KEEP_MINUTES: i64 = 60;

pub(super) fn minute_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs / 60).unwrap_or(i64::MAX)
}

pub(super) fn bump(
    tx: &Transaction<'_>,
    minute: i64,
    kind: &str,
    key: &str,
    n: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO health (minute, kind, key, count) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (minute, kind, key) DO UPDATE SET count = count + excluded.count",
        params![minute, kind, key, n],
    )?;
    Ok(())
}

pub(super) fn prune(tx: &Transaction<'_>, minute: i64) -> rusqlite::Result<()> {
    let oldest = minute - KEEP_MINUTES;
    tx.execute("DELETE FROM health WHERE minute < ?1", params![oldest])?;
    tx.execute(
        "DELETE FROM health_event_ids WHERE minute < ?1",
        params![oldest],
    )?;
    Ok(())
}

/// Counts the bad rows of a batch published to the quarantine topic, per
/// reason, inside the queue's own transaction. They are not events of the
/// pipeline: [`record_published`] never sees them.
pub fn record_quarantined(tx: &Transaction<'_>, reasons: &[String]) -> rusqlite::Result<()> {
    if reasons.is_empty() {
        return Ok(());
    }
    let minute = minute_now();
    prune(tx, minute)?;
    for reason in reasons {
        bump(tx, minute, QUARANTINED, reason, 1)?;
    }
    Ok(())
}

/// The health kind of quarantined rows, keyed by reason.
pub(super) const QUARANTINED: &str = "quarantined";

/// Counts the events of a published batch, inside the queue's own transaction:
/// `(event_name, hermes_event_id)` per message; an event already counted this
/// minute (published to another destination too) is not counted again.
pub fn record_published(tx: &Transaction<'_>, events: &[(String, String)]) -> rusqlite::Result<()> {
    let minute = minute_now();
    prune(tx, minute)?;
    for (name, id) in events {
        let first = tx.execute(
            "INSERT INTO health_event_ids (minute, event_id) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            params![minute, id],
        )?;
        if first == 1 {
            bump(tx, minute, "event", name, 1)?;
        }
    }
    Ok(())
}
