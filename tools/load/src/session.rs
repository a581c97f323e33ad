//! One FTP session from connect to QUIT: login, K transfers over fresh data channels,
//! with every phase timed and every failure attributed to the phase it happened in.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::data_addr::{eprt_argument, parse_epsv, parse_pasv, port_argument};
use crate::ftp::{bounded, tls_connect, Control, FtpError};
use crate::pacing::Pace;
use crate::recorder::Recorder;
use crate::scenario::{Active, DataMode, Passive, Scenario, SessionMode};
use crate::sockets;
use crate::source_addrs::SourcePool;
use crate::stats::Phase;
use crate::tls::TlsClient;
use crate::xferlog::Direction;

/// Bytes read from a data connection at once.
const READ_CHUNK: usize = 256 * 1024;

/// Bytes written to a data connection at once when uploading.
const WRITE_CHUNK: usize = 256 * 1024;

/// What uploads send: a fixed pattern, so no upload allocates its size.
static UPLOAD_PATTERN: [u8; WRITE_CHUNK] = [b'r'; WRITE_CHUNK];

thread_local! {
    /// Receive buffer shared by all sessions of a worker thread. It is only borrowed
    /// between a readiness wait and the non-blocking read that follows, never across an
    /// await, so the sessions of one thread can share it.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// Everything sessions need to know, shared read-only by all threads.
#[derive(Debug)]
pub struct Plan {
    pub target: SocketAddr,
    pub user: String,
    pub password: String,
    pub scenario: Scenario,
    pub mode: DataMode,
    pub transfers_per_session: u32,
    pub timeout: Duration,
    pub sources: SourcePool,
    /// SIZE of each download path, asked once before the run.
    pub sizes: HashMap<String, u64>,
    /// Ask SIZE before each download (and after each upload).
    pub verify_size: bool,
    /// Expected content of every download.
    pub content: Option<Arc<[u8]>>,
    /// Directory uploads are stored in (prefix of the remote name).
    pub upload_dir: Option<String>,
    /// DELE each upload after it is verified.
    pub delete_uploads: bool,
    /// Idle time after login and between transfers, as a client reading or thinking.
    pub think_time: Duration,
    /// Distinguishes upload names of different runs.
    pub run_id: String,
    /// FTPS: AUTH TLS on the control connection and PROT P data connections.
    pub tls: Option<TlsClient>,
    /// Cap on how fast each session reads its data connections.
    pub read_pace: Option<Pace>,
    /// Cap on how fast each session writes its uploads.
    pub write_pace: Option<Pace>,
    /// Receive buffer and segment size of data sockets (set before connect or listen).
    pub data_socket: sockets::DataSocketOptions,
    /// Close transfers still running when the duration ends, counting them as cut.
    pub cut_at_end: bool,
}

/// How a session that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every transfer completed and the session logged out.
    Done,
    /// The duration ended mid-transfer and the session was closed there.
    Cut,
}

/// Data a session moved and the time its transfers took, for its achieved rate.
#[derive(Debug, Default)]
struct Moved {
    bytes: u64,
    busy: Duration,
}

/// A session's failure: where it happened and why.
#[derive(Debug)]
pub struct Failure {
    pub phase: Phase,
    pub error: FtpError,
}

fn at(phase: Phase) -> impl Fn(FtpError) -> Failure {
    move |error| Failure { phase, error }
}

/// Runs session `seq` and records its outcome. `intended` is the open-loop start time
/// latency is measured from; closed-loop sessions pass `None`. After `stop_at` a session
/// starts no further transfer and logs out.
pub async fn run(
    plan: &Plan,
    rec: &Recorder,
    seq: u64,
    intended: Option<Instant>,
    stop_at: Option<Instant>,
) {
    let mode = plan.mode.for_session(seq);
    rec.session_started(matches!(mode, SessionMode::Active(_)));
    let start = Instant::now();
    if let Some(intended) = intended {
        rec.phase(Phase::StartLag, start.saturating_duration_since(intended));
    }
    let mut moved = Moved::default();
    let outcome = session(plan, rec, seq, mode, stop_at, &mut moved).await;
    match outcome {
        Ok(Ended::Done) => {
            rec.phase(Phase::Session, intended.unwrap_or(start).elapsed());
            rec.session_rate(moved.bytes, moved.busy);
            rec.session_finished(true);
        }
        Ok(Ended::Cut) => {
            rec.session_rate(moved.bytes, moved.busy);
            rec.session_cut();
        }
        Err(f) => {
            rec.error(f.phase, f.error.class());
            rec.session_finished(false);
        }
    }
}

