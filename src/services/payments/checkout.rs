//! Starting a checkout: a fresh reference Licensor maps to the offer, the
//! organization and (to upgrade or renew) the license, and the provider's
//! hosted checkout it goes to. The reference is 140 random bits, stored
//! here: a payment can only be tied to what its reference was made for.

use url::Url;

use crate::domain::id::{LicenseId, OrganizationId};
use crate::domain::license::LicenseStatus;
use crate::domain::payments::{CheckoutPurpose, Provider};
use crate::services::catalog::CatalogError;
use crate::services::context::Ctx;
use crate::services::licensing::{self, LicensingError};
use crate::store::license_types;
use crate::store::offers::{self, OfferRow};
use crate::store::payments::{self, NewReference};

/// Where a customer goes to pay.
#[derive(Debug, Clone)]
pub struct CheckoutStart {
    pub reference: String,
    pub offer: OfferRow,
    /// The provider's page with the reference and the email on it (a
    /// Stripe Payment Link); `None` for a provider whose checkout opens
    /// from Licensor's own page (Paddle.js with `custom_data`).
    pub redirect: Option<String>,
}

/// Who is paying, for what.
#[derive(Debug, Clone)]
pub struct CheckoutFor<'a> {
    pub purpose: CheckoutPurpose,
    pub organization_id: Option<&'a OrganizationId>,
    pub license_id: Option<&'a LicenseId>,
    pub email: Option<&'a str>,
}

/// A new reference: `ref_` and 28 characters of lowercase base32.
fn new_reference() -> anyhow::Result<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut bits: u32 = 0;
    let mut held = 0;
    let mut out = String::from("ref_");
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        held += 8;
        while held >= 5 && out.len() < crate::domain::payments::REFERENCE_LEN {
            held -= 5;
            out.push(char::from(ALPHABET[((bits >> held) & 31) as usize]));
        }
    }
    Ok(out)
}

pub async fn start_checkout(
    ctx: &Ctx<'_>,
    offer_id: &str,
    who: &CheckoutFor<'_>,
) -> Result<CheckoutStart, CatalogError> {
    let offer = offers::find(ctx.db.pool(), offer_id)
        .await?
        .ok_or(CatalogError::NotFound("offer"))?;
    if offer.retired_at.is_some() && who.purpose != CheckoutPurpose::Renew {
        return Err(CatalogError::Conflict(
            "this offer is no longer sold".to_owned(),
        ));
    }
    let organization_id = check_target(ctx, &offer, who).await?;
    let redirect = match offer.provider {
        Provider::Stripe => {
            let Some(link) = offer.checkout_url.as_deref() else {
                return Err(CatalogError::Conflict(
                    "this offer has no Payment Link to pay through".to_owned(),
                ));
            };
            Some(link)
        }
        Provider::Paddle => None,
    };
    let reference = new_reference()?;
    payments::insert_reference(
        ctx.db.pool(),
        &NewReference {
            token: &reference,
            offer_id: &offer.id,
            purpose: who.purpose,
            organization_id: organization_id.as_ref().map(OrganizationId::as_str),
            license_id: who.license_id.map(LicenseId::as_str),
            email: who.email,
        },
        ctx.clock.now(),
    )
    .await?;
    let redirect = match redirect {
        Some(link) => Some(payment_link(link, &reference, who.email)?),
        None => None,
    };
    tracing::info!(offer_id = %offer.id, purpose = %who.purpose, "checkout started");
    Ok(CheckoutStart {
        reference,
        offer,
        redirect,
    })
}

/// The organization the payment is for: the one given, which must hold
/// the license to upgrade or renew (a trial of the offer's product, to
/// upgrade); a purchase names no license.
async fn check_target(
    ctx: &Ctx<'_>,
    offer: &OfferRow,
    who: &CheckoutFor<'_>,
) -> Result<Option<OrganizationId>, CatalogError> {
    let Some(license_id) = who.license_id else {
        if who.purpose != CheckoutPurpose::Buy {
            return Err(CatalogError::invalid(
                "license_id",
                format!("Name the license to {}.", who.purpose),
            ));
        }
        return Ok(who.organization_id.cloned());
    };
    if who.purpose == CheckoutPurpose::Buy {
        return Err(CatalogError::invalid(
            "license_id",
            "A purchase issues a new license: name none, or upgrade or renew it.",
        ));
    }
    let license = licensing::get_license(ctx.db, license_id)
        .await
        .map_err(|e| match e {
            LicensingError::NotFound(_) => CatalogError::NotFound("license"),
            other => CatalogError::Unexpected(anyhow::anyhow!(other)),
        })?;
    let Some(holder) = license.organization_id.clone() else {
        return Err(CatalogError::invalid(
            "license_id",
            "The license is not claimed by an organization yet.",
        ));
    };
    if who.organization_id.is_some_and(|org| *org != holder) {
        return Err(CatalogError::invalid(
            "license_id",
            "The license belongs to another organization.",
        ));
    }
    let lt = license_types::find_by_id(ctx.db.pool(), &offer.license_type_id)
        .await?
        .ok_or(CatalogError::NotFound("license type"))?;
    if lt.product_id != license.product_id.as_str() {
        return Err(CatalogError::invalid(
            "license_id",
            "The offer is for another product than the license.",
        ));
    }
    if who.purpose == CheckoutPurpose::Upgrade && !license.is_trial {
        return Err(CatalogError::Conflict(
            "only a trial is upgraded; renew a paid license".to_owned(),
        ));
    }
    if license.status == LicenseStatus::Revoked {
        return Err(CatalogError::Conflict("the license is revoked".to_owned()));
    }
    Ok(Some(holder))
}

/// A Payment Link with `client_reference_id` and `prefilled_email`, the
/// parameters Stripe documents for Payment Link URLs.
fn payment_link(link: &str, reference: &str, email: Option<&str>) -> Result<String, CatalogError> {
    let mut url = Url::parse(link)
        .map_err(|_| CatalogError::Conflict("the offer's Payment Link is not a URL".to_owned()))?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("client_reference_id", reference);
        if let Some(email) = email {
            query.append_pair("prefilled_email", email);
        }
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payments::is_reference;

    #[test]
    fn references_have_licensors_shape_and_differ() {
        let a = new_reference().unwrap();
        let b = new_reference().unwrap();
        assert!(is_reference(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn a_payment_link_carries_the_reference_and_the_email() {
        let url = payment_link(
            "https://buy.stripe.com/test_abc",
            "ref_abcdefghijklmnopqrstuvwxyz23",
            Some("jane+x@example.com"),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://buy.stripe.com/test_abc?client_reference_id=ref_abcdefghijklmnopqrstuvwxyz23&prefilled_email=jane%2Bx%40example.com"
        );
    }
}
