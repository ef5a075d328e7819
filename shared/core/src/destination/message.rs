//! A Pub/Sub message as Hermes builds it, and Pub/Sub's limits on it.

/// Pub/Sub's per-message limits (https://cloud.google.com/pubsub/quotas#resource_limits).
pub const MAX_ATTRIBUTES: usize = 100;
pub const MAX_ATTRIBUTE_KEY_BYTES: usize = 256;
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// Largest publish request Hermes sends, and so the largest message it
/// publishes: 10,000,000 bytes, the bound of Google's client libraries, under
/// either reading of Pub/Sub's "10 MB".
pub const MAX_REQUEST_BYTES: usize = 10_000_000;
/// Largest message Pub/Sub may deliver to a push job: the larger reading of
/// "10 MB", 10 MiB, so that no message another publisher sent is refused.
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Most messages in one publish request.
pub const MAX_BATCH_MESSAGES: usize = 1000;

/// A Pub/Sub message before transport encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Compact UTF-8 JSON of the payload (base64-encoded on the wire); often
    /// a slice of the request body itself.
    pub data: bytes::Bytes,
    pub attributes: Vec<(String, String)>,
}

impl Message {
    /// Size of this message inside a publish request body: base64 data plus
    /// attributes plus JSON punctuation. An upper bound, used for the 10 MB split.
    pub fn encoded_len(&self) -> usize {
        let data = self.data.len().div_ceil(3) * 4;
        let attrs: usize = self
            .attributes
            .iter()
            .map(|(k, v)| json_escaped_len(k) + json_escaped_len(v) + 6)
            .sum();
        data + attrs + 40
    }

    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn json_escaped_len(s: &str) -> usize {
    // Control characters become \u00XX (6 bytes); quotes and backslashes 2.
    // Branch-free, so the common case (nothing to escape) runs fast.
    s.len()
        + s.bytes()
            .map(|b| (b < 0x20) as usize * 5 + (b == b'"' || b == b'\\') as usize)
            .sum::<usize>()
}

/// A message over one of Pub/Sub's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Pub/Sub limit exceeded: {0}")]
pub struct LimitExceeded(pub String);

impl Message {
    /// Pub/Sub's limits on one message, checked before sending.
    pub fn check_limits(&self) -> Result<(), LimitExceeded> {
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(LimitExceeded(format!(
                "{} attributes (at most {MAX_ATTRIBUTES})",
                self.attributes.len()
            )));
        }
        for (k, v) in &self.attributes {
            if k.len() > MAX_ATTRIBUTE_KEY_BYTES {
                return Err(LimitExceeded(format!(
                    "attribute key of {} bytes (at most {MAX_ATTRIBUTE_KEY_BYTES})",
                    k.len()
                )));
            }
            if v.len() > MAX_ATTRIBUTE_VALUE_BYTES {
                return Err(LimitExceeded(format!(
                    "attribute `{k}` value of {} bytes (at most {MAX_ATTRIBUTE_VALUE_BYTES})",
                    v.len()
                )));
            }
        }
        let size = self.encoded_len() + 20;
        if size > MAX_REQUEST_BYTES {
            return Err(LimitExceeded(format!(
                "message of {size} bytes encoded (a publish request holds at most {MAX_REQUEST_BYTES})"
            )));
        }
        Ok(())
    }
}
