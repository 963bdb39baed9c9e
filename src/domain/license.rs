//! Licenses and the deterministic validation decision.
//!
//! [`validate`] is a pure function of the license as stored, the machine
//! the request names, the request and the time. It runs the checks in one
//! fixed order and returns exactly one [`ValidationCode`], together with
//! every check it ran and what it saw, so support can be shown why.

use std::fmt;
use std::str::FromStr;

use crate::domain::time::Timestamp;

pub const SECS_PER_DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseStatus {
    Active,
    Suspended,
    Revoked,
}

impl LicenseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseStatus::Active => "active",
            LicenseStatus::Suspended => "suspended",
            LicenseStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for LicenseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a license status (active, suspended or revoked)")]
pub struct UnknownStatus(pub String);

impl FromStr for LicenseStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(LicenseStatus::Active),
            "suspended" => Ok(LicenseStatus::Suspended),
            "revoked" => Ok(LicenseStatus::Revoked),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// When a license's duration starts counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryFrom {
    Issue,
    FirstActivation,
}

impl ExpiryFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryFrom::Issue => "issue",
            ExpiryFrom::FirstActivation => "first_activation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "issue" => Some(ExpiryFrom::Issue),
            "first_activation" => Some(ExpiryFrom::FirstActivation),
            _ => None,
        }
    }
}

/// The result codes of validation: a public contract, in check order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationCode {
    MalformedKey,
    NotFound,
    ProductMismatch,
    Revoked,
    Suspended,
    Expired,
    FingerprintRequired,
    NotActivated,
    HeartbeatDead,
    EntitlementMissing,
    Valid,
    /// Not a validation outcome: the refusal of an activation.
    TooManyMachines,
}

impl ValidationCode {
    /// Every validation outcome, in the order the checks run.
    pub const ORDER: [ValidationCode; 11] = [
        ValidationCode::MalformedKey,
        ValidationCode::NotFound,
        ValidationCode::ProductMismatch,
        ValidationCode::Revoked,
        ValidationCode::Suspended,
        ValidationCode::Expired,
        ValidationCode::FingerprintRequired,
        ValidationCode::NotActivated,
        ValidationCode::HeartbeatDead,
        ValidationCode::EntitlementMissing,
        ValidationCode::Valid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::MalformedKey => "MALFORMED_KEY",
            ValidationCode::NotFound => "NOT_FOUND",
            ValidationCode::ProductMismatch => "PRODUCT_MISMATCH",
            ValidationCode::Revoked => "REVOKED",
            ValidationCode::Suspended => "SUSPENDED",
            ValidationCode::Expired => "EXPIRED",
            ValidationCode::FingerprintRequired => "FINGERPRINT_REQUIRED",
            ValidationCode::NotActivated => "NOT_ACTIVATED",
            ValidationCode::HeartbeatDead => "HEARTBEAT_DEAD",
            ValidationCode::EntitlementMissing => "ENTITLEMENT_MISSING",
            ValidationCode::Valid => "VALID",
            ValidationCode::TooManyMachines => "TOO_MANY_MACHINES",
        }
    }

    /// A sentence for a person.
    pub fn detail(self) -> &'static str {
        match self {
            ValidationCode::MalformedKey => {
                "The license key is not well formed; it may have been mistyped."
            }
            ValidationCode::NotFound => "No license has this key.",
            ValidationCode::ProductMismatch => "This license is for another product.",
            ValidationCode::Revoked => "This license has been revoked.",
            ValidationCode::Suspended => "This license is suspended.",
            ValidationCode::Expired => "This license has expired.",
            ValidationCode::FingerprintRequired => {
                "This license is bound to machines; the request must name the machine's fingerprint."
            }
            ValidationCode::NotActivated => "This machine is not activated for this license.",
            ValidationCode::HeartbeatDead => {
                "This machine stopped sending heartbeats and its seat was released."
            }
            ValidationCode::EntitlementMissing => {
                "This license does not include a feature that was asked for."
            }
            ValidationCode::Valid => "The license is valid.",
            ValidationCode::TooManyMachines => {
                "Every seat of this license is in use; deactivate a machine first."
            }
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What validation needs to know of a license.
#[derive(Debug, Clone)]
pub struct LicenseFacts {
    pub product_code: String,
    pub status: LicenseStatus,
    pub expires_at: Option<Timestamp>,
    pub grace_days: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub entitlements: Vec<String>,
}

/// The live machine a request names, if there is one.
#[derive(Debug, Clone)]
pub struct MachineFacts {
    pub last_heartbeat_at: Timestamp,
}

/// The key lookup's outcome.
#[derive(Debug, Clone)]
pub enum Lookup<'a> {
    Malformed,
    NotFound,
    Found(&'a LicenseFacts),
}

#[derive(Debug, Clone, Default)]
pub struct ValidationRequest<'a> {
    pub fingerprint: Option<&'a str>,
    pub product: Option<&'a str>,
    pub entitlements: &'a [String],
}

