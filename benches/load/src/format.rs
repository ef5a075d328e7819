//! Formatting shared by the reports: medians and spreads, numbers, Markdown tables.

pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A figure over the runs of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// `a / b`: the ratio of the medians, and its range (lowest over highest, highest over lowest).
    pub fn ratio(a: Spread, b: Spread) -> Spread {
        let d = |x: f64| x.max(1e-12);
        Spread {
            median: a.median / d(b.median),
            min: a.min / d(b.max),
            max: a.max / d(b.min),
            n: a.n.min(b.n),
        }
    }

    /// `median (min–max)` with `f` formatting each number; the median alone for one run.
    pub fn show(&self, f: impl Fn(f64) -> String) -> String {
        if self.n <= 1 {
            f(self.median)
        } else {
            format!("{} ({}–{})", f(self.median), f(self.min), f(self.max))
        }
    }
}

pub fn int(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn yes(ok: bool) -> &'static str {
    if ok {
        "**yes**"
    } else {
        "**no**"
    }
}

pub fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

pub fn mibf(v: f64) -> String {
    format!("{v:.1} MiB")
}

/// A Markdown table: the first column left-aligned, the others right-aligned
/// (figures), unless `text` (every column left-aligned).
pub fn table_with(out: &mut String, head: &[&str], rows: &[Vec<String>], text: bool) {
    out.push_str(&format!("| {} |\n", head.join(" | ")));
    out.push_str(&format!(
        "|{}\n",
        head.iter()
            .enumerate()
            .map(|(i, _)| if i == 0 || text { "---|" } else { "---:|" })
            .collect::<String>()
    ));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out.push('\n');
}

pub fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    table_with(out, head, rows, false)
}
