//! The one way surfaces run blocking work: actix's blocking pool, then a hook.

use actix_web::web;

/// Run on a blocking thread after each piece of work `block` runs there
/// (see `set_after_blocking`).
static AFTER_BLOCKING: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what runs on a blocking thread after each piece of blocking
/// work: the binary has its allocator give a scan's freed pages back to the
/// system at once, so scans on several threads in a row do not stack up.
pub fn set_after_blocking(hook: fn()) {
    let _ = AFTER_BLOCKING.set(hook);
}

/// Runs blocking work on actix's blocking pool, then the
/// `set_after_blocking` hook: the one way handlers run blocking work.
pub async fn block<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, actix_web::error::BlockingError> {
    web::block(then_release(work)).await
}

/// `work`, then the `set_after_blocking` hook (see `block`).
fn then_release<T>(work: impl FnOnce() -> T) -> impl FnOnce() -> T {
    move || {
        let result = work();
        if let Some(hook) = AFTER_BLOCKING.get() {
            hook();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_work_runs_the_release_hook_after_it() {
        static RELEASED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        set_after_blocking(|| {
            RELEASED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let work = then_release(|| RELEASED.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(work(), 0, "the hook runs after the work");
        assert_eq!(RELEASED.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