/// One check as it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The code this check returns when it fails.
    pub code: ValidationCode,
    pub passed: bool,
    /// What the check looked at, in words.
    pub observed: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub code: ValidationCode,
    /// Valid, but past the expiry date within the grace period.
    pub in_grace: bool,
    /// The checks that ran, in order; the last one decided.
    pub checks: Vec<Check>,
}

impl Decision {
    pub fn is_valid(&self) -> bool {
        self.code == ValidationCode::Valid
    }
}

/// Whether a license at `now` is past its expiry plus grace (expired), in
/// grace, or current.
pub fn expiry_state(
    expires_at: Option<Timestamp>,
    grace_days: i64,
    now: Timestamp,
) -> (bool, bool) {
    match expires_at {
        None => (false, false),
        Some(at) if now < at => (false, false),
        Some(at) => {
            let grace_end = at.plus_secs(grace_days.saturating_mul(SECS_PER_DAY));
            if now < grace_end {
                (false, true)
            } else {
                (true, false)
            }
        }
    }
}

struct Checks(Vec<Check>);

impl Checks {
    /// Records a check; returns whether it passed.
    fn run(&mut self, code: ValidationCode, passed: bool, observed: String) -> bool {
        self.0.push(Check {
            code,
            passed,
            observed,
        });
        passed
    }

    fn decide(self, code: ValidationCode, in_grace: bool) -> Decision {
        Decision {
            code,
            in_grace,
            checks: self.0,
        }
    }
}

