//! A minimal in-memory FTP server for exercising ringftp-load without a real server:
//! anonymous login (password `bad` is refused), TYPE, SIZE, EPSV, PASV, PORT, EPRT, RETR,
//! STOR, LIST, MLSD, DELE, QUIT. Files are generated in memory; uploads are counted, not kept.
//!
//! `cargo run --release -p ringftp-load --example mini_ftpd -- 127.0.0.1:2122`
//! serves `/f4k` (4 KiB) and `/f1m` (1 MiB) until killed. Its accept backlog is large
//! (4096), so it can take thousands of connections at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// What the server serves and what it has received.
#[derive(Default)]
pub struct State {
    pub files: HashMap<String, Arc<Vec<u8>>>,
    pub uploads: Mutex<HashMap<String, u64>>,
}

impl State {
    /// The files the example serves: `/f4k` and `/f1m`, deterministic bytes.
    pub fn sample() -> Self {
        let mut files = HashMap::new();
        files.insert("/f4k".to_string(), Arc::new(pattern(4096)));
        files.insert("/f1m".to_string(), Arc::new(pattern(1 << 20)));
        Self {
            files,
            uploads: Mutex::default(),
        }
    }
}

/// Bytes `i % 251` (a prime, so the pattern does not repeat at power-of-two offsets).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Binds a listener with a large accept backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Accepts sessions forever.
pub async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _ = session(stream, state).await;
        });
    }
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

enum DataPlan {
    None,
    Listening(TcpListener),
    Connect(SocketAddr),
}

async fn open_data(plan: &mut DataPlan) -> std::io::Result<TcpStream> {
    match std::mem::replace(plan, DataPlan::None) {
        DataPlan::Listening(l) => Ok(l.accept().await?.0),
        DataPlan::Connect(addr) => TcpStream::connect(addr).await,
        DataPlan::None => Err(std::io::ErrorKind::NotConnected.into()),
    }
}

fn parse_port(arg: &str) -> Option<SocketAddr> {
    let n: Vec<u8> = arg
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d, hi, lo] = n[..] else {
        return None;
    };
    let ip = IpAddr::from([a, b, c, d]);
    Some(SocketAddr::new(ip, u16::from(hi) << 8 | u16::from(lo)))
}

fn parse_eprt(arg: &str) -> Option<SocketAddr> {
    let delim = arg.chars().next()?;
    let fields: Vec<&str> = arg.split(delim).collect();
    let ip: IpAddr = fields.get(2)?.parse().ok()?;
    let port: u16 = fields.get(3)?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

async fn session(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let local_ip = stream.local_addr()?.ip();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 mini_ftpd ready\r\n").await?;
    let mut data = DataPlan::None;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let text = line.trim_end();
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "USER" => "331 password please".into(),
            "PASS" if arg == "bad" => "530 login incorrect".into(),
            "PASS" => "230 logged in".into(),
            "TYPE" => "200 type set".into(),
            "SIZE" => {
                let path = absolute(arg);
                let uploaded = state
                    .uploads
                    .lock()
                    .ok()
                    .and_then(|u| u.get(&path).copied());
                match state.files.get(&path).map(|f| f.len() as u64).or(uploaded) {
                    Some(n) => format!("213 {n}"),
                    None => "550 no such file".into(),
                }
            }
            "EPSV" | "PASV" => {
                let listener = TcpListener::bind(SocketAddr::new(local_ip, 0)).await?;
                let port = listener.local_addr()?.port();
                data = DataPlan::Listening(listener);
                match (verb.to_ascii_uppercase().as_str(), local_ip) {
                    ("PASV", IpAddr::V4(v4)) => {
                        let o = v4.octets();
                        format!(
                            "227 Entering Passive Mode ({},{},{},{},{},{})",
                            o[0],
                            o[1],
                            o[2],
                            o[3],
                            port >> 8,
                            port & 0xff
                        )
                    }
                    _ => format!("229 Entering Extended Passive Mode (|||{port}|)"),
                }
            }
            "PORT" | "EPRT" => {
                let addr = if verb.eq_ignore_ascii_case("PORT") {
                    parse_port(arg)
                } else {
                    parse_eprt(arg)
                };
                match addr {
                    Some(a) => {
                        data = DataPlan::Connect(a);
                        "200 ok".into()
                    }
                    None => "501 bad address".into(),
                }
            }
            "RETR" | "LIST" | "MLSD" => {
                let body = if verb.eq_ignore_ascii_case("RETR") {
                    state.files.get(&absolute(arg)).cloned()
                } else if verb.eq_ignore_ascii_case("MLSD") {
                    let mut listing = String::new();
                    for (name, f) in &state.files {
                        listing.push_str(&format!(
                            "type=file;size={}; {}\r\n",
                            f.len(),
                            name.trim_start_matches('/')
                        ));
                    }
                    Some(Arc::new(listing.into_bytes()))
                } else {
                    let mut listing = String::new();
                    for (name, f) in &state.files {
                        listing.push_str(&format!(
                            "-rw-r--r-- 1 ftp ftp {} Jan 01 00:00 {}\r\n",
                            f.len(),
                            name.trim_start_matches('/')
                        ));
                    }
                    Some(Arc::new(listing.into_bytes()))
                };
                match body {
                    None => "550 no such file".into(),
                    Some(body) => match open_data(&mut data).await {
                        Err(_) => "425 no data connection".into(),
                        Ok(mut conn) => {
                            write.write_all(b"150 sending\r\n").await?;
                            conn.write_all(&body).await?;
                            conn.shutdown().await?;
                            "226 done".into()
                        }
                    },
                }
            }
            "STOR" => match open_data(&mut data).await {
                Err(_) => "425 no data connection".into(),
                Ok(mut conn) => {
                    write.write_all(b"150 receiving\r\n").await?;
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut total = 0u64;
                    loop {
                        let n = conn.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                    }
                    if let Ok(mut u) = state.uploads.lock() {
                        u.insert(absolute(arg), total);
                    }
                    "226 stored".into()
                }
            },
            "DELE" => {
                let removed = state
                    .uploads
                    .lock()
                    .ok()
                    .and_then(|mut u| u.remove(&absolute(arg)));
                match removed {
                    Some(_) => "250 deleted".into(),
                    None => "550 no such file".into(),
                }
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 not implemented".into(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2122".to_string())
        .parse()
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = bind(addr)?;
        eprintln!("mini_ftpd listening on {}", listener.local_addr()?);
        serve(listener, Arc::new(State::sample())).await;
        Ok(())
    })
}
