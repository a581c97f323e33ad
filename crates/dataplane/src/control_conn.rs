//! One control connection: a reader task turns bytes into lines, and the session
//! task feeds lines and transfer events to the control-plane [`Session`], writes its
//! replies and carries out its actions.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use ringftp_control::command::{self, Command, ParseError};
use ringftp_control::line::LineReader;
use ringftp_control::policy::SessionPermit;
use ringftp_control::reply::Reply;
use ringftp_control::session::{Action, Event, Session, Step};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tracing::debug;

use crate::cancel::{CancelReason, CancelToken};
use crate::command_rate::CommandRate;
use crate::data_channel::{DataChannel, PassiveListener};
use crate::metrics::bump;
use crate::net;
use crate::transfer::{self, Requester};
use crate::worker::{RunState, Worker};

/// Bytes of commands waiting behind a transfer or a password check; more is a flood.
/// Each queued command counts its line plus a fixed overhead, so a client pipelining a
/// thousand short commands (or blank-free junk) fits and memory stays bounded.
const MAX_QUEUED_BYTES: usize = 256 * 1024;
/// What a queued command costs beyond its bytes.
const QUEUED_OVERHEAD: usize = 64;
/// Control reads are small: lines are bounded and the framer keeps partial lines. Each
/// idle session holds its read buffer in the pending recv, so this is per-session memory.
const READ_BUF: usize = 1024;

enum Input {
    Line(Vec<u8>),
    TooLong,
}

/// Answer a connection that exceeds a session limit, then close it.
pub async fn refuse(stream: TcpStream, code: u16, text: String) {
    let stream = Rc::new(stream);
    let bytes = Reply::new(code, text).to_bytes();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        net::send_all(&stream, Rc::new(bytes)),
    )
    .await;
    net::shutdown(&*stream);
}

/// Serve one control connection until it closes.
pub async fn serve(worker: Rc<Worker>, stream: TcpStream, peer: SocketAddr, permit: SessionPermit) {
    bump(&worker.metrics.sessions_total);
    worker.metrics.sessions_open.fetch_add(1, Relaxed);
    let local = stream.local_addr().unwrap_or(peer);
    let _ = stream.set_nodelay(true);
    // Clients send ABOR (or the Telnet Synch before it) as TCP urgent data; without
    // OOBINLINE Linux pulls the urgent byte out of the stream and the line is lost.
    let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
    let ctrl = Rc::new(stream);
    let (line_tx, line_rx) = mpsc::channel(8);
    let reader = tokio_uring::spawn(read_lines(ctrl.clone(), worker.config.max_line, line_tx));
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let session = Session::new(worker.config.session_config(), peer, local);
    let mut conn = Connection {
        worker: worker.clone(),
        ctrl: ctrl.clone(),
        session,
        local,
        data: None,
        transfer: None,
        event_tx,
    };
    conn.run(line_rx, event_rx).await;
    conn.finish().await;
    // Ending the reader: shutdown completes its pending recv with 0.
    net::shutdown(&*ctrl);
    let _ = reader.await;
    drop(permit);
    worker.metrics.sessions_open.fetch_sub(1, Relaxed);
}

