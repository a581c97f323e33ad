//! Moving the bytes of one transfer: RETR (splice file -> pipe -> socket, or a
//! buffered read + send for small files and TYPE A), STOR/APPE/STOU (splice
//! socket -> pipe -> file, uploads landing under a temporary name), and listings.

use std::cell::{Cell, RefCell};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime};

use ringftp_control::ascii;
use ringftp_control::session::{
    DataProtection, Event, StoreMode, TransferFailure, TransferKind, TransferRequest,
};
use rustix::fs::OFlags;
use tracing::{debug, warn};

use crate::cancel::{CancelReason, CancelToken};
use crate::data_channel::{establish, DataChannel};
use crate::download::{self, send_ascii, send_file};
use crate::files::{self, Folder};
use crate::listing_chunks::ListingChunks;
use crate::local_channel::UnboundedSender;
use crate::metrics::bump;
use crate::net;
use crate::rate_limit::{self, Flow, Pacer, SessionBuckets, SocketPacing, UserClass};
use crate::sys;
use crate::tls;
use crate::transfer_log::{Direction, TransferRecord};
use crate::uring_ops;
use crate::worker::Worker;

/// Buffer size for buffered sends, receives and listings.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The data connection's 150, reported to the session once. Most transfers report it
/// as soon as the connection is made. A small plain download reports it only if its
/// file does not fit the socket at once (or the transfer fails): a file sent whole
/// gets its 150 in one reply with the 226, one send and one client wake-up fewer.
pub(crate) struct Announce<'a> {
    events: &'a UnboundedSender<Event>,
    pending: Cell<bool>,
}

impl Announce<'_> {
    /// Report the data connection, unless already done.
    pub(crate) fn now(&self) {
        if self.pending.replace(false) {
            let _ = self.events.send(Event::DataConnected);
        }
    }
}

/// Who asked for the transfer, for logs.
pub struct Requester {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub user: String,
    pub anonymous: bool,
    /// The session's bandwidth-cap buckets.
    pub rate: Rc<SessionBuckets>,
}

/// Run one transfer to its end, reporting to the session through `events`. `tls` is
/// the session's TLS settings, used when the request asks for PROT P.
pub async fn run(
    worker: Rc<Worker>,
    channel: DataChannel,
    mut request: TransferRequest,
    who: Requester,
    cancel: Rc<CancelToken>,
    events: UnboundedSender<Event>,
    tls: Option<tls::SessionTls>,
) {
    let started = SystemTime::now();
    let clock = Instant::now();
    let progress = Rc::new(Cell::new(Instant::now()));
    let bytes = Rc::new(Cell::new(0u64));
    // Waiting for the client to connect to a passive port is bounded by
    // `timeouts.passive_secs`; once connected, a stall is bounded by `data_secs`.
    let limit = Cell::new(match channel {
        DataChannel::Passive(_) => worker.config.passive_timeout,
        DataChannel::Active(_) => worker.config.data_timeout,
    });
    let opened = request.take_opened_file();
    let body = transfer_body(
        &worker, channel, &request, opened, &who, &cancel, &events, &progress, &bytes, tls, &limit,
    );
    tokio::pin!(body);
    let step = (worker
        .config
        .passive_timeout
        .min(worker.config.data_timeout))
    .max(std::time::Duration::from_millis(100));
    let watchdog = stall_watchdog(&progress, &limit, step, &cancel);
    let result = tokio::select! {
        r = &mut body => Some(r),
        _ = watchdog => None,
    };
    let result = match result {
        Some(r) => r,
        // The watchdog cancelled: the body now unwinds quickly.
        None => body.await,
    };
    cancel.clear();
    let event = match (result, cancel.reason()) {
        (Ok(n), _) => Event::TransferDone { bytes: n },
        (Err(_), Some(CancelReason::Abort)) => Event::TransferAborted,
        // Nobody (allowed) connected in time: "can't open data connection", 425.
        (Err(TransferFailure::DataConnection), Some(CancelReason::Stalled)) => {
            bump(&worker.metrics.data_timeouts);
            Event::TransferFailed(TransferFailure::DataConnection)
        }
        (Err(_), Some(CancelReason::Stalled)) => {
            bump(&worker.metrics.data_timeouts);
            Event::TransferFailed(TransferFailure::Timeout)
        }
        (Err(f), _) => Event::TransferFailed(f),
    };
    match &event {
        Event::TransferDone { .. } => {}
        Event::TransferAborted => bump(&worker.metrics.transfers_aborted),
        _ => bump(&worker.metrics.transfers_failed),
    }
    log_transfer(&worker, &request, &who, started, clock, bytes.get(), &event);
    let _ = events.send(event);
}

