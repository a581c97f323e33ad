//! A control connection's command lines, read by the session task itself.
//!
//! The receive stays in flight across the session loop's turns (an io_uring receive
//! dropped half-way would lose the bytes it brings), lines come out of the framer one
//! at a time, and reading stops after an AUTH TLS line until the session has answered
//! it, so nothing the client sent behind it in plaintext is ever read as a command
//! inside TLS. A reader task of its own cost every command a second task's turn and a
//! channel hop.

use std::future::{poll_fn, Future};
use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use ringftp_control::command::{self, AuthMechanism, Command, ParseError};
use ringftp_control::line::LineReader;

use crate::net;
use crate::tls::stream::TlsStream;

/// Control reads are small: lines are bounded and the framer keeps partial lines. Each
/// idle session holds its read buffer in the pending recv, so this is per-session memory:
/// 512 bytes take a command with a path of a few hundred bytes in one read.
const READ_BUF: usize = 512;

/// TLS control receives: one TLS record fits, so fewer reads per line than plain.
pub(crate) const TLS_READ_BUF: usize = 4096;

/// One line from the client, parsed, and its length in bytes (0 for an over-long one,
/// which the framer does not keep).
pub(crate) struct Input {
    pub(crate) command: Result<Command, ParseError>,
    pub(crate) len: usize,
}

/// A receive in flight, with the buffer it fills.
type Receiving = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;

/// The lines of one control connection.
pub(crate) struct Lines {
    ctrl: Rc<TcpStream>,
    tls: Option<Rc<TlsStream>>,
    framer: LineReader,
    max_line: usize,
    /// The read buffer while no receive holds it.
    buf: Option<Vec<u8>>,
    receiving: Option<Receiving>,
    /// An AUTH TLS line was handed out and the session has not answered it yet.
    paused: bool,
    /// The client closed the connection (or reading it failed).
    ended: bool,
}

impl Lines {
    pub(crate) fn new(ctrl: Rc<TcpStream>, max_line: usize) -> Lines {
        Lines {
            ctrl,
            tls: None,
            framer: LineReader::new(max_line),
            max_line,
            buf: Some(Vec::with_capacity(READ_BUF)),
            receiving: None,
            paused: false,
            ended: false,
        }
    }

    /// The next line, parsed once here (the AUTH TLS check needs the command too);
    /// `None` once the client has closed the connection. Cancel-safe:
    /// a receive it started goes on at the next call.
    pub(crate) async fn next(&mut self) -> Option<Input> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Input>> {
        loop {
            if self.paused {
                // Only the session's answer (`resume` or `secure`) goes on from here,
                // and it polls again after giving it.
                return Poll::Pending;
            }
            if let Some(line) = self.framer.next_line() {
                let input = match line {
                    Ok(line) => Input {
                        command: command::parse(&line),
                        len: line.len(),
                    },
                    Err(_) => Input {
                        command: Err(ParseError::LineTooLong),
                        len: 0,
                    },
                };
                self.paused = self.tls.is_none()
                    && matches!(input.command, Ok(Command::Auth(AuthMechanism::Tls)));
                return Poll::Ready(Some(input));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            let receiving = match &mut self.receiving {
                Some(receiving) => receiving,
                None => {
                    let buf = self.buf.take().unwrap_or_default();
                    self.receiving.insert(self.receive(buf))
                }
            };
            let (received, buf) = ready!(receiving.as_mut().poll(cx));
            self.receiving = None;
            match received {
                Ok(0) | Err(_) => self.ended = true,
                Ok(_) => self.framer.push(&buf),
            }
            self.buf = Some(buf);
        }
    }

    /// Start receiving into `buf` (filled from its start).
    fn receive(&self, buf: Vec<u8>) -> Receiving {
        match &self.tls {
            None => {
                let ctrl = self.ctrl.clone();
                Box::pin(async move { net::recv_some(&ctrl, buf).await })
            }
            Some(stream) => {
                let stream = stream.clone();
                Box::pin(async move {
                    let mut buf = buf;
                    buf.clear();
                    let received = stream.read(&mut buf, TLS_READ_BUF).await;
                    (received, buf)
                })
            }
        }
    }

    /// The session answered an AUTH TLS line without starting TLS: read on.
    pub(crate) fn resume(&mut self) {
        self.paused = false;
    }

    /// Lines come through `stream` from now on. What the client sent behind the AUTH
    /// TLS line in plaintext was not protected: it is dropped unread rather than run
    /// inside the TLS session (CVE-2011-1575). Returns how many bytes were dropped.
    pub(crate) fn secure(&mut self, stream: Rc<TlsStream>) -> u64 {
        let dropped = self.framer.buffered_len() as u64;
        self.framer = LineReader::new(self.max_line);
        self.tls = Some(stream);
        self.paused = false;
        dropped
    }
}
