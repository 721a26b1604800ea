//! Checkpoints that do not stop the engine.
//!
//! A checkpoint is the whole state at one log position: about 150 bytes per
//! profile, 2 s per million profiles to encode and write. Written in place,
//! the engine waits all that time, and so does every `/v1/decide` behind it.
//!
//! Here the engine forks. At a point between two jobs (so the state is
//! whole), the worker calls `fork()`: the child is a copy-on-write image of
//! the process at that instant, writes the checkpoint from its copy, syncs
//! it under its `.tmp` name and exits; the parent goes back to deciding at
//! once. The pause is the `fork()` itself, the kernel copying the page
//! tables (see below and BENCHMARKS.md), not the encoding. The rest —
//! waiting for the child, syncing the journal up to the checkpoint's
//! position, renaming the file into place, deleting old checkpoints and
//! journal segments — runs on the caller's task, off the engine.
//!
//! Why a fork rather than copy-on-write tables inside the engine or
//! incremental snapshots: the kernel gives a consistent image of every
//! table, the history and the recent ids with no change to the hot path
//! (persistent maps would slow every lookup; incremental snapshots would
//! need a write barrier on every mutation of every table, and every new
//! table would be a new way to get a checkpoint subtly wrong). Redis
//! (`BGSAVE`) and PostgreSQL's forks of the postmaster are the precedents.
//! The costs, named: memory, as pages the engine writes during the
//! checkpoint are copied (at most the state's size again, usually a small
//! part of it, since a checkpoint takes a few seconds); and the child is a
//! copy of a multi-threaded process, so it runs only code that needs no
//! lock another thread could have held at the fork: it reads the state it
//! was given, allocates from its own thread's heap (glibc and mimalloc both
//! keep that usable in a child) and writes files; it closes every
//! inherited descriptor it does not need (so sockets the parent closes are
//! really closed), ignores the signals a terminal sends the group, dies with
//! its parent, runs only on CPU and disk time the engine leaves (SCHED_IDLE
//! and the idle I/O class), and reports a failure through a pipe.
//!
//! The pause is the page tables: one entry per 4 KiB page of the heap, or
//! one per 2 MiB where the heap sits in huge pages. A freshly restored
//! state does (about 1 ms to fork 490 MiB here); a long-running one drifts
//! to 4 KiB pages, and every fork splits the huge pages the engine writes to
//! while the child lives (9–15 ms for 530 MiB). So once the child is done,
//! a background thread asks the kernel to put the heap back into huge pages
//! (`MADV_COLLAPSE`, Linux 6.1 and later; about half a second of kernel
//! work for 400 MiB, off the engine), and the next fork is short again;
//! not on a server confined to one core, where each call would stop the
//! engine (see [`recollapse`]). The child writes in small calls and keeps
//! little of the file in the page cache (`crate::state::checkpoint`'s
//! `behind`), for the same reason.
//!
//! Where `fork()` fails (no memory under strict overcommit, a sandbox that
//! forbids it, a platform without it), the checkpoint is written in place as
//! before, with a log line saying so. `palisade_checkpoint_pause_seconds`
//! shows what the engine waited either way.

use super::worker::Checkpointed;
use crate::metrics::Metrics;
use crate::state::checkpoint::{Checkpoints, Staged};
use crate::state::journal::Journal;
use std::sync::Arc;
use std::time::Instant;

/// A checkpoint taken by the engine, not yet published.
pub struct Snapshot {
    pub(super) checkpoints: Checkpoints,
    pub(super) position: u64,
    pub(super) started: Instant,
    /// What the engine waited for it.
    pub(super) paused: f64,
    pub(super) writing: Writing,
}

pub(super) enum Writing {
    /// Written whole in place (no fork).
    Done(Staged),
    /// Being written by a child process.
    #[cfg(unix)]
    Child(Child, Staged),
}