/// The validation decision, in the fixed order of [`ValidationCode::ORDER`].
pub fn validate(
    lookup: Lookup<'_>,
    machine: Option<&MachineFacts>,
    request: &ValidationRequest<'_>,
    now: Timestamp,
) -> Decision {
    use ValidationCode as C;
    let mut checks = Checks(Vec::with_capacity(10));

    let well_formed = !matches!(lookup, Lookup::Malformed);
    if !checks.run(
        C::MalformedKey,
        well_formed,
        if well_formed {
            "the key is well formed".to_owned()
        } else {
            "the key is not well formed (length, characters or check character)".to_owned()
        },
    ) {
        return checks.decide(C::MalformedKey, false);
    }
    let license = match lookup {
        Lookup::Found(license) => license,
        Lookup::Malformed | Lookup::NotFound => {
            checks.run(C::NotFound, false, "no license has this key".to_owned());
            return checks.decide(C::NotFound, false);
        }
    };
    checks.run(C::NotFound, true, "a license has this key".to_owned());

    let product_ok = request.product.is_none_or(|p| p == license.product_code);
    if !checks.run(
        C::ProductMismatch,
        product_ok,
        match request.product {
            None => "no product was asked for".to_owned(),
            Some(p) => format!(
                "asked for “{p}”; the license is for “{}”",
                license.product_code
            ),
        },
    ) {
        return checks.decide(C::ProductMismatch, false);
    }

    let status = license.status;
    if !checks.run(
        C::Revoked,
        status != LicenseStatus::Revoked,
        format!("status is {status}"),
    ) {
        return checks.decide(C::Revoked, false);
    }
    if !checks.run(
        C::Suspended,
        status != LicenseStatus::Suspended,
        format!("status is {status}"),
    ) {
        return checks.decide(C::Suspended, false);
    }

    let (expired, in_grace) = expiry_state(license.expires_at, license.grace_days, now);
    let observed = match license.expires_at {
        None => "the license does not expire (or its term has not started)".to_owned(),
        Some(at) if in_grace => format!(
            "expired at {at}; within {} grace days until {}",
            license.grace_days,
            at.plus_secs(license.grace_days * SECS_PER_DAY)
        ),
        Some(at) if expired => format!("expired at {at}; now is {now}"),
        Some(at) => format!("expires at {at}"),
    };
    if !checks.run(C::Expired, !expired, observed) {
        return checks.decide(C::Expired, false);
    }

    let Some(fingerprint) = request.fingerprint else {
        checks.run(
            C::FingerprintRequired,
            false,
            "no fingerprint was given".to_owned(),
        );
        return checks.decide(C::FingerprintRequired, false);
    };
    checks.run(
        C::FingerprintRequired,
        true,
        format!("fingerprint “{fingerprint}”"),
    );

    let Some(machine) = machine else {
        checks.run(
            C::NotActivated,
            false,
            "no active machine has this fingerprint".to_owned(),
        );
        return checks.decide(C::NotActivated, false);
    };
    checks.run(
        C::NotActivated,
        true,
        "an active machine has this fingerprint".to_owned(),
    );

    let heartbeat_observed;
    let alive = match (license.floating, license.heartbeat_window_secs) {
        (true, Some(window)) => {
            let deadline = machine.last_heartbeat_at.plus_secs(window);
            heartbeat_observed = format!(
                "last heartbeat at {}; window {window} s, so alive until {deadline}",
                machine.last_heartbeat_at
            );
            now <= deadline
        }
        _ => {
            heartbeat_observed = "the license type needs no heartbeat".to_owned();
            true
        }
    };
    if !checks.run(C::HeartbeatDead, alive, heartbeat_observed) {
        return checks.decide(C::HeartbeatDead, false);
    }

    let missing: Vec<&str> = request
        .entitlements
        .iter()
        .filter(|e| !license.entitlements.contains(e))
        .map(String::as_str)
        .collect();
    let observed = if request.entitlements.is_empty() {
        "no entitlement was asked for".to_owned()
    } else if missing.is_empty() {
        format!("all of {} are included", request.entitlements.join(", "))
    } else {
        format!("missing: {}", missing.join(", "))
    };
    if !checks.run(C::EntitlementMissing, missing.is_empty(), observed) {
        return checks.decide(C::EntitlementMissing, false);
    }

    checks.decide(C::Valid, in_grace)
}

