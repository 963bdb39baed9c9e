use super::*;
use crate::domain::time::Timestamp;

const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

fn license() -> LicenseFacts<'static> {
    LicenseFacts {
        product_code: "app",
        status: LicenseStatus::Active,
        expires_at: Some(NOW.plus_days(10)),
        grace_days: 3,
        floating: false,
        heartbeat_window_secs: None,
        entitlements: Box::leak(vec!["pro".to_owned(), "export".to_owned()].into_boxed_slice()),
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
