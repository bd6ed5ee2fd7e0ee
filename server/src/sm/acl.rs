//! ACL users: replicated state, so a user made through any node holds on every node,
//! across failover and restart. Passwords are kept as SHA-256 digests only; the node
//! that receives `ACL SETUSER` hashes them before they reach the log.
//!
//! The state machine knows rules, not categories: the receiving node expands
//! `+@category` into the commands the command table lists for it (cmd/acl.rs), so the
//! table above stays the one source and the state machine stays a leaf.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::data::glob;

/// A password's SHA-256 digest.
pub type PassHash = [u8; 32];

/// One `ACL SETUSER` modifier, as the state machine applies it. Command names are
/// lower case, `cmd` or `cmd|subcommand`; categories were expanded before proposing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclRule {
    On,
    Off,
    AddHash(PassHash),
    RemoveHash(PassHash),
    NoPass,
    ResetPass,
    Keys(Bytes),
    AllKeys,
    ResetKeys,
    Allow(String),
    Deny(String),
    AllCommands,
    NoCommands,
    Reset,
}

/// A user's flags, passwords and permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclUser {
    pub enabled: bool,
    pub nopass: bool,
    pub passwords: BTreeSet<PassHash>,
    /// Redis glob patterns; `*` is `allkeys`.
    pub key_patterns: Vec<Bytes>,
    /// `+@all`: every command but those in `denied`.
    pub all_commands: bool,
    pub allowed: BTreeSet<String>,
    pub denied: BTreeSet<String>,
}

/// The `allkeys` pattern.
const ALL_KEYS: &[u8] = b"*";

impl AclUser {
    /// What the `default` user is before any ACL change: every command on every key,
    /// with `--requirepass` (given as its digest) or, without one, no password.
    pub fn config_default(requirepass: Option<PassHash>) -> AclUser {
        AclUser {
            enabled: true,
            nopass: requirepass.is_none(),
            passwords: requirepass.into_iter().collect(),
            key_patterns: vec![Bytes::from_static(ALL_KEYS)],
            all_commands: true,
            allowed: BTreeSet::new(),
            denied: BTreeSet::new(),
        }
    }

    /// Applies one modifier, in order, as Redis does.
    pub fn apply(&mut self, rule: &AclRule) {
        match rule {
            AclRule::On => self.enabled = true,
            AclRule::Off => self.enabled = false,
            AclRule::AddHash(h) => {
                self.passwords.insert(*h);
                self.nopass = false;
            }
            AclRule::RemoveHash(h) => {
                self.passwords.remove(h);
            }
            AclRule::NoPass => {
                self.passwords.clear();
                self.nopass = true;
            }
            AclRule::ResetPass => {
                self.passwords.clear();
                self.nopass = false;
            }
            AclRule::Keys(p) => {
                if !self.key_patterns.contains(p) {
                    self.key_patterns.push(p.clone());
                }
            }
            AclRule::AllKeys => self.key_patterns = vec![Bytes::from_static(ALL_KEYS)],
            AclRule::ResetKeys => self.key_patterns.clear(),
            AclRule::Allow(c) => {
                self.denied.remove(c);
                self.allowed.insert(c.clone());
                // `+cmd` gives back every subcommand `-cmd|sub` took.
                if !c.contains('|') {
                    let prefix = format!("{c}|");
                    self.denied.retain(|d| !d.starts_with(&prefix));
                }
            }
            AclRule::Deny(c) => {
                self.allowed.remove(c);
                self.denied.insert(c.clone());
                if !c.contains('|') {
                    let prefix = format!("{c}|");
                    self.allowed.retain(|a| !a.starts_with(&prefix));
                }
            }
            AclRule::AllCommands => {
                self.all_commands = true;
                self.allowed.clear();
                self.denied.clear();
            }
            AclRule::NoCommands => {
                self.all_commands = false;
                self.allowed.clear();
                self.denied.clear();
            }
            AclRule::Reset => *self = AclUser::default(),
        }
    }

    /// Whether the user may run `cmd` (lower case), with `sub` its subcommand if it
    /// has one: the most specific rule decides, then `+@all` or not.
    pub fn can_run(&self, cmd: &str, sub: Option<&str>) -> bool {
        if let Some(sub) = sub {
            let full = format!("{cmd}|{sub}");
            if self.allowed.contains(&full) {
                return true;
            }
            if self.denied.contains(&full) {
                return false;
            }
        }
        if self.allowed.contains(cmd) {
            return true;
        }
        if self.denied.contains(cmd) {
            return false;
        }
        self.all_commands
    }

    /// Whether some key pattern matches `key`.
    pub fn can_access(&self, key: &[u8]) -> bool {
        self.key_patterns
            .iter()
            .any(|p| p.as_ref() == ALL_KEYS || glob::matches(p, key))
    }

