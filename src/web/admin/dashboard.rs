//! `/admin/dashboard`: does onboarding work, where do customers stop, what
//! fails, and how much of what was sold is used. Charts are SVG drawn here;
//! every number is in a table too, and each table downloads as CSV.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::metrics::Metrics;
use crate::services::analytics::{self, Cohort, Dashboard, STEP_DETAILS, STEPS, human_duration};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::charts::{self, Bar};
use crate::web::admin::tokens::csv_download;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, render_private};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardQuery {
    /// Sign-up weeks the funnel covers, 1 to 52 (12 by default).
    #[serde(default)]
    weeks: Option<i64>,
}

/// The sign-up weeks the funnel covers unless asked for others.
pub const DEFAULT_WEEKS: i64 = 12;

fn weeks_of(query: &DashboardQuery) -> Result<i64, WebError> {
    match query.weeks {
        None => Ok(DEFAULT_WEEKS),
        Some(w) if (1..=52).contains(&w) => Ok(w),
        Some(_) => Err(WebError::BadRequest {
            code: "weeks",
            detail: "weeks is a whole number from 1 to 52".to_owned(),
        }),
    }
}

/// One funnel row as the page shows it.
struct StepLine {
    name: &'static str,
    detail: &'static str,
    reached: usize,
    conversion: String,
    stopped: usize,
    /// From the previous step to this one: median, 90th percentile.
    median: String,
    p90: String,
}

fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "–".to_owned())
}

fn step_lines(c: &Cohort) -> Vec<StepLine> {
    (0..5usize)
        .map(|k| {
            let gap = k.checked_sub(1).and_then(|p| c.between[p]);
            StepLine {
                name: STEPS[k],
                detail: STEP_DETAILS[k],
                reached: c.reached[k],
                conversion: percent(c.conversion(k)),
                stopped: if k < 4 { c.stopped[k] } else { 0 },
                median: gap.map_or_else(|| "–".to_owned(), |d| human_duration(d.median_secs)),
                p90: gap.map_or_else(|| "–".to_owned(), |d| human_duration(d.p90_secs)),
            }
        })
        .collect()
}

/// One cohort (a week or a product) in the funnel tables.
struct CohortLine {
    label: String,
    reached: [usize; 5],
    overall: String,
    total_median: String,
    assigned_to_activated: String,
}

impl CohortLine {
    fn new(c: &Cohort) -> Self {
        Self {
            label: c.label.clone(),
            reached: c.reached,
            overall: percent(c.overall()),
            total_median: c
                .total
                .map_or_else(|| "–".to_owned(), |d| human_duration(d.median_secs)),
            assigned_to_activated: c.between[2].map_or_else(
                || "–".to_owned(),
                |d| {
                    format!(
                        "{} (p90 {})",
                        human_duration(d.median_secs),
                        human_duration(d.p90_secs)
                    )
                },
            ),
        }
    }
}

struct SeatLine {
    product: String,
    license_type: String,
    licenses: i64,
    used: i64,
    seats: i64,
    share: String,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    page: Page,
    /// When the figures were read (a large database's are kept a minute).
    as_of: String,
    weeks: i64,
    headline: String,
    stopped_summary: String,
    this_week: Vec<StepLine>,
    everyone: Vec<StepLine>,
    funnel_svg: String,
    by_week: Vec<CohortLine>,
    by_product: Vec<CohortLine>,
    refusals_svg: String,
    refusal_codes: Vec<(String, i64)>,
    by_endpoint: Vec<(String, i64, i64, String)>,
    failing_licenses: Vec<(String, String, String, i64, String)>,
    failing_ips: Vec<(String, i64, String)>,
    deliveries: Vec<(String, i64, i64)>,
    errors_by_route: Vec<(String, u16, u64)>,
    seats_svg: String,
    seats: Vec<SeatLine>,
    active: i64,
    dormant: i64,
    in_force: i64,
    expiring_count: i64,
    expiring: Vec<(String, String, String, String)>,
}

/// The sentence the page opens with: this week's sign-ups, how many got
/// to a working install, and how long that took.
fn headline(d: &Dashboard) -> (String, String) {
    let week = &d.funnel.this_week;
    let signed_up = week.signed_up();
    let mut headline = format!(
        "This week (since {}), {signed_up} {} signed up and {} of them reached a working install ({})",
        week.label,
        if signed_up == 1 {
            "customer"
        } else {
            "customers"
        },
        week.completed(),
        percent(week.overall()),
    );
    match week.total {
        Some(t) => headline.push_str(&format!(
            ", in a median of {} from sign-up (90% within {}).",
            human_duration(t.median_secs),
            human_duration(t.p90_secs)
        )),
        None => headline.push('.'),
    }
    let stopped: Vec<String> = (0..4)
        .filter(|k| week.stopped[*k] > 0)
        .map(|k| format!("{} after “{}”", week.stopped[k], STEPS[k].to_lowercase()))
        .collect();
    let stopped = if stopped.is_empty() {
        "No one stopped part-way this week.".to_owned()
    } else {
        format!("The others stopped: {}.", stopped.join(", "))
    };
    (headline, stopped)
}

