//! Resources in and out: validating and normalising request bodies against the
//! schemas, and rendering/projecting stored resources (RFC 7643 §2, RFC 7644 §3.4.2.5).
//!
//! Stored form: canonical attribute names, extension attributes under their
//! canonical URN, no `id`, `meta`, `schemas`, `password`, `groups` or `members`
//! (those are kept apart or derived).

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, Resolver};
use super::schema::{
    AttrType, Attribute, ENTERPRISE_USER, Mutability, Registry, ResourceKind, Returned, Schema,
};

fn invalid(msg: impl Into<String>) -> ScimError {
    ScimError::typed(400, "invalidValue", msg)
}

/// A group member as a client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's id.
    pub value: String,
    /// "User" or "Group", when the client said.
    pub kind: Option<String>,
}

/// A validated request body.
#[derive(Clone, Debug, Default)]
pub struct Normalized {
    /// Schema URNs of the resource (core first, then extensions with data).
    pub schemas: Vec<String>,
    /// Attributes in stored form.
    pub data: Map<String, Value>,
    /// Users: the cleartext password to hash (never stored as given).
    pub password: Option<String>,
    /// Groups: the members, when the body had the attribute.
    pub members: Option<Vec<MemberRef>>,
    /// What leniency did with the body (for the provisioning log).
    pub notes: Vec<String>,
}

/// How unknown input is treated.
#[derive(Clone, Copy, Debug, Default)]
pub struct Leniency {
    /// Store unregistered extension objects as given instead of refusing them.
    pub unknown_extensions: bool,
}

