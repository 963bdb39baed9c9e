//! Checking an import's rows against the catalog, the keys already held
//! and the customers' accounts: every error of every row, or a plan of
//! what to write.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::domain::email::EmailAddress;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::license::ExpiryFrom;
use crate::domain::license_key::LicenseKey;
use crate::domain::role::Role;
use crate::domain::time::Timestamp;
use crate::store::Db;
use crate::store::imports::{self, Account};
use crate::store::license_types::{self, LicenseTypeRow};

use super::super::edit::{MAX_METADATA_KEYS, MAX_SEATS, metadata_problem};
use super::{ImportError, ImportRow, RowError};

const MAX_ORGANIZATION_CHARS: usize = 200;
const MAX_MACHINE_NAME_CHARS: usize = 200;
/// The metadata key an unclaimed license keeps its organization's name in.
pub const ORGANIZATION_METADATA_KEY: &str = "organization";

/// What the rows are checked against, read in a few statements.
pub(super) struct Reference {
    products: HashMap<String, String>,
    types: Vec<LicenseTypeRow>,
    entitlements: HashSet<String>,
    existing: HashMap<String, String>,
    accounts: HashMap<String, Account>,
}

impl Reference {
    pub(super) async fn read(db: &Db, rows: &[ImportRow]) -> Result<Self, ImportError> {
        let pool = db.pool();
        let products = imports::products(pool)
            .await?
            .into_iter()
            .map(|p| (p.code.to_lowercase(), p.id))
            .collect();
        let digests: Vec<String> = rows
            .iter()
            .filter_map(|r| LicenseKey::named(&r.key).ok())
            .map(|k| k.digest())
            .collect();
        let emails: Vec<String> = rows
            .iter()
            .filter_map(|r| EmailAddress::parse(&r.customer_email).ok())
            .map(|e| e.as_str().to_owned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        Ok(Self {
            products,
            // Retired types too: an imported license may be of one no longer sold.
            types: license_types::all(pool).await?,
            entitlements: imports::entitlement_codes(pool)
                .await?
                .into_iter()
                .collect(),
            existing: imports::licenses_by_digest(pool, db.backend(), &digests).await?,
            accounts: imports::accounts_by_email(pool, db.backend(), &emails).await?,
        })
    }
}

/// Who an imported license goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Holder {
    /// No one yet.
    Nobody,
    /// The organization of the customer's account.
    Organization(String),
    /// A customer without an account yet: theirs to claim on sign-up.
    Email(String),
}

/// A checked row: what to write.
#[derive(Debug)]
pub(super) struct Planned {
    pub line: u64,
    pub key: LicenseKey,
    /// The license that already has this key: the row is left as it is.
    pub existing: Option<String>,
    pub product_id: String,
    pub license_type_id: String,
    pub holder: Holder,
    pub max_machines: i64,
    /// Entitlements of its own, when the row names any.
    pub entitlements: Option<Vec<String>>,
    pub issued_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub machines: Vec<(Fingerprint, Option<String>)>,
    pub metadata: BTreeMap<String, String>,
}

/// Every row checked: the plan, or every error of every row.
pub(super) fn plan(
    reference: &Reference,
    rows: &[ImportRow],
    now: Timestamp,
) -> Result<Vec<Planned>, ImportError> {
    let mut planned = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let mut lines_by_digest: HashMap<String, u64> = HashMap::with_capacity(rows.len());
    for row in rows {
        let mut problems = Problems {
            line: row.line,
            errors: &mut errors,
        };
        if let Ok(key) = LicenseKey::named(&row.key) {
            match lines_by_digest.entry(key.digest()) {
                Entry::Occupied(first) => problems.at(
                    "key",
                    format!(
                        "is the same key as line {}; a key is imported once",
                        first.get()
                    ),
                ),
                Entry::Vacant(slot) => {
                    slot.insert(row.line);
                }
            }
        }
        if let Some(p) = check_row(reference, row, now, &mut problems) {
            planned.push(p);
        }
    }
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(ImportError::Rows(errors))
    }
}

/// A row's errors, as they are found.
struct Problems<'a> {
    line: u64,
    errors: &'a mut Vec<RowError>,
}

impl Problems<'_> {
    fn at(&mut self, field: &'static str, detail: impl Into<String>) {
        self.errors
            .push(RowError::new(self.line, Some(field), detail.into()));
    }
}

