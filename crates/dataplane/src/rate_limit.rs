//! Bandwidth caps per session, per client address (IPv6 by its /64) and in total,
//! for downloads and uploads, with separate caps for anonymous and named users.
//!
//! Each cap is a token bucket kept as one atomic "theoretical arrival time" (GCRA):
//! a transfer reserves the bytes of its next splice chunk with a compare-and-swap and
//! sleeps until the reservation is paid. So a cap only shapes how many bytes each
//! splice moves and when; the transfer stays zero-copy. The address and total buckets
//! are shared by every worker without a lock: a lock is taken only when a transfer
//! starts, to find its address's bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use ringftp_control::policy::client_key;

use crate::metrics::WorkerMetrics;

/// How far a bucket may run ahead of its rate: the burst a cap allows is this long at
/// the cap. Small, so a capped transfer never beats the cap by more than a few percent.
pub const BURST: Duration = Duration::from_millis(50);

/// Wake-ups after a wait for a cap fall on this grid. Well under [`BURST`], so waking
/// up to one tick late never loses the cap any bytes.
pub const WAKE_TICK: Duration = Duration::from_millis(5);

/// A capped transfer moves at most this share of a second's worth of its tightest cap
/// per splice, so pacing stays smooth; never less than [`MIN_CHUNK`].
const CHUNKS_PER_SEC: u64 = 16;

/// Smallest chunk a capped transfer moves at once (fewer, larger splices cost less CPU).
pub const MIN_CHUNK: usize = 4 * 1024;

/// Anonymous or named user: each has its own caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserClass {
    Anonymous,
    Named,
}

/// Direction of a file transfer, as seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    Download,
    Upload,
}

/// Which cap delayed a transfer, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    Session,
    Address,
    Total,
}

impl CapKind {
    /// Every kind, in metric index order.
    pub const ALL: [CapKind; 3] = [CapKind::Session, CapKind::Address, CapKind::Total];

    /// Index into per-kind metric arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Label value in metrics.
    pub fn label(self) -> &'static str {
        match self {
            CapKind::Session => "session",
            CapKind::Address => "address",
            CapKind::Total => "total",
        }
    }
}

/// Caps in bytes per second for one user class and direction; 0 = off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCaps {
    pub session: u64,
    pub address: u64,
    pub total: u64,
}

/// Download and upload caps of one user class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCaps {
    pub download: FlowCaps,
    pub upload: FlowCaps,
}

/// Every cap; all zero (the default) means no caps at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateCaps {
    pub anonymous: ClassCaps,
    pub named: ClassCaps,
}

impl RateCaps {
    /// The caps that apply to one class and direction.
    pub fn get(&self, class: UserClass, flow: Flow) -> FlowCaps {
        let c = match class {
            UserClass::Anonymous => &self.anonymous,
            UserClass::Named => &self.named,
        };
        match flow {
            Flow::Download => c.download,
            Flow::Upload => c.upload,
        }
    }
}

/// One token bucket as a GCRA state: the time (ns after the limiter's epoch) by which
/// everything reserved so far has been paid for at the cap.
#[derive(Debug, Default)]
pub struct Bucket {
    paid_until: AtomicU64,
}

impl Bucket {
    /// Reserve `cost` ns of the cap at `now`; returns how long to wait before moving
    /// the bytes (0 while the bucket is within its burst). Lock-free: one CAS loop.
    pub fn reserve(&self, cost: u64, now: u64, burst: u64) -> u64 {
        let mut seen = self.paid_until.load(Relaxed);
        loop {
            // An idle bucket does not save up more than the burst.
            let paid = seen.max(now).saturating_add(cost);
            match self
                .paid_until
                .compare_exchange_weak(seen, paid, Relaxed, Relaxed)
            {
                Ok(_) => return paid.saturating_sub(now.saturating_add(burst)),
                Err(actual) => seen = actual,
            }
        }
    }
}

