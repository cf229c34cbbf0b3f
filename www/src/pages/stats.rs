//! Stats: counts over the whole store, events per type and per day as SVG charts.

use chronik_core::StoreStats;
use leptos::prelude::*;

use crate::{api, format};

/// The stats page.
#[component]
pub fn StatsPage() -> impl IntoView {
    let stats = LocalResource::new(move || {
        api::changes().track();
        async move { api::stats().await }
    });
    view! {
        <section class="card" aria-labelledby="stats-heading">
            <h2 id="stats-heading">"Stats"</h2>
            <Transition fallback=|| view! { <p>"Counting…"</p> }>
                {move || stats.get().map(|result| match result {
                    Ok(stats) => view! { <StatsView stats=stats /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn StatsView(stats: StoreStats) -> impl IntoView {
    let by_type: Vec<(String, u64)> = {
        let mut v: Vec<_> = stats.events_by_type.clone().into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    let by_day: Vec<(String, u64)> = stats.events_by_day.clone().into_iter().collect();
    view! {
        <div class="tiles">
            <Tile label="Events" value=stats.event_count testid="stat-events" />
            <Tile label="Streams" value=stats.stream_count testid="stat-streams" />
            <Tile label="Snapshots" value=stats.snapshot_count testid="stat-snapshots" />
            <Tile label="Event types" value=stats.events_by_type.len() as u64 testid="stat-types" />
            <StorageTiles />
        </div>
        <h3 id="by-type">"Events per type"</h3>
        <BarChart rows=by_type labelled_by="by-type" testid="chart-types" />
        <h3 id="by-day">"Events per day (UTC)"</h3>
        <ColumnChart columns=by_day labelled_by="by-day" testid="chart-days" />
    }
}

#[component]
fn Tile(label: &'static str, value: u64, testid: &'static str) -> impl IntoView {
    view! {
        <div class="tile">
            <span class="tile-value" data-testid=testid>{value}</span>
            <span class="tile-label">{label}</span>
        </div>
    }
}

/// Storage used and quota, as the browser estimates them for this origin.
#[component]
fn StorageTiles() -> impl IntoView {
    let estimate = LocalResource::new(move || {
        api::changes().track();
        api::data::storage_estimate()
    });
    let shown = move |pick: fn((u64, u64)) -> u64| {
        move || match estimate.get() {
            Some(Some(e)) => format::bytes(pick(e)),
            Some(None) => "unknown".to_string(),
            None => "…".to_string(),
        }
    };
    view! {
        <div class="tile">
            <span class="tile-value" data-testid="stat-storage-used">{shown(|e| e.0)}</span>
            <span class="tile-label">"Storage used"</span>
        </div>
        <div class="tile">
            <span class="tile-value" data-testid="stat-storage-quota">{shown(|e| e.1)}</span>
            <span class="tile-label">"Quota"</span>
        </div>
    }
}

/// Horizontal bars, one per row, scaled to the largest value.
#[component]
fn BarChart(
    rows: Vec<(String, u64)>,
    labelled_by: &'static str,
    testid: &'static str,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">"No events yet."</p> }.into_any();
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let row_h = 26.0;
    let height = row_h * rows.len() as f64;
    let (label_w, bar_w) = (180.0, 420.0);
    view! {
        <svg
            class="chart"
            role="img"
            aria-labelledby=labelled_by
            data-testid=testid
            viewBox=format!("0 0 {} {}", label_w + bar_w + 80.0, height)
            width="100%"
        >
            {rows.into_iter().enumerate().map(|(i, (label, n))| {
                let y = i as f64 * row_h;
                let w = (n as f64 / max * bar_w).max(2.0);
                view! {
                    <g>
                        <title>{format!("{label}: {n}")}</title>
                        <text x=label_w - 8.0 y=y + 17.0 text-anchor="end" class="chart-label">{label.clone()}</text>
                        <rect x=label_w y=y + 4.0 width=w height=row_h - 8.0 rx="3" class="bar" />
                        <text x=label_w + w + 6.0 y=y + 17.0 class="chart-value">{n}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
    .into_any()
}

/// Vertical columns, one per day, scaled to the largest value.
#[component]
fn ColumnChart(
    columns: Vec<(String, u64)>,
    labelled_by: &'static str,
    testid: &'static str,
) -> impl IntoView {
    if columns.is_empty() {
        return view! { <p class="muted">"No events yet."</p> }.into_any();
    }
    let max = columns.iter().map(|c| c.1).max().unwrap_or(1).max(1) as f64;
    let (chart_h, col_w, gap) = (160.0, 36.0, 10.0);
    let width = (col_w + gap) * columns.len() as f64 + gap;
    view! {
        <svg
            class="chart"
            role="img"
            aria-labelledby=labelled_by
            data-testid=testid
            viewBox=format!("0 0 {width} {}", chart_h + 40.0)
            width=format!("{}", width.min(900.0))
        >
            {columns.into_iter().enumerate().map(|(i, (day, n))| {
                let h = (n as f64 / max * chart_h).max(2.0);
                let x = gap + i as f64 * (col_w + gap);
                view! {
                    <g>
                        <title>{format!("{day}: {n} events")}</title>
                        <rect x=x y=chart_h - h + 14.0 width=col_w height=h rx="3" class="bar" />
                        <text x=x + col_w / 2.0 y=chart_h - h + 10.0 text-anchor="middle" class="chart-value">{n}</text>
                        <text x=x + col_w / 2.0 y=chart_h + 30.0 text-anchor="middle" class="chart-label">{day[5..].to_string()}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
    .into_any()
}
