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
