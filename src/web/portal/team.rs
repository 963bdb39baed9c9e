//! The team page (members; the owner invites and removes) and joining by
//! invitation.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::email::EmailAddress;
use crate::domain::id::UserId;
use crate::domain::id::is_well_formed;
use crate::domain::password::Password;
use crate::domain::role::OrgRole;
use crate::services::accounts::UserRow;
use crate::services::context::{Brand, Ctx};
use crate::services::team::{self, TeamError};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{
    CsrfForm, FormPage, Page, USER_EMAIL, check_csrf, flash, render_private, render_private_status,
    render_status, see_other,
};
use crate::web::portal::{SignedIn, customer_ctx};
use crate::web::session::USER_ID;

const INVITE_TOKEN: &str = "invite_token";

impl From<TeamError> for WebError {
    fn from(e: TeamError) -> Self {
        match e {
            TeamError::Unexpected(e) => e.into(),
            TeamError::NotOwner => {
                crate::web::error::Problem::new(StatusCode::FORBIDDEN, "not_owner", e.to_string())
                    .into()
            }
            TeamError::NoSuchMember => WebError::NotFound,
            other => WebError::BadRequest {
                code: "team",
                detail: other.to_string(),
            },
        }
    }
}

struct InvitationItem {
    id: String,
    email: String,
    sent: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "portal/team.html")]
struct TeamPage {
    page: Page,
    members: Vec<UserRow>,
    is_owner: bool,
    invitations: Vec<InvitationItem>,
    /// The invitation form as typed, and what is wrong with it.
    typed_email: String,
    error: Option<String>,
}

