//! The overview's two small charts, drawn here as SVG: jobs finished per minute over the
//! last hour (stacked by outcome) and their wait from due to start (median and 95th
//! percentile).

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use maud::{Markup, html};

use crate::queue::inspect::MinuteStats;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 130.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 18.0;
const MINUTES: i64 = 60;

/// The 60 minutes ending with the current one, each with its figures (zero when no job
/// finished in it).
pub fn last_hour(
    stats: &[MinuteStats],
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Option<&MinuteStats>)> {
    let current = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    (0..MINUTES)
        .rev()
        .map(|back| {
            let minute = current - TimeDelta::minutes(back);
            (minute, stats.iter().find(|s| s.minute == minute))
        })
        .collect()
}

fn x_of(index: usize) -> f64 {
    LEFT + (WIDTH - LEFT - 4.0) * index as f64 / MINUTES as f64
}

fn y_of(value: f64, max: f64) -> f64 {
    (HEIGHT - BOTTOM) - (HEIGHT - BOTTOM - 8.0) * value / max.max(1e-9)
}

/// A "nice" axis maximum at or above `value`.
pub fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

/// Jobs finished per minute, stacked completed / failed / cancelled.
pub fn throughput(stats: &[MinuteStats], now: DateTime<Utc>) -> Markup {
    let minutes = last_hour(stats, now);
    let total = |s: &MinuteStats| (s.completed + s.failed + s.cancelled) as f64;
    let peak = minutes
        .iter()
        .filter_map(|(_, s)| s.map(total))
        .fold(0.0, f64::max);
    let max = nice_ceiling(peak);
    let bar_width = ((WIDTH - LEFT - 4.0) / MINUTES as f64 - 1.0).max(1.0);
    let finished: i64 = stats
        .iter()
        .map(|s| s.completed + s.failed + s.cancelled)
        .sum();
    html! {
        figure.chart #throughput-chart {
            figcaption { "Jobs finished per minute, last hour (" (finished) " in all)" }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label="Jobs finished per minute" {
                (axes(max, ""))
                @for (index, (minute, stat)) in minutes.iter().enumerate() {
                    @if let Some(stat) = stat {
                        @let x = x_of(index);
                        @let completed_top = y_of(stat.completed as f64, max);
                        @let failed_top = y_of((stat.completed + stat.failed) as f64, max);
                        @let all_top = y_of(total(stat), max);
                        g {
                            title { (minute.format("%H:%M")) ": " (stat.completed) " completed, " (stat.failed) " failed, " (stat.cancelled) " cancelled" }
                            rect.completed x=(x) y=(completed_top) width=(bar_width) height=((HEIGHT - BOTTOM) - completed_top) {}
                            rect.failed x=(x) y=(failed_top) width=(bar_width) height=(completed_top - failed_top) {}
                            rect.cancelled x=(x) y=(all_top) width=(bar_width) height=(failed_top - all_top) {}
                        }
                    }
                }
                (time_labels(&minutes))
            }
        }
    }
}

/// Wait from due to start of the jobs finished each minute: median and 95th percentile.
pub fn wait(stats: &[MinuteStats], now: DateTime<Utc>) -> Markup {
    let minutes = last_hour(stats, now);
    let peak = minutes
        .iter()
        .filter_map(|(_, s)| s.and_then(|s| s.wait_p95_ms.or(s.wait_p50_ms)))
        .fold(0.0, f64::max);
    let max = nice_ceiling(peak);
    let points = |pick: fn(&MinuteStats) -> Option<f64>| -> Vec<(f64, f64)> {
        minutes
            .iter()
            .enumerate()
            .filter_map(|(index, (_, s))| {
                s.and_then(pick).map(|v| (x_of(index) + 4.0, y_of(v, max)))
            })
            .collect()
    };
    let line = |points: &[(f64, f64)]| -> String {
        points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let p50 = points(|s| s.wait_p50_ms);
    let p95 = points(|s| s.wait_p95_ms);
    let latest = minutes.iter().rev().find_map(|(_, s)| *s);
    html! {
        figure.chart #wait-chart {
            figcaption {
                "Wait from due to start, ms (median, 95th percentile)"
                @if let Some(latest) = latest {
                    @if let (Some(p50), Some(p95)) = (latest.wait_p50_ms, latest.wait_p95_ms) {
                        ": latest minute " (format!("{p50:.1}")) " / " (format!("{p95:.1}"))
                    }
                }
            }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label="Wait from due to start" {
                (axes(max, " ms"))
                polyline.p95 points=(line(&p95)) {}
                polyline.p50 points=(line(&p50)) {}
                // Dots, so that a lone busy minute shows too.
                @for (x, y) in &p95 { circle.p95 cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="2" {} }
                @for (x, y) in &p50 { circle.p50 cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="2" {} }
                (time_labels(&minutes))
            }
        }
    }
}