async fn session(
    plan: &Plan,
    rec: &Recorder,
    seq: u64,
    mode: SessionMode,
    stop_at: Option<Instant>,
    moved: &mut Moved,
) -> Result<Ended, Failure> {
    let t = Instant::now();
    let source = plan.sources.pick(seq);
    let stream = bounded(plan.timeout, sockets::connect(plan.target, source))
        .await
        .map_err(at(Phase::Connect))?;
    rec.phase(Phase::Connect, t.elapsed());

    let mut ctl = Control::new(stream, plan.timeout);
    let t = Instant::now();
    let banner = ctl.final_reply().await.map_err(at(Phase::Banner))?;
    if banner.code != 220 {
        return Err(at(Phase::Banner)(FtpError::Unexpected(banner)));
    }
    rec.phase(Phase::Banner, t.elapsed());

    // The login phase includes AUTH TLS, the handshake, PBSZ and PROT with --tls.
    let t = Instant::now();
    let tls = match &plan.tls {
        Some(client) => {
            let config = client.for_session();
            ctl.start_tls(client, config.clone())
                .await
                .map_err(at(Phase::Login))?;
            Some((client, config))
        }
        None => None,
    };
    ctl.login(&plan.user, &plan.password)
        .await
        .map_err(at(Phase::Login))?;
    rec.phase(Phase::Login, t.elapsed());

    if plan.scenario.uses_data_channel() {
        ctl.expect("TYPE I", 200).await.map_err(at(Phase::Login))?;
    }
    let mut epsv_ok = true;
    for k in 0..plan.transfers_per_session {
        if k > 0 && stop_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        think(plan.think_time, stop_at).await;
        if plan.scenario.uses_data_channel() {
            let cut_at = stop_at.filter(|_| plan.cut_at_end);
            let ended = transfer(
                plan,
                rec,
                &mut ctl,
                mode,
                &mut epsv_ok,
                seq,
                k,
                cut_at,
                moved,
                tls.clone(),
            )
            .await?;
            if ended == Ended::Cut {
                // A client whose time is up just goes away, as a user closing it would.
                return Ok(Ended::Cut);
            }
        }
    }

    ctl.expect("QUIT", 221).await.map_err(at(Phase::Quit))?;
    Ok(Ended::Done)
}

/// Idles for the think time, but not past the stop time.
async fn think(pause: Duration, stop_at: Option<Instant>) {
    if pause.is_zero() {
        return;
    }
    let until = Instant::now() + pause;
    tokio::time::sleep_until(stop_at.map_or(until, |s| s.min(until))).await;
}

/// An open data channel, or the listener the server will connect to.
enum Data {
    Connected(TcpStream),
    Listening(TcpListener),
}