    /// Every command on every key: no check can refuse anything.
    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.denied.is_empty() && self.key_patterns.iter().any(|p| p.as_ref() == ALL_KEYS)
    }

    /// Whether `hash` (the SHA-256 of a password given to AUTH) opens this user. Each
    /// stored digest is compared in constant time, so timing tells nothing about how
    /// close a guess came.
    pub fn password_matches(&self, hash: &PassHash) -> bool {
        if self.nopass {
            return true;
        }
        self.passwords
            .iter()
            .fold(subtle::Choice::from(0), |acc, p| acc | p.ct_eq(hash))
            .into()
    }

    /// The commands part of ACL GETUSER / LIST: `+@all` or `-@all`, then exceptions.
    pub fn describe_commands(&self) -> String {
        let mut out = String::from(if self.all_commands { "+@all" } else { "-@all" });
        for c in &self.allowed {
            out.push_str(" +");
            out.push_str(c);
        }
        for c in &self.denied {
            out.push_str(" -");
            out.push_str(c);
        }
        out
    }

    /// The key patterns as Redis shows them: `~p1 ~p2` (bytes: a pattern need not be
    /// UTF-8).
    pub fn describe_keys(&self) -> Vec<u8> {
        let words: Vec<Vec<u8>> = self.key_patterns.iter().map(|p| [b"~", p.as_ref()].concat()).collect();
        words.join(&b' ')
    }

    /// The rule line of ACL LIST, without the leading `user <name>`.
    pub fn describe(&self) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = vec![if self.enabled { b"on".to_vec() } else { b"off".to_vec() }];
        if self.nopass {
            parts.push(b"nopass".to_vec());
        }
        parts.extend(self.passwords.iter().map(|h| format!("#{}", hex(h)).into_bytes()));
        if self.key_patterns.is_empty() {
            parts.push(b"resetkeys".to_vec());
        } else {
            parts.push(self.describe_keys());
        }
        parts.push(self.describe_commands().into_bytes());
        parts.join(&b' ')
    }
}

/// Lower-case hex, as ACL GETUSER shows password digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every user but a `default` that was never changed (that one is the node's
/// `--requirepass`, see [`AclUser::config_default`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclTable {
    users: BTreeMap<Bytes, AclUser>,
}

/// The user every connection starts as.
pub const DEFAULT_USER: &[u8] = b"default";

impl AclTable {
    /// ACL SETUSER: `if_absent` builds a user that does not exist yet (the receiving
    /// node's view of `default` before its first change; nothing for others, which
    /// start off with no permissions, as in Redis), then `rules` apply in order.
    pub fn set_user(&mut self, name: &Bytes, if_absent: &[AclRule], rules: &[AclRule]) {
        let user = self.users.entry(name.clone()).or_insert_with(|| {
            let mut u = AclUser::default();
            if_absent.iter().for_each(|r| u.apply(r));
            u
        });
        rules.iter().for_each(|r| user.apply(r));
    }

    /// ACL DELUSER: how many of `names` existed. `default` is refused before proposing.
    pub fn del_users(&mut self, names: &[Bytes]) -> u64 {
        names
            .iter()
            .filter(|n| n.as_ref() != DEFAULT_USER)
            .filter(|n| self.users.remove(n.as_ref()).is_some())
            .count() as u64
    }

    /// A user as set by ACL SETUSER (`default` only once it was changed).
    pub fn get(&self, name: &[u8]) -> Option<&AclUser> {
        self.users.get(name)
    }

    /// Users in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &AclUser)> {
        self.users.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[AclRule]) -> AclUser {
        let mut u = AclUser::default();
        rules.iter().for_each(|r| u.apply(r));
        u
    }

    #[test]
    fn the_most_specific_command_rule_decides() {
        use AclRule::*;
        let u = user(&[AllCommands, Deny("raft".into()), Allow("raft|info".into())]);
        assert!(u.can_run("lock", Some("acquire")));
        assert!(!u.can_run("raft", Some("remove")));
        assert!(u.can_run("raft", Some("info")));
        let u = user(&[NoCommands, Allow("lock".into()), Deny("lock|release".into())]);
        assert!(u.can_run("lock", Some("acquire")));
        assert!(!u.can_run("lock", Some("release")));
        assert!(!u.can_run("get", None));
        // +cmd after -cmd|sub gives the subcommand back.
        let u = user(&[NoCommands, Deny("lock|release".into()), Allow("lock".into())]);
        assert!(u.can_run("lock", Some("release")));
        assert_eq!(
            user(&[NoCommands, Allow("get".into())]).describe_commands(),
            "-@all +get"
        );
    }

    #[test]
    fn keys_and_passwords() {
        use AclRule::*;
        let u = user(&[On, Keys("orders:*".into()), AddHash([7; 32])]);
        assert!(u.can_access(b"orders:1"));
        assert!(!u.can_access(b"payments:1"));
        assert!(u.password_matches(&[7; 32]));
        assert!(!u.password_matches(&[8; 32]));
        assert!(!u.unrestricted());
        let u = user(&[AllKeys, AllCommands, NoPass]);
        assert!(u.unrestricted() && u.password_matches(&[0; 32]));
        assert!(user(&[ResetPass]).passwords.is_empty());
        assert_eq!(
            user(&[On, Keys("a*".into()), NoCommands, Allow("get".into())]).describe(),
            b"on ~a* -@all +get"
        );
    }

    #[test]
    fn default_starts_from_the_node_config_and_cannot_be_deleted() {
        let mut t = AclTable::default();
        let base = [
            AclRule::On,
            AclRule::AllKeys,
            AclRule::AllCommands,
            AclRule::AddHash([1; 32]),
        ];
        t.set_user(
            &Bytes::from_static(DEFAULT_USER),
            &base,
            &[AclRule::Deny("raft".into())],
        );
        let d = t.get(DEFAULT_USER).expect("default");
        assert!(d.enabled && d.password_matches(&[1; 32]) && !d.can_run("raft", None));
        // A second change starts from the stored user, not the node's view.
        t.set_user(&Bytes::from_static(DEFAULT_USER), &[AclRule::NoPass], &[]);
        assert!(!t.get(DEFAULT_USER).expect("default").nopass);
        t.set_user(&"alice".into(), &[], &[AclRule::On]);
        assert_eq!(t.del_users(&["default".into(), "alice".into(), "bob".into()]), 1);
        assert!(t.get(DEFAULT_USER).is_some());
    }
}
