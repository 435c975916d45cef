//! A deadline on reading a request body.
//!
//! hyper bounds the time to read headers (we do, in
//! [`super::connections`]) but not the body: a client that sends the
//! headers and then a byte now and then would hold its request, and its
//! connection, for as long as it likes. [`BodyDeadline`] wraps each
//! request body; once the deadline has passed it fails with
//! [`BodyTimeout`], which the handlers that read bodies answer 408
//! ([`timed_out`] finds it inside axum's rejection).
//!
//! The deadline is a total, not a gap between chunks: a byte a second
//! keeps a per-chunk timer happy for ever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// A request body did not arrive in full within its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// A body that fails with [`BodyTimeout`] when it is not complete by its
/// deadline.
#[derive(Debug)]
pub struct BodyDeadline<B> {
    body: B,
    deadline: Instant,
    allowed: Duration,
    /// Armed on the first poll that has to wait: a body that is already
    /// in hand (most webhooks arrive with their headers) costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> BodyDeadline<B> {
    /// `body`, which must be complete within `allowed` of `started`.
    pub fn new(body: B, started: Instant, allowed: Duration) -> BodyDeadline<B> {
        BodyDeadline {
            body,
            deadline: started + allowed,
            allowed,
            timer: None,
        }
    }
}

impl<B> Body for BodyDeadline<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.allowed))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The [`BodyTimeout`] behind a failed body extraction, if that is why
/// it failed (axum wraps body errors a few times over).
pub fn timed_out(rejection: &BytesRejection) -> Option<BodyTimeout> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if let Some(timeout) = error.downcast_ref::<BodyTimeout>() {
            return Some(*timeout);
        }
        source = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use axum::body::Body as AxumBody;
    use axum::extract::FromRequest;
    use axum::http::Request;

    /// One chunk at once, then nothing ever again (or an error).
    struct Stalled {
        sent: bool,
        then_fail: bool,
    }

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            if !self.sent {
                self.sent = true;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{")))))
            } else if self.then_fail {
                Poll::Ready(Some(Err(std::io::Error::other("connection reset"))))
            } else {
                Poll::Pending
            }
        }
    }

    async fn read<B>(body: B) -> Result<Bytes, BytesRejection>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let allowed = Duration::from_secs(30);
        let body = BodyDeadline::new(body, Instant::now(), allowed);
        Bytes::from_request(Request::new(AxumBody::new(body)), &()).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_at_its_deadline() {
        let started = Instant::now();
        let rejection = read(Stalled {
            sent: false,
            then_fail: false,
        })
        .await
        .unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert_eq!(
            timed_out(&rejection),
            Some(BodyTimeout(Duration::from_secs(30)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_or_another_failure_is_not_a_timeout() {
        assert_eq!(read(AxumBody::from("{}")).await.unwrap(), "{}");
        let rejection = read(Stalled {
            sent: false,
            then_fail: true,
        })
        .await
        .unwrap_err();
        assert_eq!(timed_out(&rejection), None);
    }
}
