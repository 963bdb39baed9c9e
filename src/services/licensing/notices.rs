//! Messages every use case that hands a license to an organization sends.

use anyhow::Context;

use crate::domain::time::Timestamp;
use crate::mail::templates::{LicenseAssigned, Welcome};
use crate::services::context::Brand;
use crate::services::notify::{self, About, Audience, enqueue_email};
use crate::store::{Tx, products};

use super::view::LicenseView;

/// The welcome message for a license that just reached an organization:
/// its details and the product's activation instructions.
pub async fn welcome(
    tx: &mut Tx,
    brand: &Brand,
    license: &LicenseView,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let instructions = products::activation_instructions(tx, &license.product_id)
        .await
        .context("reading the activation instructions")?;
    let link = brand.license_link(&license.id);
    notify::email_organization(
        tx,
        brand,
        "welcome",
        license.about(),
        Audience::Everyone,
        now,
        |_| Welcome {
            vendor_name: brand.vendor_name.clone(),
            license: license.summary(),
            instructions: instructions.trim().to_owned(),
            link: link.clone(),
        },
    )
    .await
}

/// The message for whoever a license was assigned to by email, before any
/// organization claimed it: what it is and where to claim it. Returns how
/// many messages were queued (none for a license without such an address).
pub(super) async fn tell_assignee(
    tx: &mut Tx,
    brand: &Brand,
    license: &LicenseView,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let Some(email) = &license.assigned_email else {
        return Ok(0);
    };
    let mail = LicenseAssigned {
        vendor_name: brand.vendor_name.clone(),
        product_name: license.product_name.clone(),
        license_type_name: license.license_type_name.clone(),
        link: brand.link("/onboarding"),
    };
    let about = About {
        organization_id: None,
        license_id: Some(&license.id),
    };
    enqueue_email(tx, brand, "license_assigned", email, &mail, about, now).await?;
    Ok(1)
}
