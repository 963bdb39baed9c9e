//! One account per look of an address (issue 28, point 3): the sign-up
//! form refuses addresses that pass for another, and two spellings in
//! scripts of their own that look alike (Cyrillic and Greek, Arabic and
//! Persian) cannot be two accounts, whichever way the account is made;
//! accounts made before the rule get their key when the server starts.

use licensor::domain::audit::Actor;
use licensor::domain::email::EmailAddress;
use licensor::domain::password::Password;
use licensor::domain::role::Role;
use licensor::services::staff::{self, StaffError};

use crate::support::form_browser::{Browser, PASSWORD};
use crate::support::{TestApp, captured_log, spawn_app_with};

/// Sign-ups unthrottled: the test makes many from one address.
async fn spawn() -> TestApp {
    spawn_app_with(
        |raw| {
            raw.set(
                "rate_limit_sign_up_ip",
                "0",
                licensor::config::Source::Default,
            )
        },
        true,
    )
    .await
}

async fn sign_up(app: &TestApp, email: &str) -> u16 {
    Browser::new(app)
        .post(
            "/signup",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("organization", "Look Ltd"),
            ],
        )
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn look_alike_addresses_never_make_a_second_account() {
    let app = spawn().await;
    assert_eq!(sign_up(&app, "alice@example.com").await, 303);
    assert_eq!(app.count("users").await, 1);
    let invisible = [
        '\u{00ad}',
        '\u{034f}',
        '\u{061c}',
        '\u{115f}',
        '\u{1160}',
        '\u{17b4}',
        '\u{180e}',
        '\u{3164}',
        '\u{fe0f}',
        '\u{ffa0}',
        '\u{e0041}',
        '\u{1d173}',
        '\u{2800}',
        '\u{200b}',
        '\u{200d}',
    ];
    let mut tries: Vec<String> = invisible
        .iter()
        .map(|c| format!("ali{c}ce@example.com"))
        .collect();
    tries.extend(
        [
            "\u{430}lice@example.com",   // Cyrillic a
            "\u{3b1}lice@example.com",   // Greek alpha
            "al\u{131}ce@example.com",   // dotless i
            "\u{ff41}lice@example.com",  // fullwidth a
            "\u{1d41a}lice@example.com", // mathematical bold a
            "alice@ex\u{430}mple.com",   // Cyrillic a in the domain
            "ALICE@Example.com",         // the same address
        ]
        .map(str::to_owned),
    );
    for email in &tries {
        let status = sign_up(&app, email).await;
        assert!(matches!(status, 303 | 422), "{email:?}: {status}");
        assert_eq!(app.count("users").await, 1, "{email:?} made an account");
    }

    // Two spellings of one look, each in a script of its own: the first
    // is an account, the second is not (the form answers as for any
    // registered address, so nobody learns which exist).
    for (first, second) in [
        (
            "\u{43f}\u{43a}\u{442}@example.com",
            "\u{3c0}\u{3ba}\u{3c4}@example.com",
        ),
        (
            "\u{639}\u{644}\u{64a}@example.com",
            "\u{639}\u{644}\u{6cc}@example.com",
        ),
    ] {
        let before = app.count("users").await;
        assert_eq!(sign_up(&app, first).await, 303, "{first}");
        assert_eq!(app.count("users").await, before + 1, "{first}");
        assert_eq!(sign_up(&app, second).await, 303, "{second}");
        assert_eq!(
            app.count("users").await,
            before + 1,
            "{second} made an account"
        );
    }
    assert!(captured_log().contains("the address looks like a registered one"));
    // Nor can staff be made under a look-alike of a customer's address.
    let made = staff::create_staff(
        &app.db,
        app.clock.as_ref(),
        &Actor::Cli,
        &EmailAddress::parse("\u{3c0}\u{3ba}\u{3c4}@example.com").unwrap(),
        Role::Support,
        Password::parse(secrecy::SecretString::from(PASSWORD)).unwrap(),
    )
    .await;
    assert!(matches!(made, Err(StaffError::EmailTaken)), "{made:?}");
}

#[tokio::test]
async fn accounts_made_before_the_rule_get_their_key_at_start() {
    let app = spawn().await;
    // Accounts as an older version wrote them: no key.
    let old = [
        ("u-1", "old@example.com"),
        ("u-2", "\u{643}\u{645}\u{627}\u{644}@example.com"),
        ("u-3", "\u{6a9}\u{645}\u{627}\u{644}@example.com"),
    ];
    for (id, email) in old {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, 'x', 'customer', 0, 0)",
        )
        .bind(id)
        .bind(email)
        .execute(app.db.pool())
        .await
        .unwrap();
    }
    app.db.migrate().await.unwrap();
    assert_eq!(
        key_of(&app, "u-1").await.as_deref(),
        Some("old@example.com")
    );
    assert!(key_of(&app, "u-2").await.is_some());
    // The second look-alike keeps no key, and support hears of it.
    assert_eq!(key_of(&app, "u-3").await, None);
    assert!(captured_log().contains("looks like another account's"));
    // A new sign-up under that look is still refused.
    let before = app.count("users").await;
    assert_eq!(
        sign_up(&app, "\u{643}\u{645}\u{627}\u{644}@example.org").await,
        303
    );
    assert_eq!(app.count("users").await, before + 1);
    assert_eq!(
        sign_up(&app, "\u{6a9}\u{645}\u{627}\u{644}@example.com").await,
        303
    );
    assert_eq!(app.count("users").await, before + 1);
}

async fn key_of(app: &TestApp, id: &str) -> Option<String> {
    sqlx::query_as::<_, (Option<String>,)>("SELECT email_key FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
        .0
}
