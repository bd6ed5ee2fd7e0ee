//! ACL LOG: this node's last denials and failed logins, as Redis keeps them (per node,
//! in memory; repeats of the same denial within a minute fold into one entry).
//! Touched only when something is refused, never on an allowed command's path.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Entries kept (SPEC: the last 128).
pub const CAPACITY: usize = 128;
/// A repeat within this long of the last one counts into the same entry.
const FOLD_WITHIN: Duration = Duration::from_secs(60);

/// Why something was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
        }
    }
}

/// Where the refused command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    TopLevel,
    Multi,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::TopLevel => "toplevel",
            Context::Multi => "multi",
        }
    }
}

/// One ACL LOG entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    /// The command's name, the key, or the user name of a failed AUTH.
    pub object: String,
    pub username: String,
    pub client_info: String,
    pub entry_id: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    updated: Instant,
}

impl Entry {
    /// Seconds since the entry was last updated.
    pub fn age_seconds(&self) -> f64 {
        self.updated.elapsed().as_secs_f64()
    }
}

/// What a denial is about.
pub struct Denial<'a> {
    pub reason: Reason,
    pub context: Context,
    pub object: &'a str,
    pub username: &'a str,
    pub client_info: String,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// The log, newest first.
#[derive(Default)]
pub struct AclLog {
    inner: Mutex<Inner>,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl AclLog {
    /// Records a denial (or folds it into a recent identical one).
    pub fn record(&self, d: Denial<'_>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let same = inner.entries.iter_mut().find(|e| {
            e.reason == d.reason
                && e.context == d.context
                && e.object == d.object
                && e.username == d.username
                && now.duration_since(e.updated) < FOLD_WITHIN
        });
        if let Some(e) = same {
            e.count += 1;
            e.updated = now;
            e.updated_ms = wall_ms();
            e.client_info = d.client_info;
            return;
        }
        let entry_id = inner.next_id;
        inner.next_id += 1;
        let ms = wall_ms();
        inner.entries.push_front(Entry {
            count: 1,
            reason: d.reason,
            context: d.context,
            object: d.object.to_string(),
            username: d.username.to_string(),
            client_info: d.client_info,
            entry_id,
            created_ms: ms,
            updated_ms: ms,
            updated: now,
        });
        inner.entries.truncate(CAPACITY);
    }

    /// The newest `count` entries (all with `None`).
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.iter().take(count.unwrap_or(CAPACITY)).cloned().collect()
    }

    /// ACL LOG RESET.
    pub fn reset(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(log: &AclLog, object: &str) {
        log.record(Denial {
            reason: Reason::Key,
            context: Context::TopLevel,
            object,
            username: "alice",
            client_info: "id=1".into(),
        });
    }

    #[test]
    fn repeats_fold_and_the_log_is_bounded() {
        let log = AclLog::default();
        deny(&log, "k1");
        deny(&log, "k1");
        deny(&log, "k2");
        let e = log.newest(None);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].object.as_str(), e[0].count), ("k2", 1));
        assert_eq!((e[1].object.as_str(), e[1].count), ("k1", 2));
        for i in 0..300 {
            deny(&log, &format!("x{i}"));
        }
        assert_eq!(log.newest(None).len(), CAPACITY);
        assert_eq!(log.newest(Some(3)).len(), 3);
        log.reset();
        assert!(log.newest(None).is_empty());
    }
}
