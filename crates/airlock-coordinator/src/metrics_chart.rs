//! Charts of a [`MetricsReport`] as SVG (drawn with `plotters`): what `airlock metrics --chart`
//! writes and the dashboard shows.
//!
//! Each chart is a bar chart with one bar per stage, outcome or signer; time charts draw the p90
//! as a light bar behind the p50's dark one. This module must never read anything but the report
//! it is given, and never write a file (the caller writes what it returns).

use plotters::prelude::*;

use crate::metrics::{MetricsReport, STAGES, Stats};
use crate::{CoordinatorError, Result};

/// The charts' file names, in the order [`charts`] returns them.
pub const CHART_NAMES: [&str; 3] = ["stages.svg", "outcomes.svg", "signers.svg"];

const WIDTH: u32 = 720;
const HEIGHT: u32 = 360;
const DARK: RGBColor = RGBColor(31, 84, 150);
const LIGHT: RGBColor = RGBColor(160, 190, 225);

/// A time unit that keeps the tallest bar readable.
fn unit(max_seconds: u64) -> (&'static str, f64) {
    match max_seconds {
        0..=600 => ("seconds", 1.0),
        601..=36_000 => ("minutes", 60.0),
        36_001..=864_000 => ("hours", 3600.0),
        _ => ("days", 86_400.0),
    }
}

fn failed(e: impl std::fmt::Display) -> CoordinatorError {
    CoordinatorError::Refused(format!("drawing a chart failed: {e}"))
}

/// Draws bars; each bar has a light value (drawn first, wide) and a dark one (narrower, in front).
fn bars(
    title: &str,
    y_label: &str,
    names: &[String],
    light: &[f64],
    dark: &[f64],
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let top = light
            .iter()
            .chain(dark)
            .copied()
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.15;
        let n = names.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((0u32..n).into_segmented(), 0f64..top)
            .map_err(failed)?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_label)
            .x_labels(names.len().max(1))
            .x_label_formatter(&label)
            .draw()
            .map_err(failed)?;
        for (values, color, margin) in [(light, LIGHT, 8), (dark, DARK, 22)] {
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(color.filled())
                        .margin(margin)
                        .data(values.iter().enumerate().map(|(i, v)| (i as u32, *v))),
                )
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

fn time_bars(title: &str, names: Vec<String>, stats: &[&Stats]) -> Result<String> {
    let (unit_name, per) = unit(stats.iter().filter_map(|s| s.p90).max().unwrap_or(0));
    let scaled = |f: fn(&Stats) -> Option<u64>| -> Vec<f64> {
        stats
            .iter()
            .map(|s| f(s).unwrap_or(0) as f64 / per)
            .collect()
    };
    bars(
        title,
        &format!("{unit_name} (dark p50, light p90)"),
        &names,
        &scaled(|s| s.p90),
        &scaled(|s| s.p50),
    )
}

/// Every chart of `report`, as (file name, SVG text).
pub fn charts(report: &MetricsReport) -> Result<Vec<(&'static str, String)>> {
    let latency = &report.all.latency;
    let stage_stats: Vec<&Stats> = STAGES.iter().filter_map(|s| latency.stage(s)).collect();
    let stages = time_bars(
        "Time from proposal to each stage",
        STAGES.iter().map(|s| s.to_string()).collect(),
        &stage_stats,
    )?;

    let o = &report.all.outcomes;
    let outcome_values = o.by_name();
    let counts: Vec<f64> = outcome_values.iter().map(|(_, v)| *v as f64).collect();
    let outcomes = bars(
        &format!(
            "{} proposals by outcome ({} disputes)",
            o.proposals, report.disputes.total
        ),
        "proposals",
        &outcome_values
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
        &counts,
        &counts,
    )?;

    let signers = time_bars(
        "Time from proposal to each signer's decision",
        report
            .signers
            .iter()
            .map(|s| match s.response_rate {
                Some(r) => format!("{} ({:.0}%)", s.name, r * 100.0),
                None => s.name.clone(),
            })
            .collect(),
        &report
            .signers
            .iter()
            .map(|s| &s.latency)
            .collect::<Vec<_>>(),
    )?;
    Ok(vec![
        (CHART_NAMES[0], stages),
        (CHART_NAMES[1], outcomes),
        (CHART_NAMES[2], signers),
    ])
}
