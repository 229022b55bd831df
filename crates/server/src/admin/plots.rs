//! The console's plots: server-rendered SVG through `plotters` (its SVG backend only, no fonts:
//! text is left to the browser), readable without JavaScript and printable.
//!
//! Each plot is one `<svg class="plot">` with a `<title>` (what a screen reader and a hover
//! say) and a `data-plot` name, so the page, its print and the browser test all find the same
//! plots. They show counts and shares only: nothing in [`Weekly`] names a patient.

use plotters::coord::Shift;
use plotters::prelude::*;

use gravida_store::Weekly;

/// The plots' size in pixels (the page scales them to its width).
const SIZE: (u32, u32) = (720, 300);

/// Colours for series, in order (Tableau 10, legible when printed in grey too).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x9c, 0x75, 0x5f),
];

/// One plot: its name (`data-plot`), its title and its SVG.
#[derive(Debug, Clone)]
pub struct Plot {
    pub name: &'static str,
    pub title: String,
    pub svg: String,
}

/// Every plot of the page, in order.
pub fn all(weekly: &Weekly) -> Vec<Plot> {
    vec![
        fired_by_rule(weekly),
        answers(weekly),
        share_by_hook(weekly),
        override_reasons(weekly),
    ]
}

/// Stacked bars: cards shown per week, one colour per rule, silent cards as a grey top.
fn fired_by_rule(weekly: &Weekly) -> Plot {
    let rules = rule_ids(weekly);
    let mut series: Vec<(String, RGBColor, Vec<i64>)> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let counts = weekly
                .weeks
                .iter()
                .map(|w| {
                    w.rules
                        .iter()
                        .find(|r| &r.rule_id == rule)
                        .map_or(0, |r| r.fired_active)
                })
                .collect();
            (rule.clone(), PALETTE[i % PALETTE.len()], counts)
        })
        .collect();
    series.push((
        "silent (any rule)".to_owned(),
        RGBColor(0xba, 0xb0, 0xac),
        weekly
            .weeks
            .iter()
            .map(|w| w.rules.iter().map(|r| r.fired_silent).sum())
            .collect(),
    ));
    stacked(
        "fired",
        "Cards fired per week, by rule".to_owned(),
        weekly,
        &series,
    )
}

/// Stacked bars: per week, cards accepted, overridden and with no answer.
fn answers(weekly: &Weekly) -> Plot {
    let sum = |f: fn(&gravida_store::RuleWeek) -> i64| -> Vec<i64> {
        weekly
            .weeks
            .iter()
            .map(|w| w.rules.iter().map(f).sum())
            .collect()
    };
    let accepted = sum(|r| r.accepted);
    let overridden = sum(|r| r.overridden);
    let unanswered: Vec<i64> = sum(|r| r.fired_active)
        .iter()
        .zip(accepted.iter().zip(&overridden))
        .map(|(fired, (a, o))| (fired - a - o).max(0))
        .collect();
    stacked(
        "answers",
        "Clinicians' answers to the cards shown, per week".to_owned(),
        weekly,
        &[
            ("accepted".to_owned(), PALETTE[4], accepted),
            ("overridden".to_owned(), PALETTE[2], overridden),
            (
                "no answer".to_owned(),
                RGBColor(0xba, 0xb0, 0xac),
                unanswered,
            ),
        ],
    )
}

/// Lines: per hook, the share of its calls that showed a card, per week (in percent).
fn share_by_hook(weekly: &Weekly) -> Plot {
    let title = "Share of calls that showed a card, per week, by hook (%)".to_owned();
    let mut hooks: Vec<&str> = weekly
        .weeks
        .iter()
        .flat_map(|w| w.hooks.iter().map(|h| h.hook.as_str()))
        .collect();
    hooks.sort_unstable();
    hooks.dedup();
    let n = weekly.weeks.len().max(1) as i32;
    let svg = draw(|root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d((0..last(n)).into_segmented(), 0f64..100f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| week_label(weekly, v))
            .y_desc("% of calls")
            .draw()?;
        for (i, hook) in hooks.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let points: Vec<(SegmentValue<i32>, f64)> = weekly
                .weeks
                .iter()
                .enumerate()
                .filter_map(|(k, w)| {
                    let share = w.hooks.iter().find(|h| h.hook == *hook)?.share_fired?;
                    Some((SegmentValue::CenterOf(k as i32), share * 100.0))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(*hook)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )?;
        }
        legend(&mut chart)
    });
    Plot {
        name: "share",
        title,
        svg,
    }
}

