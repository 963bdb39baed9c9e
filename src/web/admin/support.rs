//! Search, the customer page and the license page of the console.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::is_well_formed;
use crate::domain::id::{LicenseId, MachineId, OrganizationId};
use crate::domain::license::{Decision, ValidationRequest};
use crate::domain::license_key::{KeyShape, LicenseKey, masked};
use crate::domain::machine::DeactivatedBy;
use crate::domain::role::Capability;
use crate::domain::role::OrgRole;
use crate::domain::time::Timestamp;
use crate::services::catalog;
use crate::services::context::Brand;
use crate::services::licensing::MachineRow;
use crate::services::licensing::{self, LicenseAction, LicenseView, LicensingError, Renewal};
use crate::services::outbox::OutboxEntry;
use crate::services::support::{self, Hit};
use crate::services::usage;
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::form::is_reason;
use crate::web::admin::timeline;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private, see_other};

fn at(t: i64) -> String {
    Timestamp::from_unix(t).to_utc_string()
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage<'a> {
    page: Page,
    role: &'a str,
    q: &'a str,
    hits: Vec<Hit>,
    searched: bool,
}

/// `GET /admin`: the console's front page, with the search box.
pub async fn home(FormPage(page): FormPage, staff: Staff) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    render_private(&HomePage {
        page: page.titled("Console"),
        role: staff.role.as_str(),
        q: "",
        hits: Vec::new(),
        searched: false,
    })
}

/// `POST /admin`: a search. A form post, not a query string, because people
/// paste full license keys into it: a key must not land in URLs, browser
/// history or request logs, and the page echoes it masked.
pub async fn search(
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    form: web::Form<SearchForm>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Read)?;
    let q = form.q.trim();
    let hits = support::search(&db, q).await?;
    // A full key is never echoed back: ours by its shape, a vendor's
    // because it found its license.
    let found_by_key = hits.iter().any(|h| h.by_full_key);
    let echo = match LicenseKey::named(q) {
        Ok(key) if found_by_key || key.shape() == KeyShape::Licensor => masked(&key.last4()),
        _ => q.to_owned(),
    };
    render_private(&HomePage {
        page: page.titled("Console"),
        role: staff.role.as_str(),
        q: &echo,
        hits,
        searched: !q.is_empty(),
    })
}

/// A license as the console lists it.
pub struct LicenseLine {
    pub id: String,
    pub title: String,
    pub key: String,
    pub status: &'static str,
    pub expires: String,
    pub seats: String,
    pub machines: Vec<MachineLine>,
}

impl LicenseLine {
    fn new(l: &LicenseView, machines: &[MachineRow]) -> Self {
        Self {
            id: l.id.to_string(),
            title: format!("{} · {}", l.product_name, l.license_type_name),
            key: masked(&l.key_last4),
            status: l.status.as_str(),
            expires: l
                .expires_at
                .map_or_else(|| "never".to_owned(), Timestamp::to_date_string),
            seats: format!("{} of {}", l.machines_used, l.max_machines),
            machines: machines.iter().map(MachineLine::new).collect(),
        }
    }
}

pub struct MachineLine {
    pub id: String,
    pub name: String,
    pub fingerprint: String,
    pub platform: String,
    pub ip: String,
    pub activated: String,
    pub last_seen: String,
    pub active: bool,
    pub ended: String,
}

impl MachineLine {
    fn new(m: &MachineRow) -> Self {
        Self {
            id: m.id.to_string(),
            name: m.name.clone().unwrap_or_default(),
            fingerprint: m.fingerprint.clone(),
            platform: m.platform.clone().unwrap_or_default(),
            ip: m.ip.clone().unwrap_or_default(),
            activated: at(m.activated_at),
            last_seen: at(m.last_heartbeat_at),
            active: m.deactivated_at.is_none(),
            ended: match (m.deactivated_at, m.deactivated_by) {
                (Some(t), Some(by)) => format!("{} ({by})", at(t)),
                (Some(t), None) => at(t),
                _ => String::new(),
            },
        }
    }
}

pub struct EmailLine {
    pub created: String,
    pub topic: String,
    pub recipient: String,
    pub status: String,
    pub error: String,
}

impl EmailLine {
    fn new(e: &OutboxEntry) -> Self {
        Self {
            created: at(e.created_at),
            topic: e.topic.clone(),
            recipient: e.recipient.clone(),
            status: e.shown_status().to_owned(),
            error: e.last_error.clone().unwrap_or_default(),
        }
    }
}

pub struct MemberLine {
    pub id: String,
    pub email: String,
    pub role: String,
    pub verified: String,
    pub reminders: bool,
    pub joined: String,
}

