//! Work that must not take CPU from the engine: a thread of its own at a
//! lower priority. Not a thread of the runtime's blocking pool: an
//! unprivileged thread cannot raise its priority back afterwards.

/// How far below the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// SCHED_IDLE: runs only on CPU time nothing else wants (a waking
    /// thread of normal priority always preempts it), and may wait
    /// indefinitely on a saturated core. For work whose delay harms no one:
    /// a checkpoint's writer, a digest read back.
    Idle,
    /// Nice 19: yields to the engine whenever both want the CPU, yet keeps
    /// a small share (about 1.5% against one thread at nice 0) on a
    /// saturated core, so it is slowed, not stopped. For work a caller
    /// waits on: decoding a batch of events.
    Low,
}

/// Puts the calling thread at `priority` (nice 19 where SCHED_IDLE is
/// refused).
pub fn lower(priority: Priority) {
    #[cfg(target_os = "linux")]
    if priority == Priority::Idle {
        // SAFETY: sets this thread's own scheduling policy.
        let param = libc::sched_param { sched_priority: 0 };
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
            return;
        }
    }
    #[cfg(unix)]
    // SAFETY: sets this thread's own nice value (Linux: per thread).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
    #[cfg(not(unix))]
    let _ = priority;
}

/// Runs `f` on a new thread at `priority` and waits for it without holding
/// up the runtime. `None` when no thread could be started or `f` panicked.
pub async fn run_at<T: Send + 'static>(
    priority: Priority,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("palisade-low".into())
        .spawn(move || {
            lower(priority);
            let _ = tx.send(f());
        })
        .ok()?;
    rx.await.ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn policy_and_nice() -> (i32, i32) {
        // SAFETY: reads this thread's own scheduling settings.
        unsafe {
            (
                libc::sched_getscheduler(0),
                libc::getpriority(libc::PRIO_PROCESS, 0),
            )
        }
    }

    #[tokio::test]
    async fn work_runs_lowered_on_its_own_thread_and_the_caller_keeps_its_priority() {
        let before = policy_and_nice();
        let idle = run_at(Priority::Idle, policy_and_nice).await.unwrap();
        assert_eq!(idle.0, libc::SCHED_IDLE);
        let low = run_at(Priority::Low, policy_and_nice).await.unwrap();
        assert_eq!(low, (libc::SCHED_OTHER, 19));
        assert_eq!(
            policy_and_nice(),
            before,
            "the caller's thread is untouched"
        );
        assert_eq!(run_at(Priority::Low, || 6 * 7).await, Some(42));
    }
}
