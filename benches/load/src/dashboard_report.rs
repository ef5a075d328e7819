//! The dashboard phase's rows in the targets table and its own section of
//! the report (`docs/PERFORMANCE.md`'s generated part).

use crate::dashboard_scale::{DashboardScale, RssRun};
use crate::format::{int, mibf, pct, table, yes, Spread};

/// The figures: 10,000 items for the reads, 200,000 for the memory.
const READS_ITEMS: usize = 10_000;
const RSS_ITEMS: usize = 200_000;
const RSS_MIB: f64 = 64.0;
/// 1 MB, as the dashboard counts it (`MAX_DOCUMENT_BYTES`).
const ANSWER_BYTES: f64 = 1_000_000.0;

fn spread(runs: &[RssRun], f: impl Fn(&RssRun) -> f64) -> Option<Spread> {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    Some(Spread {
        median: crate::format::median(&v),
        min: *v.first()?,
        max: *v.last()?,
        n: v.len(),
    })
}

fn peak_mib(r: &RssRun) -> f64 {
    r.peak_kib as f64 / 1024.0
}

/// The largest of a run's answer and its page's largest event, bytes.
fn largest(r: &RssRun) -> f64 {
    r.largest_answer_bytes.max(r.largest_event_bytes) as f64
}

/// "met" only when measured at the count (a smoke run's is not).
fn judged(n: usize, target: usize, ok: bool) -> String {
    if n == target {
        yes(ok).into()
    } else {
        "— (not at the target's count)".into()
    }
}

/// `(the count, or this run's when it differs)`.
fn at(n: usize, target: usize) -> String {
    if n == target {
        int(n as f64)
    } else {
        format!(
            "{} (this run; the target is at {})",
            int(n as f64),
            int(target as f64)
        )
    }
}

/// `(target, Hermes, baseline, ratio, met)` rows, as `report::targets`.
pub fn target_rows(d: &DashboardScale) -> Vec<[String; 5]> {
    let mut rows = Vec::new();
    let items = at(d.items, READS_ITEMS);
    let full = format!("a full read every {} s amortised", d.full_read_secs);
    match (d.row(true, 0), d.row(false, 0)) {
        (Some(i), Some(b)) => {
            let a = i.amortised_per_min(d);
            let ratio = a / b.documents_per_min.max(1e-9);
            rows.push([
                format!("dashboard: Firestore documents read per minute at {items} items with no changes ≤ 1% of re-reading everything every poll"),
                format!(
                    "{} /min ({} by the polls + {full})",
                    int(a),
                    int(i.documents_per_min)
                ),
                format!("re-read everything {} /min", int(b.documents_per_min)),
                format!("{:.2}%", ratio * 100.0),
                judged(d.items, READS_ITEMS, ratio <= 0.01),
            ]);
        }
        _ => rows.push(skipped(d, &format!("dashboard: documents read per minute at {items} items with no changes ≤ 1% of re-reading everything"))),
    }
    match (d.row(true, 10), d.row(true, 0), d.row(false, 10)) {
        (Some(i), Some(zero), Some(b)) => {
            let a = i.amortised_per_min(d);
            let changes = i.changes as f64 * 60.0 / i.window_s.max(1e-9);
            let constant = zero.amortised_per_min(d);
            let bound = 10.0 * changes + constant;
            rows.push([
                format!("dashboard: documents read per minute at {items} items with 10 changes a second ≤ 10 × the changes + a constant (the same poller's reads with no changes)"),
                format!(
                    "{} /min ({full}) for {} changes/min: {:.1} per change beyond the constant",
                    int(a),
                    int(changes),
                    (a - constant) / changes.max(1e-9)
                ),
                format!(
                    "bound 10 × {} + {} = {} /min; re-read everything {} /min",
                    int(changes),
                    int(constant),
                    int(bound),
                    int(b.documents_per_min)
                ),
                format!("{} of the bound", pct(a / bound.max(1e-9))),
                judged(d.items, READS_ITEMS, a <= bound),
            ]);
        }
        _ => rows.push(skipped(d, &format!("dashboard: documents read per minute at {items} items with 10 changes a second ≤ 10 × the changes + a constant"))),
    }
    let big = at(d.rss_items, RSS_ITEMS);
    if let (Some(p), Some(base)) = (spread(&d.rss, peak_mib), spread(&d.rss_baseline, peak_mib)) {
        rows.push([
            format!("dashboard peak RSS with {big} items ≤ 64 MiB (a page open, full reads, a `?limit=1000` answer; the highest run counts)"),
            p.show(mibf),
            format!("no items: {}", base.show(mibf)),
            d.bytes_per_item()
                .map(|b| format!("{b:.0} B per item; {} of 64 MiB", pct(p.max / RSS_MIB)))
                .unwrap_or_default(),
            judged(d.rss_items, RSS_ITEMS, p.max <= RSS_MIB),
        ]);
    }
    if let Some(l) = spread(&d.rss, largest) {
        rows.push([
            format!("dashboard's largest answer ≤ 1 MB with {big} items (`GET /api/items?limit=1000`, the page's events)"),
            format!("{} bytes", l.show(int)),
            "—".into(),
            format!("{} of 1 MB", pct(l.max / ANSWER_BYTES)),
            judged(d.rss_items, RSS_ITEMS, l.max <= ANSWER_BYTES),
        ]);
    }
    rows
}