async fn team_page(
    ctx: &Ctx<'_>,
    page: Page,
    who: &SignedIn,
    typed_email: String,
    error: Option<String>,
) -> Result<TeamPage, WebError> {
    let members = team::members(ctx.db, who.organization_id()?).await?;
    let is_owner = who.user.org_role == Some(OrgRole::Owner);
    let invitations = if is_owner {
        team::pending(ctx, &who.user)
            .await?
            .into_iter()
            .map(|i| InvitationItem {
                id: i.id,
                email: i.email,
                sent: i.sent_at.to_date_string(),
                expires: i.expires_at.to_date_string(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(TeamPage {
        page: page.titled("Team"),
        members,
        is_owner,
        invitations,
        typed_email,
        error,
    })
}

pub async fn page(
    req: HttpRequest,
    FormPage(page): FormPage,
    who: SignedIn,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    who.require_verified()?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    render_private(&team_page(&ctx, page, &who, String::new(), None).await?)
}

#[derive(Debug, Deserialize)]
pub struct TeamInviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn invite(
    req: HttpRequest,
    FormPage(page): FormPage,
    who: SignedIn,
    session: Session,
    form: web::Form<TeamInviteForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let typed = form.email.trim().to_owned();
    let refused = |message: String| async {
        let page = team_page(&ctx, page, &who, typed.clone(), Some(message)).await?;
        render_private_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let email = match EmailAddress::parse(&typed) {
        Ok(e) => e,
        Err(e) => return refused(e.to_string()).await,
    };
    match team::invite(&ctx, &brand, &who.user, &email).await {
        Ok(()) => {}
        Err(e @ (TeamError::InvitingYourself | TeamError::AlreadyMember(_))) => {
            return refused(e.to_string()).await;
        }
        Err(e) => return Err(e.into()),
    }
    flash(
        &session,
        &format!("We sent an invitation to {}.", email.as_str()),
    );
    Ok(see_other("/team"))
}

/// `POST /team/invitations/{id}/resend` and `.../revoke`.
pub async fn invitation_action(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let (id, action) = path.into_inner();
    if !is_well_formed(&id) {
        return Err(WebError::NotFound);
    }
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let done = match action.as_str() {
        "resend" => team::resend(&ctx, &brand, &who.user, &id)
            .await
            .map(|email| format!("We sent the invitation to {email} again, with a new link.")),
        "revoke" => team::revoke(&ctx, &who.user, &id).await.map(|email| {
            format!("The invitation to {email} is revoked: its link no longer works.")
        }),
        _ => return Err(WebError::NotFound),
    };
    match done {
        Ok(message) => flash(&session, &message),
        Err(e @ TeamError::NoSuchInvitation) => flash(&session, &e.to_string()),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other("/team"))
}

pub async fn remove(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let member_id = UserId::parse(&path).map_err(|_| WebError::NotFound)?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    team::remove(&ctx, &who.user, &member_id).await?;
    flash(&session, "The member is removed and signed out.");
    Ok(see_other("/team"))
}

#[derive(Template)]
#[template(path = "portal/join.html")]
struct JoinPage {
    page: Page,
    organization: String,
    email: String,
    error: Option<String>,
    usable: bool,
}

#[derive(Debug, Deserialize)]
pub struct JoinQuery {
    token: Option<String>,
}

/// `GET /join?token=…` keeps the token in the session and redirects, so it
/// leaves the address bar.
pub async fn join_form(
    FormPage(page): FormPage,
    session: Session,
    query: web::Query<JoinQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    if let Some(token) = &query.token {
        let _ = session.insert(INVITE_TOKEN, token);
        return Ok(see_other("/join"));
    }
    let token = session
        .get::<String>(INVITE_TOKEN)
        .ok()
        .flatten()
        .unwrap_or_default();
    let ctx = Ctx::new(&db, clock.as_ref(), Actor::System);
    let page = page.titled("Join your team");
    let mut res = match team::invitation(&ctx, &token).await {
        Ok(inv) => render_private(&JoinPage {
            page,
            organization: inv.organization,
            email: inv.email,
            error: None,
            usable: true,
        })?,
        Err(TeamError::Unexpected(e)) => return Err(e.into()),
        Err(e) => render_status(
            StatusCode::BAD_REQUEST,
            &JoinPage {
                page,
                organization: String::new(),
                email: String::new(),
                error: Some(e.to_string()),
                usable: false,
            },
        )?,
    };
    res.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub async fn join(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    form: web::Form<JoinForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let token = session
        .get::<String>(INVITE_TOKEN)
        .ok()
        .flatten()
        .unwrap_or_default();
    let ctx = Ctx::new(&db, clock.as_ref(), Actor::System)
        .with_request_id(Some(crate::web::request::request_id(&req)));
    let invitation = match team::invitation(&ctx, &token).await {
        Ok(inv) => inv,
        Err(TeamError::Unexpected(e)) => return Err(e.into()),
        Err(e) => {
            return render_status(
                StatusCode::BAD_REQUEST,
                &JoinPage {
                    page,
                    organization: String::new(),
                    email: String::new(),
                    error: Some(e.to_string()),
                    usable: false,
                },
            );
        }
    };
    let password =
        match Password::parse_for(SecretString::from(form.password.clone()), &invitation.email) {
            Ok(p) => p,
            Err(e) => {
                return render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &JoinPage {
                        page,
                        organization: invitation.organization,
                        email: invitation.email,
                        error: Some(e.to_string()),
                        usable: true,
                    },
                );
            }
        };
    match team::join(&ctx, &token, password).await {
        Ok(user) => {
            let _ = session.remove(INVITE_TOKEN);
            session.renew();
            session
                .insert(USER_ID, &user.id)
                .and_then(|()| session.insert(USER_EMAIL, &user.email))
                .map_err(|e| WebError::Unexpected(anyhow::anyhow!("session insert failed: {e}")))?;
            flash(
                &session,
                &format!("Welcome to {}.", invitation.organization),
            );
            Ok(see_other("/licenses"))
        }
        Err(TeamError::Unexpected(e)) => Err(e.into()),
        Err(e) => render_status(
            StatusCode::CONFLICT,
            &JoinPage {
                page,
                organization: invitation.organization,
                email: invitation.email,
                error: Some(e.to_string()),
                usable: false,
            },
        ),
    }
}
