//! The one value codec: a version byte, then JSON.
//!
//! The version byte makes an on-disk format change explicit: a decoder that
//! meets a version it does not know fails instead of misreading the bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

const VERSION: u8 = 1;

/// Encodes a record for storage.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    // Room for an audit row or a small user: growing from one byte took up
    // to seven reallocations per record.
    let mut out = Vec::with_capacity(512);
    out.push(VERSION);
    serde_json::to_writer(&mut out, value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode record: {e}")))?;
    Ok(out)
}

/// Decodes a stored record.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(body(bytes)?)
        .map_err(|e| StoreError::Corrupt(format!("undecodable record: {e}")))
}

/// A stored record's JSON, for readers that decode only part of it.
pub fn body(bytes: &[u8]) -> Result<&[u8], StoreError> {
    match bytes.split_first() {
        Some((&VERSION, body)) => Ok(body),
        Some((v, _)) => Err(StoreError::Corrupt(format!(
            "record has unknown codec version {v}"
        ))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
}

/// Serde adapter storing bytes as base64 text inside JSON records.
pub mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Deserializes base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::ResourceRecord;
    use rand::{Rng, SeedableRng};
    use serde_json::{Map, Value, json};

    fn random_value(rng: &mut rand::rngs::StdRng, depth: usize) -> Value {
        match rng.random_range(0..if depth == 0 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => json!(rng.random::<bool>()),
            2 => json!(rng.random::<i64>()),
            3 => {
                let len = rng.random_range(0..12);
                // Any characters: quotes, escapes, controls and non-ASCII included.
                json!(
                    (0..len)
                        .map(|_| char::from_u32(rng.random_range(0..0x2000)).unwrap_or('?'))
                        .collect::<String>()
                )
            }
            4 => json!(
                (0..rng.random_range(0..4))
                    .map(|_| random_value(rng, depth - 1))
                    .collect::<Vec<_>>()
            ),
            _ => Value::Object(
                (0..rng.random_range(0..4))
                    .map(|i| (format!("k{i}\u{e9}\""), random_value(rng, depth - 1)))
                    .collect(),
            ),
        }
    }

    /// Property: any resource record decodes to itself, and the tombstone
    /// check on the encoded bytes agrees with the decoded field.
    #[test]
    fn resource_records_round_trip_and_tombstones_are_read_off_the_bytes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(rand::random());
        for _ in 0..2000 {
            let data: Map<String, Value> = (0..rng.random_range(0..6))
                .map(|i| (format!("a{i}"), random_value(&mut rng, 3)))
                .collect();
            let record = ResourceRecord {
                id: format!("id-{}", rng.random::<u32>()),
                schemas: vec!["urn:ietf:params:scim:schemas:core:2.0:User".into()],
                data,
                password_hash: rng.random::<bool>().then(|| "$argon2id$x".into()),
                created_ms: rng.random(),
                modified_ms: rng.random(),
                version: rng.random(),
                previous_id: rng.random::<bool>().then(|| "old".into()),
                deleted_ms: rng.random::<bool>().then(|| rng.random()),
            };
            let bytes = encode(&record).unwrap();
            assert_eq!(decode::<ResourceRecord>(&bytes).unwrap(), record);
            assert_eq!(
                crate::store::is_tombstone(&bytes),
                record.deleted_ms.is_some(),
                "{record:?}"
            );
        }
    }

    #[test]
    fn round_trip_and_version_check() {
        let bytes = encode(&vec![1, 2, 3]).unwrap();
        assert_eq!(decode::<Vec<i32>>(&bytes).unwrap(), vec![1, 2, 3]);
        let mut wrong = bytes.clone();
        wrong[0] = 9;
        assert!(decode::<Vec<i32>>(&wrong).is_err());
        assert!(decode::<Vec<i32>>(&[]).is_err());
    }
}
