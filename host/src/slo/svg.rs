//! The report's chart as SVG, written by hand: per plugin a row of two panels — latency (p50
//! and p99, with the threshold) and error rate (with the rate the objective allows) — over
//! the report's period. Every text and attribute value is escaped.

use std::fmt::Write as _;

use super::report::{PluginReport, SloReport};

const WIDTH: f64 = 960.0;
const ROW: f64 = 260.0;
const TOP: f64 = 40.0;
const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 170.0;
const LEFT: f64 = 60.0;
const GAP: f64 = 60.0;

/// Escapes text for an SVG text node or a quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A panel's frame: where it is, and the value at its top.
struct Panel {
    x: f64,
    y: f64,
    max: f64,
}

impl Panel {
    fn px(&self, i: usize, n: usize) -> f64 {
        let span = (n.max(2) - 1) as f64;
        self.x + PANEL_W * i as f64 / span
    }

    fn py(&self, v: f64) -> f64 {
        let v = if v.is_finite() {
            v.clamp(0.0, self.max)
        } else {
            0.0
        };
        self.y + PANEL_H - PANEL_H * v / self.max
    }
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, class: &str, body: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" class="{class}">{}</text>"#,
        escape(body)
    );
}

/// Draws one series as polylines, broken where a point has no value.
fn line(out: &mut String, panel: &Panel, values: &[Option<f64>], class: &str) {
    let mut segment: Vec<String> = Vec::new();
    let flush = |segment: &mut Vec<String>, out: &mut String| {
        if segment.len() == 1 {
            segment.push(segment[0].clone());
        }
        if !segment.is_empty() {
            let _ = writeln!(
                out,
                r#"<polyline class="{class}" points="{}"/>"#,
                segment.join(" ")
            );
        }
        segment.clear();
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => segment.push(format!(
                "{:.1},{:.1}",
                panel.px(i, values.len()),
                panel.py(*v)
            )),
            None => flush(&mut segment, out),
        }
    }
    flush(&mut segment, out);
}

fn frame(out: &mut String, panel: &Panel, title: &str, unit: &str, report: &SloReport) {
    let _ = writeln!(
        out,
        r#"<rect class="frame" x="{:.1}" y="{:.1}" width="{PANEL_W}" height="{PANEL_H}"/>"#,
        panel.x, panel.y
    );
    text(out, panel.x, panel.y - 8.0, "start", "title", title);
    text(
        out,
        panel.x - 6.0,
        panel.y + 4.0,
        "end",
        "axis",
        &format!("{:.3}{unit}", panel.max),
    );
    text(
        out,
        panel.x - 6.0,
        panel.y + PANEL_H,
        "end",
        "axis",
        &format!("0{unit}"),
    );
    let bottom = panel.y + PANEL_H + 14.0;
    text(
        out,
        panel.x,
        bottom,
        "start",
        "axis",
        &report.since.to_string(),
    );
    text(
        out,
        panel.x + PANEL_W,
        bottom,
        "end",
        "axis",
        &report.until.to_string(),
    );
}

fn plugin_row(out: &mut String, report: &SloReport, p: &PluginReport, y: f64) {
    text(out, 10.0, y + 18.0, "start", "plugin", &p.plugin);
    let p50: Vec<Option<f64>> = p.series.iter().map(|s| s.p50_ms).collect();
    let p99: Vec<Option<f64>> = p.series.iter().map(|s| s.p99_ms).collect();
    let highest = p99
        .iter()
        .flatten()
        .copied()
        .fold(p.latency_threshold_ms, f64::max);
    let latency = Panel {
        x: LEFT,
        y: y + TOP,
        max: nice(highest),
    };
    frame(out, &latency, "latency p50 / p99 (ms)", " ms", report);
    let t = latency.py(p.latency_threshold_ms);
    let _ = writeln!(
        out,
        r#"<line class="limit" x1="{:.1}" y1="{t:.1}" x2="{:.1}" y2="{t:.1}"/>"#,
        latency.x,
        latency.x + PANEL_W
    );
    line(out, &latency, &p50, "p50");
    line(out, &latency, &p99, "p99");

    let rates: Vec<Option<f64>> = p
        .series
        .iter()
        .map(|s| (s.calls > 0).then_some(s.error_rate * 100.0))
        .collect();
    let allowed = (1.0 - p.availability.target) * 100.0;
    let highest = rates.iter().flatten().copied().fold(allowed, f64::max);
    let errors = Panel {
        x: LEFT + PANEL_W + GAP,
        y: y + TOP,
        max: nice(highest),
    };
    frame(out, &errors, "error rate (%)", "%", report);
    let a = errors.py(allowed);
    let _ = writeln!(
        out,
        r#"<line class="limit" x1="{:.1}" y1="{a:.1}" x2="{:.1}" y2="{a:.1}"/>"#,
        errors.x,
        errors.x + PANEL_W
    );
    line(out, &errors, &rates, "errors");
}

/// A round number at or above `v` for an axis top (1, 2 or 5 times a power of ten).
fn nice(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

/// The whole chart.
pub(crate) fn chart(report: &SloReport) -> String {
    let rows = report.plugins.len().max(1) as f64;
    let height = 30.0 + rows * ROW;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
    );
    out.push_str(
        "<style>\
         text{font-family:sans-serif;font-size:11px;fill:#333}\
         .plugin{font-size:14px;font-weight:bold}.title{font-size:12px}\
         .frame{fill:#fafafa;stroke:#bbb}\
         polyline{fill:none;stroke-width:1.5}\
         .p50{stroke:#1f77b4}.p99{stroke:#d62728}.errors{stroke:#9467bd}\
         .limit{stroke:#888;stroke-dasharray:4 3}\
         </style>\n",
    );
    let _ = writeln!(
        out,
        "<title>{}</title>",
        escape(&format!("SLO report {} – {}", report.since, report.until))
    );
    if report.plugins.is_empty() {
        text(
            &mut out,
            10.0,
            20.0,
            "start",
            "title",
            "No plugin has stored metrics in this period.",
        );
    }
    for (i, p) in report.plugins.iter().enumerate() {
        plugin_row(&mut out, report, p, 10.0 + i as f64 * ROW);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;\u{fffd}"
        );
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(f64::NAN), 1.0);
        assert_eq!(nice(3.2), 5.0);
        assert_eq!(nice(101.0), 200.0);
    }
}
