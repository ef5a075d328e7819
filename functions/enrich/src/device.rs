//! The device of a user agent string: browser, OS, device type, bot.
//!
//! The matching is the uap project's (`ua-parser`, the uap-core reference
//! implementation in Rust) with uap-core's own patterns, embedded from
//! `data/uap-core-regexes.json`: uap-core 0.18.0's `regexes.yaml` as JSON
//! (Apache-2.0, `data/uap-core-LICENSE`), entry for entry and in order (the
//! first matching pattern wins). Chosen over `woothee` (last release 2021, in-app
//! browsers and HTTP libraries unnamed) and the other uap implementations
//! (30 to 60 times slower per user agent); the price is start-up: compiling the
//! patterns takes about 0.2 s and 28 MB, once, in [`DeviceParser::new`].
//!
//! uap-core gives no device type: it is derived here from the OS family and the
//! platform's own conventions (Android tablets leave out "Mobile"), and bots
//! are uap-core's "Spider" devices plus the HTTP libraries and headless
//! browsers it names (automated clients, not people).

use serde_json::{json, Value};
use ua_parser::Extractor;

/// The longest user agent parsed, in bytes: longer ones are cut (at a
/// character boundary) first, which bounds the matching time per event. Real
/// user agents stay well under it.
pub const MAX_USER_AGENT_LEN: usize = 1024;

/// uap-core's patterns: `regexes.yaml` of uap-core 0.18.0 as JSON (no YAML
/// parser needed at start-up).
const PATTERNS: &str = include_str!("../data/uap-core-regexes.json");

/// User-agent families of automated clients that uap-core names but does not
/// mark as "Spider": HTTP libraries and headless browsers.
const AUTOMATED: &[&str] = &[
    "curl",
    "libcurl-agent",
    "PycURL",
    "Wget",
    "wget2",
    "HTTPie",
    "Python Requests",
    "Python-urllib",
    "aihttp",
    "Go-http-client",
    "go-resty",
    "Apache-HttpClient",
    "Google-HTTP-Java-Client",
    "Jersey",
    "axios",
    "reqwest",
    "libwww-perl",
    "PostmanRuntime",
    "insomnia",
    "HeadlessChrome",
    "PhantomJS",
];

/// OS families of phones and tablets.
const MOBILE_OS: &[&str] = &[
    "iOS",
    "iPadOS",
    "Android",
    "Windows Phone",
    "Windows Mobile",
    "KaiOS",
    "BlackBerry OS",
    "BlackBerry Tablet OS",
    "Firefox OS",
    "Symbian OS",
    "Symbian^3",
    "Tizen",
    "HarmonyOS",
    "webOS",
    "Bada",
];

/// OS families of desktops and laptops (besides every "Windows …").
const DESKTOP_OS: &[&str] = &[
    "Mac OS X",
    "Mac OS",
    "Linux",
    "Ubuntu",
    "Debian",
    "Fedora",
    "Red Hat",
    "SUSE",
    "Mint",
    "Gentoo",
    "Arch Linux",
    "Slackware",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
];

/// What kind of device sent the user agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DeviceType {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    #[default]
    Other,
}

impl DeviceType {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceType::Desktop => "desktop",
            DeviceType::Mobile => "mobile",
            DeviceType::Tablet => "tablet",
            DeviceType::Bot => "bot",
            DeviceType::Other => "other",
        }
    }
}

/// The device of one user agent; `None` where the user agent does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub browser: Option<String>,
    pub browser_version: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub device_type: DeviceType,
    pub is_bot: bool,
}

impl Device {
    /// `{browser, browser_version, os, os_version, device_type, is_bot}`, the
    /// unknowns as null.
    pub fn to_json(&self) -> Value {
        json!({
            "browser": self.browser,
            "browser_version": self.browser_version,
            "os": self.os,
            "os_version": self.os_version,
            "device_type": self.device_type.as_str(),
            "is_bot": self.is_bot,
        })
    }
}

/// The compiled patterns; built once at start-up and shared by every request.
pub struct DeviceParser {
    extractor: Extractor<'static>,
}

impl Default for DeviceParser {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DeviceParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceParser").finish_non_exhaustive()
    }
}

impl DeviceParser {
    /// Compiles uap-core's patterns (about 0.2 s in a release build: do it once).
    ///
    /// # Panics
    ///
    /// Only if the embedded patterns are broken, a build defect the unit tests
    /// catch; nothing a request sends reaches this.
    pub fn new() -> Self {
        let regexes: ua_parser::Regexes<'static> =
            serde_json::from_str(PATTERNS).expect("the embedded uap-core patterns are JSON");
        let extractor =
            Extractor::try_from(regexes).expect("the embedded uap-core patterns compile");
        Self { extractor }
    }