/// `GET /admin/dashboard[?weeks=N]`
pub async fn page(
    FormPage(page): FormPage,
    staff: Staff,
    query: web::Query<DashboardQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    metrics: web::Data<Metrics>,
    snapshots: web::Data<analytics::DashboardSnapshots>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let weeks = weeks_of(&query)?;
    let d = snapshots.into_inner().get(&db, clock.now(), weeks).await?;
    let (headline, stopped_summary) = headline(&d);
    let everyone = &d.funnel.everyone;
    let funnel_svg = charts::bars(
        "funnel",
        "Onboarding funnel",
        &format!(
            "Customers who signed up in the last {weeks} weeks, by the furthest step they reached"
        ),
        &(0..5)
            .map(|k| Bar {
                label: STEPS[k].to_owned(),
                value: everyone.reached[k] as f64,
                shown: format!(
                    "{}{}",
                    everyone.reached[k],
                    everyone
                        .conversion(k)
                        .map(|r| format!(" ({:.0}%)", r * 100.0))
                        .unwrap_or_default()
                ),
            })
            .collect::<Vec<_>>(),
        None,
    );
    let day_labels: Vec<String> = d
        .errors
        .days
        .iter()
        .map(|day| Timestamp::from_unix(day * 86_400).to_date_string())
        .collect();
    let refusals_svg = charts::stacked_columns(
        "refusals",
        "Refusals by code",
        "Refused validations, activations, deactivations and heartbeats per day over the last 30 days, stacked by code",
        &day_labels,
        &d.errors.by_code,
    );
    let seats_svg = charts::bars(
        "seats",
        "Seats in use",
        "Seats in use as a share of seats sold, per product and license type, for licenses in force",
        &d.seats
            .iter()
            .map(|s| Bar {
                label: format!("{} · {}", s.product, s.license_type),
                value: if s.seats > 0 {
                    s.seats_used as f64 / s.seats as f64
                } else {
                    0.0
                },
                shown: format!("{} of {}", s.seats_used, s.seats),
            })
            .collect::<Vec<_>>(),
        Some(1.0),
    );
    let at = |t: i64| Timestamp::from_unix(t).to_utc_string();
    let body = DashboardPage {
        page: page.titled("Dashboard"),
        as_of: d.computed_at.to_utc_string(),
        weeks,
        headline,
        stopped_summary,
        this_week: step_lines(&d.funnel.this_week),
        everyone: step_lines(everyone),
        funnel_svg,
        by_week: d.funnel.by_week.iter().map(CohortLine::new).collect(),
        by_product: d.funnel.by_product.iter().map(CohortLine::new).collect(),
        refusals_svg,
        refusal_codes: d
            .errors
            .by_code
            .iter()
            .map(|(code, per_day)| (code.clone(), per_day.iter().sum()))
            .collect(),
        by_endpoint: d
            .errors
            .by_endpoint
            .iter()
            .map(|(e, n, refused)| {
                (
                    e.clone(),
                    *n,
                    *refused,
                    percent((*n > 0).then(|| *refused as f64 / *n as f64)),
                )
            })
            .collect(),
        failing_licenses: d
            .failing_licenses
            .iter()
            .map(|f| {
                (
                    f.license_id.clone(),
                    format!("{} ····{}", f.product, f.key_last4),
                    f.organization.clone().unwrap_or_default(),
                    f.refusals,
                    at(f.last_at),
                )
            })
            .collect(),
        failing_ips: d
            .failing_ips
            .iter()
            .map(|f| (f.ip.clone(), f.refusals, at(f.last_at)))
            .collect(),
        deliveries: d.delivery_failures.clone(),
        errors_by_route: metrics.errors_by_route(),
        seats_svg,
        seats: d
            .seats
            .iter()
            .map(|s| SeatLine {
                product: s.product.clone(),
                license_type: s.license_type.clone(),
                licenses: s.licenses,
                used: s.seats_used,
                seats: s.seats,
                share: percent((s.seats > 0).then(|| s.seats_used as f64 / s.seats as f64)),
            })
            .collect(),
        active: d.active,
        dormant: d.in_force - d.active,
        in_force: d.in_force,
        expiring_count: d.expiring_count,
        expiring: d
            .expiring
            .iter()
            .map(|e| {
                (
                    e.license_id.clone(),
                    format!("{} · {} ····{}", e.product, e.license_type, e.key_last4),
                    e.organization
                        .clone()
                        .or_else(|| e.assigned_email.clone())
                        .unwrap_or_default(),
                    Timestamp::from_unix(e.expires_at).to_date_string(),
                )
            })
            .collect(),
    };
    render_private(&body)
}