/// Let the tasks already queued on this worker (the session, just woken by an event)
/// run before this one goes on. tokio's `yield_now` defers its wake-up until the
/// worker's next turn through epoll and io_uring, so every transfer's first byte also
/// waited for that turn and for everything else it brought; waking itself puts the task
/// at the back of the worker's queue instead, behind the tasks that were woken before.
async fn after_queued_tasks() {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut queued, true) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// Cancel the transfer once nothing moved for `limit` (which changes when the data
/// connection is up). It wakes at least every `step`, so a shorter limit set while it
/// sleeps takes effect within one step.
async fn stall_watchdog(
    progress: &Cell<Instant>,
    limit: &Cell<std::time::Duration>,
    step: std::time::Duration,
    cancel: &CancelToken,
) {
    loop {
        let deadline = (progress.get() + limit.get()).min(Instant::now() + step);
        tokio::time::sleep_until(deadline.into()).await;
        if progress.get() + limit.get() <= Instant::now() {
            cancel.cancel(CancelReason::Stalled);
            return;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn transfer_body(
    worker: &Rc<Worker>,
    channel: DataChannel,
    request: &TransferRequest,
    opened: Option<(File, u64)>,
    who: &Requester,
    cancel: &CancelToken,
    events: &UnboundedSender<Event>,
    progress: &Cell<Instant>,
    bytes: &Cell<u64>,
    tls: Option<tls::SessionTls>,
    limit: &Cell<std::time::Duration>,
) -> Result<u64, TransferFailure> {
    // Open the file before the data connection, so a vanished file is a plain 550.
    let prepared = prepare(worker, request, opened).await?;
    // Caps in force when the transfer starts hold for all of it; listings are not capped.
    let pacer = match &prepared {
        Prepared::Send { .. } => pacer(worker, who, Flow::Download),
        Prepared::Receive(_) => pacer(worker, who, Flow::Upload),
        Prepared::Listing(_) => Pacer::unlimited(worker.metrics.clone()),
    };
    let connection = establish(channel, worker, who.peer.ip(), who.local.ip(), cancel)
        .await
        .map_err(|e| {
            debug!(error = %e, "data connection failed");
            TransferFailure::DataConnection
        })?;
    let sock = connection.stream.clone();
    let plain = !matches!(request.protection, DataProtection::Tls { .. });
    let announce = Announce {
        events,
        pending: Cell::new(true),
    };
    let small_plain_download = plain
        && !request.ascii
        && !pacer.is_capped()
        && matches!(&prepared, Prepared::Send { offset, size, .. }
            if size.saturating_sub(*offset) <= worker.config.small_file_max);
    if !small_plain_download {
        announce.now();
        // Let the session send its 150 before this task moves bytes: a cached file's
        // first chunk goes into the socket without a wait, so without this turn the
        // 150 (and with it the client's first byte) waited for that chunk.
        after_queued_tasks().await;
    }
    let mut paced = None;
    if let Prepared::Send { offset, size, .. } = &prepared {
        // A slow client's bytes wait in the pipe (page-cache references) rather than
        // in the socket: the socket holds at most this much unsent, so thousands of
        // slow downloads do not each pin a send buffer of kernel memory. (A file no
        // larger than the limit can never exceed it: one system call saved.)
        let unsent_max = worker.config.unsent_max;
        if unsent_max > 0 && size.saturating_sub(*offset) > unsent_max as u64 {
            set_unsent_max(&sock, unsent_max);
        }
        // A capped download's socket is paced by the kernel (see `SocketPacing`), and
        // may hold one chunk unsent once the caps hold it (see `held_unsent_limit`).
        let held_limit = download::held_unsent_limit(unsent_max, &pacer, worker.config.pipe_size);
        paced = pacer
            .tightest_rate()
            .map(|rate| PacedSocket::new(sock.clone(), rate, held_limit));
    }
    if let (Prepared::Receive(_), Some(rate)) = (&prepared, pacer.tightest_rate()) {
        size_capped_upload_buffer(&sock, rate, pacer.chunk(worker.config.pipe_size));
    }
    limit.set(worker.config.data_timeout);
    progress.set(Instant::now());
    let moved = |counter| Moved {
        progress,
        bytes,
        counter,
        pacer: &pacer,
        paced: paced.as_ref(),
        cancel,
    };
    // The 150 goes out first: clients start the data connection's TLS handshake
    // only after it. Boxed: the handshake's state would otherwise make every plain
    // transfer's task (and the copy made when it is spawned) kilobytes larger.
    if let DataProtection::Tls {
        require_session_reuse,
    } = request.protection
    {
        let tls = tls.ok_or(TransferFailure::TlsHandshake)?;
        let secured = TlsTransfer {
            tls,
            require_session_reuse,
            ascii: request.ascii,
        };
        let result = Box::pin(secured.run(worker, sock, prepared, progress, &moved)).await;
        drop(paced);
        drop(connection);
        return result;
    }
    let result = match prepared {
        Prepared::Send { file, offset, size } => {
            let moved = moved(&worker.metrics.bytes_out);
            if request.ascii {
                send_ascii(&sock, &file, offset, &moved).await
            } else {
                send_file(worker, &sock, &file, offset, size, &moved, &announce).await
            }
            .inspect(|_| bump(&worker.metrics.transfers_out))
        }
        Prepared::Receive(upload) => {
            let moved = moved(&worker.metrics.bytes_in);
            let received = if request.ascii {
                receive_ascii(&sock, &upload.file, upload.offset, &moved).await
            } else {
                receive_file(worker, &sock, &upload.file, upload.offset, &moved).await
            };
            let result = received.and_then(|n| upload.commit().map(|_| n));
            if result.is_ok() {
                bump(&worker.metrics.transfers_in);
            }
            result
        }
        Prepared::Listing(chunks) => {
            bump(&worker.metrics.listings);
            send_listing(&sock, chunks, &moved(&worker.metrics.bytes_out)).await
        }
    };
    if result.is_err() {
        // A failure after the data connection is answered after its 150, as always.
        announce.now();
    }
    // Closing after a complete send still delivers the queued bytes (no SO_LINGER);
    // a passive port returns to the pool only now that its connection is closed.
    drop(sock);
    drop(paced);
    drop(connection);
    result
}

/// A transfer on a TLS-protected data connection, after its plain-text set-up.
struct TlsTransfer {
    tls: tls::SessionTls,
    require_session_reuse: bool,
    ascii: bool,
}

impl TlsTransfer {
    async fn run<'a>(
        self,
        worker: &'a Rc<Worker>,
        sock: Rc<TcpStream>,
        prepared: Prepared,
        progress: &Cell<Instant>,
        moved: &impl Fn(&'a AtomicU64) -> Moved<'a>,
    ) -> Result<u64, TransferFailure> {
        let config = match prepared {
            Prepared::Receive(_) => self.tls.upload,
            _ => self.tls.download,
        };
        let stream = tls::data::secure(
            sock,
            config,
            self.require_session_reuse,
            worker.config.tls_handshake_timeout,
            &worker.metrics,
        )
        .await?;
        progress.set(Instant::now());
        let pool = &worker.buffers;
        match prepared {
            Prepared::Send { file, offset, .. } => {
                let moved = moved(&worker.metrics.bytes_out);
                tls::data::send_file(&stream, &file, offset, self.ascii, pool, &moved)
                    .await
                    .inspect(|_| bump(&worker.metrics.transfers_out))
            }
            Prepared::Receive(upload) => {
                let moved = moved(&worker.metrics.bytes_in);
                tls::data::receive_file(
                    &stream,
                    &upload.file,
                    upload.offset,
                    self.ascii,
                    pool,
                    &moved,
                )
                .await
                .and_then(|n| upload.commit().map(|_| n))
                .inspect(|_| bump(&worker.metrics.transfers_in))
            }
            Prepared::Listing(chunks) => {
                bump(&worker.metrics.listings);
                let moved = moved(&worker.metrics.bytes_out);
                tls::data::send_listing(&stream, chunks, &moved).await
            }
        }
    }
}

fn pacer(worker: &Worker, who: &Requester, flow: Flow) -> Pacer {
    let class = if who.anonymous {
        UserClass::Anonymous
    } else {
        UserClass::Named
    };
    worker.config.rate_limiter.pacer(
        &who.rate,
        who.peer.ip(),
        class,
        flow,
        worker.metrics.clone(),
    )
}

enum Prepared {
    Send {
        file: Rc<File>,
        offset: u64,
        size: u64,
    },
    Receive(Upload),
    Listing(ListingChunks),
}

/// Open what the transfer reads or writes; `opened` is the file (and its size) the
/// path check already opened for a download.
async fn prepare(
    worker: &Worker,
    request: &TransferRequest,
    opened: Option<(File, u64)>,
) -> Result<Prepared, TransferFailure> {
    let no_symlinks = request.no_symlinks;
    match (&request.kind, opened) {
        (TransferKind::Retr { offset, .. }, Some((file, size))) => Ok(Prepared::Send {
            file: Rc::new(file),
            offset: *offset,
            size,
        }),
        (TransferKind::Retr { path, offset, .. }, None) => {
            let file = files::open(path, OFlags::RDONLY, 0, no_symlinks).map_err(|e| {
                if files::is_symlink_refusal(&e) {
                    warn!(path = %path.display(), "symlink appeared after the path was checked");
                } else if files::is_sandbox_refusal(path, &e) {
                    warn!(path = %path.display(), "open refused by the sandbox: the file lies outside the served roots and `sandbox.extra_read_paths`");
                }
                TransferFailure::FileUnavailable
            })?;
            let size = file.metadata().map_err(|_| TransferFailure::Local)?.len();
            Ok(Prepared::Send {
                file: Rc::new(file),
                offset: *offset,
                size,
            })
        }
        (TransferKind::Store { path, mode }, _) => {
            Upload::open(path, *mode, worker.config.atomic_uploads, no_symlinks)
                .map(Prepared::Receive)
        }
        (TransferKind::Listing(listing), _) => {
            // Off the event loop, so this core's other sessions go on (see
            // `listing_chunks`).
            let path = listing.path.clone();
            ListingChunks::start((**listing).clone(), CHUNK, worker.listing_threads.clone())
                .await
                .map(Prepared::Listing)
                .map_err(|e| {
                    if files::is_sandbox_refusal(&path, &e) {
                        warn!(path = %path.display(), "listing refused by the sandbox: the folder lies outside the served roots and `sandbox.extra_read_paths`");
                    }
                    TransferFailure::FileUnavailable
                })
        }
    }
}

/// An upload target: written under a temporary name when atomic, renamed on commit,
/// removed if the upload fails (on drop without commit). The folder stays open, so the
/// rename and the cleanup happen where the file was created.
struct Upload {
    file: Rc<File>,
    offset: u64,
    /// The folder and the temporary name, for atomic uploads.
    temp: Option<(Folder, OsString)>,
    target: OsString,
    committed: bool,
}

static UPLOAD_SEQ: AtomicU64 = AtomicU64::new(0);

pub(crate) fn storage_error(e: &io::Error) -> TransferFailure {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => TransferFailure::NoSpace,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) | Some(libc::ENOENT)
        | Some(libc::ELOOP) | Some(libc::EXDEV) | Some(libc::EISDIR) => {
            TransferFailure::FileUnavailable
        }
        _ => TransferFailure::Local,
    }
}

impl Upload {
    fn open(
        target: &Path,
        mode: StoreMode,
        atomic: bool,
        no_symlinks: bool,
    ) -> Result<Upload, TransferFailure> {
        let name = target.file_name().ok_or(TransferFailure::FileUnavailable)?;
        let (file, temp, offset) = match mode {
            StoreMode::Replace if atomic => {
                let folder = target.parent().ok_or(TransferFailure::FileUnavailable)?;
                let folder = Folder::open(folder, no_symlinks).map_err(|e| storage_error(&e))?;
                let temp = temp_name(name);
                let file = folder
                    .create_new(&temp, 0o644)
                    .map_err(|e| storage_error(&e))?;
                (file, Some((folder, temp)), 0)
            }
            StoreMode::Replace => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC;
                let file = files::open(target, flags, 0o644, no_symlinks);
                (file.map_err(|e| storage_error(&e))?, None, 0)
            }
            // splice(2) refuses O_APPEND targets, so append writes at the current end.
            StoreMode::Append | StoreMode::Resume(_) => {
                let flags = OFlags::WRONLY | OFlags::CREATE;
                let file = files::open(target, flags, 0o644, no_symlinks)
                    .map_err(|e| storage_error(&e))?;
                let offset = match mode {
                    StoreMode::Resume(at) => at,
                    _ => file.metadata().map_err(|e| storage_error(&e))?.len(),
                };
                (file, None, offset)
            }
        };
        Ok(Upload {
            file: Rc::new(file),
            offset,
            temp,
            target: name.to_os_string(),
            committed: false,
        })
    }

    fn commit(mut self) -> Result<(), TransferFailure> {
        if let Some((folder, temp)) = &self.temp {
            folder
                .rename(temp, &self.target)
                .map_err(|e| storage_error(&e))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let (Some((folder, temp)), false) = (&self.temp, self.committed) {
            let _ = folder.remove(temp);
        }
    }
}

/// `.NAME.ringftp-PID-SEQ.part` beside the target: same filesystem, so the final
/// rename is atomic, and a dot name so `ls` and mirror tools skip it.
fn temp_name(name: &OsStr) -> OsString {
    let name = name.as_bytes();
    let seq = UPLOAD_SEQ.fetch_add(1, Relaxed);
    let mut temp = Vec::with_capacity(name.len() + 32);
    temp.push(b'.');
    temp.extend_from_slice(&name[..name.len().min(200)]);
    temp.extend_from_slice(format!(".ringftp-{}-{seq}.part", std::process::id()).as_bytes());
    OsString::from_vec(temp)
}

/// TCP_NOTSENT_LOWAT on a download's socket; unset, it only queues more.
pub(crate) fn set_unsent_max(sock: &TcpStream, limit: usize) {
    if let Err(e) = sys::set_unsent_max(sock.as_fd(), limit) {
        debug!(error = %e, "TCP_NOTSENT_LOWAT refused");
    }
}

/// Size a capped upload's receive buffer to its cap (see
/// [`rate_limit::capped_upload_receive_buffer`]).
fn size_capped_upload_buffer(sock: &TcpStream, rate: u64, step: usize) {
    let Ok(rtt) = sys::tcp_rtt(sock.as_fd()) else {
        return;
    };
    let max = sys::receive_buffer_max();
    let Some(bytes) = rate_limit::capped_upload_receive_buffer(rate, step, rtt, max) else {
        return;
    };
    if let Err(e) = sys::set_receive_buffer(sock.as_fd(), bytes) {
        debug!(error = %e, "SO_RCVBUF refused");
    }
}

/// A capped download's socket and the kernel pacing rate it has.
/// Dropped before the data connection, so the socket closes when the transfer ends.
struct PacedSocket {
    sock: Rc<TcpStream>,
    pacing: RefCell<SocketPacing>,
    /// The unsent limit to set the first time a cap holds the transfer (then `None`).
    held_limit: Cell<Option<usize>>,
}

impl PacedSocket {
    fn new(sock: Rc<TcpStream>, tightest: u64, held_limit: Option<usize>) -> PacedSocket {
        let pacing = SocketPacing::new(tightest);
        let paced = PacedSocket {
            sock,
            pacing: RefCell::new(pacing),
            held_limit: Cell::new(held_limit),
        };
        paced.set(paced.pacing.borrow().rate());
        paced
    }

    /// Unpaced is still correct, only burstier: a refusal is no error.
    fn set(&self, rate: u64) {
        if let Err(e) = sys::set_max_pacing_rate(self.sock.as_fd(), rate) {
            debug!(error = %e, "SO_MAX_PACING_RATE refused");
        }
    }
}

/// Progress stamps for the stall watchdog, the byte count for logs and the worker's
/// byte counter for metrics, all bumped together; and the bandwidth caps.
pub(crate) struct Moved<'a> {
    progress: &'a Cell<Instant>,
    bytes: &'a Cell<u64>,
    counter: &'a AtomicU64,
    pacer: &'a Pacer,
    paced: Option<&'a PacedSocket>,
    cancel: &'a CancelToken,
}