#[allow(clippy::too_many_arguments)]
async fn transfer(
    plan: &Plan,
    rec: &Recorder,
    ctl: &mut Control,
    mode: SessionMode,
    epsv_ok: &mut bool,
    seq: u64,
    k: u32,
    cut_at: Option<Instant>,
    moved: &mut Moved,
    tls: Option<(&TlsClient, Arc<rustls::ClientConfig>)>,
) -> Result<Ended, Failure> {
    let nth = seq * u64::from(plan.transfers_per_session) + u64::from(k);
    let upload_name = || match &plan.upload_dir {
        Some(dir) => format!(
            "{}/rfl-{}-{seq}-{k}.dat",
            dir.trim_end_matches('/'),
            plan.run_id
        ),
        None => format!("rfl-{}-{seq}-{k}.dat", plan.run_id),
    };
    let (command, expected, upload) = match &plan.scenario {
        Scenario::Retr(path) => (
            format!("RETR {path}"),
            expected_size(plan, ctl, path).await?,
            None,
        ),
        Scenario::RetrList(paths) => {
            let path = &paths[(nth % paths.len() as u64) as usize];
            (
                format!("RETR {path}"),
                expected_size(plan, ctl, path).await?,
                None,
            )
        }
        Scenario::RetrMix(mix) => {
            let path = mix.pick(nth);
            (
                format!("RETR {path}"),
                expected_size(plan, ctl, path).await?,
                None,
            )
        }
        Scenario::Replay(replay) => {
            let Some(entry) = replay.entries.get(seq as usize) else {
                return Ok(Ended::Done);
            };
            match entry.direction {
                Direction::Download => (
                    format!("RETR {}", entry.path),
                    expected_size(plan, ctl, &entry.path).await?,
                    None,
                ),
                Direction::Upload => {
                    let name = upload_name();
                    (format!("STOR {name}"), None, Some((name, entry.bytes)))
                }
            }
        }
        Scenario::List(dir) => (format!("LIST {dir}"), None, None),
        Scenario::Mlsd(dir) => (format!("MLSD {dir}"), None, None),
        Scenario::Stor(size) => {
            let name = upload_name();
            (format!("STOR {name}"), None, Some((name, *size)))
        }
        Scenario::LoginOnly => return Ok(Ended::Done),
    };

    let local_ip = ctl
        .local_addr()
        .map_err(|e| at(Phase::DataSetup)(e.into()))?
        .ip();
    let setup_start = Instant::now();
    let data = open_data(plan, ctl, mode, epsv_ok, local_ip)
        .await
        .map_err(at(Phase::DataSetup))?;
    if matches!(data, Data::Connected(_)) {
        rec.phase(Phase::DataSetup, setup_start.elapsed());
    }

    let cmd_start = Instant::now();
    let reply = ctl.command(&command).await.map_err(at(Phase::Transfer))?;
    if !reply.is_preliminary() {
        let phase = if reply.code == 425 {
            Phase::DataSetup
        } else {
            Phase::Transfer
        };
        return Err(at(phase)(FtpError::Unexpected(reply)));
    }
    let stream = match data {
        Data::Connected(s) => s,
        Data::Listening(listener) => {
            let (s, _) = bounded(plan.timeout, listener.accept())
                .await
                .map_err(at(Phase::DataSetup))?;
            rec.phase(Phase::DataSetup, setup_start.elapsed());
            s
        }
    };
    if let Some((client, config)) = tls {
        // PROT P: the TLS handshake after the 150, resuming the control's session.
        let mut stream = tls_connect(client, config, stream, plan.timeout)
            .await
            .map_err(at(Phase::Transfer))?;
        // Pacing and --cut-at-end apply to plain data connections (the CLI refuses
        // them with --tls).
        match upload {
            Some((_, size)) => {
                rec.phase(Phase::FirstByte, cmd_start.elapsed());
                let sent = send_upload(plan, rec, &mut stream, size, None)
                    .await
                    .map_err(at(Phase::Transfer))?;
                moved.bytes += sent.bytes;
            }
            None => {
                let got = receive_tls(plan, rec, &mut stream, cmd_start)
                    .await
                    .map_err(at(Phase::Transfer))?;
                moved.bytes += got;
                if let Some(expected) = expected {
                    if got != expected {
                        return Err(at(Phase::Transfer)(FtpError::Length { got, expected }));
                    }
                }
            }
        }
        moved.busy += cmd_start.elapsed();
        drop(stream);
        finish(ctl).await?;
        rec.phase(Phase::Transfer, cmd_start.elapsed());
        rec.transfer_ok();
        return Ok(Ended::Done);
    }
    let mut stream = stream;

    match upload {
        Some((name, size)) => {
            rec.phase(Phase::FirstByte, cmd_start.elapsed());
            let sent = send_upload(plan, rec, &mut stream, size, cut_at)
                .await
                .map_err(at(Phase::Transfer))?;
            moved.bytes += sent.bytes;
            moved.busy += cmd_start.elapsed();
            if sent.cut {
                return Ok(Ended::Cut);
            }
            drop(stream);
            finish(ctl).await?;
            rec.phase(Phase::Transfer, cmd_start.elapsed());
            if plan.verify_size {
                match ctl.size(&name).await.map_err(at(Phase::Transfer))? {
                    Some(got) if got != size => {
                        return Err(at(Phase::Transfer)(FtpError::Size {
                            got,
                            expected: size,
                        }))
                    }
                    _ => {}
                }
            }
            if plan.delete_uploads {
                ctl.expect(&format!("DELE {name}"), 250)
                    .await
                    .map_err(at(Phase::Transfer))?;
            }
        }
        None => {
            let received = receive(plan, rec, &stream, cmd_start, cut_at)
                .await
                .map_err(at(Phase::Transfer))?;
            moved.bytes += received.bytes;
            moved.busy += cmd_start.elapsed();
            if received.cut {
                return Ok(Ended::Cut);
            }
            let got = received.bytes;
            drop(stream);
            finish(ctl).await?;
            rec.phase(Phase::Transfer, cmd_start.elapsed());
            if let Some(expected) = expected {
                if got != expected {
                    return Err(at(Phase::Transfer)(FtpError::Length { got, expected }));
                }
            }
        }
    }
    rec.transfer_ok();
    Ok(Ended::Done)
}

