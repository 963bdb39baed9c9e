//! The support console under `/admin`: staff only, every route checked by
//! role on the server ([`Staff`] and [`Staff::require`]).

pub mod audit;
pub mod catalog;
pub mod charts;
pub mod dashboard;
pub mod edit;
pub mod form;
pub mod import;
pub mod issue;
pub mod keys;
pub mod offers;
pub mod outbox;
pub mod payments;
pub mod people;
pub mod staff;
pub mod support;
pub mod timeline;
pub mod tokens;
pub mod webhooks;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::role::{Capability, Role};
use crate::services::accounts::UserRow;
use crate::services::context::Ctx;
use crate::services::two_factor;
use crate::store::Db;
use crate::web::error::{Problem, WebError};
use crate::web::layout::{back_to, up};
use crate::web::session::signed_in_user;
use crate::web::two_factor::TwoFactorPolicy;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin")
            .route(web::get().to(support::home))
            .route(web::post().to(support::search)),
    )
    .service(web::resource("/admin/customers/{id}").route(web::get().to(support::customer)))
    .service(
        web::resource("/admin/customers/{org}/users/{user}/data.json")
            .route(web::get().to(people::export)),
    )
    .service(
        web::resource("/admin/customers/{org}/users/{user}/erase")
            .route(web::post().to(people::erase))
            .route(back_to("/admin")),
    )
    .service(
        web::resource("/admin/licenses/new")
            .route(web::get().to(issue::form))
            .route(web::post().to(issue::issue)),
    )
    .service(web::resource("/admin/licenses/issued").route(web::get().to(issue::issued)))
    .service(web::resource("/admin/keys").route(web::get().to(keys::page)))
    .service(
        web::resource("/admin/keys/rotate")
            .route(web::post().to(keys::rotate))
            .route(back_to("/admin/keys")),
    )
    .service(web::resource("/admin/keys/{kid}").route(web::get().to(keys::key)))
    .service(
        web::resource("/admin/keys/{kid}/revoke")
            .route(web::post().to(keys::revoke))
            .route(back_to("/admin/keys")),
    )
    .service(
        web::resource("/admin/licenses/import")
            .app_data(web::FormConfig::default().limit(crate::web::api::import::MAX_IMPORT_BYTES))
            .app_data(web::PayloadConfig::new(
                crate::web::api::import::MAX_IMPORT_BYTES,
            ))
            .route(web::get().to(import::form))
            .route(web::post().to(import::submit)),
    )
    .service(web::resource("/admin/licenses/{id}").route(web::get().to(support::license)))
    .service(
        web::resource("/admin/licenses/{id}/edit")
            .route(web::get().to(edit::form))
            .route(web::post().to(edit::save)),
    )
    .service(
        web::resource("/admin/licenses/{id}/actions")
            .route(web::post().to(support::license_action))
            .route(up(1)),
    )
    .service(web::resource("/admin/licenses.csv").route(web::get().to(tokens::licenses_csv)))
    .service(
        web::resource("/admin/tokens")
            .route(web::get().to(tokens::page))
            .route(web::post().to(tokens::create)),
    )
    .service(
        web::resource("/admin/tokens/{id}/revoke")
            .route(web::post().to(tokens::revoke))
            .route(back_to("/admin/tokens")),
    )
    .service(web::resource("/admin/payments").route(web::get().to(payments::page)))
    .service(
        web::resource("/admin/payments/{provider}/{event_id}/retry")
            .route(web::post().to(payments::retry))
            .route(back_to("/admin/payments")),
    )
    .service(
        web::resource("/admin/webhooks")
            .route(web::get().to(webhooks::page))
            .route(web::post().to(webhooks::create)),
    )
    .service(web::resource("/admin/webhooks/{id}").route(web::get().to(webhooks::endpoint)))
    .service(
        web::resource("/admin/webhooks/{id}/actions")
            .route(web::post().to(webhooks::action))
            .route(up(1)),
    )
    .service(
        web::resource("/admin/products")
            .route(web::get().to(catalog::list))
            .route(web::post().to(catalog::create)),
    )
    .service(
        web::resource("/admin/products/{id}")
            .route(web::get().to(catalog::show))
            .route(web::post().to(catalog::update)),
    )
    .service(
        web::resource("/admin/products/{id}/offers")
            .route(web::post().to(offers::create))
            .route(up(1)),
    )
    .service(
        web::resource("/admin/offers/{id}/retire")
            .route(web::post().to(offers::retire))
            .route(back_to("/admin/products")),
    )
    .service(
        web::resource("/admin/products/{id}/types")
            .route(web::post().to(catalog::create_type))
            .route(up(1)),
    )
    .service(
        web::resource("/admin/types/{id}")
            .route(web::post().to(catalog::type_action))
            .route(back_to("/admin/products")),
    )
    .service(
        web::resource("/admin/staff")
            .route(web::get().to(staff::page))
            .route(web::post().to(staff::invite)),
    )
    .service(
        web::resource("/admin/staff/{id}")
            .route(web::post().to(staff::update))
            .route(back_to("/admin/staff")),
    )
    .service(
        web::resource("/admin/customers/{org}/users/{user}/resend-verification")
            .route(web::post().to(support::resend_verification))
            .route(up(3)),
    )
    .service(web::resource("/admin/dashboard").route(web::get().to(dashboard::page)))
    .service(web::resource("/admin/dashboard/{table}.csv").route(web::get().to(dashboard::csv)))
    .service(web::resource("/admin/outbox").route(web::get().to(outbox::page)))
    .service(web::resource("/admin/audit").route(web::get().to(audit::page)))
    .service(web::resource("/admin/audit.csv").route(web::get().to(audit::csv)))
    .service(web::resource("/admin/audit.jsonl").route(web::get().to(audit::jsonl)))
    .service(
        web::resource("/admin/outbox/{id}/resend")
            .route(web::post().to(outbox::resend))
            .route(back_to("/admin/outbox")),
    );
}

