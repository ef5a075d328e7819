//! A small MaxMind-format geo database for the enrich tests, written by PyPI's
//! `mmdb-writer` (an implementation independent of the `maxminddb` reader
//! Hermes uses) in the tools venv `scripts/install-test-tools` builds.
//!
//! Its records have the GeoIP2/GeoLite2-City shape: `country.iso_code`,
//! `subdivisions[].names.en`, `city.names.en` (plus the names and ids real
//! files carry). The networks and what they hold are the constants below, so
//! that tests elsewhere can check lookups against them.

use std::path::Path;
use std::process::{Command, Stdio};

/// One network of the test database and the place it holds.
#[derive(Debug, Clone, Copy)]
pub struct TestNetwork {
    pub cidr: &'static str,
    /// An address inside `cidr`.
    pub ip: &'static str,
    pub country: &'static str,
    pub region: Option<&'static str>,
    pub city: Option<&'static str>,
}

/// London: country, region and city.
pub const LONDON: TestNetwork = TestNetwork {
    cidr: "81.2.69.0/24",
    ip: "81.2.69.142",
    country: "GB",
    region: Some("England"),
    city: Some("London"),
};

/// A country-only record, as in a Country database.
pub const GB_ONLY: TestNetwork = TestNetwork {
    cidr: "2.125.160.0/24",
    ip: "2.125.160.216",
    country: "GB",
    region: None,
    city: None,
};

/// Milton, Washington: the region is the first of the record's two subdivisions.
pub const MILTON: TestNetwork = TestNetwork {
    cidr: "216.160.83.0/24",
    ip: "216.160.83.56",
    country: "US",
    region: Some("Washington"),
    city: Some("Milton"),
};

/// An IPv6 network (Stockholm).
pub const STOCKHOLM_V6: TestNetwork = TestNetwork {
    cidr: "2001:db8:1::/48",
    ip: "2001:db8:1::42",
    country: "SE",
    region: Some("Stockholm County"),
    city: Some("Stockholm"),
};

/// Every network the test database holds.
pub const NETWORKS: [TestNetwork; 4] = [LONDON, GB_ONLY, MILTON, STOCKHOLM_V6];

/// An IPv4 address outside every network of the test database.
pub const OUTSIDE_V4: &str = "8.8.8.8";
/// An IPv6 address outside every network of the test database.
pub const OUTSIDE_V6: &str = "2001:db8:2::1";

/// Writes the test database; the networks come in as JSON on stdin.
const SCRIPT: &str = r#"
import json, sys
from netaddr import IPSet
from mmdb_writer import MMDBWriter, MmdbU32

path, networks = sys.argv[1], json.load(sys.stdin)
# An IPv6 tree that also answers IPv4 addresses, as GeoLite2 files are.
writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                    languages=["en"], description="Hermes test database", int_type="u32")
ids = iter(range(1000, 2000))
country_names = {"GB": "United Kingdom", "US": "United States", "SE": "Sweden"}
for n in networks:
    record = {"country": {"iso_code": n["country"], "geoname_id": MmdbU32(next(ids)),
                          "names": {"en": country_names[n["country"]], "de": "Land"}},
              "continent": {"code": "EU", "names": {"en": "Europe"}}}
    if n["region"]:
        subdivisions = [{"iso_code": "R1", "names": {"en": n["region"], "de": "Region"}}]
        if n["city"] == "Milton":
            # A second, smaller subdivision: the region is the first.
            subdivisions.append({"iso_code": "PC", "names": {"en": "Pierce County"}})
        record["subdivisions"] = subdivisions
    if n["city"]:
        record["city"] = {"geoname_id": MmdbU32(next(ids)), "names": {"en": n["city"], "de": "Stadt"}}
    writer.insert_network(IPSet([n["cidr"]]), record)
writer.to_db_file(path)
"#;

/// Writes the City-shaped test database holding [`NETWORKS`] to `path`.
///
/// `None` when the tools venv or its `mmdb-writer` is missing: the calling test
/// was skipped through [`crate::ci::skip`] (a failure under CI) and returns.
/// Panics, failing the test, when the writer runs and fails.
pub fn write_test_mmdb(path: &Path) -> Option<()> {
    // The tools venv's Python, where scripts/install-test-tools puts mmdb-writer.
    let python = crate::emulator::tool("venv/bin/python3")?;
    let networks: Vec<serde_json::Value> = NETWORKS
        .iter()
        .map(|n| {
            serde_json::json!({
                "cidr": n.cidr, "country": n.country, "region": n.region, "city": n.city,
            })
        })
        .collect();
    let child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        crate::ci::skip("the tools venv's python3 would not start: no test geo database");
        return None;
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("python3's stdin");
        stdin
            .write_all(serde_json::Value::Array(networks).to_string().as_bytes())
            .expect("write to python3");
    }
    let out = child.wait_with_output().expect("python3");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'mmdb_writer'")
            || err.contains("No module named 'netaddr'")
        {
            crate::ci::skip(
                "mmdb-writer is not installed in the tools venv (run scripts/install-test-tools): no test geo database",
            );
            return None;
        }
        panic!("mmdb-writer failed to write {}: {err}", path.display());
    }
    Some(())
}
