//! Upper bounds for async tests: a broken transport fails the test instead of hanging it. The
//! bounds are generous and never timing assertions.

use std::future::Future;
use std::time::Duration;

use futures::{Stream, StreamExt};

/// The longest a test waits for one notification.
pub const NEXT_BOUND: Duration = Duration::from_secs(30);
/// The longest a whole test may take.
pub const TEST_BOUND: Duration = Duration::from_secs(60);

/// Runs a whole test within [`TEST_BOUND`].
pub async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("the test did not finish")
}

/// The next item of a subscription stream, within [`NEXT_BOUND`].
pub async fn next<T>(stream: &mut (impl Stream<Item = T> + Unpin)) -> T {
    tokio::time::timeout(NEXT_BOUND, stream.next())
        .await
        .expect("no notification arrived")
        .expect("the subscription ended")
}