fn skipped(d: &DashboardScale, target: &str) -> [String; 5] {
    let why = d
        .reads_skipped
        .clone()
        .unwrap_or_else(|| "not measured".into());
    [
        target.into(),
        format!("not measured: {why}"),
        "—".into(),
        "—".into(),
        "—".into(),
    ]
}

/// The phase's section: both parts' figures in full.
pub fn render(d: &DashboardScale) -> String {
    let mut s =
        String::from("### The dashboard at shop scale: Firestore documents read, and memory\n\n");
    s.push_str(&format!(
        "A release `hermes-dashboard` with one page (an event stream) open. **Documents read**: {} items in Google's Firestore emulator, behind a forwarder that counts the documents in every answer; each poller reads every {} ms, first with no changes, then with 10 item changes a second committed to the emulator, {} s each. The incremental poller reads the changed items (5 s of overlap) and everything every `full_read_secs` ({} s: none falls in the windows, so it is amortised in); the baseline (`incremental_reads = false`) re-reads every item every poll, as fast as the emulator lists them. \"Billed\" counts a query that finds nothing as one read, as Firestore bills it. **Memory**: {} synthetic items shaped as `hermes-counters` writes them (SKU ids, names, categories, price, brand and cost for most, revenue and profit per currency, a fifth in two) served by a local stand-in for Firestore's REST reads (the emulator lists 200,000 items in about a quarter of an hour); peak RSS is `VmHWM` after two full reads with the page open and then after `GET /api/items?limit=1000`, each run on a fresh process, beside the same runs with no items.\n\n",
        int(d.items as f64),
        d.poll_interval_ms,
        d.reads.first().map_or(0.0, |r| r.window_s),
        d.full_read_secs,
        int(d.rss_items as f64),
    ));
    if let Some(why) = &d.reads_skipped {
        s.push_str(&format!("The documents-read part did not run: {why}.\n\n"));
    } else {
        let rows: Vec<Vec<String>> = d
            .reads
            .iter()
            .map(|r| {
                vec![
                    r.poller.clone(),
                    r.changes_per_s.to_string(),
                    int(r.changes as f64),
                    int(r.documents_per_min),
                    int(r.amortised_per_min(d)),
                    int(r.billed_per_min),
                    int(r.start_documents as f64),
                ]
            })
            .collect();
        table(
            &mut s,
            &[
                "poller",
                "changes/s",
                "changes in the window",
                "documents/min (polls)",
                "documents/min (full reads amortised)",
                "billed/min (polls)",
                "documents read before the windows",
            ],
            &rows,
        );
    }
    let rows: Vec<Vec<String>> = d
        .rss_baseline
        .iter()
        .chain(&d.rss)
        .map(|r| {
            vec![
                int(r.items as f64),
                r.full_reads.to_string(),
                format!("{:.1} s", r.first_document_s),
                mibf(r.peak_after_reads_kib as f64 / 1024.0),
                mibf(r.peak_kib as f64 / 1024.0),
                mibf(r.now_kib as f64 / 1024.0),
                format!(
                    "{} B (HTTP {})",
                    int(r.largest_answer_bytes as f64),
                    r.status
                ),
                format!("{} B", int(r.largest_event_bytes as f64)),
            ]
        })
        .collect();
    table(
        &mut s,
        &[
            "items",
            "full reads",
            "first page document after",
            "peak RSS after the reads",
            "peak RSS after `?limit=1000`",
            "RSS at the end",
            "`?limit=1000` answer",
            "largest page event",
        ],
        &rows,
    );
    if let Some(b) = d.bytes_per_item() {
        s.push_str(&format!(
            "Peak RSS per held item: {b:.0} bytes ((median peak − median peak with no items) / {} items).\n\n",
            int(d.rss_items as f64)
        ));
    }
    s
}