/// `GET /admin/dashboard/{table}.csv[?weeks=N]`: funnel, weeks, products,
/// refusals, failing-licenses, failing-ips or seats.
pub async fn csv(
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<DashboardQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    snapshots: web::Data<analytics::DashboardSnapshots>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let table = path.into_inner();
    let weeks = weeks_of(&query)?;
    let d = snapshots.into_inner().get(&db, clock.now(), weeks).await?;
    let cohort_rows = |cohorts: &[Cohort]| -> Vec<Vec<String>> {
        cohorts
            .iter()
            .map(|c| {
                let mut row = vec![c.label.clone()];
                row.extend(c.reached.iter().map(ToString::to_string));
                row.push(
                    c.total
                        .map(|t| t.median_secs.to_string())
                        .unwrap_or_default(),
                );
                row.push(
                    c.between[2]
                        .map(|t| t.median_secs.to_string())
                        .unwrap_or_default(),
                );
                row
            })
            .collect()
    };
    let cohort_header = vec![
        "cohort",
        "signed_up",
        "email_verified",
        "license_assigned",
        "first_activation",
        "working_install",
        "median_secs_signup_to_install",
        "median_secs_assigned_to_activated",
    ];
    let (header, rows): (Vec<&str>, Vec<Vec<String>>) = match table.as_str() {
        "funnel" => (
            vec![
                "step",
                "reached",
                "conversion_from_previous",
                "stopped_here",
                "median_secs_from_previous",
                "p90_secs_from_previous",
            ],
            (0..5usize)
                .map(|k| {
                    let c = &d.funnel.everyone;
                    let gap = k.checked_sub(1).and_then(|p| c.between[p]);
                    vec![
                        STEPS[k].to_owned(),
                        c.reached[k].to_string(),
                        c.conversion(k)
                            .map(|r| format!("{r:.4}"))
                            .unwrap_or_default(),
                        if k < 4 {
                            c.stopped[k].to_string()
                        } else {
                            String::new()
                        },
                        gap.map(|g| g.median_secs.to_string()).unwrap_or_default(),
                        gap.map(|g| g.p90_secs.to_string()).unwrap_or_default(),
                    ]
                })
                .collect(),
        ),
        "weeks" => (cohort_header, cohort_rows(&d.funnel.by_week)),
        "products" => (cohort_header, cohort_rows(&d.funnel.by_product)),
        "refusals" => (
            vec!["day", "code", "refusals"],
            d.errors
                .by_code
                .iter()
                .flat_map(|(code, per_day)| {
                    d.errors
                        .days
                        .iter()
                        .zip(per_day)
                        .filter(|(_, n)| **n > 0)
                        .map(move |(day, n)| {
                            vec![
                                Timestamp::from_unix(day * 86_400).to_date_string(),
                                code.clone(),
                                n.to_string(),
                            ]
                        })
                })
                .collect(),
        ),
        "failing-licenses" => (
            vec![
                "license_id",
                "product",
                "key_last4",
                "organization",
                "refusals",
                "last_at",
            ],
            d.failing_licenses
                .iter()
                .map(|f| {
                    vec![
                        f.license_id.clone(),
                        f.product.clone(),
                        f.key_last4.clone(),
                        f.organization.clone().unwrap_or_default(),
                        f.refusals.to_string(),
                        Timestamp::from_unix(f.last_at).to_utc_string(),
                    ]
                })
                .collect(),
        ),
        "failing-ips" => (
            vec!["ip", "refusals", "last_at"],
            d.failing_ips
                .iter()
                .map(|f| {
                    vec![
                        f.ip.clone(),
                        f.refusals.to_string(),
                        Timestamp::from_unix(f.last_at).to_utc_string(),
                    ]
                })
                .collect(),
        ),
        "seats" => (
            vec!["product", "license_type", "licenses", "seats_used", "seats"],
            d.seats
                .iter()
                .map(|s| {
                    vec![
                        s.product.clone(),
                        s.license_type.clone(),
                        s.licenses.to_string(),
                        s.seats_used.to_string(),
                        s.seats.to_string(),
                    ]
                })
                .collect(),
        ),
        _ => return Err(WebError::NotFound),
    };
    Ok(csv_download(&table, &header, rows))
}
