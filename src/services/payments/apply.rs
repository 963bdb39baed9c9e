//! What each provider-neutral change does, inside the transaction that
//! settles its event: issue, upgrade or renew for a paid checkout; move the
//! expiry to a paid period's end; note a cancellation; suspend after a
//! refund or a chargeback when the offer says so.

use crate::domain::email::EmailAddress;
use crate::domain::id::{LicenseId, OrganizationId};
use crate::domain::license::LicenseStatus;
use crate::domain::payments::{
    Billing, Checkout, CheckoutPurpose, EventState, PaymentChange, Period, ProviderEvent,
    RefundPolicy, Reversal, is_reference,
};
use crate::domain::time::Timestamp;
use crate::services::licensing::{
    self, Holder, IssueRequest, LicenseAction, LicensingError, PaidTerms, PaymentNote,
};
use crate::store::Tx;
use crate::store::offers::{self, OfferRow};
use crate::store::payments::{self, ReferenceRow};

use super::Seller;

/// How long a subscription's license runs before the provider has said
/// when its first period ends (Stripe's invoice.paid follows its checkout
/// within seconds).
const PROVISIONAL_DAYS: i64 = 1;

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: EventState,
    pub detail: String,
    pub license_id: Option<String>,
}

impl Outcome {
    fn applied(license: &LicenseId, detail: impl Into<String>) -> Self {
        Self {
            state: EventState::Applied,
            detail: detail.into(),
            license_id: Some(license.to_string()),
        }
    }

    fn ignored(detail: impl Into<String>) -> Self {
        Self {
            state: EventState::Ignored,
            detail: detail.into(),
            license_id: None,
        }
    }

    pub(super) fn needs_attention(detail: String) -> Self {
        Self {
            state: EventState::NeedsAttention,
            detail,
            license_id: None,
        }
    }
}

/// Why an event was not applied.
pub(super) enum Refusal {
    /// It cannot be matched or applied as it stands; kept for the vendor.
    NeedsAttention(String),
    /// Licensor failed: the provider retries.
    Failed(anyhow::Error),
}

impl From<LicensingError> for Refusal {
    fn from(e: LicensingError) -> Self {
        match e {
            LicensingError::Unexpected(e) => Refusal::Failed(e),
            refused => Refusal::NeedsAttention(refused.to_string()),
        }
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Failed(e.into())
    }
}

fn attention<T>(detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::NeedsAttention(detail.into()))
}

pub(super) async fn apply(
    seller: &Seller<'_>,
    tx: &mut Tx,
    event: &ProviderEvent,
) -> Result<Outcome, Refusal> {
    let note = PaymentNote {
        provider: event.provider.as_str(),
        event_id: event.id.clone(),
    };
    match &event.change {
        PaymentChange::Ignored(why) => Ok(Outcome::ignored(why.clone())),
        PaymentChange::CheckoutPaid(checkout) => {
            checkout_paid(seller, tx, event, checkout, &note).await
        }
        PaymentChange::PeriodPaid(period) => period_paid(seller, tx, event, period, &note).await,
        PaymentChange::SubscriptionCanceled {
            subscription,
            period_end,
        } => canceled(seller, tx, event, subscription, *period_end, &note).await,
        PaymentChange::Reversed(reversal) => reversed(seller, tx, event, reversal).await,
    }
}

/// The reference a checkout carries, if any; one Licensor never made is
/// set aside, never guessed at.
async fn reference_of(
    tx: &mut Tx,
    reference: Option<&str>,
) -> Result<Option<ReferenceRow>, Refusal> {
    let Some(token) = reference else {
        return Ok(None);
    };
    if !is_reference(token) {
        return attention(format!("the reference {token:?} is not one Licensor made"));
    }
    match payments::find_reference(tx, token).await? {
        Some(row) => Ok(Some(row)),
        None => attention(format!(
            "no checkout of Licensor carries the reference {token}"
        )),
    }
}