#[derive(Template)]
#[template(path = "admin/customer.html")]
struct CustomerPage {
    page: Page,
    name: String,
    id: String,
    created: String,
    step: &'static str,
    /// The staff member may issue licenses.
    may_issue: bool,
    /// May download a person's data, and may erase their account.
    may_export: bool,
    may_erase: bool,
    members: Vec<MemberLine>,
    licenses: Vec<LicenseLine>,
    emails: Vec<EmailLine>,
    timeline: Vec<timeline::EventLine>,
}

/// `GET /admin/customers/{id}`
pub async fn customer(
    FormPage(page): FormPage,
    staff: Staff,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let id = OrganizationId::parse(&path).map_err(|_| WebError::NotFound)?;
    let c = support::customer(&db, &id).await?;
    render_private(&CustomerPage {
        page: page.titled(&c.organization.name),
        name: c.organization.name.clone(),
        id: c.organization.id.clone(),
        created: at(c.organization.created_at),
        step: c.step.label(),
        may_issue: staff.role.can(Capability::Sell),
        may_export: staff.role.can(Capability::Support),
        may_erase: staff.role.can(Capability::Administer),
        members: c
            .members
            .iter()
            .map(|m| MemberLine {
                id: m.id.clone(),
                email: m.email.clone(),
                role: m
                    .org_role
                    .map(OrgRole::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                verified: m
                    .email_verified_at
                    .map_or_else(|| "not verified".to_owned(), at),
                reminders: m.reminders_enabled == 1,
                joined: at(m.created_at),
            })
            .collect(),
        licenses: c
            .licenses
            .iter()
            .map(|(l, m)| LicenseLine::new(l, m))
            .collect(),
        emails: c.emails.iter().map(EmailLine::new).collect(),
        timeline: timeline::lines(&db, &c.timeline).await?,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ExplainQuery {
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    product: String,
    /// Comma-separated feature codes.
    #[serde(default)]
    entitlements: String,
}

pub struct CheckLine {
    pub code: &'static str,
    pub passed: bool,
    pub observed: String,
    pub decided: bool,
}

pub struct Explanation {
    pub code: &'static str,
    pub detail: &'static str,
    pub in_grace: bool,
    pub checks: Vec<CheckLine>,
}

impl Explanation {
    fn new(d: &Decision) -> Self {
        let last = d.checks.len().saturating_sub(1);
        Self {
            code: d.code.as_str(),
            detail: d.code.detail(),
            in_grace: d.in_grace,
            checks: d
                .checks
                .iter()
                .enumerate()
                .map(|(i, c)| CheckLine {
                    code: c.code.as_str(),
                    passed: c.passed,
                    observed: c.observed.clone(),
                    decided: i == last,
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/license.html")]
struct LicensePage<'a> {
    page: Page,
    line: LicenseLine,
    customer: Option<(String, String)>,
    assigned_email: String,
    issued: String,
    entitlements: String,
    rules: String,
    timeline: Vec<timeline::EventLine>,
    explain: Option<Explanation>,
    explain_error: Option<String>,
    query: &'a ExplainQuery,
    /// Other types of the product, for "change type" (admins).
    types: Vec<(String, String)>,
    admin: bool,
    /// Everyday actions (support and admins).
    may_support: bool,
    /// Edits (sales and admins).
    may_edit: bool,
    usage: UsageView,
    metadata: Vec<(String, String)>,
    /// Provider events about it: (when, provider, type, id, state, detail).
    payments: Vec<[String; 6]>,
}

/// The last days of validations of a license, for the console.
struct UsageView {
    by_code: Vec<(String, i64, String)>,
    last_seen: String,
    fingerprints: i64,
    ips: i64,
    sharing: bool,
    seats: i64,
    days: i64,
}

/// `GET /admin/licenses/{id}[?fingerprint=…&product=…&entitlements=…]`:
/// the license, and with a fingerprint, the explained validation.
pub async fn license(
    FormPage(page): FormPage,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<ExplainQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let id = LicenseId::parse(&path).map_err(|_| WebError::NotFound)?;
    let s = support::license(&db, &id).await?;
    let l = &s.license;
    let (mut explain, mut explain_error) = (None, None);
    let asked = !query.fingerprint.trim().is_empty()
        || !query.product.trim().is_empty()
        || !query.entitlements.trim().is_empty();
    if asked {
        let fingerprint = match query.fingerprint.trim() {
            "" => Ok(None),
            fp => Fingerprint::parse(fp).map(Some),
        };
        let entitlements: Vec<String> = query
            .entitlements
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        match fingerprint {
            Err(e) => explain_error = Some(format!("That fingerprint cannot be used: {e}.")),
            Ok(fp) => {
                let product = query.product.trim();
                let request = ValidationRequest {
                    fingerprint: fp.as_ref().map(Fingerprint::as_str),
                    product: (!product.is_empty()).then_some(product),
                    entitlements: &entitlements,
                };
                let decision = support::explain(&db, l, &request, clock.now()).await?;
                explain = Some(Explanation::new(&decision));
            }
        }
    }
    render_private(&LicensePage {
        page: page.titled(&format!("License ····{}", l.key_last4)),
        line: LicenseLine::new(l, &s.machines),
        customer: s
            .organization
            .as_ref()
            .map(|o| (o.id.clone(), o.name.clone())),
        assigned_email: l.assigned_email.clone().unwrap_or_default(),
        issued: l.issued_at.to_utc_string(),
        entitlements: l.entitlements.join(", "),
        rules: rules(l),
        timeline: timeline::lines(&db, &s.timeline).await?,
        payments: crate::services::payments::events_of_license(&db, l.id.as_str())
            .await?
            .into_iter()
            .map(|e| {
                [
                    Timestamp::from_unix(e.received_at).to_utc_string(),
                    e.provider.to_string(),
                    e.event_type,
                    e.event_id,
                    e.state.to_string(),
                    e.detail,
                ]
            })
            .collect(),
        explain,
        explain_error,
        query: &query,
        types: catalog::license_types(&db, Some(&l.product_id), None, 200)
            .await?
            .into_iter()
            .filter(|t| l.license_type_id != t.id && t.retired_at.is_none())
            .map(|t| (t.id, t.name))
            .collect(),
        admin: staff.role.can(Capability::Administer),
        may_support: staff.role.can(Capability::Support),
        may_edit: staff.role.can(Capability::Sell),
        metadata: licensing::metadata_of(&db, &l.id)
            .await?
            .into_iter()
            .collect(),
        usage: {
            let u = usage::usage(&db, &l.id, l.max_machines, clock.now()).await?;
            UsageView {
                by_code: u
                    .by_code
                    .into_iter()
                    .map(|(code, n, at)| (code, n, at.to_utc_string()))
                    .collect(),
                last_seen: match u.last_seen {
                    Some((at, ip, fp)) => format!(
                        "{} from IP {} with fingerprint {}",
                        at.to_utc_string(),
                        ip.as_deref().unwrap_or("(unknown)"),
                        fp.as_deref().unwrap_or("(none given)")
                    ),
                    None => "never validated".to_owned(),
                },
                fingerprints: u.fingerprints,
                ips: u.ips,
                sharing: u.sharing_suspected,
                seats: l.max_machines,
                days: usage::WINDOW_DAYS,
            }
        },
    })
}

/// The license type's rules in one line.
fn rules(l: &LicenseView) -> String {
    let mut parts = vec![
        match l.duration_days {
            Some(d) => format!("{d} days from {}", l.expiry_from.as_str()),
            None => "perpetual".to_owned(),
        },
        format!("{} grace days", l.grace_days),
        format!("offline check-in every {} days", l.offline_checkin_days),
    ];
    if l.floating {
        parts.push(format!(
            "floating, heartbeat every {} s",
            l.heartbeat_window_secs.unwrap_or_default()
        ));
    } else {
        parts.push("node-locked".to_owned());
    }
    parts.push(if l.customer_may_deactivate {
        "customers may deactivate".to_owned()
    } else {
        "only support deactivates".to_owned()
    });
    if l.is_trial {
        parts.push("trial".to_owned());
    }
    parts.join(" · ")
}

#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    license_type_id: String,
    #[serde(default)]
    organization_id: String,
    #[serde(default)]
    machine_id: String,
    /// `yes` when the staff member ticked the box that names what a
    /// destructive action does.
    #[serde(default)]
    confirm: String,
}

/// Actions that cannot be undone from the console, or that cut off the
/// customer's machines: each asks for the box that says so.
fn needs_confirmation(action: &str) -> Option<&'static str> {
    Some(match action {
        "revoke" => "revoking is final and the customer's machines stop accepting the key",
        "reset_machines" => "every machine of the license stops working until activated again",
        "transfer" => "the license leaves its organization, whose members lose it",
        "deactivate_machine" => "that machine stops working until activated again",
        _ => return None,
    })
}

/// The most days support may extend a license by at once.
const SUPPORT_EXTENDS_DAYS: i64 = 31;

/// Who may take each action: support the everyday ones, admins those that
/// cannot be undone or move a license between customers or types.
fn action_capability(action: &str) -> Option<Capability> {
    Some(match action {
        "suspend" | "reinstate" | "renew" | "deactivate_machine" | "reset_machines"
        | "resend_email" => Capability::Support,
        "revoke" | "change_type" | "transfer" => Capability::Administer,
        _ => return None,
    })
}

/// `POST /admin/licenses/{id}/actions`: one action, with a reason that the
/// audit log records with the staff member.
#[allow(clippy::too_many_arguments)]
pub async fn license_action(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Read)?;
    let license_id = LicenseId::parse(&path).map_err(|_| WebError::NotFound)?;
    let back = format!("/admin/licenses/{}", path.as_str());
    let Some(role) = action_capability(&form.action) else {
        return Err(WebError::BadRequest {
            code: "action",
            detail: format!("`{}` is not an action", form.action),
        });
    };
    staff.require(role)?;
    let reason = form.reason.trim();
    if !is_reason(reason) {
        flash(
            &session,
            "Give a reason (up to 500 characters): it goes into the audit log.",
        );
        return Ok(see_other(&back));
    }
    if let Some(consequence) = needs_confirmation(&form.action)
        && form.confirm != "yes"
    {
        flash(
            &session,
            &format!("Not done: tick the box to confirm that {consequence}."),
        );
        return Ok(see_other(&back));
    }
    let ctx = staff.ctx(&db, clock.as_ref(), &req).with_reason(reason);
    let id = &license_id;
    let done = match form.action.as_str() {
        "suspend" | "reinstate" | "revoke" => {
            let action = LicenseAction::parse(&form.action).ok_or(WebError::NotFound)?;
            licensing::change_status(&ctx, &brand, id, action, Some(reason))
                .await
                .map(|l| format!("The license is now {}.", l.status))
        }
        "renew" => match form.days.trim().parse::<i64>() {
            Ok(days) if days > SUPPORT_EXTENDS_DAYS && !staff.role.can(Capability::Administer) => {
                Err(LicensingError::Invalid(format!(
                    "support extends a license by up to {SUPPORT_EXTENDS_DAYS} days at a time; an admin can extend it further"
                )))
            }
            Ok(days) => licensing::renew(&ctx, &brand, id, Renewal::ExtendDays(days), Some(reason))
                .await
                .map(|l| {
                    format!(
                        "Extended by {days} days: it now expires on {}.",
                        l.expires_at
                            .map_or_else(|| "never".to_owned(), Timestamp::to_date_string)
                    )
                }),
            Err(_) => Err(LicensingError::Invalid(
                "Give the number of days to extend by.".to_owned(),
            )),
        },
        "change_type" => licensing::change_type(&ctx, id, form.license_type_id.trim())
            .await
            .map(|l| format!("The license is now a {} license.", l.license_type_name)),
        "transfer" => {
            let org = form.organization_id.trim();
            if is_well_formed(org) {
                licensing::transfer(&ctx, &brand, id, org)
                    .await
                    .map(|_| "The license moved to the other organization.".to_owned())
            } else {
                Err(LicensingError::Invalid(
                    "Give the id of the organization (search for it first).".to_owned(),
                ))
            }
        }
        "deactivate_machine" => match MachineId::parse(form.machine_id.trim()) {
            Err(_) => Err(LicensingError::NotFound("machine")),
            Ok(machine_id) => {
                licensing::deactivate_machine(&ctx, id, &machine_id, DeactivatedBy::Staff)
                    .await
                    .map(|d| {
                        format!(
                            "Deactivated {}.",
                            d.machine
                                .name
                                .as_deref()
                                .unwrap_or(d.machine.fingerprint.as_str())
                        )
                    })
            }
        },
        "reset_machines" => licensing::reset_machines(&ctx, id)
            .await
            .map(|n| format!("Deactivated {n} machine(s); the seats are free.")),
        _ => licensing::resend_license_email(&ctx, &brand, id)
            .await
            .map(|n| format!("Queued {n} message(s) with the license details.")),
    };
    match done {
        Ok(message) => flash(&session, &message),
        Err(LicensingError::Unexpected(e)) => return Err(e.into()),
        Err(LicensingError::NotFound("license")) => return Err(WebError::NotFound),
        Err(e) => flash(&session, &format!("Not done: {e}")),
    }
    Ok(see_other(&back))
}

/// `POST /admin/customers/{org}/users/{user}/resend-verification`: sends
/// the email-verification link again (the same cooldown as for customers).
pub async fn resend_verification(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<crate::web::layout::CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Support)?;
    let (org, user_id) = path.into_inner();
    if !is_well_formed(&org) || !is_well_formed(&user_id) {
        return Err(WebError::NotFound);
    }
    let user = crate::services::accounts::member(&db, &org, &user_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let message = match crate::services::accounts::resend_verification(&ctx, &brand, &user).await {
        Ok(()) if user.email_verified_at.is_some() => {
            "That address is already verified.".to_owned()
        }
        Ok(()) => format!("Sent a new verification link to {}.", user.email),
        Err(crate::services::accounts::AccountError::Unexpected(e)) => return Err(e.into()),
        Err(e) => format!("Not sent: {e}"),
    };
    flash(&session, &message);
    Ok(see_other(&format!("/admin/customers/{org}")))
}