impl Snapshot {
    /// Waits for the checkpoint to be written, then makes it durable and
    /// the newest one: the journal synced up to its position first (a
    /// checkpoint never runs ahead of the log it replays), then the file
    /// renamed into place, old checkpoints and the journal segments they
    /// all cover deleted.
    pub async fn finish(
        self,
        journal: Option<Arc<Journal>>,
        metrics: &Metrics,
    ) -> Result<Checkpointed, String> {
        let staged = match self.writing {
            Writing::Done(staged) => staged,
            #[cfg(unix)]
            Writing::Child(child, staged) => {
                let tmp = staged.tmp.clone();
                let waited = tokio::task::spawn_blocking(move || child.wait())
                    .await
                    .map_err(|e| e.to_string())?;
                #[cfg(target_os = "linux")]
                recollapse();
                waited.map_err(|why| format!("writing {}: {why}", tmp.display()))?;
                let bytes = std::fs::metadata(&staged.tmp)
                    .map_err(|e| format!("{}: {e}", staged.tmp.display()))?
                    .len();
                Staged { bytes, ..staged }
            }
        };
        if let Some(j) = &journal {
            j.sync(self.position).await.map_err(|e| e.to_string())?;
        }
        let c = self.checkpoints;
        let position = self.position;
        let done = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let (path, bytes) = c.publish(staged).map_err(|e| e.to_string())?;
            // What every kept checkpoint holds, the journal no longer needs.
            let oldest = c
                .list()
                .map_err(|e| e.to_string())?
                .last()
                .map_or(0, |(p, _)| *p);
            let deleted = match &journal {
                Some(j) => j.delete_before(oldest).map_err(|e| e.to_string())?,
                None => 0,
            };
            Ok((path, bytes, deleted))
        })
        .await
        .map_err(|e| e.to_string())??;
        let (path, bytes, deleted) = done;
        let seconds = self.started.elapsed().as_secs_f64();
        metrics.checkpoint_seconds.set(seconds);
        metrics.checkpoint_pause_seconds.set(self.paused);
        metrics.checkpoint_bytes.set(bytes as i64);
        metrics.checkpoint_time.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        Ok(Checkpointed {
            path: path.display().to_string(),
            position,
            bytes,
            seconds,
            paused_seconds: self.paused,
            journal_segments_deleted: deleted,
        })
    }
}

/// A test's hold on forked checkpoint writers: while the file named by
/// `PALISADE_TEST_CHECKPOINT_HOLD` exists, a child waits (up to a minute)
/// before writing, so a test can decide while a checkpoint is open and
/// check what it holds. Read in the parent (reading the environment takes a
/// lock); unset, nothing waits.
#[cfg(unix)]
pub(super) fn test_hold() -> Option<&'static std::path::Path> {
    static HOLD: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    HOLD.get_or_init(|| std::env::var_os("PALISADE_TEST_CHECKPOINT_HOLD").map(Into::into))
        .as_deref()
}

/// Waits while `hold` exists (see [`test_hold`]), having said so with a
/// file beside it, `<hold>.held`, when it does.
#[cfg(unix)]
pub(super) fn wait_while(hold: Option<&std::path::Path>) {
    let Some(hold) = hold.filter(|h| h.exists()) else {
        return;
    };
    let _ = std::fs::File::create(hold.with_extension("held"));
    let until = Instant::now() + std::time::Duration::from_secs(60);
    while hold.exists() && Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Puts the heap back into 2 MiB pages, on a thread of its own, once a
/// checkpoint's child has exited (see the module's text): each 2 MiB-aligned
/// stretch of every anonymous writable mapping of at least 2 MiB is offered
/// to `MADV_COLLAPSE`; stretches the kernel refuses (not populated, already
/// huge, an older kernel) are left as they are. One at a time: a call while
/// one runs does nothing.
///
/// Only where the process may run on two cores or more: a collapse is one
/// system call of up to about 5 ms (finding a free 2 MiB page, compacting
/// memory for one, copying into it), and on a kernel without forced
/// preemption (`PREEMPT_NONE`) a call runs to its end once begun, whatever
/// its thread's priority: on the engine's only core each one stopped the
/// engine that long (seen in `perf sched` traces of a server pinned to one
/// core, beside `kcompactd` doing the same). Elsewhere it runs at the
/// lowest priority, paced (after each stretch, a pause of four times what
/// it took, at least 50 µs), so it takes at most a fifth of a core.
#[cfg(target_os = "linux")]
fn recollapse() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static RUNNING: AtomicBool = AtomicBool::new(false);
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return;
    }
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("palisade-recollapse".into())
        .spawn(|| {
            super::priority::lower(super::priority::Priority::Idle);
            const HUGE: usize = 2 << 20;
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
            for line in maps.lines() {
                let mut fields = line.split_ascii_whitespace();
                let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                    continue;
                };
                // Anonymous: no path after offset, device and inode.
                if perms != "rw-p" || fields.nth(3).is_some() {
                    continue;
                }
                let Some((lo, hi)) = range.split_once('-') else {
                    continue;
                };
                let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                else {
                    continue;
                };
                let mut at = lo.div_ceil(HUGE) * HUGE;
                while at + HUGE <= hi {
                    // SAFETY: advice on this process's own mapping; the
                    // kernel copies and remaps pages, the contents stay.
                    let began = Instant::now();
                    unsafe { libc::madvise(at as *mut libc::c_void, HUGE, libc::MADV_COLLAPSE) };
                    at += HUGE;
                    let took = began.elapsed();
                    std::thread::sleep((took * 4).max(std::time::Duration::from_micros(50)));
                }
            }
            RUNNING.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        RUNNING.store(false, Ordering::Release);
    }
}