/// The offer a checkout paid for: its reference's, else its price's.
async fn offer_of(
    tx: &mut Tx,
    event: &ProviderEvent,
    reference: Option<&ReferenceRow>,
    price_ids: &[String],
) -> Result<OfferRow, Refusal> {
    if let Some(reference) = reference {
        let offer = offers::find_in_tx(tx, &reference.offer_id)
            .await?
            .ok_or_else(|| Refusal::Failed(anyhow::anyhow!("a reference's offer is gone")))?;
        if !price_ids.is_empty() && !price_ids.contains(&offer.price_id) {
            return attention(format!(
                "the checkout paid {} but its reference is for the offer of {}",
                price_ids.join(", "),
                offer.price_id
            ));
        }
        return Ok(offer);
    }
    for price in price_ids {
        if let Some(offer) = offers::find_by_price(tx, event.provider, price).await? {
            return Ok(offer);
        }
    }
    match price_ids.first() {
        Some(price) => attention(format!(
            "no offer sells the {} price {price}: add one, then retry",
            event.provider
        )),
        None => {
            attention("the checkout carries no reference of Licensor and names no price".to_owned())
        }
    }
}

/// When a purchase of `offer` runs until: a subscription to its paid
/// period's end (or a provisional day), a one-time offer for its duration
/// (or the type's).
fn paid_until(
    offer: &OfferRow,
    period_end: Option<Timestamp>,
    now: Timestamp,
) -> Option<Timestamp> {
    match offer.billing {
        Billing::Subscription => {
            Some(period_end.unwrap_or_else(|| now.plus_days(PROVISIONAL_DAYS)))
        }
        Billing::OneTime => offer.duration_days.map(|days| now.plus_days(days)),
    }
}

async fn checkout_paid(
    seller: &Seller<'_>,
    tx: &mut Tx,
    event: &ProviderEvent,
    checkout: &Checkout,
    note: &PaymentNote,
) -> Result<Outcome, Refusal> {
    let now = seller.ctx.clock.now();
    let reference = reference_of(tx, checkout.reference.as_deref()).await?;
    let offer = offer_of(tx, event, reference.as_ref(), &checkout.price_ids).await?;
    let period_end = match &checkout.subscription {
        Some(sub) => known_period_end(tx, event, sub, checkout.period_end, now).await?,
        None => checkout.period_end,
    };
    let purpose = reference
        .as_ref()
        .map_or(CheckoutPurpose::Buy, |r| r.purpose);
    let (license, detail) = match (
        purpose,
        reference.as_ref().and_then(|r| r.license_id.clone()),
    ) {
        (CheckoutPurpose::Buy, None) => {
            let license = issue(
                seller,
                tx,
                event,
                checkout,
                reference.as_ref(),
                &offer,
                period_end,
            )
            .await?;
            (license, "issued the license bought".to_owned())
        }
        (CheckoutPurpose::Buy, Some(license)) => {
            // Another event of a checkout already applied: only the period.
            let license = LicenseId::from_stored(license);
            (
                license,
                "the license of this checkout is issued already".to_owned(),
            )
        }
        (CheckoutPurpose::Upgrade, Some(license)) => {
            let license = owned_license(tx, reference.as_ref(), license).await?;
            let terms = PaidTerms {
                license_type_id: offer.license_type_id.clone(),
                max_machines: offer.max_machines,
                entitlements: offer.entitlement_codes(),
                expires_at: paid_until(&offer, period_end, now),
            };
            licensing::upgrade_in_tx(&seller.ctx, tx, &license, &terms, note).await?;
            (
                license,
                "upgraded the trial to the offer's terms".to_owned(),
            )
        }
        (CheckoutPurpose::Renew, Some(license)) => {
            let license = owned_license(tx, reference.as_ref(), license).await?;
            let until = renewal_until(tx, &offer, &license, period_end, now).await?;
            let renewed =
                licensing::extend_to_in_tx(&seller.ctx, tx, seller.brand, &license, until, note)
                    .await?;
            let detail = match renewed {
                Some(_) => format!("renewed until {}", until.to_date_string()),
                None => "the license already runs past the period paid".to_owned(),
            };
            (license, detail)
        }
        (purpose, None) => {
            return Err(Refusal::Failed(anyhow::anyhow!(
                "a {purpose} reference without a license"
            )));
        }
    };
    link(
        tx,
        event,
        &license,
        &offer,
        checkout.subscription.as_deref(),
        &checkout.payments,
        now,
    )
    .await?;
    let told = matches!(
        (
            purpose,
            reference.as_ref().and_then(|r| r.license_id.as_ref())
        ),
        (CheckoutPurpose::Upgrade, Some(_)) | (CheckoutPurpose::Buy, None)
    );
    if told {
        // An email holder hears through the invitation to claim it.
        licensing::email_purchase_in_tx(
            &seller.ctx,
            tx,
            seller.brand,
            &license,
            event.provider.as_str(),
            purpose == CheckoutPurpose::Upgrade,
            offer.billing == Billing::Subscription,
        )
        .await?;
    }
    if let Some(until) = period_end {
        // A period end noted before the checkout arrived applies now.
        licensing::extend_to_in_tx(&seller.ctx, tx, seller.brand, &license, until, note).await?;
    }
    Ok(Outcome::applied(&license, detail))
}