    /// The device of `user_agent`. Any input gives an answer (unknowns as
    /// `None`, device type "other"); only its first [`MAX_USER_AGENT_LEN`]
    /// bytes are read.
    pub fn parse(&self, user_agent: &str) -> Device {
        let user_agent = bounded(user_agent);
        let (agent, os, device) = self.extractor.extract(user_agent);

        let browser = agent.as_ref().and_then(|a| known(&a.family));
        let browser_version = agent
            .as_ref()
            .and_then(|a| version(&[a.major, a.minor, a.patch, a.patch_minor]));
        let os_name = os.as_ref().and_then(|o| known(&o.os));
        let os_version = os.as_ref().and_then(|o| {
            version(&[
                o.major.as_deref(),
                o.minor.as_deref(),
                o.patch.as_deref(),
                o.patch_minor.as_deref(),
            ])
        });
        let device_family = device.as_ref().map(|d| d.device.as_ref());

        let is_bot = device_family == Some("Spider")
            || browser.as_deref().is_some_and(|b| AUTOMATED.contains(&b));
        let device_type = if is_bot {
            DeviceType::Bot
        } else {
            device_type(user_agent, os_name.as_deref(), device_family)
        };
        Device {
            browser,
            browser_version,
            os: os_name,
            os_version,
            device_type,
            is_bot,
        }
    }
}

