//! The ANS-104 tag block: Avro `array<record{name: string, value: string}>` (ANS-104 §1.3.1,
//! arbundles `src/tags.ts`).
//!
//! Avro longs are zigzag-encoded, then written as LEB128 varints; a string is its byte length
//! (a long) followed by its bytes. An array is a sequence of blocks, each a count followed by that
//! many records, ended by a count of 0. A negative count `-n` means `n` records preceded by the
//! block's byte size, which readers skip.

use serde::{Deserialize, Serialize};

use super::item::ItemError;

/// One data-item tag. Names are case-sensitive and may repeat; order is significant.
///
/// Serialises as `{"name": …, "value": …}`, the shape aoconnect and the SU use in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag name.
    pub name: String,
    /// The tag value (may be empty: aoconnect allows it and arbundles verifies it).
    pub value: String,
}

impl Tag {
    /// A tag from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Tag {
        Tag {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Encodes tags exactly as arbundles' writer does: an empty list is 0 bytes (not even the
/// terminator); otherwise one block `long(count) (string(name) string(value))* long(0)`.
///
/// Items created by aoconnect use this canonical form, and the reference SU re-encodes tags this
/// way before hashing, so signing with it keeps items valid everywhere.
pub fn encode_tags(tags: &[Tag]) -> Vec<u8> {
    let mut out = Vec::new();
    if tags.is_empty() {
        return out;
    }
    write_long(&mut out, len_as_long(tags.len()));
    for tag in tags {
        write_bytes(&mut out, tag.name.as_bytes());
        write_bytes(&mut out, tag.value.as_bytes());
    }
    write_long(&mut out, 0);
    out
}

/// Decodes a tag block. An empty block is an empty list. Blocks with negative counts (which
/// carry a byte size) are accepted, as any Avro reader must.
///
/// Names and values are decoded as UTF-8, replacing invalid sequences (every AO client treats
/// them as strings); the caller keeps the raw bytes for hashing and re-serialising.
///
/// Stricter than arbundles' reader, which reads a missing terminator as the end of the list and
/// ignores bytes after it: both are rejected here. No writer produces them, and the reference SU
/// rejects such items anyway (it cannot decode the first, and its re-encoding breaks the
/// signature of the second).
pub fn decode_tags(bytes: &[u8]) -> Result<Vec<Tag>, ItemError> {
    let mut reader = Reader { bytes, pos: 0 };
    let mut tags = Vec::new();
    if bytes.is_empty() {
        return Ok(tags);
    }
    loop {
        let count = reader.read_long("a block count")?;
        if count == 0 {
            break;
        }
        if count < 0 {
            // The byte size is redundant for us; it must still be a well-formed long.
            reader.read_long("a block byte size")?;
        }
        for _ in 0..count.unsigned_abs() {
            let name = reader.read_string("tag name")?;
            let value = reader.read_string("tag value")?;
            tags.push(Tag {
                name: String::from_utf8_lossy(name).into_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
            });
        }
    }
    if reader.pos != bytes.len() {
        return Err(ItemError::BadTags {
            offset: reader.pos,
            reason: format!(
                "{} bytes left over after the end of the tag list",
                bytes.len() - reader.pos
            ),
        });
    }
    Ok(tags)
}

/// A length as an Avro long. Lengths above `i64::MAX` cannot exist in memory.
fn len_as_long(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (zigzag & 0x7f) as u8;
        zigzag >>= 7;
        if zigzag == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, len_as_long(bytes.len()));
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A zigzag varint of at most 10 bytes (64 bits).
    fn read_long(&mut self, what: &str) -> Result<i64, ItemError> {
        let start = self.pos;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(tags_error(
                    start,
                    format!("the tag block ends in the middle of {what}"),
                ));
            };
            self.pos += 1;
            let bits = u64::from(byte & 0x7f);
            // The 10th byte may only contribute the 64th bit.
            if shift == 63 && bits > 1 {
                return Err(tags_error(start, format!("{what} does not fit in 64 bits")));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(tags_error(start, format!("{what} does not fit in 64 bits")));
            }
        }
        Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    fn read_string(&mut self, what: &str) -> Result<&'a [u8], ItemError> {
        let start = self.pos;
        let len = self.read_long(&format!("the length of a {what}"))?;
        if len < 0 {
            return Err(tags_error(
                start,
                format!("a {what} has negative length {len}"),
            ));
        }
        let remaining = self.bytes.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= remaining)
            .ok_or_else(|| {
                tags_error(
                    start,
                    format!(
                        "a {what} of {len} bytes runs past the end of the tag block \
                         ({remaining} bytes remain)"
                    ),
                )
            })?;
        let value = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(value)
    }
}

