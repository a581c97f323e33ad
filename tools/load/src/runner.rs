//! Thread-per-core execution: one pinned thread per core, each with its own current-thread
//! tokio runtime, running its even share of the closed-loop workers or of the open-loop
//! schedule. Nothing but the session sequence counter and live counters is shared.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::LocalSet;

use crate::progress::Progress;
use crate::rate::{worker_start, Schedule};
use crate::recorder::Recorder;
use crate::scenario::Scenario;
use crate::session::{self, Plan};
use crate::stats::Stats;

/// How sessions are started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// N workers, each starting its next session when the last one ends.
    Closed { concurrency: u64 },
    /// Sessions started at a fixed rate whatever happens to earlier ones.
    Open { rate: f64, max_in_flight: u64 },
    /// One session per transfer of a replayed xferlog, started at its logged start time
    /// divided by `speedup`, whatever happens to earlier ones.
    Replay { speedup: f64, max_in_flight: u64 },
}

/// When the run stops starting sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long (ramp-up included).
    After(Duration),
    /// After this many sessions in total.
    Count(u64),
}

/// How a run is executed.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub threads: usize,
    pub load: Load,
    pub stop: Stop,
    pub ramp_up: Duration,
    /// Sessions still running this long after the stop are aborted.
    pub drain: Duration,
    pub pin: bool,
}

/// State shared by all worker threads.
struct Shared {
    plan: Arc<Plan>,
    config: RunConfig,
    start: Instant,
    next_seq: AtomicU64,
    progress: Arc<Progress>,
    interval: Option<Arc<Mutex<Stats>>>,
}

/// Errors starting the worker threads.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
    #[error("cannot build the runtime of worker thread {thread}: {source}")]
    Runtime {
        thread: usize,
        source: std::io::Error,
    },
    #[error("worker thread {0} panicked")]
    Panicked(usize),
}

/// Running worker threads.
pub struct Running {
    handles: Vec<JoinHandle<Result<Stats, RunError>>>,
}

impl Running {
    /// True once every worker thread has returned.
    pub fn is_finished(&self) -> bool {
        self.handles.iter().all(JoinHandle::is_finished)
    }

    /// Waits for all threads and merges their statistics.
    pub fn join(self) -> Result<Stats, RunError> {
        let mut total = Stats::new();
        for (i, h) in self.handles.into_iter().enumerate() {
            let stats = h.join().map_err(|_| RunError::Panicked(i))??;
            total.merge(&stats);
        }
        Ok(total)
    }
}

/// Starts the worker threads; sessions begin at `start`.
pub fn start(
    plan: Arc<Plan>,
    config: RunConfig,
    start: Instant,
    progress: Arc<Progress>,
    interval: Option<Arc<Mutex<Stats>>>,
) -> Result<Running, RunError> {
    let cores = if config.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let shared = Arc::new(Shared {
        plan,
        config,
        start,
        next_seq: AtomicU64::new(0),
        progress,
        interval,
    });
    let mut handles = Vec::new();
    for thread in 0..shared.config.threads {
        let shared = Arc::clone(&shared);
        let core = (!cores.is_empty()).then(|| cores[thread % cores.len()]);
        let handle = std::thread::Builder::new()
            .name(format!("load-{thread}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                worker_thread(thread, &shared)
            })
            .map_err(RunError::Spawn)?;
        handles.push(handle);
    }
    Ok(Running { handles })
}

