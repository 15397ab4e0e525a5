//! The one error type of the library. Every failure carries a kind (mapped 1:1 to the C status
//! codes) and a message that names what was wrong: the key, the file, the size.

use std::fmt;

/// What went wrong, coarse enough for a caller to branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }
    pub(crate) fn invalid_model(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidModel, message)
    }
    pub(crate) fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{what}: {err}"))
    }
    /// Wraps an engine error with its whole cause chain, which is where tract says what it
    /// could not do.
    pub(crate) fn engine(kind: ErrorKind, context: &str, err: impl fmt::Debug) -> Self {
        Error::new(kind, format!("{context}: {err:?}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
