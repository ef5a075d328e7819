use super::*;
use proptest::prelude::*;
use serde_json::Value;

/// A tree of `value`'s text, leaked so tests can hold it freely.
pub(crate) fn leaked(value: &Value) -> Json<'static> {
    let text: &'static str = Box::leak(value.to_string().into_boxed_str());
    parse(text).expect("serde_json writes JSON")
}

/// The reference minifier: drops whitespace outside strings, nothing else.
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

#[test]
fn scalars_and_strings_keep_their_text() {
    let text =
        "[ 18446744073709551616 , -0,1E400,\n\t1.0 ,\"caf\\u00e9\", \"a\\/b\", \"x y\",true,null ]";
    let v = parse(text).unwrap();
    assert_eq!(
        String::from_utf8(v.to_vec()).unwrap(),
        r#"[18446744073709551616,-0,1E400,1.0,"caf\u00e9","a\/b","x y",true,null]"#
    );
    let Json::Array(items) = &v else {
        panic!("an array")
    };
    assert_eq!(items[0], Json::Number("18446744073709551616"));
    assert_eq!(items[4].as_str().unwrap(), "café");
    assert!(items[4].is_str("café"));
    assert_eq!(items[5].as_str().unwrap(), "a/b");
    assert_eq!(items[6], Json::String(Str::Plain("x y")));
}