/// Whether a license may take a new activation now (the seat count is
/// checked by the database, atomically). Activation is allowed during grace.
pub fn activation_refusal(
    lookup: Lookup<'_>,
    product: Option<&str>,
    now: Timestamp,
) -> Option<ValidationCode> {
    let request = ValidationRequest {
        fingerprint: None,
        product,
        entitlements: &[],
    };
    let decision = validate(lookup, None, &request, now);
    match decision.code {
        ValidationCode::FingerprintRequired => None,
        code => Some(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn license() -> LicenseFacts {
        LicenseFacts {
            product_code: "app".to_owned(),
            status: LicenseStatus::Active,
            expires_at: Some(NOW.plus_days(10)),
            grace_days: 3,
            floating: false,
            heartbeat_window_secs: None,
            entitlements: vec!["pro".to_owned(), "export".to_owned()],
        }
    }

    fn live() -> MachineFacts {
        MachineFacts {
            last_heartbeat_at: NOW,
        }
    }

    fn request<'a>(
        fp: Option<&'a str>,
        product: Option<&'a str>,
        ents: &'a [String],
    ) -> ValidationRequest<'a> {
        ValidationRequest {
            fingerprint: fp,
            product,
            entitlements: ents,
        }
    }

    #[test]
    fn every_code_in_its_order() {
        use ValidationCode as C;
        let base = license();
        let mut revoked = license();
        revoked.status = LicenseStatus::Revoked;
        let mut suspended = license();
        suspended.status = LicenseStatus::Suspended;
        let mut expired = license();
        expired.expires_at = Some(NOW.plus_days(-4));
        let mut floating = license();
        floating.floating = true;
        floating.heartbeat_window_secs = Some(600);
        let stale = MachineFacts {
            last_heartbeat_at: NOW.plus_secs(-601),
        };
        let pro = vec!["pro".to_owned()];
        let enterprise = vec!["pro".to_owned(), "enterprise".to_owned()];
        let fp = Some("fp");
        let alive = live();

        let cases: Vec<(Lookup, Option<&MachineFacts>, ValidationRequest, C)> = vec![
            (
                Lookup::Malformed,
                None,
                request(fp, None, &[]),
                C::MalformedKey,
            ),
            (Lookup::NotFound, None, request(fp, None, &[]), C::NotFound),
            (
                Lookup::Found(&base),
                Some(&alive),
                request(fp, Some("other"), &[]),
                C::ProductMismatch,
            ),
            (
                Lookup::Found(&revoked),
                Some(&alive),
                request(fp, Some("app"), &[]),
                C::Revoked,
            ),
            (
                Lookup::Found(&suspended),
                Some(&alive),
                request(fp, None, &[]),
                C::Suspended,
            ),
            (
                Lookup::Found(&expired),
                Some(&alive),
                request(fp, None, &[]),
                C::Expired,
            ),
            (
                Lookup::Found(&base),
                None,
                request(None, None, &[]),
                C::FingerprintRequired,
            ),
            (
                Lookup::Found(&base),
                None,
                request(fp, None, &[]),
                C::NotActivated,
            ),
            (
                Lookup::Found(&floating),
                Some(&stale),
                request(fp, None, &[]),
                C::HeartbeatDead,
            ),
            (
                Lookup::Found(&base),
                Some(&alive),
                request(fp, None, &enterprise),
                C::EntitlementMissing,
            ),
            (
                Lookup::Found(&base),
                Some(&alive),
                request(fp, Some("app"), &pro),
                C::Valid,
            ),
            (
                Lookup::Found(&floating),
                Some(&alive),
                request(fp, None, &[]),
                C::Valid,
            ),
        ];
        for (lookup, machine, req, expected) in cases {
            let decision = validate(lookup, machine, &req, NOW);
            assert_eq!(decision.code, expected);
            let last = decision.checks.last().unwrap();
            assert_eq!(last.passed, expected == C::Valid, "{expected}");
            if expected != C::Valid {
                assert_eq!(last.code, expected);
            }
            // The checks ran in the fixed order, none skipped before the decider.
            let ran: Vec<C> = decision.checks.iter().map(|c| c.code).collect();
            assert_eq!(ran, C::ORDER[..ran.len()].to_vec());
            assert!(
                decision.checks[..decision.checks.len() - 1]
                    .iter()
                    .all(|c| c.passed)
            );
        }
    }

    #[test]
    fn earlier_checks_win() {
        // Revoked and expired and wrong product: the product check is first.
        let mut l = license();
        l.status = LicenseStatus::Revoked;
        l.expires_at = Some(NOW.plus_days(-100));
        let d = validate(Lookup::Found(&l), None, &request(None, Some("x"), &[]), NOW);
        assert_eq!(d.code, ValidationCode::ProductMismatch);
        let d = validate(Lookup::Found(&l), None, &request(None, None, &[]), NOW);
        assert_eq!(d.code, ValidationCode::Revoked);
    }

    #[test]
    fn expiry_and_grace_at_the_instants() {
        let mut l = license();
        let expiry = NOW;
        l.expires_at = Some(expiry);
        let at = |t: Timestamp| {
            validate(
                Lookup::Found(&l),
                Some(&live()),
                &request(Some("f"), None, &[]),
                t,
            )
        };
        let d = at(expiry.plus_secs(-1));
        assert!(d.is_valid() && !d.in_grace);
        let d = at(expiry);
        assert!(d.is_valid() && d.in_grace, "the first instant of grace");
        let d = at(expiry.plus_days(3).plus_secs(-1));
        assert!(d.is_valid() && d.in_grace, "the last second of grace");
        assert_eq!(at(expiry.plus_days(3)).code, ValidationCode::Expired);
        l.grace_days = 0;
        let d = validate(
            Lookup::Found(&l),
            Some(&live()),
            &request(Some("f"), None, &[]),
            expiry,
        );
        assert_eq!(d.code, ValidationCode::Expired);
        l.expires_at = None;
        let d = validate(
            Lookup::Found(&l),
            Some(&live()),
            &request(Some("f"), None, &[]),
            NOW.plus_days(10_000),
        );
        assert!(d.is_valid(), "perpetual");
    }

    #[test]
    fn heartbeat_window_is_inclusive() {
        let mut l = license();
        l.floating = true;
        l.heartbeat_window_secs = Some(60);
        let m = MachineFacts {
            last_heartbeat_at: NOW.plus_secs(-60),
        };
        let d = validate(
            Lookup::Found(&l),
            Some(&m),
            &request(Some("f"), None, &[]),
            NOW,
        );
        assert!(d.is_valid());
        let d = validate(
            Lookup::Found(&l),
            Some(&m),
            &request(Some("f"), None, &[]),
            NOW.plus_secs(1),
        );
        assert_eq!(d.code, ValidationCode::HeartbeatDead);
        // Node-locked licenses ignore heartbeats.
        l.floating = false;
        l.expires_at = None;
        let d = validate(
            Lookup::Found(&l),
            Some(&m),
            &request(Some("f"), None, &[]),
            NOW.plus_days(99),
        );
        assert!(d.is_valid());
    }

    #[test]
    fn activation_refusals() {
        let l = license();
        assert_eq!(activation_refusal(Lookup::Found(&l), None, NOW), None);
        assert_eq!(
            activation_refusal(Lookup::Found(&l), Some("app"), NOW),
            None
        );
        assert_eq!(
            activation_refusal(Lookup::Found(&l), Some("nope"), NOW),
            Some(ValidationCode::ProductMismatch)
        );
        assert_eq!(
            activation_refusal(Lookup::NotFound, None, NOW),
            Some(ValidationCode::NotFound)
        );
        let mut s = license();
        s.status = LicenseStatus::Suspended;
        assert_eq!(
            activation_refusal(Lookup::Found(&s), None, NOW),
            Some(ValidationCode::Suspended)
        );
        let mut g = license();
        g.expires_at = Some(NOW.plus_secs(-10));
        assert_eq!(
            activation_refusal(Lookup::Found(&g), None, NOW),
            None,
            "grace allows activation"
        );
    }

    #[test]
    fn codes_and_statuses_round_trip() {
        for status in [
            LicenseStatus::Active,
            LicenseStatus::Suspended,
            LicenseStatus::Revoked,
        ] {
            assert_eq!(status.as_str().parse::<LicenseStatus>().unwrap(), status);
        }
        let names: Vec<&str> = ValidationCode::ORDER.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), 11);
        assert!(ValidationCode::ORDER.iter().all(|c| !c.detail().is_empty()));
    }
}