/// Nanoseconds `bytes` take at `rate` bytes per second.
fn cost_ns(bytes: usize, rate: u64) -> u64 {
    ((bytes as u128 * 1_000_000_000) / u128::from(rate.max(1))).min(u128::from(u64::MAX)) as u64
}

/// The session's own buckets (one per direction); they live as long as the session,
/// so a client cannot reset its cap by starting a new transfer.
#[derive(Debug, Default)]
pub struct SessionBuckets {
    download: Bucket,
    upload: Bucket,
}

impl SessionBuckets {
    fn get(&self, flow: Flow) -> &Bucket {
        match flow {
            Flow::Download => &self.download,
            Flow::Upload => &self.upload,
        }
    }
}

type AddressKey = (IpAddr, UserClass, Flow);

/// Buckets by client address, dropped when no transfer holds them any more.
#[derive(Default)]
struct AddressBuckets {
    map: HashMap<AddressKey, Weak<Bucket>>,
    /// Size after the last sweep of dead entries; the next sweep waits for twice that.
    swept_len: usize,
}

impl AddressBuckets {
    fn get(&mut self, key: AddressKey) -> Arc<Bucket> {
        if let Some(b) = self.map.get(&key).and_then(Weak::upgrade) {
            return b;
        }
        if self.map.len() >= (2 * self.swept_len).max(64) {
            self.map.retain(|_, w| w.strong_count() > 0);
            self.swept_len = self.map.len();
        }
        let b = Arc::new(Bucket::default());
        self.map.insert(key, Arc::downgrade(&b));
        b
    }
}

/// The caps and shared buckets of the whole server (one per process, all workers).
pub struct RateLimiter {
    caps: RwLock<RateCaps>,
    /// Total buckets by class and direction.
    totals: [Arc<Bucket>; 4],
    addresses: Mutex<AddressBuckets>,
    epoch: Instant,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("caps", &self.caps())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter with these caps.
    pub fn new(caps: RateCaps) -> RateLimiter {
        RateLimiter {
            caps: RwLock::new(caps),
            totals: Default::default(),
            addresses: Mutex::default(),
            epoch: Instant::now(),
        }
    }

    /// The caps now in force.
    pub fn caps(&self) -> RateCaps {
        *self.caps.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replace the caps (on reload); transfers that start afterwards use them.
    pub fn set_caps(&self, caps: RateCaps) {
        *self.caps.write().unwrap_or_else(|p| p.into_inner()) = caps;
    }

    /// The pacer for a transfer starting now, under the caps in force now.
    pub fn pacer(
        &self,
        session: &Rc<SessionBuckets>,
        peer: IpAddr,
        class: UserClass,
        flow: Flow,
        metrics: Arc<WorkerMetrics>,
    ) -> Pacer {
        let caps = self.caps().get(class, flow);
        let mut legs = Vec::new();
        if caps.session > 0 {
            legs.push(Leg {
                bucket: LegBucket::Session(session.clone(), flow),
                rate: caps.session,
                kind: CapKind::Session,
            });
        }
        if caps.address > 0 {
            let key = (client_key(peer), class, flow);
            let bucket = self
                .addresses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(key);
            legs.push(Leg {
                bucket: LegBucket::Shared(bucket),
                rate: caps.address,
                kind: CapKind::Address,
            });
        }
        if caps.total > 0 {
            let i = match (class, flow) {
                (UserClass::Anonymous, Flow::Download) => 0,
                (UserClass::Anonymous, Flow::Upload) => 1,
                (UserClass::Named, Flow::Download) => 2,
                (UserClass::Named, Flow::Upload) => 3,
            };
            legs.push(Leg {
                bucket: LegBucket::Shared(self.totals[i].clone()),
                rate: caps.total,
                kind: CapKind::Total,
            });
        }
        Pacer {
            legs,
            epoch: self.epoch,
            metrics,
        }
    }
}

/// A session's own bucket (same thread only) or one shared by all workers.
enum LegBucket {
    Session(Rc<SessionBuckets>, Flow),
    Shared(Arc<Bucket>),
}

struct Leg {
    bucket: LegBucket,
    rate: u64,
    kind: CapKind,
}

impl Leg {
    fn bucket(&self) -> &Bucket {
        match &self.bucket {
            LegBucket::Session(s, flow) => s.get(*flow),
            LegBucket::Shared(b) => b,
        }
    }
}

/// The caps one transfer obeys, fixed when it starts.
pub struct Pacer {
    legs: Vec<Leg>,
    epoch: Instant,
    /// The worker's counters of delayed bytes.
    metrics: Arc<WorkerMetrics>,
}

impl Pacer {
    /// A pacer that never waits.
    pub fn unlimited(metrics: Arc<WorkerMetrics>) -> Pacer {
        Pacer {
            legs: Vec::new(),
            epoch: Instant::now(),
            metrics,
        }
    }