impl Moved<'_> {
    pub(crate) fn add(&self, n: usize) {
        self.progress.set(Instant::now());
        self.bytes.set(self.bytes.get() + n as u64);
        self.counter.fetch_add(n as u64, Relaxed);
    }

    /// Wait until the caps let `n` more bytes move. The stall watchdog counts from
    /// the end of the wait: waiting for a cap is not a stall. A cancel (ABOR, stop)
    /// ends the wait at once; the sleep holds no fd, so dropping it is safe.
    pub(crate) async fn pace(&self, n: usize) -> Result<(), TransferFailure> {
        self.pace_chunk(n, false).await
    }

    /// [`Moved::pace`] for a file's chunk, `last` if no chunk follows it: the socket
    /// sends that one at the tightest cap, not at the transfer's share of a shared cap,
    /// so the transfer does not end a share's chunk later than the caps allow.
    pub(crate) async fn pace_chunk(&self, n: usize, last: bool) -> Result<(), TransferFailure> {
        if !self.pacer.is_capped() {
            return Ok(());
        }
        let binding = tokio::select! {
            binding = self.pacer.pace(n, |wake| self.progress.set(wake)) => binding,
            _ = self.cancel.cancelled() => return Err(TransferFailure::ConnectionLost),
        };
        if let Some(paced) = self.paced {
            if binding.is_some() {
                if let Some(limit) = paced.held_limit.take() {
                    set_unsent_max(&paced.sock, limit);
                }
            }
            let new_rate =
                paced
                    .pacing
                    .borrow_mut()
                    .on_release(n, Instant::now(), binding.filter(|_| !last));
            if let Some(rate) = new_rate {
                paced.set(rate);
            }
        }
        Ok(())
    }

    /// The most bytes to move in one step, at most `max`.
    pub(crate) fn chunk(&self, max: usize) -> usize {
        self.pacer.chunk(max)
    }

    /// True if a bandwidth cap paces this transfer (which then sets its socket's
    /// unsent limit itself).
    pub(crate) fn is_capped(&self) -> bool {
        self.pacer.is_capped()
    }
}

