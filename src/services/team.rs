//! An organization's team: the owner invites members by email and removes
//! them; members see the organization's licenses.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::{Actor, EventKind};
use crate::domain::email::EmailAddress;
use crate::domain::id::{UserId, new_id};
use crate::domain::password::Password;
use crate::domain::role::OrgRole;
use crate::domain::role::Role;
use crate::domain::time::Timestamp;
use crate::domain::token::TokenKind;
use crate::mail::templates::TeamInvitation;
use crate::services::accounts::token_digest;
use crate::services::context::{Brand, Ctx};
use crate::services::credentials::hash_password;
use crate::services::notify::{About, enqueue_email};
use crate::store::events::{self, NewEvent};
use crate::store::tokens::{self, InvitationRef, NewToken};
use crate::store::users::{self, NewUser, UserRow};
use crate::store::{Tx, organizations, sessions};

pub const INVITATION_DAYS: i64 = 7;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("Only the organization's owner can do that.")]
    NotOwner,
    #[error("This invitation is not valid, has expired or was already used.")]
    BadInvitation,
    #[error("This address already has an account. Ask the owner to invite another address.")]
    AlreadyRegistered,
    #[error("No such member.")]
    NoSuchMember,
    #[error("That is your own address: you are already in this organization.")]
    InvitingYourself,
    #[error("{0} is already a member of this organization.")]
    AlreadyMember(String),
    #[error("That invitation was already accepted, revoked or has expired.")]
    NoSuchInvitation,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for TeamError {
    fn from(e: sqlx::Error) -> Self {
        TeamError::Unexpected(e.into())
    }
}

fn owned_org(user: &UserRow) -> Result<&str, TeamError> {
    match (user.organization_id.as_deref(), user.org_role) {
        (Some(org), Some(OrgRole::Owner)) => Ok(org),
        _ => Err(TeamError::NotOwner),
    }
}

/// Emails an invitation to join the owner's organization; a pending one to
/// the same address is replaced (its link stops working).
pub async fn invite(
    ctx: &Ctx<'_>,
    brand: &Brand,
    owner: &UserRow,
    email: &EmailAddress,
) -> Result<(), TeamError> {
    let org = owned_org(owner)?;
    if owner.email.eq_ignore_ascii_case(email.as_str()) {
        return Err(TeamError::InvitingYourself);
    }
    let members = users::members(ctx.db.pool(), org).await?;
    if members
        .iter()
        .any(|m| m.email.eq_ignore_ascii_case(email.as_str()))
    {
        return Err(TeamError::AlreadyMember(email.as_str().to_owned()));
    }
    send_invitation(ctx, brand, owner, org, email, EventKind::TeamInvited).await
}

/// A pending invitation, as the team page lists it.
#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub id: String,
    pub email: String,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The organization's invitations that can still be accepted.
pub async fn pending(ctx: &Ctx<'_>, owner: &UserRow) -> Result<Vec<PendingInvitation>, TeamError> {
    let org = owned_org(owner)?;
    let rows = tokens::pending_invitations(ctx.db.pool(), org, ctx.clock.now()).await?;
    Ok(rows
        .into_iter()
        .filter_map(|t| {
            Some(PendingInvitation {
                email: t.email?,
                id: t.id,
                sent_at: Timestamp::from_unix(t.created_at),
                expires_at: Timestamp::from_unix(t.expires_at),
            })
        })
        .collect())
}

/// Sends a pending invitation again, with a new link (the old one stops
/// working) and a new expiry.
pub async fn resend(
    ctx: &Ctx<'_>,
    brand: &Brand,
    owner: &UserRow,
    invitation_id: &str,
) -> Result<String, TeamError> {
    let org = owned_org(owner)?;
    let email = pending(ctx, owner)
        .await?
        .into_iter()
        .find(|i| i.id == invitation_id)
        .map(|i| i.email)
        .ok_or(TeamError::NoSuchInvitation)?;
    let email = EmailAddress::parse(&email).map_err(|_| TeamError::NoSuchInvitation)?;
    send_invitation(
        ctx,
        brand,
        owner,
        org,
        &email,
        EventKind::TeamInvitationResent,
    )
    .await?;
    Ok(email.as_str().to_owned())
}

/// Withdraws a pending invitation: its link stops working.
pub async fn revoke(
    ctx: &Ctx<'_>,
    owner: &UserRow,
    invitation_id: &str,
) -> Result<String, TeamError> {
    let org = owned_org(owner)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let withdrawn =
        tokens::withdraw_invitations(&mut tx, org, InvitationRef::Id(invitation_id), now).await?;
    let Some(email) = withdrawn.into_iter().next() else {
        return Err(TeamError::NoSuchInvitation);
    };
    let masked = EmailAddress::parse(&email).map_or_else(|_| String::new(), |e| e.masked());
    record_team_event(
        ctx,
        &mut tx,
        EventKind::TeamInvitationRevoked,
        org,
        owner,
        &masked,
    )
    .await?;
    tx.commit().await.context("committing the revocation")?;
    Ok(email)
}

