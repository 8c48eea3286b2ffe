//! Connect error codes and the error type every RPC handler returns.
use std::fmt;

/// The Connect protocol's error codes (same set and spelling as gRPC's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl Code {
    /// The wire spelling, as in `{"code":"not_found"}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// HTTP status for a unary error response (Connect protocol table).
    pub fn http_status(self) -> u16 {
        match self {
            Code::Canceled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::FailedPrecondition => 412,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }
}

/// An RPC failure: a code the client maps to an exception, and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectError {
    pub code: Code,
    pub message: String,
}

impl ConnectError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// Maps an I/O failure on `what` to the code a client can act on.
    pub fn from_io(err: &std::io::Error, what: &str) -> Self {
        use std::io::ErrorKind as K;
        let code = match err.kind() {
            K::NotFound => Code::NotFound,
            K::AlreadyExists => Code::AlreadyExists,
            K::PermissionDenied => Code::PermissionDenied,
            K::InvalidInput | K::InvalidData => Code::InvalidArgument,
            _ => match err.raw_os_error() {
                Some(libc::ENOTDIR)
                | Some(libc::EISDIR)
                | Some(libc::ENOTEMPTY)
                | Some(libc::EXDEV)
                | Some(libc::ELOOP)
                | Some(libc::ENAMETOOLONG) => Code::InvalidArgument,
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => Code::ResourceExhausted,
                Some(libc::EPERM) | Some(libc::EROFS) => Code::PermissionDenied,
                _ => Code::Internal,
            },
        };
        Self::new(code, format!("{what}: {err}"))
    }

    /// The JSON body `{"code":..., "message":...}` used by unary errors and
    /// inside the end-of-stream frame.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code.as_str(), "message": self.message })
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ConnectError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_io_when_missing_then_not_found() {
        let err = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(ConnectError::from_io(&err, "stat /x").code, Code::NotFound);
    }

    #[test]
    fn from_io_when_disk_full_then_resource_exhausted() {
        let err = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(
            ConnectError::from_io(&err, "write").code,
            Code::ResourceExhausted
        );
    }

    #[test]
    fn to_json_uses_snake_case_codes() {
        let json = ConnectError::new(Code::AlreadyExists, "dir exists").to_json();
        assert_eq!(json["code"], "already_exists");
        assert_eq!(json["message"], "dir exists");
    }
}
