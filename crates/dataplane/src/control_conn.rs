//! One control connection: the session task reads its lines (`control_lines`), feeds
//! them and transfer events to the control-plane [`Session`], writes its replies and
//! carries out its actions.
//!
//! TLS sits between the socket and the line framer: on an implicit TLS listener from
//! the first byte, otherwise after the session accepts AUTH TLS. Reading stops after
//! an AUTH TLS line until the session has answered it, so nothing the client sent
//! behind it in plaintext is ever read as a command inside TLS.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringftp_control::command::{AuthMechanism, Command, ParseError};
use ringftp_control::policy::SessionPermit;
use ringftp_control::reply::Reply;
use ringftp_control::session::{Action, Event, Session, Step};
use rustls::ServerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tracing::debug;

use crate::cancel::{CancelReason, CancelToken};
use crate::command_rate::CommandRate;
use crate::control_lines::{self, Input, Lines};
use crate::data_channel::{DataChannel, PassiveListener};
use crate::local_channel::{self, Receiver, UnboundedSender};
use crate::metrics::bump;
use crate::net;
use crate::rate_limit::SessionBuckets;
use crate::tls::stream::TlsStream;
use crate::tls::{self, SessionTls};
use crate::transfer::{self, Requester};
use crate::worker::{RunState, Worker};

/// Bytes of commands waiting behind a transfer or a password check; more is a flood.
/// Each queued command counts its line plus a fixed overhead, so a client pipelining a
/// thousand short commands (or blank-free junk) fits and memory stays bounded.
const MAX_QUEUED_BYTES: usize = 256 * 1024;
/// What a queued command costs beyond its bytes.
const QUEUED_OVERHEAD: usize = 64;
/// What a control connection starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text; AUTH TLS may upgrade it.
    Plain,
    /// TLS from the first byte (implicit FTPS listeners).
    ImplicitTls,
}

/// Answer a connection that exceeds a session limit, then close it.
pub async fn refuse(stream: TcpStream, code: u16, text: String) {
    let stream = Rc::new(stream);
    let bytes = Reply::new(code, text).to_bytes();
    let _ = tokio::time::timeout(Duration::from_secs(5), net::send_all(&stream, &bytes)).await;
    net::shutdown(&*stream);
}

/// Who a control connection joins: the client (`peer`), the address it dialled (both
/// from a PROXY header behind a balancer), and the socket's own local address.
pub struct Endpoints {
    pub peer: SocketAddr,
    pub dialled: SocketAddr,
    pub local: SocketAddr,
}

/// Serve one control connection from client `peer` until it closes. `dialled` is the
/// address the client connected to: the socket's own, or the balancer's when the
/// connection came through one; PASV replies announce it. `security` says whether
/// the connection starts with a TLS handshake (implicit TLS listeners).
pub async fn serve(
    worker: Rc<Worker>,
    stream: TcpStream,
    ends: Endpoints,
    permit: SessionPermit,
    security: Security,
) {
    let Endpoints {
        peer,
        dialled,
        local,
    } = ends;
    bump(&worker.metrics.sessions_total);
    worker.metrics.sessions_open.fetch_add(1, Relaxed);
    // TCP_NODELAY and SO_OOBINLINE came with the listener (`net::control_listener`).
    let ctrl = Rc::new(stream);
    // Implicit TLS: the session's TLS settings come from the certificate loaded now.
    let session_tls = match security {
        Security::Plain => None,
        Security::ImplicitTls => tls::current(&worker.config.tls).map(|t| t.for_session()),
    };
    let (event_tx, event_rx) = local_channel::unbounded();
    let session = Session::new(worker.config.session_config(), peer, dialled);
    let mut conn = Connection {
        worker: worker.clone(),
        ctrl: ctrl.clone(),
        session,
        local,
        announce: dialled.ip(),
        data: None,
        transfer: None,
        event_tx,
        rate: Rc::default(),
        tls: None,
        session_tls,
        lines: Lines::new(ctrl.clone(), worker.config.max_line),
    };
    if security == Security::Plain || conn.session_tls.is_some() {
        conn.run(event_rx, security).await;
    }
    conn.finish().await;
    if let Some(tls) = conn.tls.take() {
        // close_notify, briefly: a client that stopped reading does not hold us.
        let _ = tokio::time::timeout(Duration::from_secs(2), Box::pin(tls.close())).await;
    }
    // A receive still in flight keeps its buffer until the shutdown completes it.
    drop(conn);
    net::shutdown(&*ctrl);
    drop(permit);
    worker.metrics.sessions_open.fetch_sub(1, Relaxed);
}