/// A row as a plan, or `None` with its errors noted.
fn check_row(
    reference: &Reference,
    row: &ImportRow,
    now: Timestamp,
    problems: &mut Problems<'_>,
) -> Option<Planned> {
    let before = problems.errors.len();
    let key = LicenseKey::named(&row.key)
        .map_err(|e| problems.at("key", format!("{e}")))
        .ok();
    let license_type = license_type(reference, row, problems);
    let holder = holder(reference, row, problems);
    let max_machines = seats(row, license_type, problems);
    let entitlements = entitlements(reference, row, problems);
    let (issued_at, expires_at) = dates(row, license_type, now, problems);
    let machines = machines(row, max_machines, problems);
    let mut metadata = metadata(row, problems);
    if let (Holder::Email(_), false) = (&holder, row.organization.is_empty()) {
        metadata
            .entry(ORGANIZATION_METADATA_KEY.to_owned())
            .or_insert_with(|| row.organization.clone());
    }
    if problems.errors.len() > before {
        return None;
    }
    let (key, license_type, max_machines) = (key?, license_type?, max_machines?);
    Some(Planned {
        line: row.line,
        existing: reference.existing.get(&key.digest()).cloned(),
        key,
        product_id: license_type.product_id.clone(),
        license_type_id: license_type.id.clone(),
        holder,
        max_machines,
        entitlements,
        issued_at,
        expires_at,
        machines,
        metadata,
    })
}