    /// True if any cap applies.
    pub fn is_capped(&self) -> bool {
        !self.legs.is_empty()
    }

    /// The tightest cap in bytes per second, if any.
    pub fn tightest_rate(&self) -> Option<u64> {
        self.legs.iter().map(|l| l.rate).min()
    }

    /// How many bytes to move at most in one splice, given the pipe's `max`.
    pub fn chunk(&self, max: usize) -> usize {
        match self.tightest_rate() {
            None => max,
            Some(rate) => {
                let share = usize::try_from(rate / CHUNKS_PER_SEC).unwrap_or(usize::MAX);
                share.clamp(MIN_CHUNK.min(max), max)
            }
        }
    }

    /// `at`, rounded up to the next [`WAKE_TICK`] since the epoch, so that transfers
    /// due at nearly the same time wake together and a worker serves them in one turn
    /// of its loop (and a client reads them in one wake-up) instead of one by one.
    fn on_tick(&self, at: Instant) -> Instant {
        let tick = WAKE_TICK.as_nanos();
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        let rounded = since.div_ceil(tick) * tick;
        self.epoch + Duration::from_nanos(rounded as u64)
    }

    /// Reserve `bytes` in every bucket at `now`: how long to wait before moving them,
    /// and the cap that makes the wait longest (`None` if no wait).
    pub fn reserve(&self, bytes: usize, now: Instant) -> (Duration, Option<CapKind>) {
        let now_ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        let burst = BURST.as_nanos() as u64;
        let mut wait = 0u64;
        let mut binding = None;
        for leg in &self.legs {
            let w = leg
                .bucket()
                .reserve(cost_ns(bytes, leg.rate), now_ns, burst);
            if w > wait {
                wait = w;
                binding = Some(leg.kind);
            }
        }
        (Duration::from_nanos(wait), binding)
    }

