//! One client's session: what the connection layer keeps between commands and what
//! commands may change (protocol, user, MULTI state). A leaf below `cmd/`, so commands
//! and the connection that calls them both point down at it.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::{BoxFuture, Shared};

use crate::reply::{Proto, Reply};
use crate::sm::acl::AclUser;
use crate::sm::data::cmd::DataCmd;

/// Per-connection state that commands may change.
pub struct ConnState {
    pub id: u64,
    pub addr: SocketAddr,
    pub proto: Proto,
    /// Whether the connection may run more than the pre-AUTH commands.
    pub authed: bool,
    /// The user this connection runs as, with its permissions as of `acl_epoch`.
    pub user: SessionUser,
    /// MULTI / WATCH state (cmd/multi.rs).
    pub tx: TxState,
}

/// Who a connection is, and what it may do, as last read from the replicated ACL.
#[derive(Clone)]
pub struct SessionUser {
    pub name: Bytes,
    /// `None`: every command on every key (the `default` user before any ACL change).
    pub perms: Option<Arc<AclUser>>,
    /// The ACL epoch these permissions were read at; a newer epoch re-reads them.
    pub acl_epoch: u64,
}

impl SessionUser {
    /// The `default` user with every permission, as before any ACL change.
    pub fn unrestricted_default() -> Self {
        SessionUser {
            name: Bytes::from_static(b"default"),
            perms: None,
            acl_epoch: 0,
        }
    }
}

/// Fingerprints of watched keys, read when WATCH ran (shared: EXEC in the same
/// pipeline awaits the same read).
pub type WatchRead = Shared<BoxFuture<'static, Result<Vec<(Bytes, u64)>, Reply>>>;

/// A connection's transaction state.
#[derive(Default)]
pub struct TxState {
    /// Commands queued since MULTI; an argument error other than arity is kept and
    /// becomes that command's reply in EXEC, as Redis does.
    pub queued: Option<Vec<Result<DataCmd, String>>>,
    /// A command failed to queue: EXEC must refuse the whole transaction.
    pub dirty: bool,
    pub watches: Vec<WatchRead>,
}

impl TxState {
    /// Whether commands are being queued (between MULTI and EXEC/DISCARD).
    pub fn queuing(&self) -> bool {
        self.queued.is_some()
    }
}