/// A signed-in staff account (admin, support, sales, read-only), read from the database on every
/// request (a role change takes effect at once).
pub struct Staff {
    pub user: UserRow,
    pub role: Role,
}

impl Staff {
    /// Refuses unless the account's role may do this.
    pub fn require(&self, capability: Capability) -> Result<(), WebError> {
        let allowed = self.role.can(capability);
        if allowed {
            Ok(())
        } else {
            Err(forbidden(match capability {
                Capability::Read => "This is for staff.",
                Capability::Support => "This needs a support or admin account.",
                Capability::Sell => "This needs a sales or admin account.",
                Capability::Administer => "This needs an admin account.",
            }))
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::Staff {
            user_id: self.user.id.to_string(),
        }
    }

    /// The context for a use case run from the console.
    pub fn ctx<'a>(&self, db: &'a Db, clock: &'a dyn Clock, req: &HttpRequest) -> Ctx<'a> {
        Ctx::new(db, clock, self.actor())
            .with_request_id(Some(crate::web::request::request_id(req)))
    }
}

fn forbidden(detail: &str) -> WebError {
    Problem::new(StatusCode::FORBIDDEN, "staff_only", detail).into()
}

impl FromRequest for Staff {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = signed_in_user(req);
        let policy = req
            .app_data::<web::Data<TwoFactorPolicy>>()
            .map(|p| *p.get_ref());
        let db = req.app_data::<web::Data<Db>>().cloned();
        Box::pin(async move {
            let user = user.await?;
            let role = user.role;
            if !role.is_staff() {
                return Err(forbidden(
                    "The console is for the vendor's staff; customers use the portal.",
                ));
            }
            // An admin without two-factor sign-in, where it is required,
            // turns it on before anything else.
            if let (Some(policy), Some(db), Role::Admin) = (policy, db, role)
                && policy.staff_require_2fa
                && !two_factor::is_enabled(&db, &user.id)
                    .await
                    .map_err(|e| WebError::Unexpected(e.into()))?
            {
                return Err(WebError::Redirect("/account/two-factor".to_owned()));
            }
            Ok(Staff { user, role })
        })
    }
}