pub(crate) fn lost(_: io::Error) -> TransferFailure {
    TransferFailure::ConnectionLost
}

async fn receive_file(
    worker: &Worker,
    sock: &Rc<TcpStream>,
    file: &Rc<File>,
    offset: u64,
    moved: &Moved<'_>,
) -> Result<u64, TransferFailure> {
    let pipe = worker.pipes.take().map_err(|_| TransferFailure::Local)?;
    let mut pos = offset;
    let step = moved.chunk(pipe.capacity());
    loop {
        let filled = match sys::splice_nonblocking(sock.as_fd(), None, pipe.write.as_fd(), step) {
            Ok(0) => return Ok(pos - offset),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let revents = uring_ops::poll(sock, libc::POLLIN).await.map_err(lost)?;
                if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                    return Err(TransferFailure::ConnectionLost);
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(lost(e)),
        };
        moved.add(filled);
        let mut in_pipe = filled;
        while in_pipe > 0 {
            let n = uring_ops::splice(&pipe.read, None, file, Some(pos), in_pipe as u32)
                .await
                .map_err(|e| storage_error(&e))?;
            if n == 0 {
                return Err(TransferFailure::Local);
            }
            in_pipe -= n;
            pos += n as u64;
        }
        // The client's next bytes wait in its socket (TCP flow control) under a cap.
        moved.pace(filled).await?;
    }
}