/// The byte count a download must have: per transfer SIZE, the SIZE asked at start, or
/// the local copy's length.
async fn expected_size(plan: &Plan, ctl: &mut Control, path: &str) -> Result<Option<u64>, Failure> {
    let known = plan
        .sizes
        .get(path)
        .copied()
        .or_else(|| plan.content.as_ref().map(|c| c.len() as u64));
    if !plan.verify_size {
        return Ok(known);
    }
    let asked = ctl.size(path).await.map_err(at(Phase::Transfer))?;
    match (asked, known) {
        (Some(got), Some(expected)) if got != expected => {
            Err(at(Phase::Transfer)(FtpError::Size { got, expected }))
        }
        (Some(got), _) => Ok(Some(got)),
        (None, known) => Ok(known),
    }
}

async fn finish(ctl: &mut Control) -> Result<(), Failure> {
    let reply = ctl.final_reply().await.map_err(at(Phase::Transfer))?;
    if reply.code == 226 || reply.code == 250 {
        Ok(())
    } else {
        Err(at(Phase::Transfer)(FtpError::Unexpected(reply)))
    }
}

async fn open_data(
    plan: &Plan,
    ctl: &mut Control,
    mode: SessionMode,
    epsv_ok: &mut bool,
    local_ip: IpAddr,
) -> Result<Data, FtpError> {
    match mode {
        SessionMode::Passive(p) => {
            // Data goes to the control connection's peer whatever address PASV names: the
            // generator only ever talks to the target it was given.
            let peer = ctl.peer_addr()?.ip();
            let port = passive_port(ctl, p, epsv_ok).await?;
            let stream = bounded(
                plan.timeout,
                sockets::connect_data(SocketAddr::new(peer, port), local_ip, plan.data_socket),
            )
            .await?;
            Ok(Data::Connected(stream))
        }
        SessionMode::Active(a) => {
            let listener = sockets::listen(local_ip, plan.data_socket)?;
            let addr = listener.local_addr()?;
            let command = match a {
                Active::Port => format!(
                    "PORT {}",
                    port_argument(addr).ok_or(FtpError::PortNeedsIpv4)?
                ),
                Active::Eprt => format!("EPRT {}", eprt_argument(addr)),
            };
            ctl.expect(&command, 200).await?;
            Ok(Data::Listening(listener))
        }
    }
}

/// Negotiates a passive port with EPSV and/or PASV.
async fn passive_port(ctl: &mut Control, p: Passive, epsv_ok: &mut bool) -> Result<u16, FtpError> {
    if p != Passive::Pasv && *epsv_ok {
        let reply = ctl.command("EPSV").await?;
        match reply.code {
            229 => return Ok(parse_epsv(&reply.text)?),
            500 | 501 | 502 | 504 | 522 if p == Passive::EpsvThenPasv => *epsv_ok = false,
            _ => return Err(FtpError::Unexpected(reply)),
        }
    }
    let reply = ctl.command("PASV").await?;
    if reply.code != 227 {
        return Err(FtpError::Unexpected(reply));
    }
    Ok(parse_pasv(&reply.text)?.port())
}

/// Bytes a transfer moved, and whether it was cut at the end of the duration.
struct Progressed {
    bytes: u64,
    cut: bool,
}

