//! Thread-per-core: one thread per worker (pinned to a core if asked), each with its
//! own tokio-uring runtime, SO_REUSEPORT control listeners, passive port slice and pipe
//! pool. Sessions never leave the worker that accepted them.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::admission;
use crate::buffers::BufferPool;
use crate::config::EngineConfig;
use crate::control_conn::Security;
use crate::listing_chunks::ListingThreads;
use crate::metrics::WorkerMetrics;
use crate::net;
use crate::passive_ports::PortPool;
use crate::pipes::PipePool;
use crate::sys;

/// Lifecycle of the whole server, broadcast to every worker and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// Stop accepting; sessions close once their transfer ends.
    Draining,
    /// Grace period over: cancel what still runs.
    Forced,
}

/// Errors starting the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("io_uring is not available ({0}); check kernel.io_uring_disabled and seccomp")]
    NoIoUring(io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("{0} workers need {0} passive port slices, got {1}")]
    PortSlices(usize, usize),
    #[error("cannot start worker thread: {0}")]
    Thread(io::Error),
}

/// Per-worker state shared by its sessions (same thread only).
pub struct Worker {
    pub id: usize,
    pub config: Arc<EngineConfig>,
    pub ports: Rc<PortPool>,
    pub pipes: Rc<PipePool>,
    /// Buffers for the copying (TLS) data path.
    pub buffers: Rc<BufferPool>,
    pub metrics: Arc<WorkerMetrics>,
    pub state: watch::Receiver<RunState>,
    /// Bounds concurrent password checks: each argon2 verification takes ~19 MiB and
    /// milliseconds of CPU, so a login flood must queue, not spawn a thread per login.
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Bounds concurrent HASH computations (each reads a whole file on the blocking pool).
    pub hash_jobs: Arc<tokio::sync::Semaphore>,
    /// Where listings are made, off the event loop (shared by all workers).
    pub listing_threads: Arc<ListingThreads>,
}

/// Size of the pooled TLS transfer buffers.
const TLS_BUFFER: usize = 256 * 1024;

/// Password checks a worker runs at once on the blocking pool.
const PASSWORD_CHECKS_PER_WORKER: usize = 2;

/// The running server: worker threads and the handle to stop them.
pub struct Engine {
    threads: Vec<JoinHandle<()>>,
    state: watch::Sender<RunState>,
    metrics: Vec<Arc<WorkerMetrics>>,
    local_addrs: Vec<SocketAddr>,
    tls_local_addrs: Vec<SocketAddr>,
}

/// A control listener and what its connections start with.
struct Listener {
    socket: TcpListener,
    security: Security,
}

/// Listeners bound and counters made, no worker thread yet: the daemon drops its
/// privileges and applies its sandbox here, so that every thread it then starts
/// inherits them (credentials and Landlock domains are per thread on Linux).
pub struct BoundEngine {
    config: EngineConfig,
    per_worker: Vec<Vec<Listener>>,
    metrics: Vec<Arc<WorkerMetrics>>,
    local_addrs: Vec<SocketAddr>,
    tls_local_addrs: Vec<SocketAddr>,
}

impl BoundEngine {
    /// The bound control addresses (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Counters of each worker, index = worker id.
    pub fn metrics(&self) -> &[Arc<WorkerMetrics>] {
        &self.metrics
    }

    /// Start one thread per worker on the listeners bound before.
    pub fn start(self) -> Result<Engine, EngineError> {
        let BoundEngine {
            config,
            per_worker,
            metrics,
            local_addrs,
            tls_local_addrs,
        } = self;
        let (state_tx, state_rx) = watch::channel(RunState::Running);
        let config = Arc::new(config);
        let mut threads = Vec::new();
        let listing_threads = ListingThreads::start(config.workers).map_err(EngineError::Thread)?;
        for (id, listeners) in per_worker.into_iter().enumerate() {
            let m = metrics[id].clone();
            let config = config.clone();
            let state = state_rx.clone();
            let listing_threads = listing_threads.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ringftpd-w{id}"))
                .spawn(move || run_worker(id, config, listeners, m, state, listing_threads))
                .map_err(EngineError::Thread)?;
            threads.push(handle);
        }
        Ok(Engine {
            threads,
            state: state_tx,
            metrics,
            local_addrs,
            tls_local_addrs,
        })
    }
}

