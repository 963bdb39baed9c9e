//! Charts drawn on the server as SVG: readable without JavaScript, sized by
//! the page's CSS, with a title and description for screen readers. Every
//! number is also in a table next to the chart. Text is escaped here, so
//! the SVG can go into a page as it is.

use std::fmt::Write;

/// Colors for series, in order; text stays dark on light.
const PALETTE: [&str; 8] = [
    "#2f6fde", "#d9534f", "#f0ad4e", "#5cb85c", "#8e6bd6", "#17a2b8", "#6c757d", "#e83e8c",
];

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Characters of a bar's label that fit left of the bars at 13 px.
const LABEL_CHARS: usize = 26;

/// `text` cut to `max` characters, with an ellipsis when it was longer.
fn fitted(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// Whether the `i`th of `n` column labels is drawn: every seventh, and the
/// last, skipping a seventh that would sit closer than four columns to it.
fn labelled(i: usize, n: usize) -> bool {
    i + 1 == n || (i.is_multiple_of(7) && n - 1 - i >= 4)
}

/// One bar of a horizontal bar chart.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// What is printed at the end of the bar.
    pub shown: String,
}

/// Horizontal bars, one per row, scaled to `max` (or the largest value).
pub fn bars(id: &str, title: &str, description: &str, bars: &[Bar], max: Option<f64>) -> String {
    const WIDTH: f64 = 640.0;
    const LABEL: f64 = 190.0;
    const ROW: f64 = 30.0;
    let plot = WIDTH - LABEL - 90.0;
    let top = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let max = max.unwrap_or(top).max(f64::MIN_POSITIVE);
    let height = ROW * bars.len().max(1) as f64 + 10.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        escape(title),
        escape(description)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 5.0 + ROW * i as f64;
        let w = (bar.value.max(0.0) / max * plot).min(plot);
        // The label fits its column (the whole of it is the hover title);
        // the bar runs in a track that shows the whole scale.
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="13"><title>{}</title>{}</text><rect class="track" x="{LABEL}" y="{}" width="{plot:.1}" height="{}" fill="#e6e9ef"/><rect x="{LABEL}" y="{}" width="{w:.1}" height="{}" fill="{}"/><text x="{}" y="{}" font-size="13">{}</text>"##,
            LABEL - 8.0,
            y + 18.0,
            escape(&bar.label),
            escape(&fitted(&bar.label, LABEL_CHARS)),
            y + 4.0,
            ROW - 10.0,
            y + 4.0,
            ROW - 10.0,
            PALETTE[0],
            LABEL + plot + 6.0,
            y + 18.0,
            escape(&bar.shown)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Columns per day, stacked by series, with a legend.
pub fn stacked_columns(
    id: &str,
    title: &str,
    description: &str,
    labels: &[String],
    series: &[(String, Vec<i64>)],
) -> String {
    const WIDTH: f64 = 640.0;
    const PLOT_H: f64 = 180.0;
    const LEFT: f64 = 40.0;
    let legend_rows = series.len().div_ceil(3);
    let height = PLOT_H + 40.0 + 20.0 * legend_rows as f64;
    let columns = labels.len().max(1);
    let step = (WIDTH - LEFT - 10.0) / columns as f64;
    let totals: Vec<i64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        escape(title),
        escape(description)
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{PLOT_H}" x2="{WIDTH}" y2="{PLOT_H}" stroke="#999"/><text x="{}" y="14" text-anchor="end" font-size="11">{}</text><text x="{}" y="{PLOT_H}" text-anchor="end" font-size="11">0</text>"##,
        LEFT - 4.0,
        max as i64,
        LEFT - 4.0
    );
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + step * i as f64 + step * 0.15;
        let mut y = PLOT_H;
        for (s, (_, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0);
            if v <= 0 {
                continue;
            }
            let h = v as f64 / max * (PLOT_H - 10.0);
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {v}</title></rect>"#,
                step * 0.7,
                PALETTE[s % PALETTE.len()],
                escape(label)
            );
        }
        // Every seventh label, and the last, never two close enough to overlap.
        if labelled(i, labels.len()) {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"#,
                x + step * 0.35,
                PLOT_H + 16.0,
                escape(label)
            );
        }
    }
    for (s, (name, values)) in series.iter().enumerate() {
        let x = LEFT + (s % 3) as f64 * 200.0;
        let y = PLOT_H + 34.0 + 20.0 * (s / 3) as f64;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{y}" font-size="12">{} ({})</text>"#,
            y - 10.0,
            PALETTE[s % PALETTE.len()],
            x + 16.0,
            escape(name),
            values.iter().sum::<i64>()
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_controls_dropped() {
        assert_eq!(
            escape("<a href=\"x\">O'Brien & co</a>\u{0}"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Brien &amp; co&lt;/a&gt;"
        );
        let svg = bars(
            "seats",
            "Seats <used>",
            "d",
            &[Bar {
                label: "</svg><script>".into(),
                value: 2.0,
                shown: "2".into(),
            }],
            Some(4.0),
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn column_labels_never_sit_closer_than_four_columns() {
        for n in 1..=60 {
            let shown: Vec<usize> = (0..n).filter(|&i| labelled(i, n)).collect();
            assert_eq!(shown.last(), Some(&(n - 1)), "the last day is labelled");
            for pair in shown.windows(2) {
                assert!(pair[1] - pair[0] >= 4, "{n} columns: {shown:?}");
            }
        }
    }

    #[test]
    fn long_bar_labels_are_cut_and_bars_have_a_track() {
        let svg = bars(
            "b",
            "t",
            "d",
            &[Bar {
                label: "A product with a very long name · Enterprise site".into(),
                value: 1.0,
                shown: "10%".into(),
            }],
            Some(10.0),
        );
        assert!(svg.contains(">A product with a very lon…</text>"), "{svg}");
        assert!(svg.contains("class=\"track\""));
    }

    #[test]
    fn empty_charts_still_draw() {
        assert!(bars("a", "t", "d", &[], None).ends_with("</svg>"));
        assert!(stacked_columns("b", "t", "d", &[], &[]).ends_with("</svg>"));
    }
}
