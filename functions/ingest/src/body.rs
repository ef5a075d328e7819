//! Reading the request body: the size limit (before and after gzip) and
//! `Content-Encoding`.

use crate::error::IngestError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
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
            value.chars().take(40).collect(),
        )),
    }
}

/// Reads at most `max` bytes of body, then decodes it, again within `max`.
pub async fn read(body: Body, encoding: Encoding, max: usize) -> Result<Vec<u8>, IngestError> {
    let raw = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(IngestError::TooLarge { max })
        }
        Err(e) => return Err(IngestError::BodyRead(e.to_string())),
    };
    match encoding {
        Encoding::Identity => Ok(raw.to_vec()),
        Encoding::Gzip => gunzip(&raw, max),
    }
}

/// Decompresses, refusing to inflate past `max` bytes (a gzip bomb stops there).
pub fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max));
    let mut decoder = flate2::read::MultiGzDecoder::new(data).take(max as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| IngestError::BadGzip(e.to_string()))?;
    if out.len() > max {
        return Err(IngestError::TooLarge { max });
    }
    Ok(out)
}