/// A forked copy of the process running one task.
#[cfg(unix)]
pub(super) struct Child {
    pid: libc::pid_t,
    /// The read end of the pipe the child writes its failure to.
    failure: std::fs::File,
}

/// The descriptor the child writes its failure to (the pipe's write end,
/// moved there so that every descriptor above it can be closed).
#[cfg(unix)]
const FAILURE_FD: libc::c_int = 3;

/// Runs `task` in a forked copy of the process and returns at once (the
/// parent's side). The child exits 0 when `task` succeeds; otherwise it
/// writes why to a pipe and exits 1.
///
/// # Safety
///
/// The caller must hold everything `task` reads (no other thread may be
/// changing it at the fork), and `task` must take no lock another thread
/// could hold: in the child, only this thread exists.
#[cfg(unix)]
pub(super) unsafe fn fork_with(
    task: impl FnOnce() -> Result<(), String>,
) -> std::io::Result<Child> {
    use std::io::Error;
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(target_os = "linux")]
    let piped = libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC);
    #[cfg(not(target_os = "linux"))]
    let piped = libc::pipe(fds.as_mut_ptr());
    if piped != 0 {
        return Err(Error::last_os_error());
    }
    let [read, write] = fds;
    let parent = libc::getpid();
    match libc::fork() {
        -1 => {
            let e = Error::last_os_error();
            libc::close(read);
            libc::close(write);
            Err(e)
        }
        0 => child(task, write, read, parent),
        pid => {
            libc::close(write);
            Ok(Child {
                pid,
                failure: std::fs::File::from_raw_fd(read),
            })
        }
    }
}

/// The child's side of [`fork_with`]: never returns.
#[cfg(unix)]
unsafe fn child(
    task: impl FnOnce() -> Result<(), String>,
    write: libc::c_int,
    read: libc::c_int,
    parent: libc::pid_t,
) -> ! {
    libc::close(read);
    // Die with the parent rather than finish a checkpoint nobody publishes.
    #[cfg(target_os = "linux")]
    {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(2);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    // A Ctrl-C reaches the whole process group: the parent shuts down
    // gracefully (and waits for this checkpoint); the child carries on.
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        libc::signal(signal, libc::SIG_IGN);
    }
    // The engine's work comes first: the writer takes only the CPU it
    // leaves (SCHED_IDLE: a waking request always preempts it; nice 19
    // where that is refused) and the disk time it leaves (the idle I/O
    // class). At nice 19 alone, a paced load on the same core saw p99 rise
    // from 6 to 72 ms while a checkpoint was written.
    super::priority::lower(super::priority::Priority::Idle);
    #[cfg(target_os = "linux")]
    {
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_IDLE: libc::c_long = 3;
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            IOPRIO_CLASS_IDLE << 13,
        );
    }
    if write != FAILURE_FD {
        libc::dup2(write, FAILURE_FD);
        libc::close(write);
    }
    close_from(FAILURE_FD + 1);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
        .unwrap_or_else(|_| Err("the checkpoint writer panicked".into()));
    let code = match outcome {
        Ok(()) => 0,
        Err(why) => {
            let mut rest = why.as_bytes();
            while !rest.is_empty() {
                let n = libc::write(FAILURE_FD, rest.as_ptr().cast(), rest.len());
                if n <= 0 {
                    break;
                }
                rest = &rest[n as usize..];
            }
            1
        }
    };
    libc::_exit(code)
}

/// Closes every descriptor from `first` up.
#[cfg(unix)]
unsafe fn close_from(first: libc::c_int) {
    #[cfg(target_os = "linux")]
    if libc::syscall(
        libc::SYS_close_range,
        first as libc::c_uint,
        libc::c_uint::MAX,
        0,
    ) == 0
    {
        return;
    }
    let max = match libc::sysconf(libc::_SC_OPEN_MAX) {
        n if n > 0 => n.min(1 << 16) as libc::c_int,
        _ => 1024,
    };
    for fd in first..max {
        libc::close(fd);
    }
}

#[cfg(unix)]
impl Child {
    /// Waits for the child to exit: `Err` says why it failed.
    fn wait(mut self) -> Result<(), String> {
        use std::io::Read;
        let mut why = String::new();
        // Ends when the child exits (its end of the pipe closes).
        let _ = self.failure.read_to_string(&mut why);
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child only.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("waiting for the checkpoint writer: {e}"));
            }
        }
        if libc::WIFEXITED(status) {
            match libc::WEXITSTATUS(status) {
                0 => Ok(()),
                _ if !why.is_empty() => Err(why),
                code => Err(format!("the checkpoint writer exited with {code}")),
            }
        } else if libc::WIFSIGNALED(status) {
            Err(format!(
                "the checkpoint writer was killed by signal {}",
                libc::WTERMSIG(status)
            ))
        } else {
            Err(format!("the checkpoint writer ended with status {status}"))
        }
    }
}