#[test]
fn elements_know_whether_they_are_minified() {
    let text = r#"[{"a":1,"b":[2,"x y"]}, { "a": 1 },{"s":"  "}]"#;
    let events = parse_array(text, 10).unwrap();
    let minified: Vec<bool> = events.items.iter().map(|e| e.minified).collect();
    assert_eq!(minified, [true, false, true]);
    assert_eq!(events.items[0].text, r#"{"a":1,"b":[2,"x y"]}"#);
    assert!(matches!(events.items[0].minified_text(), Cow::Borrowed(_)));
    assert_eq!(&*events.items[1].minified_text(), br#"{"a":1}"#);
    assert!(events.heap_bytes > 0);
}

#[test]
fn arrays_stop_past_their_limit() {
    assert_eq!(parse_array("[1,2,3]", 3).unwrap().items.len(), 3);
    assert_eq!(parse_array("[1,2,3,4]", 3), Err(ArrayError::TooMany(3)));
    // Past the limit nothing more is read, valid or not.
    assert_eq!(parse_array("[1,2,3,4,", 3), Err(ArrayError::TooMany(3)));
    assert_eq!(parse_array("{}", 3), Err(ArrayError::NotArray));
    assert!(matches!(parse_array("[1,2", 3), Err(ArrayError::Syntax(_))));
}

#[test]
fn nesting_is_bounded_as_serde_json_bounds_it() {
    for depth in [126usize, 127, 128, 129, 100_000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let ours = parse(&text).is_ok();
        let theirs = serde_json::from_str::<Value>(&text).is_ok();
        assert_eq!(ours, theirs, "depth {depth}");
        assert_eq!(ours, depth <= 127, "depth {depth}");
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert_eq!(parse(&objects).is_ok(), depth <= 127, "objects {depth}");
        // The request's own array counts as serde_json counts it.
        assert_eq!(
            parse_array(&text, usize::MAX).is_ok(),
            serde_json::from_str::<Vec<Value>>(&text).is_ok(),
            "array {depth}"
        );
    }
}

#[test]
fn repeated_keys_read_as_a_map_reads_them() {
    let mut v = parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
    assert_eq!(v.get("a"), Some(&Json::Number("3")));
    v.dedupe();
    assert_eq!(v.to_vec(), br#"{"a":3,"b":2}"#);
    assert_eq!(
        serde_json::from_str::<Value>(r#"{"a":1,"b":2,"a":3}"#)
            .unwrap()
            .to_string(),
        r#"{"a":3,"b":2}"#
    );
}

#[test]
fn invalid_text_is_refused_where_it_goes_wrong() {
    for bad in [
        "",
        "[",
        "[1,]",
        "[01]",
        "[1.]",
        "[.5]",
        "[-]",
        "[1e]",
        "[+1]",
        "{\"a\"}",
        "{a:1}",
        "[\"\\x\"]",
        "[\"\\ud800\"]",
        "[\"\\udc00\"]",
        "[\"a\nb\"]",
        "[tru]",
        "[nul]",
        "[1] 2",
        "[\"\\u12\"]",
        "{\"a\":1,}",
        "[1 2]",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
        assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad:?}");
    }
    let e = parse("[1,\n  x]").unwrap_err();
    assert_eq!(e.line_column(b"[1,\n  x]"), (2, 3));
}

/// JSON text with whitespace anywhere it may go, numbers of every shape
/// (beyond `f64` and `u64` too) and strings with every kind of escape.
fn json_text() -> impl Strategy<Value = String> {
    let ws = prop::sample::select(vec!["", "", "", " ", "\n", "\t ", "\r\n  "]);
    let number = "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?";
    let piece = prop::sample::select(vec![
        "a",
        "Z",
        " ",
        "é",
        "日本",
        "😀",
        "\\n",
        "\\t",
        "\\\"",
        "\\\\",
        "\\/",
        "\\u00e9",
        "\\u0000",
        "\\ud83d\\ude00",
        "\\b\\f\\r",
        "{",
        "]",
        ":",
        ",",
    ]);
    let string = prop::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()));
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number.prop_map(|n| n.to_string()),
        string.clone(),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        let ws = ws.clone();
        prop_oneof![
            prop::collection::vec((inner.clone(), ws.clone(), ws.clone()), 0..6).prop_map(
                |items| {
                    let inside: Vec<String> = items
                        .into_iter()
                        .map(|(v, a, b)| format!("{a}{v}{b}"))
                        .collect();
                    format!("[{}]", inside.join(","))
                }
            ),
            prop::collection::vec((string.clone(), inner, ws.clone(), ws.clone()), 0..6).prop_map(
                |entries| {
                    let inside: Vec<String> = entries
                        .into_iter()
                        .map(|(k, v, a, b)| format!("{a}{k}{b}:{a}{v}{b}"))
                        .collect();
                    format!("{{{}}}", inside.join(","))
                }
            ),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// What we publish is the reference minifier's output, byte for byte, and
    /// reads as the same value as the client's text.
    #[test]
    fn minified_text_is_the_reference_minifiers(text in json_text(), ws in "[ \n\t]{0,2}") {
        let text = format!("{ws}{text}{ws}");
        let value = parse(&text).expect("generated JSON parses");
        let out = String::from_utf8(value.to_vec()).unwrap();
        prop_assert_eq!(&out, &minify(&text));
        // serde_json reads both alike (including refusing a number past f64).
        let theirs = serde_json::from_str::<Value>(&text).map_err(|_| ());
        let ours = serde_json::from_str::<Value>(&out).map_err(|_| ());
        prop_assert_eq!(theirs, ours);
        let array = format!("[{text}]");
        let element = &parse_array(&array, 1).unwrap().items[0];
        prop_assert_eq!(&*element.minified_text(), out.as_bytes());
        prop_assert_eq!(element.minified, text.trim() == out);
    }

    /// Our parser takes exactly what serde_json takes, but for numbers past
    /// `f64`, which we keep as text.
    #[test]
    fn accepts_what_serde_json_accepts(text in json_text(), cut in 0usize..200, byte in any::<u8>()) {
        let mut bytes = text.into_bytes();
        if !bytes.is_empty() {
            let i = cut % bytes.len();
            bytes[i] = byte;
        }
        let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(()) };
        let theirs = serde_json::from_str::<Value>(text);
        let ours = parse(text);
        match (&theirs, &ours) {
            (Err(e), Ok(_)) => prop_assert!(e.to_string().starts_with("number out of range"), "{e}: {text}"),
            (Ok(_), Err(e)) => prop_assert!(false, "{e}: {text}"),
            _ => {}
        }
        if let (Ok(theirs), Ok(ours)) = (theirs, ours) {
            prop_assert_eq!(theirs, ours.to_value());
        }
    }
}

#[test]
fn payloads_decode_for_display_with_numbers_past_f64_as_text() {
    assert_eq!(
        to_value(br#"{"n":1E400,"m":1,"s":"caf\u00e9"}"#),
        Some(serde_json::json!({"n": "1E400", "m": 1, "s": "café"}))
    );
    assert_eq!(to_value(b"{"), None);
}

/// Every object's keys, decoded, through a set: the reference for
/// [`Element::repeated_key`].
fn has_repeat_anywhere(value: &Json<'_>) -> bool {
    match value {
        Json::Array(items) => items.iter().any(has_repeat_anywhere),
        Json::Object(entries) => {
            let keys: std::collections::HashSet<String> = entries
                .iter()
                .map(|(k, _)| k.as_cow().into_owned())
                .collect();
            keys.len() < entries.len() || entries.iter().any(|(_, v)| has_repeat_anywhere(v))
        }
        _ => false,
    }
}

fn first(text: &str) -> Element<'_> {
    parse_array(text, 10).unwrap().items.remove(0)
}

#[test]
fn a_key_written_twice_is_flagged_with_its_path() {
    let e = first(r#"[{"event_name":5,"event_name":"purchase"}]"#);
    assert!(e.repeated_key);
    assert_eq!(
        e.value.repeated_key_path("events[0]").as_deref(),
        Some("events[0].event_name")
    );
    // Escapes are decoded before keys are compared.
    assert!(first(r#"[{"a":1,"\u0061":2}]"#).repeated_key);
    assert!(first(r#"[{"é":1,"\u00e9":2}]"#).repeated_key);
    // Deep inside, after many keys (the set, not the pairs).
    let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    let text = format!(
        r#"[{{"event_name":"a","items":[{{"x":1}},{{{},"k7":0}}]}}]"#,
        many.join(",")
    );
    let e = first(&text);
    assert!(e.repeated_key);
    assert_eq!(
        e.value.repeated_key_path("events[3]").as_deref(),
        Some("events[3].items[1].k7")
    );
    // The same key in two objects is no repeat; nor is a value equal to a key.
    let e = first(r#"[{"a":{"a":"a"},"b":[{"a":1},{"a":2}]}]"#);
    assert!(!e.repeated_key);
    assert_eq!(e.value.repeated_key_path("events[0]"), None);
    // The flag belongs to its own element.
    let items = parse_array(r#"[{"a":1,"a":2},{"a":1}]"#, 10).unwrap().items;
    assert!(items[0].repeated_key && !items[1].repeated_key);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The parser's flag and the path agree with a set of every object's
    /// decoded keys.
    #[test]
    fn repeated_keys_are_found_exactly(text in json_text()) {
        let text = format!("[{text}]");
        let e = first(&text);
        let want = has_repeat_anywhere(&e.value);
        prop_assert_eq!(e.repeated_key, want, "{}", text);
        prop_assert_eq!(e.value.repeated_key_path("e").is_some(), want, "{}", text);
    }
}
