//! The tasks a node owns (peer listener, connections, ticker, snapshotter, join loop)
//! and the one cancellation token that ends them all on shutdown.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Tasks {
    stop: CancellationToken,
    set: Mutex<JoinSet<()>>,
}

impl Tasks {
    /// Runs `fut` until it ends or the node shuts down.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        // Finished tasks keep their slot until joined: reap them as new ones come, so a
        // node that serves many short connections does not grow without bound.
        while set.try_join_next().is_some() {}
        set.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = fut => {}
            }
        });
    }

    /// The token every owned task ends on (for tasks that spawn tasks of their own).
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Ends every task and waits (up to `grace`) until they have let go of what they hold.
    pub async fn stop(&self, grace: Duration) {
        self.stop.cancel();
        let mut set = std::mem::take(&mut *self.set.lock().unwrap_or_else(|p| p.into_inner()));
        let drained = tokio::time::timeout(grace, async { while set.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(left = set.len(), "tasks still running at shutdown; aborting them");
            set.shutdown().await;
        }
    }
}