/// At most [`MAX_USER_AGENT_LEN`] bytes of `s`, cut at a character boundary.
fn bounded(s: &str) -> &str {
    if s.len() <= MAX_USER_AGENT_LEN {
        return s;
    }
    let mut end = MAX_USER_AGENT_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// uap-core's "Other" is its word for unknown.
fn known(name: &str) -> Option<String> {
    match name.trim() {
        "" | "Other" => None,
        name => Some(name.to_string()),
    }
}

/// "major.minor.patch.patch_minor", as far as the parts go (from the first).
fn version(parts: &[Option<&str>]) -> Option<String> {
    let present: Vec<&str> = parts
        .iter()
        .map_while(|p| *p)
        .filter(|p| !p.is_empty())
        .collect();
    (!present.is_empty()).then(|| present.join("."))
}

fn device_type(user_agent: &str, os: Option<&str>, device: Option<&str>) -> DeviceType {
    let os = os.unwrap_or("");
    // Tablets: iPads (uap-core's device), Android tablets (which by Android's
    // convention leave "Mobile" out of the user agent), and uap-core's generic tablets.
    let tablet = device
        .is_some_and(|d| d.contains("iPad") || d.contains("Tablet") || d.contains("Kindle"))
        || user_agent.contains("iPad")
        || (os == "Android" && !user_agent.contains("Mobile"));
    if MOBILE_OS.contains(&os) {
        if tablet {
            DeviceType::Tablet
        } else {
            DeviceType::Mobile
        }
    } else if os.starts_with("Windows") || DESKTOP_OS.contains(&os) {
        DeviceType::Desktop
    } else {
        DeviceType::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One parser for every test: compiling the patterns takes seconds in a debug build.
    fn parser() -> &'static DeviceParser {
        static PARSER: OnceLock<DeviceParser> = OnceLock::new();
        PARSER.get_or_init(DeviceParser::new)
    }

    struct Case {
        ua: &'static str,
        browser: Option<&'static str>,
        os: Option<&'static str>,
        device_type: DeviceType,
        is_bot: bool,
    }

    const fn case(
        ua: &'static str,
        browser: Option<&'static str>,
        os: Option<&'static str>,
        device_type: DeviceType,
        is_bot: bool,
    ) -> Case {
        Case {
            ua,
            browser,
            os,
            device_type,
            is_bot,
        }
    }

    // Real user agents, as uap-core's and the parsers' own test corpora have them.
    const CASES: &[Case] = &[
        case(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("Chrome"),
            Some("Windows"),
            DeviceType::Desktop,
            false,
        ),
        case(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
            Some("Mobile Safari"),
            Some("iOS"),
            DeviceType::Mobile,
            false,
        ),
        case(
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
            Some("Mobile Safari"),
            Some("iOS"),
            DeviceType::Tablet,
            false,
        ),
        case(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("Firefox"),
            Some("Windows"),
            DeviceType::Desktop,
            false,
        ),
        case(
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
            Some("Firefox"),
            Some("Ubuntu"),
            DeviceType::Desktop,
            false,
        ),
        case(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            Some("Safari"),
            Some("Mac OS X"),
            DeviceType::Desktop,
            false,
        ),
        case(
            "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Mobile Safari/537.36",
            Some("Chrome Mobile"),
            Some("Android"),
            DeviceType::Mobile,
            false,
        ),
        case(
            "Mozilla/5.0 (Linux; Android 11; SAMSUNG SM-T870) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/14.0 Chrome/87.0.4280.141 Safari/537.36",
            Some("Samsung Internet"),
            Some("Android"),
            DeviceType::Tablet,
            false,
        ),
        case(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            Some("Edge"),
            Some("Windows"),
            DeviceType::Desktop,
            false,
        ),
        case(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,2;FBMD/iPhone;FBSN/iOS;FBSV/16.6;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
            Some("Facebook"),
            Some("iOS"),
            DeviceType::Mobile,
            false,
        ),
        case(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Some("Googlebot"),
            None,
            DeviceType::Bot,
            true,
        ),
        case(
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Some("Googlebot"),
            Some("Android"),
            DeviceType::Bot,
            true,
        ),
        case(
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            Some("bingbot"),
            None,
            DeviceType::Bot,
            true,
        ),
        case("curl/8.4.0", Some("curl"), None, DeviceType::Bot, true),
        case(
            "python-requests/2.31.0",
            Some("Python Requests"),
            None,
            DeviceType::Bot,
            true,
        ),
    ];

    #[test]
    fn real_user_agents_give_their_device() {
        let mut wrong = Vec::new();
        for c in CASES {
            let d = parser().parse(c.ua);
            let want = (c.browser, c.os, c.device_type, c.is_bot);
            let got = (
                d.browser.as_deref(),
                d.os.as_deref(),
                d.device_type,
                d.is_bot,
            );
            if got != want {
                wrong.push(format!("{}\n  want {want:?}\n  got  {got:?}", c.ua));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn versions_are_dotted_as_far_as_known() {
        let d = parser().parse(CASES[0].ua);
        assert_eq!(d.browser_version.as_deref(), Some("120.0.0.0"));
        assert_eq!(d.os_version.as_deref(), Some("10"));
        let d = parser().parse(CASES[1].ua);
        assert_eq!(d.browser_version.as_deref(), Some("17.1.2"));
        assert_eq!(d.os_version.as_deref(), Some("17.1.2"));
    }

    #[test]
    fn json_has_the_six_keys() {
        let d = parser().parse(CASES[0].ua);
        assert_eq!(
            d.to_json(),
            json!({
                "browser": "Chrome",
                "browser_version": "120.0.0.0",
                "os": "Windows",
                "os_version": "10",
                "device_type": "desktop",
                "is_bot": false,
            })
        );
        let unknown = json!({
            "browser": null,
            "browser_version": null,
            "os": null,
            "os_version": null,
            "device_type": "other",
            "is_bot": false,
        });
        assert_eq!(parser().parse("").to_json(), unknown);
    }

    #[test]
    fn empty_and_garbage_give_unknowns() {
        for ua in [
            "",
            " ",
            "-",
            "asdf;lkj 12 ((())) ////",
            "\u{0}\u{1}\u{fffd}",
            "Mozilla/5.0",
        ] {
            let d = parser().parse(ua);
            assert_eq!(
                (
                    d.browser.as_deref(),
                    d.os.as_deref(),
                    d.device_type,
                    d.is_bot
                ),
                (None, None, DeviceType::Other, false),
                "{ua:?}"
            );
        }
    }

    #[test]
    fn long_user_agents_are_cut_at_a_character_boundary() {
        // 1,023 ASCII bytes then a 2-byte character straddling the limit.
        let mut ua = "x".repeat(MAX_USER_AGENT_LEN - 1);
        ua.push('é');
        assert_eq!(bounded(&ua).len(), MAX_USER_AGENT_LEN - 1);
        // What stands past the limit is not read: the bot token there goes unseen.
        let padded = format!("{} Googlebot/2.1", "a".repeat(MAX_USER_AGENT_LEN));
        assert!(!parser().parse(&padded).is_bot);
        let short = format!("{} Googlebot/2.1", "a".repeat(100));
        assert!(parser().parse(&short).is_bot);
        // A megabyte of multi-byte characters is answered, not refused.
        let huge = "日本語".repeat(120_000);
        assert_eq!(parser().parse(&huge).device_type, DeviceType::Other);
    }

    #[test]
    fn random_input_never_panics() {
        // xorshift: reproducible without a dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces = [
            "Mozilla/5.0 (",
            "Android ",
            "iPhone",
            "; ",
            ")",
            "Chrome/",
            "Mobile",
            "bot",
        ];
        for _ in 0..300 {
            let len = (next() % 1500) as usize;
            let mut bytes = Vec::with_capacity(len);
            while bytes.len() < len {
                let r = next();
                if r % 5 == 0 {
                    bytes.extend_from_slice(pieces[(r >> 8) as usize % pieces.len()].as_bytes());
                } else {
                    bytes.push((r >> 16) as u8);
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let d = parser().parse(&text);
            assert_eq!(d.is_bot, d.device_type == DeviceType::Bot);
        }
    }

    #[test]
    fn the_parser_is_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<DeviceParser>();
    }
}
