//! The validation decision: the checks in their fixed order, each
//! recorded with what it saw.

use super::{LicenseStatus, SECS_PER_DAY, ValidationCode};
use crate::domain::time::Timestamp;

/// What validation needs to know of a license, borrowed from wherever the
/// license is held.
#[derive(Debug, Clone, Copy)]
pub struct LicenseFacts<'a> {
    pub product_code: &'a str,
    pub status: LicenseStatus,
    pub expires_at: Option<Timestamp>,
    pub grace_days: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub entitlements: &'a [String],
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
    Found(&'a LicenseFacts<'a>),
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
