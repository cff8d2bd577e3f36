//! Small tools every layer uses: atomic state files, tables, text, versions, threads.

pub mod digest;
pub mod exit;
pub mod files;
pub mod table;
pub mod tar;
pub mod text;
pub mod version;

/// Runs `f` for every item on its own thread and returns the results in order.
pub fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.iter().map(|item| scope.spawn(|| f(item))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