/// The latest period end known for a subscription, this event's included.
async fn known_period_end(
    tx: &mut Tx,
    event: &ProviderEvent,
    subscription: &str,
    period_end: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Timestamp>, Refusal> {
    if let Some(end) = period_end {
        return Ok(Some(
            payments::note_period_end(tx, event.provider, subscription, end, now).await?,
        ));
    }
    Ok(
        payments::find_subscription(tx, event.provider, subscription)
            .await?
            .and_then(|s| s.period_end)
            .map(Timestamp::from_unix),
    )
}

/// The license a reference names, still its organization's: a license
/// given to another organization since is not theirs to pay for.
async fn owned_license(
    tx: &mut Tx,
    reference: Option<&ReferenceRow>,
    license_id: String,
) -> Result<LicenseId, Refusal> {
    let license_id = LicenseId::from_stored(license_id);
    let license = licensing::view_in_tx(tx, &license_id).await?;
    let payer = reference.and_then(|r| r.organization_id.as_deref());
    if license.organization_id.as_deref() != payer {
        return attention(format!(
            "license {license_id} no longer belongs to the organization that paid"
        ));
    }
    Ok(license_id)
}

/// A renewal's new expiry: the paid period's end, or the offer's duration
/// added to the later of the expiry and now.
async fn renewal_until(
    tx: &mut Tx,
    offer: &OfferRow,
    license_id: &LicenseId,
    period_end: Option<Timestamp>,
    now: Timestamp,
) -> Result<Timestamp, Refusal> {
    if let (Billing::Subscription, Some(end)) = (offer.billing, period_end) {
        return Ok(end);
    }
    let license = licensing::view_in_tx(tx, license_id).await?;
    let days = match offer.duration_days.or(license.duration_days) {
        Some(days) => days,
        None => return attention("the offer and its type have no duration to renew for"),
    };
    let base = license.expires_at.map_or(now, |at| at.max(now));
    Ok(base.plus_days(days))
}

async fn issue(
    seller: &Seller<'_>,
    tx: &mut Tx,
    event: &ProviderEvent,
    checkout: &Checkout,
    reference: Option<&ReferenceRow>,
    offer: &OfferRow,
    period_end: Option<Timestamp>,
) -> Result<LicenseId, Refusal> {
    let now = seller.ctx.clock.now();
    let holder = match reference.and_then(|r| r.organization_id.clone()) {
        Some(org) => Holder::Organization(OrganizationId::from_stored(org)),
        None => {
            let email = reference
                .and_then(|r| r.email.as_deref())
                .or(checkout.email.as_deref());
            match email.map(EmailAddress::parse) {
                Some(Ok(email)) => Holder::Email(email),
                Some(Err(_)) => return attention("the buyer's email is not an address"),
                None => return attention("the checkout names no buyer: no reference, no email"),
            }
        }
    };
    let request = IssueRequest {
        license_type_id: offer.license_type_id.clone(),
        holder: Some(holder),
        max_machines: offer.max_machines,
        expires_at: paid_until(offer, period_end, now),
        is_trial: false,
        entitlements: offer.entitlement_codes(),
        note: Some(format!("bought through {} ({})", event.provider, event.id)),
    };
    let issued =
        licensing::issue_in_tx(&seller.ctx, tx, seller.cipher, seller.brand, &request).await?;
    if let Some(reference) = reference {
        payments::set_reference_license(tx, &reference.token, &issued.license.id).await?;
    }
    Ok(issued.license.id)
}

/// Remembers which license the subscription and the payment ids paid for.
async fn link(
    tx: &mut Tx,
    event: &ProviderEvent,
    license: &LicenseId,
    offer: &OfferRow,
    subscription: Option<&str>,
    payment_ids: &[String],
    now: Timestamp,
) -> Result<(), Refusal> {
    if let Some(sub) = subscription {
        payments::link_subscription(tx, event.provider, sub, license, &offer.id, now).await?;
    }
    payments::link_payments(tx, event.provider, payment_ids, license, &offer.id, now).await?;
    Ok(())
}

async fn period_paid(
    seller: &Seller<'_>,
    tx: &mut Tx,
    event: &ProviderEvent,
    period: &Period,
    note: &PaymentNote,
) -> Result<Outcome, Refusal> {
    let now = seller.ctx.clock.now();
    let latest = payments::note_period_end(
        tx,
        event.provider,
        &period.subscription,
        period.period_end,
        now,
    )
    .await?;
    let subscription =
        payments::find_subscription(tx, event.provider, &period.subscription).await?;
    let (license, offer_id) = match subscription.and_then(|s| s.license_id.zip(s.offer_id)) {
        Some(found) => found,
        None if period.first || period.reference.is_some() => {
            return Ok(Outcome::ignored(format!(
                "noted the period end {}; the subscription's checkout issues its license",
                latest.to_date_string()
            )));
        }
        None => {
            return attention(format!(
                "subscription {} pays for no license Licensor knows",
                period.subscription
            ));
        }
    };
    let license = LicenseId::from_stored(license);
    payments::link_payments(
        tx,
        event.provider,
        &period.payments,
        &license,
        &offer_id,
        now,
    )
    .await?;
    let renewed =
        licensing::extend_to_in_tx(&seller.ctx, tx, seller.brand, &license, latest, note).await?;
    let detail = match renewed {
        Some(_) => format!("renewed until {}", latest.to_date_string()),
        None => "the license already runs to this period's end".to_owned(),
    };
    Ok(Outcome::applied(&license, detail))
}

async fn canceled(
    seller: &Seller<'_>,
    tx: &mut Tx,
    event: &ProviderEvent,
    subscription: &str,
    period_end: Option<Timestamp>,
    note: &PaymentNote,
) -> Result<Outcome, Refusal> {
    let now = seller.ctx.clock.now();
    payments::cancel_subscription(tx, event.provider, subscription, now).await?;
    let Some(license) = payments::find_subscription(tx, event.provider, subscription)
        .await?
        .and_then(|s| s.license_id)
    else {
        return Ok(Outcome::ignored(
            "a cancellation of a subscription no license is tied to",
        ));
    };
    let license = LicenseId::from_stored(license);
    let view =
        licensing::note_cancellation_in_tx(&seller.ctx, tx, &license, period_end, note).await?;
    let runs_until = view
        .expires_at
        .map_or_else(|| "without an end".to_owned(), Timestamp::to_date_string);
    Ok(Outcome::applied(
        &license,
        format!("canceled: the license runs until {runs_until} and is not renewed"),
    ))
}

async fn reversed(
    seller: &Seller<'_>,
    tx: &mut Tx,
    event: &ProviderEvent,
    reversal: &Reversal,
) -> Result<Outcome, Refusal> {
    let noun = reversal.kind.noun();
    let mut found = payments::license_of_payment(tx, event.provider, &reversal.payments).await?;
    if found.is_none()
        && let Some(sub) = &reversal.subscription
    {
        found = payments::find_subscription(tx, event.provider, sub)
            .await?
            .and_then(|s| s.license_id.zip(s.offer_id));
    }
    let Some((license, offer_id)) = found else {
        return attention(format!("a {noun} of a payment no license is tied to"));
    };
    let license = LicenseId::from_stored(license);
    let offer = offers::find_in_tx(tx, &offer_id)
        .await?
        .ok_or_else(|| Refusal::Failed(anyhow::anyhow!("a payment's offer is gone")))?;
    if offer.on_refund == RefundPolicy::Leave {
        return Ok(Outcome::applied(
            &license,
            format!("a {noun}: the offer leaves the license as it is"),
        ));
    }
    let view = licensing::view_in_tx(tx, &license).await?;
    if view.status != LicenseStatus::Active {
        return Ok(Outcome::applied(
            &license,
            format!("a {noun}: the license is {} already", view.status),
        ));
    }
    let reason = format!("{noun} through {} ({})", event.provider, event.id);
    licensing::change_status_in_tx(
        &seller.ctx,
        tx,
        seller.brand,
        &license,
        LicenseAction::Suspend,
        Some(&reason),
    )
    .await?;
    Ok(Outcome::applied(
        &license,
        format!("suspended after a {noun}"),
    ))
}