/// The worker's next run state (`Forced` once the worker is gone), and the receiver to
/// watch for the one after.
async fn next_run_state(
    mut state: watch::Receiver<RunState>,
) -> (RunState, watch::Receiver<RunState>) {
    let now = match state.changed().await {
        Ok(()) => *state.borrow_and_update(),
        Err(_) => RunState::Forced,
    };
    (now, state)
}

async fn start_tls(
    ctrl: &Rc<TcpStream>,
    worker: &Worker,
    config: Arc<ServerConfig>,
) -> Option<Rc<TlsStream>> {
    let stream = TlsStream::new(ctrl.clone(), config, control_lines::TLS_READ_BUF).ok()?;
    let limit = worker.config.tls_handshake_timeout;
    match tls::handshake_counted(&stream, limit, &worker.metrics).await {
        Ok(()) => Some(Rc::new(stream)),
        Err(e) => {
            debug!(error = %e, "control connection TLS handshake failed");
            None
        }
    }
}

struct RunningTransfer {
    cancel: Rc<CancelToken>,
    handle: JoinHandle<()>,
}

enum Flow {
    Continue,
    Close,
    /// AUTH TLS accepted (its 234 sent): the handshake comes before anything else
    /// (`command` runs it).
    AwaitTls,
}

struct Connection {
    worker: Rc<Worker>,
    ctrl: Rc<TcpStream>,
    session: Session,
    /// The socket's local address: passive listeners and active connects use its IP.
    local: SocketAddr,
    /// The address PASV replies announce (differs from `local` behind a balancer).
    announce: IpAddr,
    data: Option<DataChannel>,
    transfer: Option<RunningTransfer>,
    event_tx: UnboundedSender<Event>,
    /// The session's bandwidth-cap buckets, kept across its transfers.
    rate: Rc<SessionBuckets>,
    /// The control connection's TLS layer, once the handshake is done.
    tls: Option<Rc<TlsStream>>,
    /// This session's TLS settings (its own session cache), once TLS was asked for.
    session_tls: Option<SessionTls>,
    /// The client's command lines.
    lines: Lines,
}

