//! Hash keys, byte-identical to the platform's `util.hash_binary`.
//!
//! `util.hash_binary(text)` is `digest(text, 'sha256')`: the SHA-256 of the UTF-8 bytes of its
//! argument. Every hash key of the extension is `hash_binary(business_key(tenant, parts))`, so a
//! key can always be re-derived in plain SQL on the platform:
//!
//! ```text
//! business_key = lower_hex(tenant_hk) ( '|' part )*
//! part         = '\N'                               -- NULL
//!              | text with '\' -> '\\', '|' -> '\|'  -- everything else, byte for byte
//! ```
//!
//! * The tenant comes first in every key, so equal business keys of two tenants never collide.
//! * The escaping makes the encoding injective: `("a|b","c")`, `("a","b|c")` and
//!   `("\N")` vs NULL all give different strings (the platform's `util.hash_concat` skips NULLs
//!   and does not escape its `' | '` delimiter, so it cannot serve as the recipe).
//! * The recipe itself does not normalise: each business key says how its parts are normalised
//!   before they get here (a domain is lower-cased, a path is the enriched path, ...).

use sha2::{Digest, Sha256};

/// Separates the tenant and the parts of a business key.
pub const KEY_DELIMITER: char = '|';
/// Stands for a NULL part; cannot be produced by an escaped non-NULL part.
pub const NULL_PLACEHOLDER: &str = "\\N";

/// A SHA-256 hash key, as stored in the vault's `bytea` key columns.
pub type HashKey = [u8; 32];

/// `util.hash_binary(input)`: SHA-256 of the UTF-8 bytes.
pub fn hash_binary(input: &str) -> HashKey {
    Sha256::digest(input.as_bytes()).into()
}

/// The business key string of the recipe; `util.hash_binary` of it equals [`hash_key`].
pub fn business_key(tenant_hk: &[u8], parts: &[Option<&str>]) -> String {
    let tenant = to_hex(tenant_hk);
    let mut out = String::with_capacity(tenant.len() + parts.len() * 16);
    encode(with_tenant(&tenant, parts), &mut |piece: &str| {
        out.push_str(piece)
    });
    out
}

/// The hash key of a business key, computed without materialising the string.
pub fn hash_key(tenant_hk: &[u8], parts: &[Option<&str>]) -> HashKey {
    let tenant = to_hex(tenant_hk);
    let mut hasher = Sha256::new();
    encode(with_tenant(&tenant, parts), &mut |piece: &str| {
        hasher.update(piece.as_bytes())
    });
    hasher.finalize().into()
}

/// A satellite row's hash_diff: its attribute values in column order, encoded as the parts of a
/// business key are (`|` between values, backslash escapes, `\N` for NULL), without a tenant.
/// Load metadata (dates, record source) is never part of it.
pub fn hash_diff(attributes: &[Option<&str>]) -> HashKey {
    let mut hasher = Sha256::new();
    encode(attributes.iter().copied(), &mut |piece: &str| {
        hasher.update(piece.as_bytes())
    });
    hasher.finalize().into()
}

fn with_tenant<'a>(
    tenant_hex: &'a str,
    parts: &'a [Option<&'a str>],
) -> impl Iterator<Item = Option<&'a str>> {
    std::iter::once(Some(tenant_hex)).chain(parts.iter().copied())
}

/// Lower-case hexadecimal, as PostgreSQL's `encode(bytea, 'hex')` writes it.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// The single definition of the recipe: the encoded parts with `|` between them.
fn encode<'a>(parts: impl Iterator<Item = Option<&'a str>>, sink: &mut dyn FnMut(&str)) {
    let mut delimiter = [0u8; 4];
    let delimiter = KEY_DELIMITER.encode_utf8(&mut delimiter);
    for (index, part) in parts.enumerate() {
        if index > 0 {
            sink(delimiter);
        }
        encode_part(part, sink);
    }
}