fn worker_thread(thread: usize, shared: &Arc<Shared>) -> Result<Stats, RunError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| RunError::Runtime { thread, source })?;
    let rec = Rc::new(Recorder::new(
        Arc::clone(&shared.progress),
        shared.interval.clone(),
    ));
    let local = LocalSet::new();
    let cfg = &shared.config;
    let start = tokio::time::Instant::from_std(shared.start);
    let deadline = match cfg.stop {
        Stop::After(d) => Some(start + d),
        Stop::Count(_) => None,
    };
    let hard_stop = deadline.map(|d| d + cfg.drain);
    local.block_on(&rt, async {
        let finished = async {
            match cfg.load {
                Load::Closed { concurrency } => {
                    closed_loop(thread, shared, &rec, concurrency, start, deadline).await
                }
                Load::Open {
                    rate,
                    max_in_flight,
                } => {
                    let starts = Starts::Rate(Schedule::new(rate, cfg.ramp_up));
                    open_loop(thread, shared, &rec, starts, max_in_flight, start, deadline).await
                }
                Load::Replay {
                    speedup,
                    max_in_flight,
                } => {
                    let starts = Starts::Replay(speedup);
                    open_loop(thread, shared, &rec, starts, max_in_flight, start, deadline).await
                }
            }
        };
        match hard_stop {
            Some(at) => {
                let _ = tokio::time::timeout_at(at, finished).await;
            }
            None => finished.await,
        }
    });
    // Dropping the LocalSet cancels any session still running after the hard stop.
    drop(local);
    Ok(rec.finish())
}

fn may_start(deadline: Option<tokio::time::Instant>) -> bool {
    deadline.is_none_or(|d| tokio::time::Instant::now() < d)
}

async fn closed_loop(
    thread: usize,
    shared: &Arc<Shared>,
    rec: &Rc<Recorder>,
    concurrency: u64,
    start: tokio::time::Instant,
    deadline: Option<tokio::time::Instant>,
) {
    let threads = shared.config.threads as u64;
    let count = match shared.config.stop {
        Stop::Count(n) => Some(n),
        Stop::After(_) => None,
    };
    let mut tasks = Vec::new();
    for worker in (thread as u64..concurrency).step_by(threads as usize) {
        let shared = Arc::clone(shared);
        let rec = Rc::clone(rec);
        let begin = start + worker_start(worker, concurrency, shared.config.ramp_up);
        tasks.push(tokio::task::spawn_local(async move {
            tokio::time::sleep_until(begin).await;
            while may_start(deadline) {
                let seq = shared.next_seq.fetch_add(1, Relaxed);
                if count.is_some_and(|n| seq >= n) {
                    break;
                }
                session::run(&shared.plan, &rec, seq, None, deadline).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// When open-loop sessions are meant to start.
enum Starts {
    /// At a fixed (ramped) rate.
    Rate(Schedule),
    /// At the replayed log's start times, this many times faster.
    Replay(f64),
}

impl Starts {
    /// Offset of session `index` from the start; `None` once a replay has no more.
    fn offset(&self, plan: &Plan, index: u64) -> Option<Duration> {
        match self {
            Self::Rate(schedule) => Some(schedule.offset(index)),
            Self::Replay(speedup) => match &plan.scenario {
                Scenario::Replay(replay) => replay.offset(index as usize, *speedup),
                _ => None,
            },
        }
    }
}

async fn open_loop(
    thread: usize,
    shared: &Arc<Shared>,
    rec: &Rc<Recorder>,
    starts: Starts,
    max_in_flight: u64,
    start: tokio::time::Instant,
    deadline: Option<tokio::time::Instant>,
) {
    let threads = shared.config.threads as u64;
    let permits = (max_in_flight / threads).max(1) as usize;
    let slots = Arc::new(Semaphore::new(permits));
    let count = match shared.config.stop {
        Stop::Count(n) => Some(n),
        Stop::After(_) => None,
    };
    let mut index = thread as u64;
    loop {
        if count.is_some_and(|n| index >= n) {
            break;
        }
        let Some(offset) = starts.offset(&shared.plan, index) else {
            break;
        };
        let intended = start + offset;
        if deadline.is_some_and(|d| intended >= d) {
            break;
        }
        tokio::time::sleep_until(intended).await;
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let shared = Arc::clone(shared);
        let rec = Rc::clone(rec);
        tokio::task::spawn_local(async move {
            session::run(&shared.plan, &rec, index, Some(intended), deadline).await;
            drop(permit);
        });
        index += threads;
    }
    // Every permit back means every session of this thread has ended.
    let _ = slots.acquire_many(permits as u32).await;
}
