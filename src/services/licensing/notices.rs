//! Messages every use case that hands a license to an organization sends.

use anyhow::Context;

use crate::domain::time::Timestamp;
use crate::mail::templates::Welcome;
use crate::services::context::Brand;
use crate::services::notify::{self, Audience};
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