fn encode_part(part: Option<&str>, sink: &mut dyn FnMut(&str)) {
    match part {
        None => sink(NULL_PLACEHOLDER),
        Some(text) => {
            let mut rest = text;
            while let Some(at) = rest.find(['\\', KEY_DELIMITER]) {
                sink(&rest[..at]);
                sink(if rest.as_bytes()[at] == b'\\' {
                    "\\\\"
                } else {
                    "\\|"
                });
                rest = &rest[at + 1..];
            }
            sink(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Inverse of the part encoding; exists to prove the encoding is injective.
    fn decode_parts(key: &str) -> (String, Vec<Option<String>>) {
        let mut fields: Vec<String> = vec![String::new()];
        let mut raw: Vec<bool> = vec![true];
        let mut chars = key.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('N') => {
                        raw.pop();
                        raw.push(false);
                        fields.last_mut().unwrap().push_str(NULL_PLACEHOLDER)
                    }
                    Some(escaped) => fields.last_mut().unwrap().push(escaped),
                    None => panic!("dangling escape in {key:?}"),
                },
                KEY_DELIMITER => {
                    fields.push(String::new());
                    raw.push(true);
                }
                other => fields.last_mut().unwrap().push(other),
            }
        }
        let tenant = fields.remove(0);
        raw.remove(0);
        let parts = fields
            .into_iter()
            .zip(raw)
            .map(|(f, is_text)| is_text.then_some(f))
            .collect();
        (tenant, parts)
    }

    #[test]
    fn hash_binary_matches_published_sha256_vectors() {
        assert_eq!(
            to_hex(&hash_binary("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            to_hex(&hash_binary("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // UTF-8 bytes, not code points or UTF-16: "é" is c3 a9.
        assert_eq!(hash_binary("é"), hash_binary("\u{e9}"));
        assert_ne!(hash_binary("é"), hash_binary("e\u{301}"));
    }

    #[test]
    fn business_key_layout_is_the_documented_one() {
        let tenant = [0xab, 0x01];
        assert_eq!(business_key(&tenant, &[]), "ab01");
        assert_eq!(
            business_key(&tenant, &[Some("example.com"), Some("/a|b\\c"), None]),
            "ab01|example.com|/a\\|b\\\\c|\\N"
        );
        assert_eq!(business_key(&tenant, &[Some("")]), "ab01|");
    }

    #[test]
    fn hash_diff_is_the_key_encoding_without_a_tenant() {
        assert_eq!(
            hash_diff(&[Some("Pricing"), None, Some("a|b")]),
            hash_binary("Pricing|\\N|a\\|b")
        );
        assert_eq!(hash_diff(&[]), hash_binary(""));
        assert_ne!(
            hash_diff(&[Some("a"), None]),
            hash_diff(&[Some("a"), Some("")])
        );
        assert_ne!(
            hash_diff(&[Some("a|b")]),
            hash_diff(&[Some("a"), Some("b")])
        );
    }

    #[test]
    fn null_and_the_text_backslash_n_differ() {
        let t = [1u8; 32];
        assert_ne!(hash_key(&t, &[None]), hash_key(&t, &[Some("\\N")]));
        assert_ne!(hash_key(&t, &[None]), hash_key(&t, &[Some("")]));
        assert_ne!(hash_key(&t, &[]), hash_key(&t, &[Some("")]));
    }

    #[test]
    fn tenants_never_share_a_key() {
        let page = [Some("example.com"), Some("/pricing")];
        assert_ne!(hash_key(&[1; 32], &page), hash_key(&[2; 32], &page));
    }

    proptest! {
        #[test]
        fn streaming_hash_equals_hash_of_the_business_key(
            tenant in proptest::collection::vec(any::<u8>(), 0..40),
            parts in proptest::collection::vec(proptest::option::of(".*"), 0..6),
        ) {
            let parts: Vec<Option<&str>> = parts.iter().map(|p| p.as_deref()).collect();
            prop_assert_eq!(hash_key(&tenant, &parts), hash_binary(&business_key(&tenant, &parts)));
        }

        #[test]
        fn encoding_is_injective(
            tenant in proptest::collection::vec(any::<u8>(), 1..40),
            parts in proptest::collection::vec(proptest::option::of("[a|\\\\N]{0,6}|.{0,12}"), 0..6),
        ) {
            let borrowed: Vec<Option<&str>> = parts.iter().map(|p| p.as_deref()).collect();
            let (decoded_tenant, decoded) = decode_parts(&business_key(&tenant, &borrowed));
            prop_assert_eq!(decoded_tenant, to_hex(&tenant));
            prop_assert_eq!(decoded, parts);
        }

        #[test]
        fn to_hex_matches_format(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(to_hex(&bytes), expected);
        }
    }
}