/// Horizontal bars: every override reason over the period, most frequent first.
fn override_reasons(weekly: &Weekly) -> Plot {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for r in weekly.weeks.iter().flat_map(|w| &w.rules) {
        for (reason, count) in &r.override_reasons {
            match totals.iter_mut().find(|(name, _)| name == reason) {
                Some((_, total)) => *total += count,
                None => totals.push((reason.clone(), *count)),
            }
        }
    }
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let n = totals.len().max(1) as i32;
    let max = totals.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let svg = draw(|root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(230)
            .build_cartesian_2d(0..max + max / 10 + 1, (0..last(n)).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(totals.len().max(1))
            // The most frequent on top: segment 0 is at the bottom.
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => (n - 1 - *i)
                    .try_into()
                    .ok()
                    .and_then(|k: usize| totals.get(k))
                    .map_or(String::new(), |(name, _)| name.clone()),
                _ => String::new(),
            })
            .x_desc("cards overridden")
            .draw()?;
        chart.draw_series(totals.iter().enumerate().map(|(k, (_, count))| {
            let i = n - 1 - k as i32;
            let mut bar = Rectangle::new(
                [
                    (0, SegmentValue::Exact(i)),
                    (*count, SegmentValue::Exact(i + 1)),
                ],
                PALETTE[2].filled(),
            );
            bar.set_margin(4, 4, 0, 0);
            bar
        }))?;
        Ok(())
    });
    Plot {
        name: "reasons",
        title: "Override reasons over the period (standard codes grouped)".to_owned(),
        svg,
    }
}

/// A stacked bar per week of `series` (name, colour, one count per week), with a legend.
fn stacked(
    name: &'static str,
    title: String,
    weekly: &Weekly,
    series: &[(String, RGBColor, Vec<i64>)],
) -> Plot {
    let weeks = weekly.weeks.len();
    let n = weeks.max(1) as i32;
    let totals: Vec<i64> = (0..weeks)
        .map(|k| series.iter().map(|(_, _, c)| c[k]).sum())
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let svg = draw(|root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d((0..last(n)).into_segmented(), 0..max + max / 8 + 1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| week_label(weekly, v))
            .y_desc("cards")
            .draw()?;
        let mut base = vec![0i64; weeks];
        for (label, colour, counts) in series {
            if counts.iter().all(|c| *c == 0) {
                continue;
            }
            let colour = *colour;
            let bars: Vec<_> = (0..weeks)
                .filter(|k| counts[*k] > 0)
                .map(|k| {
                    let k32 = k as i32;
                    let mut bar = Rectangle::new(
                        [
                            (SegmentValue::Exact(k32), base[k]),
                            (SegmentValue::Exact(k32 + 1), base[k] + counts[k]),
                        ],
                        colour.filled(),
                    );
                    bar.set_margin(0, 0, 6, 6);
                    bar
                })
                .collect();
            for k in 0..weeks {
                base[k] += counts[k];
            }
            chart
                .draw_series(bars)?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
        }
        legend(&mut chart)
    });
    Plot { name, title, svg }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws on a fresh SVG of [`SIZE`] and returns its text (empty if drawing failed, which only a
/// bug can cause: the page then shows the tables alone).
fn draw(paint: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        if root.fill(&WHITE).is_err() {
            return String::new();
        }
        if let Err(e) = paint(root.clone()) {
            tracing::warn!(error = %e, "a console plot could not be drawn");
            return String::new();
        }
        if root.present().is_err() {
            return String::new();
        }
    }
    svg
}

fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| e.to_string().into())
}

/// The end of a segmented axis of `n` bars: plotters gives `0..m` a segment for each of `0..=m`,
/// so `0..n - 1` has `n` (and `0..1` two, one empty, when there is a single bar).
fn last(n: i32) -> i32 {
    (n - 1).max(1)
}

/// The ISO week under a bar (`W50`), from the week's number of the weekly report.
fn week_label(weekly: &Weekly, value: &SegmentValue<i32>) -> String {
    match value {
        SegmentValue::CenterOf(k) => weekly.weeks.get(*k as usize).map_or(String::new(), |w| {
            w.week
                .split_once('-')
                .map_or(w.week.clone(), |(_, n)| n.to_owned())
        }),
        _ => String::new(),
    }
}

/// Every rule that fired in the period, in the report's order (R2 before R10).
fn rule_ids(weekly: &Weekly) -> Vec<String> {
    let mut ids: Vec<String> = weekly
        .weeks
        .iter()
        .flat_map(|w| w.rules.iter().map(|r| r.rule_id.clone()))
        .collect();
    ids.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    ids.dedup();
    ids
}
