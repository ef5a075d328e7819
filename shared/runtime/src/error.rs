//! [`RuntimeError`]: why a function could not be served.

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid PORT \"{0}\": expected a number from 0 to 65535")]
    Port(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("Lambda runtime error: {0}")]
    Lambda(String),
}