fn license_type<'r>(
    reference: &'r Reference,
    row: &ImportRow,
    problems: &mut Problems<'_>,
) -> Option<&'r LicenseTypeRow> {
    if row.product.is_empty() {
        problems.at("product", "is required: a product code");
        return None;
    }
    let Some(product_id) = reference.products.get(&row.product.to_lowercase()) else {
        problems.at(
            "product",
            format!("no product has the code {:?}", row.product),
        );
        return None;
    };
    let of_product = || {
        reference
            .types
            .iter()
            .filter(|t| &t.product_id == product_id)
    };
    let wanted = row.license_type.as_str();
    let found = of_product().find(|t| t.id == wanted || t.name.eq_ignore_ascii_case(wanted));
    if found.is_none() {
        let names: Vec<&str> = of_product().map(|t| t.name.as_str()).collect();
        problems.at(
            "license_type",
            format!(
                "{wanted:?} is not a license type of {}; its types are {}",
                row.product,
                if names.is_empty() {
                    "none yet".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        );
    }
    found
}

fn holder(reference: &Reference, row: &ImportRow, problems: &mut Problems<'_>) -> Holder {
    if row.customer_email.is_empty() {
        if !row.organization.is_empty() {
            problems.at(
                "organization",
                "needs a customer_email: the license goes to that customer's organization",
            );
        }
        return Holder::Nobody;
    }
    if row.organization.chars().count() > MAX_ORGANIZATION_CHARS {
        problems.at("organization", "is at most 200 characters");
    }
    let email = match EmailAddress::parse(&row.customer_email) {
        Ok(email) => email,
        Err(e) => {
            problems.at("customer_email", format!("{e}"));
            return Holder::Nobody;
        }
    };
    let Some(account) = reference.accounts.get(email.as_str()) else {
        return Holder::Email(email.as_str().to_owned());
    };
    let (Role::Customer, Some(org)) = (account.role, &account.organization_id) else {
        problems.at(
            "customer_email",
            format!(
                "{} is a staff account or has no organization; licenses go to customers",
                email.as_str()
            ),
        );
        return Holder::Nobody;
    };
    let name = account.organization_name.as_deref().unwrap_or_default();
    if !row.organization.is_empty() && !row.organization.eq_ignore_ascii_case(name) {
        problems.at(
            "organization",
            format!(
                "{} already has an account, in the organization {name:?}, not {:?}; \
                 leave the column empty or give that name",
                email.as_str(),
                row.organization
            ),
        );
    }
    Holder::Organization(org.clone())
}

fn seats(
    row: &ImportRow,
    license_type: Option<&LicenseTypeRow>,
    problems: &mut Problems<'_>,
) -> Option<i64> {
    if row.seats.is_empty() {
        return license_type.map(|t| t.max_machines);
    }
    match row.seats.parse::<i64>() {
        Ok(n) if (1..=MAX_SEATS).contains(&n) => Some(n),
        _ => {
            problems.at("seats", "is a whole number from 1 to 100,000");
            None
        }
    }
}

fn entitlements(
    reference: &Reference,
    row: &ImportRow,
    problems: &mut Problems<'_>,
) -> Option<Vec<String>> {
    if row.entitlements.is_empty() {
        return None;
    }
    for code in &row.entitlements {
        if !reference.entitlements.contains(code) {
            problems.at(
                "entitlements",
                format!("{code:?} is not an entitlement; create it in the catalog first"),
            );
        }
    }
    let mut codes = row.entitlements.clone();
    codes.sort();
    codes.dedup();
    Some(codes)
}

fn dates(
    row: &ImportRow,
    license_type: Option<&LicenseTypeRow>,
    now: Timestamp,
    problems: &mut Problems<'_>,
) -> (Timestamp, Option<Timestamp>) {
    let issued_at = if row.issued_at.is_empty() {
        now
    } else {
        match Timestamp::parse_date_or_time(&row.issued_at, false) {
            Some(at) if at <= now => at,
            Some(_) => {
                problems.at("issued_at", "is in the future");
                now
            }
            None => {
                problems.at("issued_at", DATE_FORMS);
                now
            }
        }
    };
    if !row.expires_at.is_empty() {
        let Some(at) = Timestamp::parse_date_or_time(&row.expires_at, true) else {
            problems.at("expires_at", DATE_FORMS);
            return (issued_at, None);
        };
        if at <= now {
            problems.at(
                "expires_at",
                "is in the past: import licenses that are still current",
            );
        } else if at <= issued_at {
            problems.at("expires_at", "is not after issued_at");
        }
        return (issued_at, Some(at));
    }
    // The type's term, counted from the issue date; a term that starts at
    // the first activation starts now if machines come with the row.
    let Some(lt) = license_type else {
        return (issued_at, None);
    };
    let start = match lt.expiry_from {
        ExpiryFrom::Issue => Some(issued_at),
        ExpiryFrom::FirstActivation if !row.machines.is_empty() => Some(issued_at),
        ExpiryFrom::FirstActivation => None,
    };
    let expires_at = start.zip(lt.duration_days).map(|(s, d)| s.plus_days(d));
    if let Some(at) = expires_at
        && at <= now
    {
        problems.at(
            "expires_at",
            format!(
                "is empty, and the type's {} days from issued_at ended on {}: give the date it runs to",
                lt.duration_days.unwrap_or_default(),
                at.to_date_string()
            ),
        );
    }
    (issued_at, expires_at)
}

const DATE_FORMS: &str = "is a date (YYYY-MM-DD) or an RFC 3339 time (YYYY-MM-DDTHH:MM:SSZ)";

fn machines(
    row: &ImportRow,
    seats: Option<i64>,
    problems: &mut Problems<'_>,
) -> Vec<(Fingerprint, Option<String>)> {
    let mut machines: Vec<(Fingerprint, Option<String>)> = Vec::with_capacity(row.machines.len());
    for (fingerprint, name) in &row.machines {
        match Fingerprint::parse(fingerprint) {
            Ok(fp) if machines.iter().any(|(m, _)| m == &fp) => {
                problems.at("machines", format!("{fingerprint:?} is listed twice"));
            }
            Ok(fp) => machines.push((fp, name.clone())),
            Err(e) => problems.at("machines", format!("{fingerprint:?}: {e}")),
        }
        if name.as_ref().is_some_and(|n| {
            n.chars().count() > MAX_MACHINE_NAME_CHARS || n.chars().any(char::is_control)
        }) {
            problems.at(
                "machines",
                format!("{fingerprint:?}: a name is at most 200 characters"),
            );
        }
    }
    if let Some(seats) = seats
        && i64::try_from(row.machines.len()).unwrap_or(i64::MAX) > seats
    {
        problems.at(
            "machines",
            format!(
                "lists {} machines but the license has {seats} seats",
                row.machines.len()
            ),
        );
    }
    machines
}

fn metadata(row: &ImportRow, problems: &mut Problems<'_>) -> BTreeMap<String, String> {
    let mut metadata = BTreeMap::new();
    for (key, value) in &row.metadata {
        if let Some(problem) = metadata_problem(key, value) {
            problems.at("metadata", problem);
        } else if metadata.insert(key.clone(), value.clone()).is_some() {
            problems.at("metadata", format!("{key:?} is given twice"));
        }
    }
    if metadata.len() > MAX_METADATA_KEYS {
        problems.at("metadata", "has at most 50 keys");
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pro() -> LicenseTypeRow {
        LicenseTypeRow {
            id: "lt-pro".to_owned(),
            product_id: "p-app".to_owned(),
            name: "Pro".to_owned(),
            duration_days: Some(365),
            max_machines: 3,
            floating: 0,
            heartbeat_window_secs: None,
            grace_days: 0,
            self_service_trial: 0,
            customer_may_deactivate: 1,
            deactivation_limit: None,
            deactivation_period_days: None,
            expiry_from: ExpiryFrom::Issue,
            offline_checkin_days: 30,
            retired_at: None,
            created_at: 0,
        }
    }

    fn reference() -> Reference {
        let customer = Account {
            email: "ann@example.com".to_owned(),
            role: Role::Customer,
            organization_id: Some("org-ann".to_owned()),
            organization_name: Some("Ann's Studio".to_owned()),
        };
        let staff = Account {
            email: "staff@example.com".to_owned(),
            role: Role::Support,
            organization_id: None,
            organization_name: None,
        };
        Reference {
            products: [("app".to_owned(), "p-app".to_owned())].into(),
            types: vec![pro()],
            entitlements: ["sso".to_owned()].into(),
            existing: [(
                LicenseKey::named("OLD-KEY-0001").unwrap().digest(),
                "lic-old".to_owned(),
            )]
            .into(),
            accounts: [
                (customer.email.clone(), customer),
                (staff.email.clone(), staff),
            ]
            .into(),
        }
    }

    fn row(line: u64, key: &str) -> ImportRow {
        ImportRow {
            line,
            key: key.to_owned(),
            product: "APP".to_owned(),
            license_type: "pro".to_owned(),
            ..ImportRow::default()
        }
    }

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn errors(rows: &[ImportRow]) -> Vec<(u64, Option<&'static str>)> {
        match plan(&reference(), rows, NOW) {
            Err(ImportError::Rows(e)) => e.iter().map(|e| (e.line, e.field)).collect(),
            other => panic!("expected row errors, got {other:?}"),
        }
    }

    #[test]
    fn a_good_row_is_planned_with_its_type_s_defaults_and_its_holder() {
        let mut with_account = row(2, "ACME-PRO-0001");
        with_account.customer_email = "Ann@Example.com".to_owned();
        let mut without = row(3, "ACME-PRO-0002");
        without.customer_email = "bob@example.com".to_owned();
        without.organization = "Bob & Co".to_owned();
        without.machines = vec![("fp-1".to_owned(), Some("Desk".to_owned()))];
        let planned = plan(
            &reference(),
            &[with_account, without, row(4, "OLD-KEY-0001")],
            NOW,
        )
        .unwrap();
        assert_eq!(
            planned[0].holder,
            Holder::Organization("org-ann".to_owned())
        );
        assert_eq!(planned[0].max_machines, 3);
        assert_eq!(planned[0].expires_at, Some(NOW.plus_days(365)));
        assert_eq!(planned[0].existing, None);
        assert_eq!(
            planned[1].holder,
            Holder::Email("bob@example.com".to_owned())
        );
        assert_eq!(planned[1].metadata["organization"], "Bob & Co");
        assert_eq!(planned[1].machines.len(), 1);
        assert_eq!(planned[2].existing.as_deref(), Some("lic-old"));
    }

    #[test]
    fn every_error_of_every_row_is_named_by_line_and_field() {
        let mut bad = row(2, "ab");
        bad.product = "nope".to_owned();
        bad.seats = "0".to_owned();
        bad.entitlements = vec!["gold".to_owned()];
        bad.issued_at = "yesterday".to_owned();
        bad.metadata = vec![("bad key".to_owned(), "x".to_owned())];
        let mut seats = row(3, "ACME-PRO-0003");
        seats.seats = "1".to_owned();
        seats.machines = vec![("fp-1".to_owned(), None), ("fp-2".to_owned(), None)];
        let mut past = row(4, "ACME-PRO-0004");
        past.expires_at = "2020-01-01".to_owned();
        let mut lapsed = row(5, "ACME-PRO-0005");
        lapsed.issued_at = "2020-01-01".to_owned();
        let mut staff = row(6, "ACME-PRO-0006");
        staff.customer_email = "staff@example.com".to_owned();
        let mut other_org = row(7, "ACME-PRO-0007");
        other_org.customer_email = "ann@example.com".to_owned();
        other_org.organization = "Someone Else".to_owned();
        let mut no_email = row(8, "ACME-PRO-0008");
        no_email.organization = "Acme".to_owned();
        let twice = row(9, "ACME-PRO-0003");
        let mut kind = row(10, "ACME-PRO-0010");
        kind.license_type = "Gold".to_owned();
        assert_eq!(
            errors(&[
                bad, seats, past, lapsed, staff, other_org, no_email, twice, kind
            ]),
            vec![
                (2, Some("key")),
                (2, Some("product")),
                (2, Some("seats")),
                (2, Some("entitlements")),
                (2, Some("issued_at")),
                (2, Some("metadata")),
                (3, Some("machines")),
                (4, Some("expires_at")),
                (5, Some("expires_at")),
                (6, Some("customer_email")),
                (7, Some("organization")),
                (8, Some("organization")),
                (9, Some("key")),
                (10, Some("license_type")),
            ]
        );
    }
}