async fn record_team_event(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    kind: EventKind,
    org: &str,
    owner: &UserRow,
    masked_email: &str,
) -> anyhow::Result<()> {
    let mut event = NewEvent::new(kind, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.organization_id = Some(org);
    event.user_id = Some(&owner.id);
    event.data = json!({ "email": masked_email });
    events::insert(tx, ctx.clock.now(), &event)
        .await
        .with_context(|| format!("recording {kind}"))
}

/// One transaction: earlier invitations to the address withdrawn, a new
/// token, its email in the outbox, the audit event.
async fn send_invitation(
    ctx: &Ctx<'_>,
    brand: &Brand,
    owner: &UserRow,
    org: &str,
    email: &EmailAddress,
    event_kind: EventKind,
) -> Result<(), TeamError> {
    let organization = organizations::find_by_id(ctx.db.pool(), org)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    let now = ctx.clock.now();
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut tx = ctx.db.begin_write().await?;
    tokens::withdraw_invitations(&mut tx, org, InvitationRef::Email(email.as_str()), now).await?;
    tokens::insert(
        &mut tx,
        &NewToken {
            id: &new_id(),
            digest: &token_digest(&text),
            kind: TokenKind::Invitation,
            user_id: None,
            email: Some(email.as_str()),
            organization_id: Some(org),
            license_id: None,
            expires_at: now.plus_days(INVITATION_DAYS),
        },
        now,
    )
    .await?;
    let mail = TeamInvitation {
        vendor_name: brand.vendor_name.clone(),
        organization,
        inviter: owner.email.clone(),
        link: brand.link(&format!("/join?token={text}")),
        days_valid: INVITATION_DAYS,
    };
    enqueue_email(
        &mut tx,
        brand,
        "team_invitation",
        email.as_str(),
        &mail,
        About {
            organization_id: Some(org),
            license_id: None,
        },
        now,
    )
    .await?;
    record_team_event(ctx, &mut tx, event_kind, org, owner, &email.masked()).await?;
    tx.commit().await.context("committing the invitation")?;
    Ok(())
}

/// What an invitation token names: the organization and the address.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub token_id: String,
    pub organization_id: String,
    pub organization: String,
    pub email: String,
}

pub async fn invitation(ctx: &Ctx<'_>, token: &str) -> Result<Invitation, TeamError> {
    if token.len() != 64 || !token.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(TeamError::BadInvitation);
    }
    let row = tokens::find_by_digest(ctx.db.pool(), &token_digest(token), TokenKind::Invitation)
        .await?
        .filter(|t| t.used_at.is_none() && t.expires_at > ctx.clock.now().unix())
        .ok_or(TeamError::BadInvitation)?;
    let (Some(organization_id), Some(email)) = (row.organization_id, row.email) else {
        return Err(TeamError::BadInvitation);
    };
    let organization = organizations::find_by_id(ctx.db.pool(), &organization_id)
        .await?
        .map(|o| o.name)
        .ok_or(TeamError::BadInvitation)?;
    Ok(Invitation {
        token_id: row.id,
        organization_id,
        organization,
        email,
    })
}

/// Accepts an invitation with a new account (verified: the link came by
/// email); returns the new member.
pub async fn join(ctx: &Ctx<'_>, token: &str, password: Password) -> Result<UserRow, TeamError> {
    let invitation = invitation(ctx, token).await?;
    let email = EmailAddress::parse(&invitation.email).map_err(|_| TeamError::BadInvitation)?;
    let hash = hash_password(password).await?;
    let now = ctx.clock.now();
    let id = new_id();
    let mut tx = ctx.db.begin_write().await?;
    if !tokens::consume(&mut tx, &invitation.token_id, now).await? {
        return Err(TeamError::BadInvitation);
    }
    let inserted = users::insert(
        &mut tx,
        &NewUser {
            id: &id,
            organization_id: Some(&invitation.organization_id),
            org_role: Some(OrgRole::Member),
            email: &email,
            password_hash: &hash,
            role: Role::Customer,
            email_verified_at: Some(now),
        },
        now,
    )
    .await?;
    if !inserted {
        return Err(TeamError::AlreadyRegistered);
    }
    let actor = Actor::Customer {
        user_id: id.clone(),
    };
    let mut event = NewEvent::new(EventKind::TeamJoined, &actor);
    event.request_id = ctx.request_id.as_deref();
    event.organization_id = Some(&invitation.organization_id);
    event.user_id = Some(&id);
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the join")?;
    tx.commit().await.context("committing the join")?;
    users::find_by_id(ctx.db.pool(), &id)
        .await?
        .ok_or_else(|| TeamError::Unexpected(anyhow::anyhow!("the new member vanished")))
}

/// Removes a member; their sessions end.
pub async fn remove(ctx: &Ctx<'_>, owner: &UserRow, member_id: &UserId) -> Result<(), TeamError> {
    let org = owned_org(owner)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    if !users::remove_member(&mut tx, member_id, org, now).await? {
        return Err(TeamError::NoSuchMember);
    }
    let mut event = NewEvent::new(EventKind::TeamRemoved, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.organization_id = Some(org);
    event.user_id = Some(member_id);
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the removal")?;
    tx.commit().await.context("committing the removal")?;
    sessions::delete_for_user(ctx.db.pool(), member_id).await?;
    Ok(())
}

/// The members of an organization.
pub async fn members(db: &crate::store::Db, organization_id: &str) -> anyhow::Result<Vec<UserRow>> {
    Ok(users::members(db.pool(), organization_id).await?)
}