    /// Reserve `bytes` and sleep until they may move. `waiting_until` hears the wake-up
    /// time first (a wait for a cap is not a stalled transfer). Delayed bytes and time
    /// count against the binding cap in the worker's metrics, which is returned (`None`
    /// if the bytes could move at once).
    pub async fn pace(&self, bytes: usize, waiting_until: impl FnOnce(Instant)) -> Option<CapKind> {
        if self.legs.is_empty() || bytes == 0 {
            return None;
        }
        let now = Instant::now();
        let (wait, binding) = self.reserve(bytes, now);
        if let Some(kind) = binding {
            let m = &self.metrics;
            m.rate_delayed_bytes[kind.index()].fetch_add(bytes as u64, Relaxed);
            m.rate_delay_micros[kind.index()].fetch_add(wait.as_micros() as u64, Relaxed);
            let wake = self.on_tick(now + wait);
            waiting_until(wake);
            tokio::time::sleep_until(wake.into()).await;
        }
        binding
    }
}

/// The kernel pacing rate (SO_MAX_PACING_RATE) a capped download's socket should have,
/// so that each chunk the buckets release leaves as evenly spaced packets rather than
/// one burst, and the worker's splice only queues it. The buckets still decide how many
/// bytes move; the pacing only has to be a little faster than what they grant:
/// - when a cap shared with other transfers (address, total) made the chunk wait: the
///   rate the transfer moved at lately (the previous chunk over the time between the
///   two releases) plus [`SHARE_HEADROOM`], so that its share of the cap leaves evenly;
/// - otherwise (its own session cap held it, or nothing did, as when the others sharing
///   a cap leave): the tightest cap plus [`PACING_HEADROOM`], at once.
#[derive(Debug)]
pub struct SocketPacing {
    ceiling: u64,
    rate: u64,
    last_release: Option<(Instant, usize)>,
}

/// How much faster than the tightest cap a capped socket may send.
pub const PACING_HEADROOM: f64 = 0.05;

/// How much faster than its granted share of a shared cap a socket may send.
pub const SHARE_HEADROOM: f64 = 0.25;

/// The slowest pacing ever set (a cap is at least 1 KiB/s).
const MIN_PACING: u64 = 1024;

impl SocketPacing {
    /// Pacing for a transfer whose tightest cap is `tightest` bytes per second.
    pub fn new(tightest: u64) -> SocketPacing {
        let ceiling = (((tightest as f64) * (1.0 + PACING_HEADROOM)) as u64).max(MIN_PACING);
        SocketPacing {
            ceiling,
            rate: ceiling,
            last_release: None,
        }
    }