impl Connection {
    /// Serve commands and events until the session ends. What runs once per command or
    /// event, or once at all (a reply, a command, a TLS handshake), is awaited boxed:
    /// inline, the deepest of those futures sized this one, and every session, idle or
    /// reading slowly, kept about 1.2 KiB of it for its whole life; boxed, the space is
    /// taken only while the command runs.
    async fn run(&mut self, mut events: Receiver<Event>, security: Security) {
        if security == Security::ImplicitTls && !Box::pin(self.secure()).await {
            return;
        }
        let greeting = Step {
            replies: vec![self.session.greeting()],
            ..Step::default()
        };
        if Box::pin(self.write(&greeting)).await.is_err() {
            return;
        }
        let config = self.worker.config.clone();
        // Watched by one future for the whole session, replaced only when it fires: a
        // `changed()` per loop turn would register and drop a waiter for every command.
        let run_state = next_run_state(self.worker.state.clone());
        tokio::pin!(run_state);
        let mut queue: VecDeque<(Result<Command, ParseError>, usize)> = VecDeque::new();
        let mut queued_bytes = 0usize;
        let mut idle_deadline = Instant::now() + config.idle_timeout;
        // The idle and passive timers are armed once and re-armed only when they fire
        // early (a command since moved the deadline): a timer per command would be a
        // timer-wheel insert and removal for every line a session sends.
        let idle = sleep_until(idle_deadline.into());
        let passive = sleep_until(idle_deadline.into());
        tokio::pin!(idle, passive);
        let mut close_when_idle = false;
        let mut rate = CommandRate::new(
            config.commands_per_sec,
            config.command_burst,
            Instant::now(),
        );
        loop {
            while !self.session.busy() {
                let Some((command, cost)) = queue.pop_front() else {
                    break;
                };
                queued_bytes -= cost;
                if let Flow::Close = Box::pin(self.command(command)).await {
                    return;
                }
            }
            let busy = self.session.busy();
            if close_when_idle && !busy {
                let _ = Box::pin(self.write_reply(Reply::new(421, "Server shutting down."))).await;
                return;
            }
            let passive_deadline = match &self.data {
                Some(DataChannel::Passive(p)) if !busy => Some(p.opened + config.passive_timeout),
                _ => None,
            };
            if let Some(deadline) = passive_deadline {
                // Never later than the listener's deadline; earlier only re-arms.
                if passive.deadline() > deadline.into() {
                    passive.as_mut().reset(deadline.into());
                }
            }
            tokio::select! {
                biased;
                Some(event) = events.recv() => {
                    let finished = matches!(
                        event,
                        Event::TransferDone { .. } | Event::TransferFailed(_) | Event::TransferAborted
                    );
                    if finished {
                        if let Some(t) = self.transfer.take() {
                            let _ = t.handle.await;
                        }
                    }
                    let step = self.session.on_event(event);
                    if let Flow::Close = Box::pin(self.apply(step)).await {
                        return;
                    }
                }
                input = self.lines.next() => {
                    let now = Instant::now();
                    let wait = rate.take(now);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    idle_deadline = now + wait + config.idle_timeout;
                    // An over-long line is answered in its turn, like any other command.
                    let (command, cost) = match input {
                        None => return,
                        Some(Input { command, len }) => (command, len + QUEUED_OVERHEAD),
                    };
                    // ABOR and STAT answer at once during a transfer (RFC 959); during a
                    // password check nothing may overtake the 230/530.
                    let must_wait = self.session.busy()
                        && !(self.session.transfer_in_progress()
                            && Session::runs_during_transfer(&command));
                    if must_wait {
                        if queued_bytes + cost > MAX_QUEUED_BYTES {
                            let _ = Box::pin(self.write_reply(Reply::new(421, "Too many commands queued; closing."))).await;
                            return;
                        }
                        queued_bytes += cost;
                        queue.push_back((command, cost));
                    } else if let Flow::Close = Box::pin(self.command(command)).await {
                        return;
                    }
                }
                _ = &mut idle, if !busy => {
                    if idle_deadline > Instant::now() {
                        idle.as_mut().reset(idle_deadline.into());
                        continue;
                    }
                    bump(&self.worker.metrics.idle_timeouts);
                    let _ = Box::pin(self.write_reply(Reply::new(421, "Timeout: closing control connection."))).await;
                    return;
                }
                _ = &mut passive, if passive_deadline.is_some() => {
                    match passive_deadline {
                        Some(deadline) if deadline > Instant::now() => {
                            passive.as_mut().reset(deadline.into());
                        }
                        // Nobody used the passive port in time: return it to the pool.
                        _ => self.data = None,
                    }
                }
                (now, state) = &mut run_state => {
                    run_state.set(next_run_state(state));
                    match now {
                        RunState::Running => {}
                        RunState::Draining => close_when_idle = true,
                        RunState::Forced => {
                            if let Some(t) = &self.transfer {
                                t.cancel.cancel(CancelReason::Closing);
                            }
                            let _ = Box::pin(self.write_reply(Reply::new(421, "Server shutting down."))).await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Cancel and wait for a transfer still running, so its fds and port are freed.
    async fn finish(&mut self) {
        if let Some(t) = self.transfer.take() {
            t.cancel.cancel(CancelReason::Closing);
            let _ = t.handle.await;
        }
        self.data = None;
    }

    /// Run the control connection's TLS handshake with this session's settings (after
    /// the 234, or at once on an implicit TLS listener) and read the lines through it
    /// from now on; false if it failed (close).
    async fn secure(&mut self) -> bool {
        let Some(config) = self.session_tls.as_ref().map(|t| t.control.clone()) else {
            return false;
        };
        let Some(stream) = start_tls(&self.ctrl, &self.worker, config).await else {
            return false;
        };
        let dropped = self.lines.secure(stream.clone());
        if dropped > 0 {
            debug!(bytes = dropped, "discarded plaintext sent after AUTH TLS");
            self.worker
                .metrics
                .tls_plaintext_discarded
                .fetch_add(dropped, Relaxed);
        }
        self.tls = Some(stream);
        let step = self.session.on_event(Event::TlsEstablished);
        matches!(self.apply(step).await, Flow::Continue)
    }

    /// Answer one command and carry out its action, the TLS handshake included when it
    /// was an accepted AUTH TLS (so this never returns `Flow::AwaitTls`).
    async fn command(&mut self, command: Result<Command, ParseError>) -> Flow {
        // Reading paused after this line; it needs an answer either way.
        let auth = self.tls.is_none() && matches!(command, Ok(Command::Auth(AuthMechanism::Tls)));
        let step = self.session.on_command(command);
        if auth && step.action != Some(Action::StartTls) {
            self.lines.resume();
        }
        match self.apply(step).await {
            // Boxed: the handshake's state stays out of every command's future.
            Flow::AwaitTls if !Box::pin(self.secure()).await => Flow::Close,
            Flow::AwaitTls => Flow::Continue,
            flow => flow,
        }
    }

    async fn apply(&mut self, step: Step) -> Flow {
        if !step.delay.is_zero() {
            bump(&self.worker.metrics.login_failures);
            tokio::time::sleep(step.delay).await;
        }
        if self.write(&step).await.is_err() {
            return Flow::Close;
        }
        let Some(action) = step.action else {
            return Flow::Continue;
        };
        match action {
            Action::ListenPassive => {
                self.data = None;
                let event = match PassiveListener::open(&self.worker, self.local.ip()) {
                    Some(p) => {
                        let addr = SocketAddr::new(self.announce, p.addr.port());
                        self.data = Some(DataChannel::Passive(p));
                        Event::PassiveListening(addr)
                    }
                    None => Event::PassiveUnavailable,
                };
                let step = self.session.on_event(event);
                return Box::pin(self.apply(step)).await;
            }
            Action::UseActive(target) => self.data = Some(DataChannel::Active(target)),
            Action::ResetDataChannel => self.data = None,
            Action::Transfer(request) => {
                let Some(channel) = self.data.take() else {
                    let step = self.session.on_event(Event::TransferFailed(
                        ringftp_control::session::TransferFailure::DataConnection,
                    ));
                    return Box::pin(self.apply(step)).await;
                };
                let (user, anonymous) = self
                    .session
                    .user()
                    .map(|(u, a)| (u.to_string(), a))
                    .unwrap_or_default();
                let who = Requester {
                    peer: self.session.peer(),
                    local: self.local,
                    user,
                    anonymous,
                    rate: self.rate.clone(),
                };
                let cancel = CancelToken::new();
                let data_tls = self.session_tls.clone();
                let handle = tokio_uring::spawn(transfer::run(
                    self.worker.clone(),
                    channel,
                    request,
                    who,
                    cancel.clone(),
                    self.event_tx.clone(),
                    data_tls,
                ));
                self.transfer = Some(RunningTransfer { cancel, handle });
            }
            Action::Abort => {
                if let Some(t) = &self.transfer {
                    t.cancel.cancel(CancelReason::Abort);
                }
            }
            Action::VerifyPassword { user, password } => {
                // argon2 takes milliseconds of CPU: keep it off this core's event loop.
                let config = self.session.config().clone();
                let events = self.event_tx.clone();
                let slots = self.worker.password_checks.clone();
                tokio_uring::spawn(async move {
                    // The semaphore is never closed, so acquiring only waits.
                    let _slot = slots.acquire_owned().await;
                    let checked = tokio::task::spawn_blocking(move || {
                        config.auth.login(&user, &password.0).ok()
                    })
                    .await
                    .ok()
                    .flatten();
                    let _ = events.send(Event::LoginChecked(checked));
                });
            }
            Action::StartTls => {
                // The certificate in force now; a reload applies to later sessions.
                let Some(server) = tls::current(&self.worker.config.tls) else {
                    return Flow::Close;
                };
                self.session_tls = Some(server.for_session());
                return Flow::AwaitTls;
            }
            Action::Hash { path, key } => {
                tokio_uring::spawn(crate::hash_jobs::run(
                    path,
                    key,
                    self.worker.hash_jobs.clone(),
                    self.event_tx.clone(),
                ));
            }
            Action::Close => return Flow::Close,
        }
        Flow::Continue
    }

    async fn write_reply(&mut self, reply: Reply) -> io::Result<()> {
        self.write(&Step {
            replies: vec![reply],
            ..Step::default()
        })
        .await
    }

    /// Write a step's replies; a client that stops reading for the idle timeout is cut off.
    async fn write(&mut self, step: &Step) -> io::Result<()> {
        if step.replies.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(128);
        for r in &step.replies {
            self.worker.metrics.error_replies.count(r.code());
            r.write_to(&mut bytes);
        }
        let tls = self.tls.clone();
        let ctrl = self.ctrl.clone();
        // The last reply (QUIT's 221) leaves with the FIN of the shutdown that follows.
        let ending = match step.action {
            Some(Action::Close) => net::Ending::WithFin,
            _ => net::Ending::Push,
        };
        let send = async move {
            match tls {
                Some(tls) => tls.write_all(&bytes).await,
                None => net::send_all_then(&ctrl, &bytes, ending, || {}).await,
            }
        };
        tokio::pin!(send);
        // The send first: one that completes at once never makes a timer.
        if let Poll::Ready(r) = poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await {
            return r;
        }
        let timeout = tokio::time::sleep(self.worker.config.idle_timeout);
        tokio::select! {
            biased;
            r = &mut send => r,
            _ = timeout => {
                debug!("control write stalled; closing");
                net::shutdown(&*self.ctrl);
                let _ = send.await;
                Err(io::ErrorKind::TimedOut.into())
            }
        }
    }
}
