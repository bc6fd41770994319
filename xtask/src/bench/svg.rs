//! The boot benchmark chart, written as plain SVG: a timeline of the kernel's boot stages
//! (median µs since entry) and the two systems side by side (median ms from QEMU start).
//!
//! Drawn by hand rather than with a plotting crate: the chart is two bar groups, and a
//! plotting crate with text support pulls font-rendering dependencies into xtask, which
//! every `cargo xtask qemu` compiles.

use super::boot::Report;
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 260.0;
const BAR: f64 = 22.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn bars(svg: &mut String, y: &mut f64, title: &str, unit: &str, rows: &[(String, f64, &str)]) {
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-9);
    let _ = writeln!(svg, r#"<text x="10" y="{:.0}" font-weight="bold">{}</text>"#, *y + 16.0, escape(title));
    *y += 28.0;
    for (label, value, color) in rows {
        let width = (WIDTH - LEFT - 90.0) * value / max;
        let _ = writeln!(
            svg,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            *y + 15.0,
            escape(label)
        );
        let _ = writeln!(svg, r#"<rect x="{LEFT}" y="{:.0}" width="{width:.1}" height="{BAR}" fill="{color}"/>"#, *y);
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.0}">{value:.1} {unit}</text>"#, LEFT + width + 6.0, *y + 15.0);
        *y += BAR + 6.0;
    }
    *y += 12.0;
}

/// The chart for `report`.
pub fn chart(report: &Report) -> String {
    let mut body = String::new();
    let mut y = 10.0;
    let stages: Vec<(String, f64, &str)> = ["mmu", "heap", "drivers", "console", "smp", "model", "mcp"]
        .iter()
        .filter_map(|s| {
            report.summary.get(&format!("kernel.{s}")).map(|v| (format!("entry → {s}"), v.median, "#4c78a8"))
        })
        .collect();
    bars(
        &mut body,
        &mut y,
        &format!("Kingly OS boot stages on QEMU {} (median µs since kernel entry)", report.board),
        "µs",
        &stages,
    );
    let mut systems = Vec::new();
    if let Some(s) = report.summary.get("host.first_response") {
        systems.push(("Kingly OS: first MCP response".to_string(), s.median, "#4c78a8"));
    }
    if let Some(s) = report.summary.get("linux.init") {
        systems.push(("Linux: reaches init".to_string(), s.median, "#e45756"));
    }
    bars(&mut body, &mut y, "From QEMU start (median ms, same run)", "ms", &systems);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{:.0}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n",
        y
    )
}