async fn read_lines(ctrl: Rc<TcpStream>, max_line: usize, tx: mpsc::Sender<Input>) {
    let mut framer = LineReader::new(max_line);
    let mut buf = Vec::with_capacity(READ_BUF);
    loop {
        let (res, back) = net::recv_some(&ctrl, buf).await;
        buf = back;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => framer.push(&buf),
        }
        while let Some(line) = framer.next_line() {
            let input = match line {
                Ok(l) => Input::Line(l),
                Err(_) => Input::TooLong,
            };
            if tx.send(input).await.is_err() {
                return;
            }
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
}

struct Connection {
    worker: Rc<Worker>,
    ctrl: Rc<TcpStream>,
    session: Session,
    local: SocketAddr,
    data: Option<DataChannel>,
    transfer: Option<RunningTransfer>,
    event_tx: mpsc::UnboundedSender<Event>,
}

impl Connection {
    async fn run(
        &mut self,
        mut lines: mpsc::Receiver<Input>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        let greeting = Step {
            replies: vec![self.session.greeting()],
            ..Step::default()
        };
        if self.write(&greeting).await.is_err() {
            return;
        }
        let config = self.worker.config.clone();
        let mut state = self.worker.state.clone();
        let mut queue: VecDeque<(Result<Command, ParseError>, usize)> = VecDeque::new();
        let mut queued_bytes = 0usize;
        let mut idle_deadline = Instant::now() + config.idle_timeout;
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
                if let Flow::Close = self.command(command).await {
                    return;
                }
            }
            let busy = self.session.busy();
            if close_when_idle && !busy {
                let _ = self
                    .write_reply(Reply::new(421, "Server shutting down."))
                    .await;
                return;
            }
            let passive_deadline = match &self.data {
                Some(DataChannel::Passive(p)) if !busy => Some(p.opened + config.passive_timeout),
                _ => None,
            };
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
                    if let Flow::Close = self.apply(step).await {
                        return;
                    }
                }
                input = lines.recv() => {
                    let wait = rate.take(Instant::now());
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    idle_deadline = Instant::now() + config.idle_timeout;
                    // An over-long line is answered in its turn, like any other command.
                    let (command, cost) = match input {
                        None => return,
                        Some(Input::TooLong) => (Err(ParseError::LineTooLong), QUEUED_OVERHEAD),
                        Some(Input::Line(line)) => (command::parse(&line), line.len() + QUEUED_OVERHEAD),
                    };
                    // ABOR and STAT answer at once during a transfer (RFC 959); during a
                    // password check nothing may overtake the 230/530.
                    let must_wait = self.session.busy()
                        && !(self.session.transfer_in_progress()
                            && Session::runs_during_transfer(&command));
                    if must_wait {
                        if queued_bytes + cost > MAX_QUEUED_BYTES {
                            let _ = self.write_reply(Reply::new(421, "Too many commands queued; closing.")).await;
                            return;
                        }
                        queued_bytes += cost;
                        queue.push_back((command, cost));
                    } else if let Flow::Close = self.command(command).await {
                        return;
                    }
                }
                _ = sleep_until(idle_deadline.into()), if !busy => {
                    bump(&self.worker.metrics.idle_timeouts);
                    let _ = self.write_reply(Reply::new(421, "Timeout: closing control connection.")).await;
                    return;
                }
                _ = sleep_until(passive_deadline.unwrap_or(idle_deadline).into()), if passive_deadline.is_some() => {
                    // Nobody used the passive port in time: return it to the pool.
                    self.data = None;
                }
                changed = state.changed() => {
                    let now = changed.map(|_| *state.borrow_and_update()).unwrap_or(RunState::Forced);
                    match now {
                        RunState::Running => {}
                        RunState::Draining => close_when_idle = true,
                        RunState::Forced => {
                            if let Some(t) = &self.transfer {
                                t.cancel.cancel(CancelReason::Closing);
                            }
                            let _ = self.write_reply(Reply::new(421, "Server shutting down.")).await;
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

    async fn command(&mut self, command: Result<Command, ParseError>) -> Flow {
        let step = self.session.on_command(command);
        self.apply(step).await
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
                        let addr = p.addr;
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
                };
                let cancel = CancelToken::new();
                let handle = tokio_uring::spawn(transfer::run(
                    self.worker.clone(),
                    channel,
                    request,
                    who,
                    cancel.clone(),
                    self.event_tx.clone(),
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
        let send = net::send_all(&self.ctrl, Rc::new(bytes));
        tokio::pin!(send);
        let timeout = tokio::time::sleep(self.worker.config.idle_timeout);
        tokio::select! {
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
