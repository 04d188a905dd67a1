//! List and search parameters (RFC 7644 §3.4.2, §3.4.3) and cursor pagination (RFC 9865).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::error::ScimError;
use super::filter::{self, AttrPath, Filter};
use super::resource::Projection;
use super::schema::SEARCH_REQUEST;

/// Page size when the client gives none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page served (advertised in ServiceProviderConfig).
pub const MAX_PAGE_SIZE: usize = 1000;

fn invalid(msg: impl Into<String>) -> ScimError {
    ScimError::typed(400, "invalidValue", msg)
}

/// A parsed list or search request.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// `filter`.
    pub filter: Option<Filter>,
    /// `sortBy`.
    pub sort_by: Option<AttrPath>,
    /// `sortOrder=descending`.
    pub descending: bool,
    /// `startIndex`, 1-based.
    pub start_index: usize,
    /// `count` (capped at `MAX_PAGE_SIZE`).
    pub count: usize,
    /// `cursor`: `Some("")` asks for the first cursor page.
    pub cursor: Option<String>,
    /// `attributes` / `excludedAttributes`.
    pub projection: Projection,
    /// Console only (never from a SCIM request): list soft-deleted resources too.
    pub include_deleted: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: None,
            sort_by: None,
            descending: false,
            start_index: 1,
            count: DEFAULT_PAGE_SIZE,
            cursor: None,
            projection: Projection::default(),
            include_deleted: false,
        }
    }
}

fn parse_int(name: &str, raw: &str) -> Result<i64, ScimError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| invalid(format!("{name} must be an integer, got {raw:?}")))
}

impl ListQuery {
    /// From URL query parameters (names matched case-insensitively).
    pub fn from_params<K: AsRef<str>, V: AsRef<str>>(
        params: &[(K, V)],
    ) -> Result<ListQuery, ScimError> {
        let get = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_ref())
        };
        let mut q = ListQuery::default();
        if let Some(f) = get("filter") {
            q.filter = Some(filter::parse(f)?);
        }
        q.set_sort(get("sortBy"), get("sortOrder"))?;
        if let Some(s) = get("startIndex") {
            q.start_index = parse_int("startIndex", s)?.max(1) as usize;
        }
        if let Some(c) = get("count") {
            q.count = (parse_int("count", c)?.max(0) as usize).min(MAX_PAGE_SIZE);
        }
        q.cursor = get("cursor").map(str::to_string);
        q.projection = Projection::parse(get("attributes"), get("excludedAttributes"))?;
        Ok(q)
    }

    /// From a `POST .search` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value) -> Result<ListQuery, ScimError> {
        let obj = body.as_object().ok_or_else(|| {
            ScimError::typed(
                400,
                "invalidSyntax",
                "the body must be a SearchRequest object",
            )
        })?;
        let get = |name: &str| super::schema::get_ci(obj, name).filter(|v| !v.is_null());
        if let Some(schemas) = get("schemas") {
            let ok = schemas
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(SEARCH_REQUEST)));
            if !ok {
                return Err(ScimError::typed(
                    400,
                    "invalidSyntax",
                    format!("schemas must contain {SEARCH_REQUEST}"),
                ));
            }
        }
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("{name} must be a string"))),
            }
        };
        let list = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| invalid(format!("{name} must be an array of strings")))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| Some(v.join(","))),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("{name} must be an array of strings"))),
            }
        };
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match get(name) {
                None => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| invalid(format!("{name} must be an integer"))),
                Some(Value::String(s)) => parse_int(name, s).map(Some),
                Some(_) => Err(invalid(format!("{name} must be an integer"))),
            }
        };
        let mut q = ListQuery::default();
        if let Some(f) = text("filter")? {
            q.filter = Some(filter::parse(&f)?);
        }
        let sort_by = text("sortBy")?;
        let sort_order = text("sortOrder")?;
        q.set_sort(sort_by.as_deref(), sort_order.as_deref())?;
        if let Some(s) = int("startIndex")? {
            q.start_index = s.max(1) as usize;
        }
        if let Some(c) = int("count")? {
            q.count = (c.max(0) as usize).min(MAX_PAGE_SIZE);
        }
        q.cursor = text("cursor")?;
        q.projection = Projection::parse(
            list("attributes")?.as_deref(),
            list("excludedAttributes")?.as_deref(),
        )?;
        Ok(q)
    }

    fn set_sort(&mut self, by: Option<&str>, order: Option<&str>) -> Result<(), ScimError> {
        if let Some(by) = by.filter(|b| !b.trim().is_empty()) {
            self.sort_by =
                Some(AttrPath::parse(by.trim()).map_err(|m| invalid(format!("sortBy: {m}")))?);
        }
        self.descending = match order.map(|o| o.trim().to_ascii_lowercase()) {
            None => false,
            Some(o) if o == "ascending" || o.is_empty() => false,
            Some(o) if o == "descending" => true,
            Some(o) => {
                return Err(invalid(format!(
                    "sortOrder must be ascending or descending, got {o:?}"
                )));
            }
        };
        Ok(())
    }
}