fn tags_error(offset: usize, reason: String) -> ItemError {
    ItemError::BadTags { offset, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_list_is_zero_bytes() {
        assert!(encode_tags(&[]).is_empty());
        assert_eq!(decode_tags(&[]).unwrap(), Vec::<Tag>::new());
    }

    #[test]
    fn known_encoding_by_hand() {
        // count 2 -> zigzag 4; "a" -> len 1 -> 0x02; "" -> 0x00; "Type" -> 0x08.
        let tags = vec![Tag::new("a", "bc"), Tag::new("Type", "")];
        let expected = [
            0x04, // block of 2
            0x02, b'a', 0x04, b'b', b'c', // a = bc
            0x08, b'T', b'y', b'p', b'e', 0x00, // Type = ""
            0x00, // end of array
        ];
        assert_eq!(encode_tags(&tags), expected);
        assert_eq!(decode_tags(&expected).unwrap(), tags);
    }

    #[test]
    fn multi_byte_lengths() {
        // A 200-byte value: zigzag(200) = 400 = 0b1_1001_0000 -> 0x90 0x03.
        let value = "v".repeat(200);
        let bytes = encode_tags(&[Tag::new("k", value.clone())]);
        assert_eq!(&bytes[..4], &[0x02, 0x02, b'k', 0x90]);
        assert_eq!(bytes[4], 0x03);
        assert_eq!(bytes.len(), 1 + 2 + 2 + 200 + 1);
        assert_eq!(decode_tags(&bytes).unwrap(), vec![Tag::new("k", value)]);
        // 64 tags: zigzag(64) = 128 -> 0x80 0x01.
        let many: Vec<Tag> = (0..64).map(|i| Tag::new(format!("n{i}"), "")).collect();
        let bytes = encode_tags(&many);
        assert_eq!(&bytes[..2], &[0x80, 0x01]);
        assert_eq!(decode_tags(&bytes).unwrap(), many);
    }

    #[test]
    fn negative_block_counts_decode() {
        // Block of -1 (zigzag 0x01) with byte size 6 (0x0c), then a block of 1, then the end.
        let bytes = [
            0x01, 0x0c, 0x02, b'a', 0x04, b'b', b'c', // -1 block: a = bc
            0x02, 0x02, b'x', 0x00, // +1 block: x = ""
            0x00,
        ];
        assert_eq!(
            decode_tags(&bytes).unwrap(),
            vec![Tag::new("a", "bc"), Tag::new("x", "")]
        );
        // -2 (zigzag 0x03), and a byte size that is not checked (arbundles skips it too).
        let bytes = [
            0x03, 0x7e, 0x02, b'p', 0x02, b'q', 0x02, b'r', 0x02, b's', 0x00,
        ];
        assert_eq!(
            decode_tags(&bytes).unwrap(),
            vec![Tag::new("p", "q"), Tag::new("r", "s")]
        );
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let bytes = [0x02, 0x02, 0xff, 0x00, 0x00];
        assert_eq!(decode_tags(&bytes).unwrap(), vec![Tag::new("\u{fffd}", "")]);
    }

    #[test]
    fn malformed_blocks_are_rejected_with_the_tags_field() {
        let cases: [(&[u8], &str); 7] = [
            (
                &[0x02, 0x02, b'a', 0x00],
                "ends in the middle of a block count",
            ),
            (
                &[0x02, 0x02, b'a'],
                "ends in the middle of the length of a tag value",
            ),
            (&[0x02, 0x08, b'a', 0x00, 0x00], "runs past the end"),
            (&[0x02, 0x01, 0x00, 0x00], "negative length -1"),
            (&[0x02, 0x02, b'a', 0x00, 0x00, 0xaa], "1 bytes left over"),
            (&[0x80, 0x80], "ends in the middle of a block count"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                "does not fit in 64 bits",
            ),
        ];
        for (bytes, expected) in cases {
            let err = decode_tags(bytes).unwrap_err();
            assert_eq!(err.field(), "tags", "{bytes:?}");
            assert!(
                err.to_string().contains(expected),
                "{bytes:?}: {err} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn longs_round_trip_at_the_extremes() {
        for value in [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = Vec::new();
            write_long(&mut out, value);
            assert!(out.len() <= 10);
            let mut reader = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(reader.read_long("x").unwrap(), value);
            assert_eq!(reader.pos, out.len());
        }
    }

    fn tag_strategy() -> impl Strategy<Value = Tag> {
        ("\\PC{0,40}", "\\PC{0,80}").prop_map(|(name, value)| Tag { name, value })
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(tags in proptest::collection::vec(tag_strategy(), 0..20)) {
            prop_assert_eq!(decode_tags(&encode_tags(&tags)).unwrap(), tags);
        }

        #[test]
        fn split_and_negative_blocks_decode_to_the_same_tags(
            tags in proptest::collection::vec(tag_strategy(), 1..12),
            split in 0usize..12,
            negative in any::<bool>(),
        ) {
            let split = split.min(tags.len());
            let mut bytes = Vec::new();
            for (block, negate) in [(&tags[..split], negative), (&tags[split..], !negative)] {
                if block.is_empty() {
                    continue;
                }
                let mut body = Vec::new();
                for tag in block {
                    write_bytes(&mut body, tag.name.as_bytes());
                    write_bytes(&mut body, tag.value.as_bytes());
                }
                let count = len_as_long(block.len());
                if negate {
                    write_long(&mut bytes, -count);
                    write_long(&mut bytes, len_as_long(body.len()));
                } else {
                    write_long(&mut bytes, count);
                }
                bytes.extend_from_slice(&body);
            }
            write_long(&mut bytes, 0);
            prop_assert_eq!(decode_tags(&bytes).unwrap(), tags);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_tags(&bytes);
        }
    }
}