/// Validates and normalises a User or Group body for create or replace.
pub fn normalize(
    kind: ResourceKind,
    registry: &Registry,
    body: &Value,
    leniency: Leniency,
) -> Result<Normalized, ScimError> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::typed(
            400,
            "invalidSyntax",
            "the request body must be a JSON object",
        )
    })?;
    let core = registry.core(kind);
    let mut out = Normalized::default();
    let mut declared: Vec<String> = Vec::new();
    normalize_object(
        kind,
        registry,
        core,
        obj,
        leniency,
        &mut out,
        &mut declared,
        true,
    )?;

    let required = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    match out.data.get(required) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => return Err(invalid(format!("{required} is required"))),
    }

    out.schemas.push(core.id.clone());
    for key in out.data.keys() {
        if key.starts_with("urn:") {
            out.schemas.push(key.clone());
        }
    }
    for urn in declared {
        let known = out.schemas.iter().any(|s| s.eq_ignore_ascii_case(&urn));
        if !known && registry.schema(&urn).is_none() {
            out.notes
                .push(format!("ignored unknown schema URN {urn} (no data)"));
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn normalize_object(
    kind: ResourceKind,
    registry: &Registry,
    core: &Schema,
    obj: &Map<String, Value>,
    leniency: Leniency,
    out: &mut Normalized,
    declared: &mut Vec<String>,
    top: bool,
) -> Result<(), ScimError> {
    for (key, value) in obj {
        let lower = key.to_ascii_lowercase();
        match lower.as_str() {
            "schemas" if top => {
                let list = value
                    .as_array()
                    .ok_or_else(|| invalid("schemas must be an array of URNs"))?;
                for urn in list {
                    let urn = urn
                        .as_str()
                        .ok_or_else(|| invalid("schemas must be an array of URNs"))?;
                    declared.push(urn.to_string());
                }
                continue;
            }
            "id" | "meta" => continue,
            "password" if kind == ResourceKind::User => {
                match value {
                    Value::String(p) if !p.is_empty() => out.password = Some(p.clone()),
                    Value::Null => {}
                    Value::String(_) => {}
                    _ => return Err(invalid("password must be a string")),
                }
                continue;
            }
            "members" if kind == ResourceKind::Group => {
                out.members = Some(parse_members(value)?);
                continue;
            }
            "externalid" => {
                match value {
                    Value::String(s) if !s.is_empty() => {
                        out.data
                            .insert("externalId".into(), Value::String(s.clone()));
                    }
                    Value::Null | Value::String(_) => {}
                    _ => return Err(invalid("externalId must be a string")),
                }
                continue;
            }
            _ => {}
        }
        if lower.starts_with("urn:") {
            if key.eq_ignore_ascii_case(&core.id) {
                let inner = value
                    .as_object()
                    .ok_or_else(|| invalid(format!("{key} must be an object")))?;
                normalize_object(kind, registry, core, inner, leniency, out, declared, false)?;
                continue;
            }
            if let Some(ext) = registry.extension(kind, key) {
                if value.is_null() {
                    continue;
                }
                let inner = value
                    .as_object()
                    .ok_or_else(|| invalid(format!("{key} must be an object")))?;
                let mut ext_data = Map::new();
                for (name, v) in inner {
                    let attr = ext.attr(name).ok_or_else(|| {
                        invalid(format!("unknown attribute {name:?} in {}", ext.id))
                    })?;
                    if attr.mutability == Mutability::ReadOnly {
                        continue;
                    }
                    if let Some(v) = normalize_value(attr, v, &attr.name)? {
                        ext_data.insert(attr.name.clone(), v);
                    }
                }
                if !ext_data.is_empty() {
                    out.data.insert(ext.id.clone(), Value::Object(ext_data));
                }
                continue;
            }
            if leniency.unknown_extensions && value.is_object() {
                out.data.insert(key.clone(), value.clone());
                out.notes
                    .push(format!("stored unregistered extension {key} as given"));
                continue;
            }
            return Err(invalid(format!(
                "unregistered schema extension {key}; register it for this tenant first"
            )));
        }
        let Some(attr) = core.attr(key) else {
            if leniency.unknown_extensions {
                out.notes.push(format!("ignored unknown attribute {key}"));
                continue;
            }
            return Err(invalid(format!(
                "unknown attribute {key:?} for {}",
                kind.name()
            )));
        };
        if attr.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = normalize_value(attr, value, &attr.name)? {
            out.data.insert(attr.name.clone(), v);
        }
    }
    Ok(())
}

/// Parses a `members` value: an array of `{"value": id, "type"?}` objects.
pub fn parse_members(value: &Value) -> Result<Vec<MemberRef>, ScimError> {
    let items = match value {
        Value::Null => return Ok(vec![]),
        Value::Array(items) => items.as_slice(),
        _ => return Err(invalid("members must be an array")),
    };
    let mut out: Vec<MemberRef> = Vec::with_capacity(items.len());
    for item in items {
        let obj = item
            .as_object()
            .ok_or_else(|| invalid("each member must be an object with a value"))?;
        let value = super::schema::get_ci(obj, "value")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid("each member needs a \"value\" (the member's id)"))?;
        let kind = super::schema::get_ci(obj, "type")
            .and_then(Value::as_str)
            .map(str::to_string);
        if !out.iter().any(|m| m.value == value) {
            out.push(MemberRef {
                value: value.to_string(),
                kind,
            });
        }
    }
    Ok(out)
}

/// Validates one attribute value (single or multi), returning it in stored form
/// (`None` when it is null or empty, which clears the attribute).
pub fn normalize_value(
    attr: &Attribute,
    value: &Value,
    path: &str,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_single(attr, item, path)? {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        keep_one_primary(&mut out);
        return Ok(Some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(invalid(format!(
            "{path} is single-valued; an array was sent"
        )));
    }
    normalize_single(attr, value, path)
}

/// At most one element may be primary (RFC 7643 §2.4): the first one wins.
pub fn keep_one_primary(items: &mut [Value]) {
    let mut seen = false;
    for item in items.iter_mut() {
        if let Some(obj) = item.as_object_mut()
            && obj.get("primary") == Some(&Value::Bool(true))
        {
            if seen {
                obj.insert("primary".into(), Value::Bool(false));
            }
            seen = true;
        }
    }
}

fn normalize_single(
    attr: &Attribute,
    value: &Value,
    path: &str,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.ty == AttrType::Complex {
        let obj = match value {
            Value::Object(obj) => obj.clone(),
            // Entra sends the enterprise manager as a bare id.
            Value::String(s) if attr.sub_attr("value").is_some() => {
                let mut m = Map::new();
                m.insert("value".into(), Value::String(s.clone()));
                m
            }
            _ => return Err(invalid(format!("{path} must be an object"))),
        };
        let mut out = Map::new();
        for (name, v) in &obj {
            let Some(sub) = attr.sub_attr(name) else {
                if name.starts_with('$') && v.is_null() {
                    continue;
                }
                return Err(invalid(format!("{path} has no sub-attribute {name:?}")));
            };
            if sub.mutability == Mutability::ReadOnly {
                continue;
            }
            if let Some(v) = normalize_single(sub, v, &format!("{path}.{}", sub.name))? {
                out.insert(sub.name.clone(), v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Value::Object(out)));
    }
    let typed = |what: &str| invalid(format!("{path} must be {what}"));
    let v = match attr.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(s) => Value::String(s.clone()),
            _ => return Err(typed("a string")),
        },
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            // Entra sends "True"/"False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(typed("a boolean")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
            _ => return Err(typed("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(n) => Value::Number(n.clone()),
            _ => return Err(typed("a number")),
        },
        AttrType::DateTime => match value {
            Value::String(s)
                if time::OffsetDateTime::parse(
                    s,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_ok() =>
            {
                Value::String(s.clone())
            }
            _ => return Err(typed("an RFC 3339 date-time such as 2024-05-13T04:42:34Z")),
        },
        AttrType::Complex => return Err(typed("an object")),
    };
    Ok(Some(v))
}

/// Attribute selection of a read (RFC 7644 §3.4.2.5).
#[derive(Clone, Debug, Default)]
pub struct Projection {
    /// `attributes`: only these (plus those returned always).
    pub attributes: Vec<AttrPath>,
    /// `excludedAttributes`: all but these.
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parses the comma-separated query parameters.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let list = |s: Option<&str>| -> Result<Vec<AttrPath>, ScimError> {
            s.map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| AttrPath::parse(p).map_err(invalid))
                    .collect()
            })
            .unwrap_or_else(|| Ok(vec![]))
        };
        Ok(Projection {
            attributes: list(attributes)?,
            excluded: list(excluded)?,
        })
    }

    /// Whether the top-level core attribute `name` survives the projection; used
    /// to skip loading members or groups that would be dropped anyway.
    pub fn includes(&self, resolver: &Resolver<'_>, name: &str) -> bool {
        let named = |p: &AttrPath| {
            resolver
                .resolve(p, None)
                .map(|r| r.urn.is_none() && r.attr.name == name)
                .unwrap_or(false)
        };
        if !self.attributes.is_empty() {
            return self.attributes.iter().any(named);
        }
        !self.excluded.iter().any(|p| named(p) && p.sub.is_none())
    }

    /// Checks every path names a known attribute.
    pub fn check(&self, resolver: &Resolver<'_>) -> Result<(), ScimError> {
        for p in self.attributes.iter().chain(&self.excluded) {
            resolver
                .resolve(p, None)
                .map_err(|m| invalid(format!("attributes: {m}")))?;
        }
        Ok(())
    }

    /// Whether every attribute is returned (no `attributes` or `excludedAttributes`).
    pub fn is_everything(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Applies the selection to a rendered resource.
    pub fn apply(&self, resolver: &Resolver<'_>, resource: Value) -> Value {
        let Value::Object(mut obj) = resource else {
            return resource;
        };
        let resolved = |list: &[AttrPath]| -> Vec<(Option<String>, String, Option<String>)> {
            list.iter()
                .filter_map(|p| resolver.resolve(p, None).ok())
                .map(|r| (r.urn, r.attr.name, r.sub.map(|s| s.name)))
                .collect()
        };
        let always = |name: &str| name == "id" || name == "schemas";
        if !self.attributes.is_empty() {
            let wanted = resolved(&self.attributes);
            let mut out = Map::new();
            for (key, value) in obj {
                if always(&key) {
                    out.insert(key, value);
                    continue;
                }
                if key.starts_with("urn:") {
                    let Value::Object(inner) = value else {
                        continue;
                    };
                    let mut kept = Map::new();
                    for (name, v) in inner {
                        let picks: Vec<_> = wanted
                            .iter()
                            .filter(|(u, n, _)| u.as_deref() == Some(key.as_str()) && *n == name)
                            .collect();
                        if let Some(v) = select(v, &picks) {
                            kept.insert(name, v);
                        }
                    }
                    let whole = wanted
                        .iter()
                        .any(|(u, n, _)| n.is_empty() && u.as_deref() == Some(key.as_str()));
                    if !kept.is_empty() || whole {
                        out.insert(key, Value::Object(kept));
                    }
                    continue;
                }
                let picks: Vec<_> = wanted
                    .iter()
                    .filter(|(u, n, _)| u.is_none() && *n == key)
                    .collect();
                if let Some(v) = select(value, &picks) {
                    out.insert(key, v);
                }
            }
            return Value::Object(out);
        }
        for (urn, name, sub) in resolved(&self.excluded) {
            if always(&name) {
                continue;
            }
            let container = match &urn {
                Some(u) => match obj.get_mut(u).and_then(Value::as_object_mut) {
                    Some(c) => c,
                    None => continue,
                },
                None => &mut obj,
            };
            match sub {
                None => {
                    container.remove(&name);
                }
                Some(sub) => {
                    if let Some(v) = container.get_mut(&name) {
                        strip_sub(v, &sub);
                    }
                }
            }
        }
        Value::Object(obj)
    }
}