impl Engine {
    /// Bind every listener (so address errors surface here) and start the workers.
    pub fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::bind(config)?.start()
    }

    /// Bind every listener without starting a thread (see [`BoundEngine`]).
    pub fn bind(config: EngineConfig) -> Result<BoundEngine, EngineError> {
        sys::io_uring_available().map_err(EngineError::NoIoUring)?;
        // Read now: once the sandbox is in force /proc may be out of reach.
        sys::receive_buffer_max();
        if config.passive_ports.len() != config.workers {
            return Err(EngineError::PortSlices(
                config.workers,
                config.passive_ports.len(),
            ));
        }
        let mut per_worker: Vec<Vec<Listener>> = (0..config.workers).map(|_| Vec::new()).collect();
        let mut local_addrs = Vec::new();
        let mut tls_local_addrs = Vec::new();
        let all = config
            .listen
            .iter()
            .map(|a| (a, Security::Plain))
            .chain(config.tls_listen.iter().map(|a| (a, Security::ImplicitTls)));
        for (addr, security) in all {
            // With port 0 the first bind picks the port and the others share it.
            let mut addr = *addr;
            net::ensure_port_free(addr).map_err(|source| EngineError::Listen { addr, source })?;
            for listeners in per_worker.iter_mut() {
                let l = net::control_listener(addr)
                    .map_err(|source| EngineError::Listen { addr, source })?;
                addr = l
                    .local_addr()
                    .map_err(|source| EngineError::Listen { addr, source })?;
                listeners.push(Listener {
                    socket: l,
                    security,
                });
            }
            match security {
                Security::Plain => local_addrs.push(addr),
                Security::ImplicitTls => tls_local_addrs.push(addr),
            }
        }
        let metrics = config
            .passive_ports
            .iter()
            .map(|slice| {
                let m = Arc::new(WorkerMetrics::default());
                // Known before the worker thread runs, so a scrape right after start
                // does not report an empty slice.
                m.passive_size.store(slice.len() as u64, Relaxed);
                m
            })
            .collect();
        Ok(BoundEngine {
            config,
            per_worker,
            metrics,
            local_addrs,
            tls_local_addrs,
        })
    }

    /// The bound implicit TLS addresses.
    pub fn tls_local_addrs(&self) -> &[SocketAddr] {
        &self.tls_local_addrs
    }

    /// The bound control addresses (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Counters of each worker, index = worker id.
    pub fn metrics(&self) -> &[Arc<WorkerMetrics>] {
        &self.metrics
    }

    /// Stop accepting, let transfers finish for up to `grace`, then cancel the rest
    /// and wait for the workers to exit.
    pub fn shutdown(self, grace: Duration) {
        let _ = self.state.send(RunState::Draining);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.open_sessions() > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.state.send(RunState::Forced);
        for t in self.threads {
            let _ = t.join();
        }
    }

    fn open_sessions(&self) -> u64 {
        self.metrics
            .iter()
            .map(|m| m.sessions_open.load(Relaxed))
            .sum()
    }

    /// Block until every worker has exited (after a shutdown from elsewhere).
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn run_worker(
    id: usize,
    config: Arc<EngineConfig>,
    listeners: Vec<Listener>,
    metrics: Arc<WorkerMetrics>,
    state: watch::Receiver<RunState>,
    listing_threads: Arc<ListingThreads>,
) {
    if config.pin_workers {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        if !sys::pin_to_cpu(id % cpus) {
            debug!(worker = id, "could not pin worker thread");
        }
    }
    let runtime = match new_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            error!(worker = id, error = %e, "cannot create io_uring runtime");
            return;
        }
    };
    let worker = Rc::new(Worker {
        id,
        ports: PortPool::with_metrics(config.passive_ports[id], Some(metrics.clone())),
        pipes: PipePool::new(config.pipe_size, config.pipes_per_worker),
        buffers: BufferPool::new(TLS_BUFFER),
        config,
        metrics,
        state,
        password_checks: Arc::new(tokio::sync::Semaphore::new(PASSWORD_CHECKS_PER_WORKER)),
        hash_jobs: Arc::new(tokio::sync::Semaphore::new(
            crate::hash_jobs::HASH_JOBS_PER_WORKER,
        )),
        listing_threads,
    });
    runtime.block_on(worker_main(worker, listeners));
}

async fn worker_main(worker: Rc<Worker>, listeners: Vec<Listener>) {
    let mut accept_loops = Vec::new();
    let listeners: Vec<Rc<TcpListener>> = listeners
        .into_iter()
        .map(|l| {
            let socket = Rc::new(l.socket);
            accept_loops.push(tokio_uring::spawn(accept_loop(
                worker.clone(),
                socket.clone(),
                l.security,
            )));
            socket
        })
        .collect();
    let mut state = worker.state.clone();
    while *state.borrow_and_update() == RunState::Running {
        if state.changed().await.is_err() {
            break;
        }
    }
    // Wake the accept loops: shutdown makes their poll complete and accept fail.
    for l in &listeners {
        net::shutdown(&**l);
    }
    for a in accept_loops {
        let _ = a.await;
    }
    drop(listeners);
    // Sessions watch the state themselves; wait for the last one.
    while worker.metrics.sessions_open.load(Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    info!(worker = worker.id, "worker stopped");
}

/// The worker's io_uring runtime, with IORING_SETUP_COOP_TASKRUN where the kernel has
/// it (Linux 5.19+). Without it, a completion (a client's command arriving, say)
/// interrupts the worker at once, often while the other core's softirq that delivered
/// it still holds the socket's lock, and the worker spins on that lock; with it, the
/// completion waits for the worker's next system call. Server CPU per small-file
/// session fell by 18% (README, Design).
fn new_runtime() -> io::Result<tokio_uring::Runtime> {
    let coop = tokio_uring::Runtime::new(
        tokio_uring::builder()
            .entries(RING_ENTRIES)
            .uring_builder(tokio_uring::uring_builder().setup_coop_taskrun()),
    );
    match coop {
        Ok(rt) => Ok(rt),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            debug!("io_uring without COOP_TASKRUN (kernel older than 5.19)");
            tokio_uring::Runtime::new(tokio_uring::builder().entries(RING_ENTRIES))
        }
        Err(e) => Err(e),
    }
}

/// Submission queue entries per worker ring.
const RING_ENTRIES: u32 = 1024;

async fn accept_loop(worker: Rc<Worker>, listener: Rc<TcpListener>, security: Security) {
    // A listener on one address is every connection's local address: no getsockname
    // per session. A wildcard one leaves it to be asked for.
    let local = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    loop {
        let accepted = net::accept(&listener).await;
        if *worker.state.borrow() != RunState::Running {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                tokio_uring::spawn(admission::admit(
                    worker.clone(),
                    stream,
                    peer,
                    local,
                    security,
                ));
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE)
                        | Some(libc::ENFILE)
                        | Some(libc::ENOBUFS)
                        | Some(libc::ENOMEM)
                ) =>
            {
                warn!(worker = worker.id, error = %e, "accept failed; pausing");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => debug!(worker = worker.id, error = %e, "accept failed"),
        }
    }
}