/// Waits for `fut` within the phase timeout; `None` when `cut_at` comes first.
async fn wait_or_cut<T, E>(
    limit: Duration,
    cut_at: Option<Instant>,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Option<T>, FtpError>
where
    FtpError: From<E>,
{
    match cut_at {
        None => bounded(limit, fut).await.map(Some),
        Some(at) => tokio::select! {
            r = bounded(limit, fut) => r.map(Some),
            () = tokio::time::sleep_until(at) => Ok(None),
        },
    }
}

/// Sleeps until a paced transfer that has moved `done` bytes since `since` may move more;
/// false (after sleeping until `cut_at`) when the end of the run comes first.
async fn pace_wait(pace: Option<Pace>, since: Instant, done: u64, cut_at: Option<Instant>) -> bool {
    let Some(pace) = pace else {
        return true;
    };
    let due = since + pace.due(done);
    match cut_at {
        Some(cut) if cut <= due => {
            tokio::time::sleep_until(cut).await;
            false
        }
        _ => {
            tokio::time::sleep_until(due).await;
            true
        }
    }
}

/// Reads a download to EOF into the thread's scratch buffer (no faster than the read
/// pace), comparing against the local copy when there is one.
async fn receive(
    plan: &Plan,
    rec: &Recorder,
    stream: &TcpStream,
    cmd_start: Instant,
    cut_at: Option<Instant>,
) -> Result<Progressed, FtpError> {
    let mut got: u64 = 0;
    let mut first_at: Option<Instant> = None;
    let chunk = plan.read_pace.map_or(READ_CHUNK, |p| p.chunk(READ_CHUNK));
    let cut = |bytes| Ok(Progressed { bytes, cut: true });
    loop {
        if let Some(t0) = first_at {
            if !pace_wait(plan.read_pace, t0, got, cut_at).await {
                return cut(got);
            }
        }
        if wait_or_cut(plan.timeout, cut_at, stream.readable())
            .await?
            .is_none()
        {
            return cut(got);
        }
        let read = SCRATCH.with_borrow_mut(|buf| -> Result<Option<usize>, FtpError> {
            match stream.try_read(&mut buf[..chunk]) {
                Ok(n) => {
                    if let Some(content) = &plan.content {
                        check_content(content, got, &buf[..n])?;
                    }
                    Ok(Some(n))
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
                Err(e) => Err(e.into()),
            }
        })?;
        match read {
            None => continue,
            Some(0) => {
                return Ok(Progressed {
                    bytes: got,
                    cut: false,
                })
            }
            Some(n) => {
                if first_at.is_none() {
                    rec.phase(Phase::FirstByte, cmd_start.elapsed());
                    first_at = Some(Instant::now());
                }
                got += n as u64;
                rec.bytes_down(n as u64);
            }
        }
    }
}

fn check_content(content: &[u8], offset: u64, chunk: &[u8]) -> Result<(), FtpError> {
    let start = offset as usize;
    let Some(expected) = content.get(start..start + chunk.len()) else {
        return Err(FtpError::Length {
            got: offset + chunk.len() as u64,
            expected: content.len() as u64,
        });
    };
    match expected.iter().zip(chunk).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(FtpError::Content(offset + i as u64)),
    }
}

/// Reads a TLS download to its end (close_notify or EOF); returns the byte count.
async fn receive_tls(
    plan: &Plan,
    rec: &Recorder,
    stream: &mut tokio_rustls::client::TlsStream<TcpStream>,
    cmd_start: Instant,
) -> Result<u64, FtpError> {
    use tokio::io::AsyncReadExt;
    let mut got: u64 = 0;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match bounded(plan.timeout, stream.read(&mut buf)).await {
            Ok(n) => n,
            // A server closing without close_notify still ends the data (FTP's own EOF).
            Err(FtpError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(got);
        }
        if let Some(content) = &plan.content {
            check_content(content, got, &buf[..n])?;
        }
        if got == 0 {
            rec.phase(Phase::FirstByte, cmd_start.elapsed());
        }
        got += n as u64;
        rec.bytes_down(n as u64);
    }
}

/// Sends `size` bytes of the upload pattern, no faster than the write pace.
async fn send_upload<S: tokio::io::AsyncWrite + Unpin>(
    plan: &Plan,
    rec: &Recorder,
    stream: &mut S,
    size: u64,
    cut_at: Option<Instant>,
) -> Result<Progressed, FtpError> {
    let chunk = plan
        .write_pace
        .map_or(WRITE_CHUNK, |p| p.chunk(WRITE_CHUNK)) as u64;
    let started = Instant::now();
    let mut sent = 0;
    while sent < size {
        if !pace_wait(plan.write_pace, started, sent, cut_at).await {
            return Ok(Progressed {
                bytes: sent,
                cut: true,
            });
        }
        let n = (size - sent).min(chunk) as usize;
        if wait_or_cut(plan.timeout, cut_at, stream.write_all(&UPLOAD_PATTERN[..n]))
            .await?
            .is_none()
        {
            return Ok(Progressed {
                bytes: sent,
                cut: true,
            });
        }
        sent += n as u64;
        rec.bytes_up(n as u64);
    }
    // The last chunk went out early; closing when it is due keeps the whole upload at the
    // rate, as the slow link would.
    if !pace_wait(plan.write_pace, started, sent, cut_at).await {
        return Ok(Progressed {
            bytes: sent,
            cut: true,
        });
    }
    bounded(plan.timeout, stream.shutdown()).await?;
    Ok(Progressed {
        bytes: sent,
        cut: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_check() {
        let content = b"hello world";
        assert!(check_content(content, 0, b"hello").is_ok());
        assert!(check_content(content, 6, b"world").is_ok());
        assert!(matches!(
            check_content(content, 6, b"wxrld"),
            Err(FtpError::Content(7))
        ));
        assert!(matches!(
            check_content(content, 6, b"world!"),
            Err(FtpError::Length {
                got: 12,
                expected: 11
            })
        ));
    }
}
