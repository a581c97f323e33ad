//! The TLS session store of one FTP session.
//!
//! Data connections prove they belong to the control connection by resuming its TLS
//! session, so each FTP session gets its own small store: a data connection can only
//! resume a session this FTP session established. rustls' default store hands out a
//! TLS 1.3 ticket once (anti-replay for 0-RTT, which FTP does not use); clients such
//! as curl and Python's ftplib offer the control connection's ticket on every data
//! connection, so here a ticket stays valid for the whole FTP session.

use std::sync::Mutex;

use rustls::server::StoresServerSessions;

/// Entries kept; the control handshake stores one (TLS 1.2) or a few (TLS 1.3).
const CAPACITY: usize = 16;

/// A bounded store; when full, new entries are refused so the control
/// connection's own (stored first) are never evicted.
#[derive(Debug, Default)]
pub struct SessionCache {
    entries: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = entries.iter_mut().find(|(k, _)| *k == key) {
            e.1 = value;
            return true;
        }
        if entries.len() >= CAPACITY {
            return false;
        }
        entries.push((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Like `get`: the ticket stays usable for the next data connection.
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_reusable_and_the_first_entries_stay() {
        let cache = SessionCache::default();
        assert!(cache.put(b"control".to_vec(), b"secret".to_vec()));
        for _ in 0..3 {
            assert_eq!(cache.take(b"control").as_deref(), Some(&b"secret"[..]));
        }
        for i in 0..CAPACITY * 2 {
            cache.put(format!("k{i}").into_bytes(), vec![0]);
        }
        assert_eq!(cache.get(b"control").as_deref(), Some(&b"secret"[..]));
        assert_eq!(cache.get(b"missing"), None);
        assert!(
            cache.put(b"control".to_vec(), b"new".to_vec()),
            "updates fit"
        );
    }
}