fn axes(max: f64, unit: &str) -> Markup {
    html! {
        line.axis-line x1=(LEFT) x2=(WIDTH - 4.0) y1=(HEIGHT - BOTTOM) y2=(HEIGHT - BOTTOM) {}
        line.grid x1=(LEFT) x2=(WIDTH - 4.0) y1=(y_of(max, max)) y2=(y_of(max, max)) {}
        text.axis x=(LEFT - 4.0) y=(y_of(max, max) + 4.0) text-anchor="end" { (format_value(max)) (unit) }
        text.axis x=(LEFT - 4.0) y=(HEIGHT - BOTTOM + 4.0) text-anchor="end" { "0" }
    }
}

fn time_labels(minutes: &[(DateTime<Utc>, Option<&MinuteStats>)]) -> Markup {
    html! {
        @for (index, (minute, _)) in minutes.iter().enumerate() {
            @if index + 1 == minutes.len() {
                text.axis x=(WIDTH - 4.0) y=(HEIGHT - 4.0) text-anchor="end" { (minute.format("%H:%M")) }
            } @else if index % 15 == 0 {
                text.axis x=(x_of(index)) y=(HEIGHT - 4.0) { (minute.format("%H:%M")) }
            }
        }
    }
}

fn format_value(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 1.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(now: DateTime<Utc>, back: i64, completed: i64) -> MinuteStats {
        MinuteStats {
            minute: now.duration_trunc(TimeDelta::minutes(1)).expect("trunc")
                - TimeDelta::minutes(back),
            completed,
            failed: 1,
            cancelled: 0,
            wait_p50_ms: Some(2.0),
            wait_p95_ms: Some(9.5),
        }
    }

    #[test]
    fn the_hour_has_sixty_minutes_ending_now() {
        let now = DateTime::from_timestamp(1_800_000_030, 0).expect("time");
        let stats = vec![minute(now, 0, 5), minute(now, 59, 3), minute(now, 60, 100)];
        let hour = last_hour(&stats, now);
        assert_eq!(hour.len(), 60);
        assert_eq!(hour[59].1.map(|s| s.completed), Some(5));
        assert_eq!(hour[0].1.map(|s| s.completed), Some(3));
        assert_eq!(hour.iter().filter(|(_, s)| s.is_some()).count(), 2);
    }

    #[test]
    #[allow(clippy::float_cmp, reason = "the ceilings are exact round numbers")]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(430.0), 500.0);
        assert_eq!(nice_ceiling(2000.0), 2000.0);
    }

    #[test]
    fn the_charts_draw_a_bar_per_busy_minute() {
        let now = DateTime::from_timestamp(1_800_000_030, 0).expect("time");
        let stats = vec![minute(now, 0, 5), minute(now, 3, 3)];
        let svg = throughput(&stats, now).into_string();
        assert_eq!(svg.matches("class=\"completed\"").count(), 2);
        assert!(svg.contains("10 in all"), "{svg}");
        let lines = wait(&stats, now).into_string();
        assert!(lines.contains("polyline"));
        assert!(lines.contains("2.0 / 9.5"), "{lines}");
    }
}
