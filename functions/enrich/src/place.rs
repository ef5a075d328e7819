//! The place of an IP address, from a MaxMind-format `.mmdb` file: GeoLite2 or
//! GeoIP2 City or Country, or DB-IP's Lite City or Country (the same format and
//! record shape).
//!
//! The file is read whole into memory once, at start-up, rather than mapped:
//! on Cloud Run it comes from a Cloud Storage volume, where a mapped page
//! missed during a lookup would be a network read on the request's path (and a
//! file replaced underneath a mapping can crash the process). A GeoLite2-City
//! file costs its size in memory (tens of MB); lookups then never touch the
//! disk.

use maxminddb::{geoip2, Reader};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The longest IP text looked up; longer is refused unparsed (an IPv6 address
/// with an embedded IPv4 part is at most 45 bytes).
pub const MAX_IP_LEN: usize = 64;

/// Where an IP address is, as far as the file knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 code (`country.iso_code`).
    pub country: Option<String>,
    /// The English name of the first, largest subdivision (`subdivisions[0].names.en`).
    pub region: Option<String>,
    /// The English name of the city (`city.names.en`).
    pub city: Option<String>,
}

impl Place {
    /// `{"country", "region", "city"}`, what the file does not know as null.
    pub fn to_json(&self) -> Value {
        json!({
            "country": self.country,
            "region": self.region,
            "city": self.city,
        })
    }
}

/// The geo database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("cannot read the geo database {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a MaxMind-format (.mmdb) database", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
}

/// An opened `.mmdb` file; shared by every request.
pub struct PlaceReader {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for PlaceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.reader.metadata();
        f.debug_struct("PlaceReader")
            .field("database_type", &meta.database_type)
            .field("build_epoch", &meta.build_epoch)
            .finish()
    }
}

impl PlaceReader {
    /// Reads the file at `path` into memory and checks it is an `.mmdb` file.
    pub fn open(path: &Path) -> Result<Self, PlaceError> {
        let bytes = std::fs::read(path).map_err(|source| PlaceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = Reader::from_source(bytes).map_err(|source| PlaceError::Invalid {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self { reader })
    }

    /// What the file says of `ip` (IPv4 or IPv6 text). `None` when `ip` is not an
    /// address (or longer than [`MAX_IP_LEN`]) or no network of the file holds it.
    pub fn lookup(&self, ip: &str) -> Option<Place> {
        if ip.len() > MAX_IP_LEN {
            return None;
        }
        let address: IpAddr = ip.trim().parse().ok()?;
        let found = self.reader.lookup(address).ok()?;
        // City-shaped records decode Country files too: the missing parts are empty.
        let record = match found.decode::<geoip2::City>() {
            Ok(record) => record?,
            Err(e) => {
                // A damaged record is no reason to refuse the event: it goes on without a place.
                tracing::debug!(error = %e, "geo record not decoded");
                return None;
            }
        };
        let owned = |s: Option<&str>| s.map(str::to_string);
        Some(Place {
            country: owned(record.country.iso_code),
            region: owned(record.subdivisions.first().and_then(|s| s.names.english)),
            city: owned(record.city.names.english),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_testkit::geo::{self, TestNetwork};

    /// The test database in a fresh folder; `None` when it cannot be written here (skipped).
    fn test_reader(dir: &Path) -> Option<PlaceReader> {
        let path = dir.join("test-city.mmdb");
        geo::write_test_mmdb(&path)?;
        Some(PlaceReader::open(&path).expect("the written test database opens"))
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hermes-place-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn expected(n: &TestNetwork) -> Place {
        Place {
            country: Some(n.country.to_string()),
            region: n.region.map(str::to_string),
            city: n.city.map(str::to_string),
        }
    }

    #[test]
    fn known_addresses_give_their_place() {
        let Some(reader) = test_reader(&temp_dir("known")) else {
            return;
        };
        for n in geo::NETWORKS {
            assert_eq!(reader.lookup(n.ip), Some(expected(&n)), "{}", n.ip);
        }
        // IPv4 and IPv6 both, and a country-only record leaves region and city null.
        assert_eq!(
            reader.lookup(geo::LONDON.ip).map(|p| p.to_json()),
            Some(json!({"country": "GB", "region": "England", "city": "London"}))
        );
        assert_eq!(
            reader.lookup(geo::STOCKHOLM_V6.ip).map(|p| p.to_json()),
            Some(json!({"country": "SE", "region": "Stockholm County", "city": "Stockholm"}))
        );
        assert_eq!(
            reader.lookup(geo::GB_ONLY.ip).map(|p| p.to_json()),
            Some(json!({"country": "GB", "region": null, "city": null}))
        );
    }

    #[test]
    fn unknown_or_unparsable_addresses_give_none() {
        let Some(reader) = test_reader(&temp_dir("unknown")) else {
            return;
        };
        for ip in [
            geo::OUTSIDE_V4,
            geo::OUTSIDE_V6,
            "",
            "not an ip",
            "81.2.69",
            "81.2.69.142.1",
            "81.2.69.256",
            "::ffff:zz",
            "81.2.69.142/24",
            "\u{0}\u{ffff}é",
        ] {
            assert_eq!(reader.lookup(ip), None, "{ip:?}");
        }
        // Bounded: the same address padded past the limit is not parsed.
        let padded = format!("{}{}", " ".repeat(MAX_IP_LEN), geo::LONDON.ip);
        assert_eq!(reader.lookup(&padded), None);
        // Surrounding blanks are no reason to miss.
        assert!(reader.lookup(&format!(" {} ", geo::LONDON.ip)).is_some());
    }

    #[test]
    fn a_file_that_is_no_mmdb_is_refused_by_name() {
        let dir = temp_dir("invalid");
        let path = dir.join("not-a-database.mmdb");
        std::fs::write(&path, b"this is not a MaxMind database\n").expect("write");
        let err = PlaceReader::open(&path).expect_err("refused");
        assert!(matches!(err, PlaceError::Invalid { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());

        let missing = dir.join("missing.mmdb");
        let err = PlaceReader::open(&missing).expect_err("refused");
        assert!(
            matches!(&err, PlaceError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn the_reader_is_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<PlaceReader>();
    }
}
