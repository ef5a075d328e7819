//! What a run leaves behind: the figures gathered once the phases are done
//! (binary sizes, criterion's, the times, the sinks' refusals), then
//! `report.md`, `results.json` and the generated section of `--doc`.

use crate::harness::Harness;
use crate::opts::Opts;
use crate::report::{self, Binary, Results};
use crate::sinks::Counts;
use std::path::Path;
use std::time::Instant;

/// Completes `results` and writes them; `started`: when the run began.
pub fn finish(
    harness: &mut Harness,
    results: &mut Results,
    started: Instant,
) -> Result<(), String> {
    let opts = &harness.opts;
    results.binaries = binaries(&opts.bin_dir, &opts.out);
    results.criterion = opts
        .criterion
        .as_deref()
        .map(report::read_criterion)
        .unwrap_or_default();
    results.total_seconds = started.elapsed().as_secs_f64();
    results.whole_seconds = opts
        .since
        .and_then(|since| report::unix_secs()?.checked_sub(since))
        .map(|s| s as f64);
    results.bad_sink_requests = Counts::get(&harness.sink.counts.bad_requests);
    if results.bad_sink_requests > 0 {
        harness.ok = false;
        eprintln!(
            "  FAILED: the sinks refused {} malformed requests",
            results.bad_sink_requests
        );
    }

    let opts = &harness.opts;
    let markdown = markdown(results);
    write(&opts.out.join("report.md"), &markdown)?;
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    write(&opts.out.join("results.json"), &json)?;
    publish(opts, results, &markdown)?;
    println!(
        "wrote {}/report.md and results.json ({:.0} s)",
        opts.out.display(),
        results.total_seconds
    );
    Ok(())
}

/// `--report-from`: the report of an earlier run, rendered again.
pub fn rerender(opts: &Opts, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let results: Results =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let markdown = markdown(&results);
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    write(&opts.out.join("report.md"), &markdown)?;
    publish(opts, &results, &markdown)
}

/// The whole report: the tables, the overload's, the dashboard's.
fn markdown(results: &Results) -> String {
    let mut markdown = report::render(results);
    if let Some(o) = &results.overload {
        markdown.push_str(&report::render_overload(o));
    }
    if let Some(d) = &results.dashboard {
        markdown.push_str(&crate::dashboard_report::render(d));
    }
    markdown
}

/// The doc's generated section, when `--doc` names one, and the targets on the terminal.
fn publish(opts: &Opts, results: &Results, markdown: &str) -> Result<(), String> {
    if let Some(doc) = &opts.doc {
        report::replace_generated(doc, markdown)?;
        println!("updated {}", doc.display());
    }
    println!("{}", report::targets_summary(results));
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Sizes of the release binaries, and of a stripped copy when `strip` is installed.
fn binaries(bin_dir: &Path, out: &Path) -> Vec<Binary> {
    ["hermes-ingest", "hermes-counters", "bare-axum"]
        .iter()
        .filter_map(|name| {
            let path = bin_dir.join(name);
            let bytes = std::fs::metadata(&path).ok()?.len();
            let copy = out.join(format!("{name}.stripped"));
            let stripped = std::process::Command::new("strip")
                .arg("-o")
                .arg(&copy)
                .arg(&path)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|_| std::fs::metadata(&copy).ok())
                .map(|m| m.len());
            let _ = std::fs::remove_file(&copy);
            Some(Binary {
                name: name.to_string(),
                bytes,
                stripped_bytes: stripped,
            })
        })
        .collect()
}