    /// The rate the socket should have now (at first, the ceiling).
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// `bytes` were released at `now` after a wait for `binding` (`None`: no wait): the
    /// new rate, if it moved by more than an eighth (fewer setsockopt calls).
    pub fn on_release(
        &mut self,
        bytes: usize,
        now: Instant,
        binding: Option<CapKind>,
    ) -> Option<u64> {
        let shared = matches!(binding, Some(CapKind::Address | CapKind::Total));
        let want = match self.last_release {
            Some((at, previous)) if shared && now > at => {
                let moved = previous as f64 / (now - at).as_secs_f64();
                ((moved * (1.0 + SHARE_HEADROOM)) as u64).clamp(MIN_PACING, self.ceiling)
            }
            _ => self.ceiling,
        };
        self.last_release = Some((now, bytes));
        if want.abs_diff(self.rate) * 8 > self.rate {
            self.rate = want;
            Some(want)
        } else {
            None
        }
    }
}

/// The receive buffer for a capped upload, or `None` to leave the kernel's autotuning.
///
/// A capped upload's bytes wait in its socket until the cap lets them be read, and by
/// then they have left the CPU caches; autotuning grows the buffer (and the kernel
/// memory it pins) to several MiB regardless. The buffer needs two chunks of the cap
/// (`step`, an eighth of a second in all), or the bytes the cap moves in two round
/// trips if that is more, so a distant client still reaches its cap. Beyond what the
/// kernel allows (`max`, `net.core.rmem_max`) it would be clamped below that:
/// autotuning then stays.
pub fn capped_upload_receive_buffer(
    rate: u64,
    step: usize,
    rtt: Duration,
    max: usize,
) -> Option<usize> {
    let in_flight = u128::from(rate) * 2 * rtt.as_micros() / 1_000_000;
    let want = (2 * step as u128).max(in_flight);
    usize::try_from(want).ok().filter(|&w| w <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_uploads_receive_buffer_holds_two_chunks_or_two_round_trips() {
        const MIB: u64 = 1 << 20;
        let max = 4 << 20;
        let rate = 16 * MIB;
        let step = (rate / 16) as usize;
        // Loopback or a LAN: two chunks.
        assert_eq!(
            capped_upload_receive_buffer(rate, step, Duration::from_micros(50), max),
            Some(2 << 20)
        );
        // 80 ms away: two round trips at the cap, 2.56 MiB.
        assert_eq!(
            capped_upload_receive_buffer(rate, step, Duration::from_millis(80), max),
            Some((2 * rate * 80 / 1000) as usize)
        );
        // 200 ms away would need 6.4 MiB, more than the kernel allows: autotuning.
        assert_eq!(
            capped_upload_receive_buffer(rate, step, Duration::from_millis(200), max),
            None
        );
        // A stock `rmem_max` (208 KiB) leaves a 16 MiB/s cap to autotuning, and
        // takes a 1 MiB/s one.
        assert_eq!(
            capped_upload_receive_buffer(rate, step, Duration::ZERO, 212_992),
            None
        );
        assert_eq!(
            capped_upload_receive_buffer(
                MIB,
                (MIB / 16) as usize,
                Duration::from_millis(20),
                212_992
            ),
            Some(128 << 10)
        );
    }

    const MS: u64 = 1_000_000;

    fn m() -> Arc<WorkerMetrics> {
        Arc::default()
    }

    #[test]
    fn bucket_allows_the_burst_then_paces() {
        let b = Bucket::default();
        let now = 1_000 * MS;
        // 10 ms of cost each, 50 ms burst: five pass at once, the sixth waits 10 ms.
        for _ in 0..5 {
            assert_eq!(b.reserve(10 * MS, now, 50 * MS), 0);
        }
        assert_eq!(b.reserve(10 * MS, now, 50 * MS), 10 * MS);
        // Idle for a long time: saved credit is bounded by the burst again.
        let later = now + 10_000 * MS;
        for _ in 0..5 {
            assert_eq!(b.reserve(10 * MS, later, 50 * MS), 0);
        }
        assert_eq!(b.reserve(10 * MS, later, 50 * MS), 10 * MS);
    }

    #[test]
    fn long_run_rate_is_the_cap() {
        // Reserve 64 KiB chunks at 1 MiB/s and jump to each allowed time: 16 MiB must
        // take 16 s less at most the burst.
        let b = Bucket::default();
        let rate = 1 << 20;
        let chunk = 64 << 10;
        let mut now = 0u64;
        for _ in 0..256 {
            now += b.reserve(cost_ns(chunk, rate), now, 50 * MS);
        }
        let secs = now as f64 / 1e9;
        assert!((15.9..=16.0).contains(&secs), "{secs}");
    }

    #[test]
    fn shared_bucket_holds_across_threads() {
        let b = Arc::new(Bucket::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        b.reserve(MS, 0, 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Every reservation counted exactly once.
        assert_eq!(b.paid_until.load(Relaxed), 4000 * MS);
    }

    #[test]
    fn caps_pick_class_and_direction() {
        let mut caps = RateCaps::default();
        caps.anonymous.download.session = 7;
        caps.named.upload.total = 9;
        let limiter = RateLimiter::new(caps);
        let s = Rc::new(SessionBuckets::default());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let p = limiter.pacer(&s, ip, UserClass::Anonymous, Flow::Download, m());
        assert_eq!(p.legs.len(), 1);
        assert_eq!(p.legs[0].kind, CapKind::Session);
        assert!(!limiter
            .pacer(&s, ip, UserClass::Anonymous, Flow::Upload, m())
            .is_capped());
        let p = limiter.pacer(&s, ip, UserClass::Named, Flow::Upload, m());
        assert_eq!(p.legs[0].kind, CapKind::Total);
        limiter.set_caps(RateCaps::default());
        assert!(!limiter
            .pacer(&s, ip, UserClass::Anonymous, Flow::Download, m())
            .is_capped());
    }

    #[test]
    fn addresses_share_a_bucket_by_slash_64() {
        let mut caps = RateCaps::default();
        caps.anonymous.download.address = 1 << 20;
        let limiter = RateLimiter::new(caps);
        let s = Rc::new(SessionBuckets::default());
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let pa = limiter.pacer(&s, a, UserClass::Anonymous, Flow::Download, m());
        let pb = limiter.pacer(&s, b, UserClass::Anonymous, Flow::Download, m());
        let pc = limiter.pacer(&s, c, UserClass::Anonymous, Flow::Download, m());
        assert!(std::ptr::eq(pa.legs[0].bucket(), pb.legs[0].bucket()));
        assert!(!std::ptr::eq(pa.legs[0].bucket(), pc.legs[0].bucket()));
    }

    #[test]
    fn dead_address_buckets_are_swept() {
        let mut buckets = AddressBuckets::default();
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(i));
        for i in 0..10_000 {
            drop(buckets.get((ip(i), UserClass::Anonymous, Flow::Download)));
        }
        assert!(buckets.map.len() <= 128, "{}", buckets.map.len());
    }

    #[test]
    fn wake_ups_fall_on_the_tick_grid() {
        let p = Pacer::unlimited(m());
        let at = p.epoch + Duration::from_micros(12_300);
        assert_eq!(p.on_tick(at), p.epoch + Duration::from_millis(15));
        let exact = p.epoch + Duration::from_millis(20);
        assert_eq!(p.on_tick(exact), exact);
    }

    #[test]
    fn socket_pacing_follows_a_shared_caps_share() {
        let t0 = Instant::now();
        let us = |n| t0 + Duration::from_micros(n);
        let mib = 1 << 20;
        let total = Some(CapKind::Total);
        // A total cap of 512 MiB/s: the socket starts at the cap plus 5%.
        let mut p = SocketPacing::new(512 * mib as u64);
        let ceiling = (512.0 * 1.05 * mib as f64) as u64;
        assert_eq!(p.rate(), ceiling);
        // First release: nothing to measure yet, the rate stays.
        assert_eq!(p.on_release(mib, us(0), total), None);
        // The next 1 MiB left 62.5 ms later: a 16 MiB/s share, paced at 16 x 1.25.
        assert_eq!(p.on_release(mib, us(62_500), total), Some(20 * mib as u64));
        // The same share again: no new setsockopt.
        assert_eq!(p.on_release(mib, us(125_000), total), None);
        // The share grew: 1 MiB after 31.25 ms is 32 MiB/s -> 40 MiB/s.
        assert_eq!(p.on_release(mib, us(156_250), total), Some(40 * mib as u64));
        // The others left and nothing waits any more: back to the cap at once.
        assert_eq!(p.on_release(mib, us(160_000), None), Some(ceiling));
        // Never below 1 KiB/s (the last chunk was one byte, long ago).
        // 1 MiB over 40 ms is 25 MiB/s (decimal 26.2 MB/s), paced at 1.25 times that.
        assert_eq!(p.on_release(1, us(200_000), total), Some(32_768_000));
        assert_eq!(p.on_release(1, us(10_000_000), total), Some(1024));
    }

    #[test]
    fn socket_pacing_under_a_session_cap_is_the_cap_plus_headroom() {
        let mut p = SocketPacing::new(4 << 20);
        assert_eq!(p.rate(), ((4 << 20) as f64 * 1.05) as u64);
        let t0 = Instant::now();
        for i in 0..5 {
            // Whatever the chunks' spacing, the session cap's pacing stays.
            let at = t0 + Duration::from_millis(62 * i * i);
            assert_eq!(p.on_release(1 << 18, at, Some(CapKind::Session)), None);
        }
    }

    #[test]
    fn chunk_follows_the_tightest_cap() {
        let mut caps = RateCaps::default();
        caps.anonymous.download.session = 4 << 20;
        caps.anonymous.download.total = 1 << 30;
        let limiter = RateLimiter::new(caps);
        let s = Rc::new(SessionBuckets::default());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let p = limiter.pacer(&s, ip, UserClass::Anonymous, Flow::Download, m());
        assert_eq!(p.chunk(1 << 20), 256 << 10);
        caps.anonymous.download.session = 1000;
        limiter.set_caps(caps);
        let p = limiter.pacer(&s, ip, UserClass::Anonymous, Flow::Download, m());
        assert_eq!(p.chunk(1 << 20), MIN_CHUNK);
        assert_eq!(Pacer::unlimited(m()).chunk(1 << 20), 1 << 20);
    }
}
