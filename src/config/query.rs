//! URL syntax only: finding the query and the fragment in what a user pasted, splitting
//! them into key/value pairs, and percent-decoding and -encoding. Knows nothing of the
//! parameters themselves.

/// The two places parameters may sit in `input`: its query, then its fragment.
///
/// `input` may be a bare query (`a=1&b=2`), one with a leading `?`, or a whole URL
/// (`http://host/path?a=1#b=2`). A fragment counts as parameters only when it holds an
/// `=` (`#a=1`, `#?a=1`); otherwise it is a plain anchor (`#results`) and is ignored.
/// Text before the first `=` or `&` that holds a `/` is a path, not a query.
pub(crate) fn query_and_fragment(input: &str) -> (&str, &str) {
    let input = input.trim();
    let (before, fragment) = input.split_once('#').unwrap_or((input, ""));
    let query = match before.split_once('?') {
        Some((_, query)) => query,
        None => {
            let first_key = before.split(['=', '&']).next().unwrap_or("");
            if first_key.contains('/') { "" } else { before }
        }
    };
    let fragment = fragment.strip_prefix('?').unwrap_or(fragment);
    let fragment = if fragment.contains('=') { fragment } else { "" };
    (query, fragment)
}

/// The decoded `(key, value)` pairs of a query, in order. Empty pieces (`&&`) are skipped;
/// a key without `=` has the value "".
pub(crate) fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            (decode(key).trim().to_string(), decode(value))
        })
        .collect()
}

/// Percent-decoding as in HTML forms: `+` is a space, `%XX` a byte; a `%` not followed by
/// two hex digits stays as it is. Bytes that are not UTF-8 become U+FFFD.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes every byte except the unreserved characters of RFC 3986 and `:` and
/// `,`, which are legal in a query and keep models readable (`model=mlp:300,100`).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_query_and_the_fragment() {
        for (input, want) in [
            ("a=1&b=2", ("a=1&b=2", "")),
            ("?a=1", ("a=1", "")),
            ("http://host/path?a=1#b=2", ("a=1", "b=2")),
            ("http://host/#a=1&b=2", ("", "a=1&b=2")),
            ("http://host/#?a=1", ("", "a=1")),
            ("http://host/path", ("", "")),
            ("/riglab/?a=1#results", ("a=1", "")),
            ("  ?a=1  ", ("a=1", "")),
            ("", ("", "")),
            ("?", ("", "")),
            ("#", ("", "")),
        ] {
            assert_eq!(query_and_fragment(input), want, "{input}");
        }
    }

    #[test]
    fn splits_pairs_and_skips_empty_pieces() {
        let p = pairs("a=1&&b&c=&=d&e=f=g");
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            p,
            [("a", "1"), ("b", ""), ("c", ""), ("", "d"), ("e", "f=g")]
        );
        assert!(pairs("&&&").is_empty());
    }

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(decode("mlp%3A300%2c100"), "mlp:300,100");
        assert_eq!(decode("a+b%20c"), "a b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%C3%A9"), "é");
        assert_eq!(decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn encodes_only_what_must_be() {
        assert_eq!(encode("mlp:300,100"), "mlp:300,100");
        assert_eq!(encode("0.0005"), "0.0005");
        assert_eq!(encode("a b&c=d+é"), "a%20b%26c%3Dd%2B%C3%A9");
        for s in ["a b&c=d+é%", "x#y?z", "plain"] {
            assert_eq!(decode(&encode(s)), s);
        }
    }
}