async fn receive_ascii(
    sock: &Rc<TcpStream>,
    file: &Rc<File>,
    offset: u64,
    moved: &Moved<'_>,
) -> Result<u64, TransferFailure> {
    let mut converter = ascii::FromWire::default();
    let mut pos = offset;
    let mut buf = Vec::with_capacity(moved.chunk(CHUNK));
    let mut out = Vec::with_capacity(CHUNK);
    loop {
        let (res, back) = net::recv_some(sock, buf).await;
        buf = back;
        let n = res.map_err(lost)?;
        out.clear();
        if n == 0 {
            converter.finish(&mut out);
        } else {
            moved.add(n);
            converter.convert(&buf, &mut out);
        }
        file.write_all_at(&out, pos)
            .map_err(|e| storage_error(&e))?;
        pos += out.len() as u64;
        if n == 0 {
            return Ok(pos - offset);
        }
        moved.pace(n).await?;
    }
}

async fn send_listing(
    sock: &Rc<TcpStream>,
    mut chunks: ListingChunks,
    moved: &Moved<'_>,
) -> Result<u64, TransferFailure> {
    let mut total = 0u64;
    while let Some(chunk) = chunks.next().await.map_err(|_| TransferFailure::Local)? {
        if chunk.is_empty() {
            continue;
        }
        net::send_all(sock, chunk).await.map_err(lost)?;
        moved.add(chunk.len());
        total += chunk.len() as u64;
    }
    Ok(total)
}

fn log_transfer(
    worker: &Worker,
    request: &TransferRequest,
    who: &Requester,
    started: SystemTime,
    clock: Instant,
    bytes: u64,
    event: &Event,
) {
    let Some(log) = &worker.config.transfer_log else {
        return;
    };
    let (path, direction) = match &request.kind {
        TransferKind::Retr { path, .. } => (path, Direction::Outgoing),
        TransferKind::Store { path, .. } => (path, Direction::Incoming),
        TransferKind::Listing { .. } => return,
    };
    log.record(&TransferRecord {
        started,
        duration: clock.elapsed(),
        peer: who.peer.ip().to_canonical(),
        bytes,
        path: path.clone(),
        ascii: request.ascii,
        direction,
        user: who.user.clone(),
        anonymous: who.anonymous,
        complete: matches!(event, Event::TransferDone { .. }),
    });
}
