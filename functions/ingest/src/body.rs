//! Reading the request body: the size limit (before and after gzip) and
//! `Content-Encoding`.

use crate::error::IngestError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use hermes_runtime::{Overloaded, Reservation};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::io::Read;

/// `Content-Length` over the limit: refuse before reading anything.
pub fn check_declared_length(headers: &HeaderMap, max: usize) -> Result<(), IngestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > max as u64 => Err(IngestError::TooLarge { max }),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// The body's `Content-Encoding`: identity or gzip, else 415.
pub fn content_encoding(headers: &HeaderMap) -> Result<Encoding, IngestError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let value = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match value.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        _ => Err(IngestError::UnsupportedEncoding(
            hermes_core::excerpt::short(&value),
        )),
    }
}

/// Reads at most `max` bytes of body, then decodes it, again within `max`.
/// Decompressed bytes are paid for from `budget` (the server's budget of
/// request bytes, when the request has one) as they come out.
pub async fn read(
    body: Body,
    encoding: Encoding,
    max: usize,
    budget: Option<&Reservation>,
) -> Result<bytes::Bytes, IngestError> {
    let raw = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(IngestError::TooLarge { max })
        }
        Err(e) if find::<Overloaded>(e.as_ref()) => return Err(IngestError::Overloaded),
        Err(e) => return Err(IngestError::BodyRead(e.to_string())),
    };
    match encoding {
        Encoding::Identity => Ok(raw),
        Encoding::Gzip => gunzip_within(&raw, max, budget).map(bytes::Bytes::from),
    }
}

/// Whether `T` is `e` or one of its causes.
fn find<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Decompresses, refusing to inflate past `max` bytes (a gzip bomb stops there).
pub fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, IngestError> {
    gunzip_within(data, max, None)
}

/// [`gunzip`], taking each decompressed chunk from `budget` first.
fn gunzip_within(
    data: &[u8],
    max: usize,
    budget: Option<&Reservation>,
) -> Result<Vec<u8>, IngestError> {
    const CHUNK: usize = 64 * 1024;
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(data).take(max as u64 + 1);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IngestError::BadGzip(e.to_string())),
        };
        if let Some(budget) = budget {
            budget.grow(n).map_err(|_| IngestError::Overloaded)?;
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > max {
            return Err(IngestError::TooLarge { max });
        }
    }
    Ok(out)
}
