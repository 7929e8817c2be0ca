//! Background work a service declares (schedulers, refits, sweeps): started
//! with the server once its database is ready, stopped by the server's
//! shutdown token, and awaited before the pool closes.

use std::future::Future;
use std::pin::Pin;

use tokio_util::sync::CancellationToken;

type Start = Box<dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One long-lived task of a service. It must return soon after its token is
/// cancelled: the server waits for it before closing the pool.
pub struct BackgroundTask {
    name: &'static str,
    start: Start,
}

impl BackgroundTask {
    pub fn new<F, Fut>(name: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name,
            start: Box::new(move |stop| Box::pin(task(stop))),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn spawn(
        self,
        stop: CancellationToken,
    ) -> (&'static str, tokio::task::JoinHandle<()>) {
        (self.name, tokio::spawn((self.start)(stop)))
    }
}
