//! A deadline for request bodies, and a cap on one client's slow ones.
//!
//! actix answers a request whose head is slow with 408, but reads a body
//! for as long as the client trickles it. Here every body must arrive
//! within `request_body_timeout_secs`; a body still arriving after a
//! second counts as slow for its client, and a client with
//! `slow_bodies_per_client` slow bodies already open gets 429 for the
//! next one as soon as it is slow too. A client whose bodies arrive at
//! once never counts, however many requests it sends.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::web::error::{Problem, WebError};
use crate::web::request::client_ip;

/// When a body still arriving counts as slow.
const SLOW_AFTER: Duration = Duration::from_secs(1);

/// The limits, shared by every worker.
#[derive(Debug)]
pub struct BodyLimits {
    /// The longest a body may take to arrive.
    pub timeout: Duration,
    /// Slow bodies one client may have open at once; 0: no cap.
    pub slow_per_client: usize,
    slow: Mutex<HashMap<IpAddr, usize>>,
}

impl BodyLimits {
    pub fn new(timeout: Duration, slow_per_client: usize) -> Self {
        Self {
            timeout,
            slow_per_client,
            slow: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a slow body of `client`; false when the client is over its cap.
    fn admit_slow(&self, client: IpAddr) -> bool {
        let Ok(mut slow) = self.slow.lock() else {
            return true;
        };
        let open = slow.entry(client).or_insert(0);
        if self.slow_per_client > 0 && *open >= self.slow_per_client {
            return false;
        }
        *open += 1;
        true
    }

    fn release_slow(&self, client: IpAddr) {
        if let Ok(mut slow) = self.slow.lock()
            && let Some(open) = slow.get_mut(&client)
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                slow.remove(&client);
            }
        }
    }
}

/// How a body's reading ended, when it did not end well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Verdict {
    #[default]
    Pending,
    TimedOut,
    TooManySlow,
}

/// The request's payload, with the deadline and the slow-body count. The
/// timers are set only once the body keeps the handler waiting: a body
/// that has arrived costs nothing more.
struct Deadlined {
    inner: Payload,
    limits: Arc<BodyLimits>,
    client: Option<IpAddr>,
    started: Instant,
    timers: Option<Timers>,
    done: bool,
    verdict: Rc<Cell<Verdict>>,
}

struct Timers {
    deadline: Pin<Box<Sleep>>,
    slow_at: Pin<Box<Sleep>>,
    /// The client this body counts against once slow.
    counted: Option<IpAddr>,
    slow: bool,
}

impl Deadlined {
    fn fail(&mut self, verdict: Verdict) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.done = true;
        self.verdict.set(verdict);
        let message = match verdict {
            Verdict::TooManySlow => "too many slow request bodies from this client",
            _ => "the request body did not arrive in time",
        };
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            message,
        )))))
    }
}

impl Stream for Deadlined {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(None) => {
                self.done = true;
                return Poll::Ready(None);
            }
            Poll::Ready(item) => return Poll::Ready(item),
            Poll::Pending => {}
        }
        let (started, timeout) = (self.started, self.limits.timeout);
        let timers = self.timers.get_or_insert_with(|| Timers {
            deadline: Box::pin(tokio::time::sleep_until(started + timeout)),
            slow_at: Box::pin(tokio::time::sleep_until(started + SLOW_AFTER)),
            counted: None,
            slow: false,
        });
        if !timers.slow && timers.slow_at.as_mut().poll(cx).is_ready() {
            timers.slow = true;
            if let Some(client) = self.client {
                if !self.limits.admit_slow(client) {
                    // Not counted: it is refused, not open.
                    return self.fail(Verdict::TooManySlow);
                }
                if let Some(timers) = self.timers.as_mut() {
                    timers.counted = Some(client);
                }
            }
        }
        let expired = self
            .timers
            .as_mut()
            .is_some_and(|t| t.deadline.as_mut().poll(cx).is_ready());
        if expired {
            return self.fail(Verdict::TimedOut);
        }
        Poll::Pending
    }
}

impl Drop for Deadlined {
    fn drop(&mut self) {
        if let Some(client) = self.timers.as_ref().and_then(|t| t.counted) {
            self.limits.release_slow(client);
        }
    }
}

/// Whether a request announces a body (a length above zero, or chunks).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The middleware: wraps the payload, and answers 408 or 429 (closing the
/// connection) when the body did not arrive as it must.
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let Some(limits) = req
        .app_data::<actix_web::web::Data<BodyLimits>>()
        .map(|d| d.clone().into_inner())
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !has_body(&req) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let verdict = Rc::new(Cell::new(Verdict::Pending));
    let payload = Deadlined {
        inner: req.take_payload(),
        client: client_ip(req.request()),
        started: Instant::now(),
        limits,
        timers: None,
        done: false,
        verdict: Rc::clone(&verdict),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(payload),
    });
    let res = next.call(req).await?;
    let problem = match verdict.get() {
        Verdict::Pending => return Ok(res.map_into_boxed_body()),
        Verdict::TimedOut => Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "The request body did not arrive in time. Send it at once, then try again.",
        ),
        Verdict::TooManySlow => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_bodies",
            "Too many slow requests from your address at once. Wait for them, then try again.",
        )
        .header(header::RETRY_AFTER, "10"),
    };
    let (req, _) = res.into_parts();
    let mut answer = actix_web::ResponseError::error_response(&WebError::from(problem));
    answer
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(ServiceResponse::new(req, answer))
}
