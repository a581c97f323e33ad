//! The TLS session store of one FTP session.
//!
//! Data connections prove they belong to the control connection by resuming its TLS
//! session, so each FTP session gets its own small store: a data connection can only
//! resume a session this FTP session established. rustls' default store hands out a
//! TLS 1.3 ticket once (anti-replay for 0-RTT, which FTP does not use); clients such
//! as curl and Python's ftplib offer the control connection's ticket on every data
//! connection, so here a ticket stays valid for the whole FTP session. Clients that
//! use each ticket once (rustls, OpenSSL with a ticket cache) get a fresh one on every
//! data connection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rustls::server::StoresServerSessions;

/// Entries from the control connection's handshake, kept for the whole session.
const CONTROL_CAPACITY: usize = 8;
/// Entries from data connections, the oldest evicted first.
const DATA_CAPACITY: usize = 16;

#[derive(Debug, Default)]
struct Entries {
    control: Vec<(Vec<u8>, Vec<u8>)>,
    data: VecDeque<(Vec<u8>, Vec<u8>)>,
}

/// The store shared by a session's control and data connections.
#[derive(Debug, Default)]
pub struct SessionCache {
    entries: Mutex<Entries>,
}

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entries = self.lock();
        entries
            .control
            .iter()
            .chain(entries.data.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// The view the control connection's TLS uses: what it stores stays.
    pub fn control(self: &Arc<Self>) -> Arc<ControlStore> {
        Arc::new(ControlStore(self.clone()))
    }

    /// The view data connections use: what they store may be evicted.
    pub fn data(self: &Arc<Self>) -> Arc<DataStore> {
        Arc::new(DataStore(self.clone()))
    }
}

/// Stores for the control connection (refuses when full, never evicts).
#[derive(Debug)]
pub struct ControlStore(Arc<SessionCache>);

/// Stores for data connections (bounded, oldest evicted).
#[derive(Debug)]
pub struct DataStore(Arc<SessionCache>);

impl StoresServerSessions for ControlStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut entries = self.0.lock();
        if entries.control.len() >= CONTROL_CAPACITY {
            return false;
        }
        entries.control.push((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    /// Like `get`: the ticket stays usable for the next data connection.
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

impl StoresServerSessions for DataStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut entries = self.0.lock();
        if entries.data.len() >= DATA_CAPACITY {
            entries.data.pop_front();
        }
        entries.data.push_back((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_tickets_are_reusable_and_never_evicted_by_data_ones() {
        let cache = Arc::new(SessionCache::default());
        let (control, data) = (cache.control(), cache.data());
        assert!(control.put(b"control".to_vec(), b"secret".to_vec()));
        for _ in 0..3 {
            assert_eq!(data.take(b"control").as_deref(), Some(&b"secret"[..]));
        }
        for i in 0..DATA_CAPACITY * 2 {
            assert!(data.put(format!("d{i}").into_bytes(), vec![1]));
        }
        assert_eq!(data.get(b"control").as_deref(), Some(&b"secret"[..]));
        assert_eq!(data.get(b"d0"), None, "oldest data ticket evicted");
        let last = format!("d{}", DATA_CAPACITY * 2 - 1);
        assert!(data.get(last.as_bytes()).is_some());
        for i in 0..CONTROL_CAPACITY * 2 {
            control.put(format!("c{i}").into_bytes(), vec![2]);
        }
        assert_eq!(control.get(b"control").as_deref(), Some(&b"secret"[..]));
        assert_eq!(control.get(b"missing"), None);
    }
}
