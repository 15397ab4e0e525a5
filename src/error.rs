//! The one error type of the library. Every failure carries a kind to branch on, a message that
//! names what was wrong (the key, the file, the size) and, where another library failed, that
//! error as its [`source`](std::error::Error::source).

use std::fmt;
use std::sync::Arc;

/// What went wrong, coarse enough for a caller to branch on. Each kind has its own C status
/// code (`SEGFACE_STATUS_ERR_*`); more kinds may come, so match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument is out of range or inconsistent (sizes, strides, resolution).
    InvalidArgument,
    /// The output buffer is smaller than the image needs.
    BufferTooSmall,
    /// The image is larger than the library accepts.
    ImageTooLarge,
    /// A file could not be read or written.
    Io,
    /// A model or checkpoint file is malformed, truncated or not a SegFace model.
    InvalidModel,
    /// A file's SHA-256 differs from the expected one.
    HashMismatch,
    /// The image file could not be decoded.
    InvalidImage,
    /// The inference engine failed.
    Inference,
    /// A download failed or is not possible here.
    Network,
}

/// A cause kept for [`std::error::Error::source`].
type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Cause>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// This error, caused by `source` (reported by [`std::error::Error::source`] and
    /// [`Error::report`]).
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What was wrong, in segface's words (without the causes).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message followed by every cause, `: `-separated: the whole story on one line, as the
    /// C ABI's `segface_last_error()`, Java's exception and the command line report it.
    pub fn report(&self) -> String {
        let mut text = self.message.clone();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn invalid_model(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidModel, message)
    }

    /// An I/O failure on `what` (a path, usually).
    pub(crate) fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, what.to_string()).with_source(err)
    }

    /// An engine failure: `context` says what segface was doing, the cause chain (where tract
    /// says what it could not do) is kept as the source.
    pub(crate) fn engine(kind: ErrorKind, context: &str, err: tract_onnx::prelude::TractError) -> Self {
        Error::new(kind, context).with_source(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|c| c as &(dyn std::error::Error + 'static))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_kept_and_reported() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Error::io("model.onnx", io);
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(err.to_string(), "model.onnx");
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(source.to_string(), "no such file");
        assert_eq!(err.report(), "model.onnx: no such file");
    }

    #[test]
    fn an_engine_error_keeps_the_whole_chain() {
        let tract = tract_onnx::prelude::TractError::msg("inner").context("outer");
        let err = Error::engine(ErrorKind::InvalidModel, "cannot read the graph", tract);
        assert_eq!(err.message(), "cannot read the graph");
        assert_eq!(err.report(), "cannot read the graph: outer: inner");
    }
}