/// Where a cursor page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CursorPos {
    /// After the item with this key (default order).
    After(String),
    /// Before the item with this key (default order, going back).
    Before(String),
    /// At this offset (sorted results).
    Offset(usize),
}

/// Encodes a cursor (opaque to clients).
pub fn encode_cursor(pos: &CursorPos) -> String {
    let v = match pos {
        CursorPos::After(k) => json!({"a": k}),
        CursorPos::Before(k) => json!({"b": k}),
        CursorPos::Offset(n) => json!({"o": n}),
    };
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Decodes a cursor; `None` for the empty cursor (first page).
pub fn decode_cursor(cursor: &str) -> Result<Option<CursorPos>, ScimError> {
    if cursor.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ScimError::typed(
            400,
            "invalidCursor",
            "the cursor is not one this server issued",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if let Some(k) = v.get("a").and_then(Value::as_str) {
        return Ok(Some(CursorPos::After(k.to_string())));
    }
    if let Some(k) = v.get("b").and_then(Value::as_str) {
        return Ok(Some(CursorPos::Before(k.to_string())));
    }
    if let Some(n) = v.get("o").and_then(Value::as_u64) {
        return Ok(Some(CursorPos::Offset(n as usize)));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_okta_and_entra_queries() {
        let q = ListQuery::from_params(&params(&[
            ("filter", "userName eq \"test.user@okta.local\""),
            ("startIndex", "1"),
            ("count", "100"),
        ]))
        .unwrap();
        assert!(q.filter.is_some());
        assert_eq!((q.start_index, q.count), (1, 100));
        let q = ListQuery::from_params(&params(&[
            ("excludedAttributes", "members"),
            ("filter", "displayName eq \"displayName\""),
        ]))
        .unwrap();
        assert_eq!(q.projection.excluded.len(), 1);
        let q =
            ListQuery::from_params(&params(&[("count", "5000"), ("startIndex", "-3")])).unwrap();
        assert_eq!((q.start_index, q.count), (1, MAX_PAGE_SIZE));
    }

    #[test]
    fn bad_parameters_are_400() {
        for p in [
            params(&[("count", "ten")]),
            params(&[("startIndex", "x")]),
            params(&[("sortOrder", "sideways")]),
            params(&[("filter", "userName eq")]),
        ] {
            assert_eq!(ListQuery::from_params(&p).unwrap_err().status, 400);
        }
    }

    #[test]
    fn search_body() {
        let q = ListQuery::from_search(&json!({
            "schemas": [SEARCH_REQUEST],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1, "count": 10, "sortBy": "userName", "sortOrder": "descending"
        }))
        .unwrap();
        assert_eq!(q.projection.attributes.len(), 2);
        assert!(q.descending && q.sort_by.is_some());
        assert!(ListQuery::from_search(&json!({"schemas": ["x"]})).is_err());
    }

    #[test]
    fn cursors_round_trip() {
        for pos in [
            CursorPos::After("abc".into()),
            CursorPos::Before("x".into()),
            CursorPos::Offset(7),
        ] {
            assert_eq!(decode_cursor(&encode_cursor(&pos)).unwrap(), Some(pos));
        }
        assert_eq!(decode_cursor("").unwrap(), None);
        assert_eq!(
            decode_cursor("!!").unwrap_err().scim_type,
            Some("invalidCursor")
        );
    }
}
