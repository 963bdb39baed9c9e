//! `GET /.well-known/licensor-keys.json`: every public key, by key id, so an
//! application can verify license files and signed responses offline.

use actix_web::{HttpResponse, web};

use crate::signing::{LiveKeyRing, key_set_document};

pub async fn well_known_keys(ring: web::Data<LiveKeyRing>) -> HttpResponse {
    let ring = ring.current();
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(key_set_document(ring.published()))
}
