//! Errors a fencepost call can end in, one variant per server error code (SPEC.md).

use redis::{ErrorKind, RedisError};

/// Result of a fencepost call.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong; the variant decides whether a retry is safe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `-STALE`: a fencing token older than one already seen (or not the holder).
    #[error("STALE {0}")]
    Stale(String),
    /// `-MISMATCH`: an idempotency key reused with another fingerprint.
    #[error("MISMATCH {0}")]
    Mismatch(String),
    /// `-WRONGTYPE`: the name exists as another kind of object.
    #[error("WRONGTYPE {0}")]
    WrongType(String),
    /// `-CLUSTERDOWN`: no leader or quorum; the command was NOT applied, safe to retry.
    #[error("CLUSTERDOWN {0}")]
    ClusterDown(String),
    /// `-UNCERTAIN`: proposed but the outcome is unknown; never retried automatically.
    #[error("UNCERTAIN {0}")]
    Uncertain(String),
    /// `-NOAUTH` / `-WRONGPASS` or a failed AUTH at connect.
    #[error("auth: {0}")]
    Auth(String),
    /// Any other server error (`-ERR`, `-MOVED`, ...), with its code.
    #[error("{code} {detail}")]
    Server {
        /// The upper-case code that opened the error line.
        code: String,
        /// The rest of the error line.
        detail: String,
    },
    /// The reply did not have the shape SPEC.md promises.
    #[error("unexpected reply: {0}")]
    Protocol(String),
    /// Transport failure; whether the command was applied is unknown unless it is a refusal.
    #[error("i/o: {0}")]
    Io(#[source] RedisError),
}

impl Error {
    /// True when the command is known not to have been applied and may be resent.
    pub fn is_retry_safe(&self) -> bool {
        match self {
            Error::ClusterDown(_) => true,
            // A refused connection never carried the request.
            Error::Io(e) => e.is_connection_refusal(),
            _ => false,
        }
    }

    /// True when the outcome of a mutating command is unknown (it may have applied).
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            Error::Uncertain(_) => true,
            // A request lost with its connection or timed out may have been applied.
            Error::Io(e) => !e.is_connection_refusal(),
            _ => false,
        }
    }
}

impl From<RedisError> for Error {
    fn from(e: RedisError) -> Self {
        let detail = e.detail().unwrap_or_default().to_string();
        match e.kind() {
            ErrorKind::IoError => return Error::Io(e),
            ErrorKind::ClusterDown => return Error::ClusterDown(detail),
            ErrorKind::AuthenticationFailed => return Error::Auth(e.to_string()),
            ErrorKind::ParseError | ErrorKind::TypeError => return Error::Protocol(e.to_string()),
            _ => {}
        }
        match e.code() {
            Some(code) => from_code(code, detail),
            // Client-side errors with no server code (bad URL, config): nothing was sent.
            None => Error::Server {
                code: "CLIENT".into(),
                detail: e.to_string(),
            },
        }
    }
}

/// Maps an error line's code and detail to a variant.
pub(crate) fn from_code(code: &str, detail: String) -> Error {
    match code {
        "STALE" => Error::Stale(detail),
        "MISMATCH" => Error::Mismatch(detail),
        "WRONGTYPE" => Error::WrongType(detail),
        "CLUSTERDOWN" => Error::ClusterDown(detail),
        "UNCERTAIN" => Error::Uncertain(detail),
        "NOAUTH" | "WRONGPASS" => Error::Auth(format!("{code} {detail}")),
        _ => Error::Server {
            code: code.to_string(),
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_variants() {
        assert!(matches!(from_code("STALE", "r token 1 < 2".into()), Error::Stale(_)));
        assert!(matches!(from_code("MISMATCH", String::new()), Error::Mismatch(_)));
        assert!(matches!(from_code("WRONGTYPE", String::new()), Error::WrongType(_)));
        assert!(matches!(from_code("UNCERTAIN", String::new()), Error::Uncertain(_)));
        assert!(matches!(from_code("WRONGPASS", String::new()), Error::Auth(_)));
        assert!(matches!(from_code("ERR", "x".into()), Error::Server { .. }));
    }

    #[test]
    fn redis_errors_map_through_kind_and_code() {
        let e: Error = redis::make_extension_error("STALE".into(), Some("k token 3 < 5".into())).into();
        assert!(matches!(e, Error::Stale(ref d) if d == "k token 3 < 5"));
        let e: Error = RedisError::from((ErrorKind::ClusterDown, "down", "no leader".to_string())).into();
        assert!(matches!(e, Error::ClusterDown(_)));
        assert!(e.is_retry_safe());
        let e: Error = redis::make_extension_error("UNCERTAIN".into(), None).into();
        assert!(!e.is_retry_safe() && e.is_outcome_unknown());
    }

    #[test]
    fn refusal_is_retry_safe_but_reset_is_not() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e: Error = RedisError::from(refused).into();
        assert!(e.is_retry_safe() && !e.is_outcome_unknown());
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let e: Error = RedisError::from(reset).into();
        assert!(!e.is_retry_safe() && e.is_outcome_unknown());
    }
}