fn select(value: Value, picks: &[&(Option<String>, String, Option<String>)]) -> Option<Value> {
    if picks.is_empty() {
        return None;
    }
    if picks.iter().any(|(_, _, sub)| sub.is_none()) {
        return Some(value);
    }
    let subs: Vec<&str> = picks.iter().filter_map(|(_, _, s)| s.as_deref()).collect();
    let keep = |v: Value| -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .filter(|(k, _)| subs.contains(&k.as_str()))
                    .collect(),
            ),
            other => other,
        }
    };
    Some(match value {
        Value::Array(items) => Value::Array(items.into_iter().map(keep).collect()),
        other => keep(other),
    })
}

fn strip_sub(value: &mut Value, sub: &str) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|i| strip_sub(i, sub)),
        Value::Object(o) => {
            o.remove(sub);
        }
        _ => {}
    }
}

/// The attributes a client may not send on replace with a different value.
pub fn immutable_changes(
    kind: ResourceKind,
    registry: &Registry,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Option<String> {
    registry
        .core(kind)
        .attributes
        .iter()
        .filter(|a| a.mutability == Mutability::Immutable)
        .find(|a| {
            old.get(&a.name)
                .is_some_and(|o| new.get(&a.name) != Some(o))
        })
        .map(|a| a.name.clone())
}

/// Whether an attribute is ever returned (password is not).
pub fn returned(attr: &Attribute) -> bool {
    attr.returned != Returned::Never
}

/// URN of the extension the enterprise manager lives in (used by quirk handling).
pub const MANAGER_URN: &str = ENTERPRISE_USER;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(body: Value) -> Result<Normalized, ScimError> {
        normalize(
            ResourceKind::User,
            &Registry::new(&[]),
            &body,
            Leniency::default(),
        )
    }

    #[test]
    fn okta_create_body_normalises() {
        let n = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "password": "1mz050nq", "active": true
        }))
        .unwrap();
        assert_eq!(n.password.as_deref(), Some("1mz050nq"));
        assert!(n.data.get("password").is_none() && n.data.get("groups").is_none());
        assert_eq!(n.data["externalId"], "00ujl29u0le5T6Aj10h7");
        assert_eq!(
            n.schemas,
            vec!["urn:ietf:params:scim:schemas:core:2.0:User"]
        );
    }

    #[test]
    fn entra_pascal_case_strings_and_nulls() {
        let n = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "UserName": "Test_User", "Active": "False",
            "emails": [{"Primary": "True", "type": "work", "value": "t@x.com"},
                       {"primary": true, "type": "home", "value": "h@x.com"}],
            "meta": {"resourceType": "User"}, "roles": [], "nickName": null,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "Department": "Sales", "manager": "271"
            }
        }))
        .unwrap();
        assert_eq!(n.data["userName"], "Test_User");
        assert_eq!(n.data["active"], false);
        assert_eq!(n.data["emails"][0]["primary"], true);
        assert_eq!(n.data["emails"][1]["primary"], false, "one primary kept");
        assert!(n.data.get("roles").is_none() && n.data.get("nickName").is_none());
        let ent = &n.data[ENTERPRISE_USER];
        assert_eq!(ent["department"], "Sales");
        assert_eq!(ent["manager"], json!({"value": "271"}));
        assert_eq!(n.schemas.len(), 2);
    }

    #[test]
    fn rejects_what_it_cannot_store() {
        for (body, expected) in [
            (json!([]), "JSON object"),
            (json!({"displayName": "x"}), "userName is required"),
            (json!({"userName": "a", "shoeSize": 9}), "unknown attribute"),
            (
                json!({"userName": "a", "active": "maybe"}),
                "active must be a boolean",
            ),
            (json!({"userName": 5}), "userName must be a string"),
            (
                json!({"userName": "a", "emails": [{"value": 1}]}),
                "emails.value must be a string",
            ),
            (
                json!({"userName": "a", "name": {"nope": "x"}}),
                "no sub-attribute",
            ),
            (
                json!({"userName": "a", "urn:example:ext:User": {"x": 1}}),
                "unregistered schema extension",
            ),
            (
                json!({"userName": "a", "displayName": ["x"]}),
                "single-valued",
            ),
        ] {
            let err = user(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.status, 400);
            assert!(err.detail.contains(expected), "{body}: {}", err.detail);
        }
    }

    #[test]
    fn lenient_profile_keeps_unregistered_extensions() {
        let n = normalize(
            ResourceKind::User,
            &Registry::new(&[]),
            &json!({"userName": "a", "urn:example:ext:User": {"x": 1}}),
            Leniency {
                unknown_extensions: true,
            },
        )
        .unwrap();
        assert_eq!(n.data["urn:example:ext:User"]["x"], 1);
        assert!(n.schemas.contains(&"urn:example:ext:User".to_string()));
        assert!(!n.notes.is_empty());
    }

    #[test]
    fn group_members_are_parsed_apart() {
        let n = normalize(
            ResourceKind::Group,
            &Registry::new(&[]),
            &json!({"displayName": "G", "members": [
                {"value": "u1", "display": "x"}, {"value": "u2", "type": "User", "$ref": null},
                {"value": "u1"}
            ]}),
            Leniency::default(),
        )
        .unwrap();
        let members = n.members.unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[1].kind.as_deref(), Some("User"));
        assert!(n.data.get("members").is_none());
    }

    #[test]
    fn projection_selects_and_excludes() {
        let reg = Registry::new(&[]);
        let r = Resolver::new(&reg, ResourceKind::User);
        let res = json!({
            "schemas": ["s"], "id": "1", "userName": "u", "displayName": "d",
            "emails": [{"value": "a", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x", "costCenter": "y"},
            "meta": {"version": "W/\"1\""}
        });
        let p = Projection::parse(
            Some("userName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            None,
        )
        .unwrap();
        let out = p.apply(&r, res.clone());
        assert_eq!(
            out,
            json!({"schemas": ["s"], "id": "1", "userName": "u", "emails": [{"value": "a"}],
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}})
        );
        let p = Projection::parse(None, Some("emails,meta,id")).unwrap();
        let out = p.apply(&r, res);
        assert!(out.get("emails").is_none() && out.get("meta").is_none());
        assert_eq!(out["id"], "1", "id is always returned");
        assert!(!p.includes(&r, "emails") && p.includes(&r, "userName"));
    }
}
