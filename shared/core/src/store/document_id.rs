//! [`DocumentId`]: a string Firestore accepts as a document id, checked once
//! where it enters (Firestore docs, "Best practices: document IDs" and limits).

use std::fmt;

/// Not empty, at most 1,500 bytes, not `.` / `..`, no `/`, not `__.*__`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} cannot be a Firestore document id")]
pub struct InvalidDocumentId(pub String);

impl DocumentId {
    pub fn parse(id: impl Into<String>) -> Result<Self, InvalidDocumentId> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 1500
            && id != "."
            && id != ".."
            && !id.contains('/')
            && !(id.len() >= 4 && id.starts_with("__") && id.ends_with("__"));
        if valid {
            Ok(Self(id))
        } else {
            // Long ids are cut in the error: it ends up in logs and responses.
            Err(InvalidDocumentId(crate::excerpt::preview(&id, 80)))
        }
    }

    /// A 32-byte digest (SHA-256) in lowercase hex: 64 hex digits are always a
    /// valid id, so whatever was hashed, the id needs no check.
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        Self(crate::hex::hex(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for DocumentId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::DocumentId;

    #[test]
    fn document_ids() {
        let ok = |id: &str| DocumentId::parse(id).is_ok();
        assert!(ok("123"));
        assert!(ok("_x_"));
        assert!(!ok(""));
        assert!(!ok("."));
        assert!(!ok(".."));
        assert!(!ok("a/b"));
        assert!(!ok("__x__"));
        assert!(!ok("____"));
        assert!(!ok(&"x".repeat(1501)));
    }

    #[test]
    fn digests_are_lowercase_hex_ids() {
        let mut digest = [0u8; 32];
        digest[0] = 0xab;
        digest[31] = 0x0f;
        let id = DocumentId::from_digest(&digest);
        assert_eq!(id.as_str().len(), 64);
        assert!(id.as_str().starts_with("ab00"));
        assert!(id.as_str().ends_with("000f"));
        assert_eq!(DocumentId::parse(id.as_str()), Ok(id));
    }
}
