//! PATCH (RFC 7644 §3.5.2): request parsing, path parsing and application to a
//! resource document, with the leniency real IdPs need (case-insensitive ops and
//! names, no-path values with dotted or URN-qualified keys, Entra's member
//! removal by value, element creation for `emails[type eq "work"].value`).
//!
//! Group members are not part of the document: operations on `members` come
//! back as `MemberOp`s for the store to apply row by row.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, AttrPath, CompValue, CompareOp, Filter, Resolved, Resolver};
use super::resource::{MemberRef, parse_members};
use super::schema::{AttrType, Mutability, Registry, ResourceKind, get_ci};

/// URN of the PatchOp message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations accepted in one request.
pub const MAX_OPERATIONS: usize = 1000;

fn invalid_path(msg: impl Into<String>) -> ScimError {
    ScimError::typed(400, "invalidPath", msg)
}

fn invalid_value(msg: impl Into<String>) -> ScimError {
    ScimError::typed(400, "invalidValue", msg)
}

fn invalid_syntax(msg: impl Into<String>) -> ScimError {
    ScimError::typed(400, "invalidSyntax", msg)
}

/// add, replace or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// add
    Add,
    /// replace
    Replace,
    /// remove
    Remove,
}

/// A PATCH path: `attr[.sub]` or `attr[filter][.sub]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when there is no filter).
    pub attr: AttrPath,
    /// The value filter, if any.
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter.
    pub sub_after_filter: Option<String>,
}

/// Parses a PATCH path.
pub fn parse_path(text: &str) -> Result<PatchPath, ScimError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid_path("the path is empty"));
    }
    let Some(open) = text.find('[') else {
        let attr = AttrPath::parse(text).map_err(|m| invalid_path(format!("invalid path: {m}")))?;
        return Ok(PatchPath {
            attr,
            filter: None,
            sub_after_filter: None,
        });
    };
    // Find the closing bracket outside string literals.
    let bytes = text.as_bytes();
    let (mut i, mut in_str, mut escaped) = (open + 1, false, false);
    let mut close = None;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str && !escaped => escaped = true,
            b'"' if !escaped => in_str = !in_str,
            b']' if !in_str => {
                close = Some(i);
                break;
            }
            _ => escaped = false,
        }
        if bytes[i] != b'\\' {
            escaped = false;
        }
        i += 1;
    }
    let close =
        close.ok_or_else(|| invalid_path(format!("invalid path {text:?}: missing \"]\"")))?;
    let attr =
        AttrPath::parse(&text[..open]).map_err(|m| invalid_path(format!("invalid path: {m}")))?;
    if attr.sub.is_some() {
        return Err(invalid_path(format!(
            "invalid path {text:?}: a value filter follows an attribute, not a sub-attribute"
        )));
    }
    let filter = filter::parse(&text[open + 1..close])
        .map_err(|e| invalid_path(format!("invalid path {text:?}: {}", e.detail)))?;
    let rest = &text[close + 1..];
    let sub_after_filter = if rest.is_empty() {
        None
    } else {
        let sub = rest
            .strip_prefix('.')
            .filter(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '$' || c == '_')
            })
            .ok_or_else(|| invalid_path(format!("invalid path {text:?}: unexpected {rest:?}")))?;
        Some(sub.to_string())
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub_after_filter,
    })
}

/// One PATCH operation.
#[derive(Clone, Debug)]
pub struct Operation {
    /// add, replace or remove.
    pub op: OpKind,
    /// The target, if any.
    pub path: Option<PatchPath>,
    /// The value, if any.
    pub value: Option<Value>,
}

/// Parses a PatchOp body. Notes record the leniency applied.
pub fn parse_request(body: &Value, notes: &mut Vec<String>) -> Result<Vec<Operation>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid_syntax("the body must be a PatchOp object"))?;
    match get_ci(obj, "schemas").and_then(Value::as_array) {
        Some(list)
            if list
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP))) => {}
        Some(_) => {
            return Err(invalid_syntax(format!("schemas must contain {PATCH_OP}")));
        }
        None => notes.push("PatchOp without schemas accepted".into()),
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_syntax("the PatchOp needs an \"Operations\" array"))?;
    if ops.is_empty() {
        return Err(invalid_syntax("\"Operations\" is empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(invalid_syntax(format!(
            "at most {MAX_OPERATIONS} operations per request"
        )));
    }
    let mut out = Vec::with_capacity(ops.len());
    for (n, item) in ops.iter().enumerate() {
        let at = n + 1;
        let o = item
            .as_object()
            .ok_or_else(|| invalid_syntax(format!("operation {at} is not an object")))?;
        let op_name = get_ci(o, "op")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_syntax(format!("operation {at} has no \"op\"")))?;
        let op = match op_name.to_ascii_lowercase().as_str() {
            "add" => OpKind::Add,
            "replace" => OpKind::Replace,
            "remove" => OpKind::Remove,
            _ => {
                return Err(invalid_syntax(format!(
                    "operation {at}: unknown op {op_name:?}; use add, replace or remove"
                )));
            }
        };
        if op_name.chars().any(|c| c.is_ascii_uppercase()) {
            notes.push(format!("op {op_name:?} matched case-insensitively"));
        }
        let path = match get_ci(o, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(parse_path(p)?),
            Some(_) => {
                return Err(invalid_path(format!(
                    "operation {at}: path must be a string"
                )));
            }
        };
        let value = get_ci(o, "value").cloned();
        match (op, &path, &value) {
            (OpKind::Remove, None, _) => {
                return Err(ScimError::typed(
                    400,
                    "noTarget",
                    format!("operation {at}: remove needs a path"),
                ));
            }
            (OpKind::Add | OpKind::Replace, _, None) => {
                return Err(invalid_value(format!(
                    "operation {at}: {op_name} needs a value"
                )));
            }
            (OpKind::Add | OpKind::Replace, None, Some(v)) if !v.is_object() => {
                return Err(invalid_value(format!(
                    "operation {at}: without a path the value must be an object of attributes"
                )));
            }
            _ => {}
        }
        out.push(Operation { op, path, value });
    }
    Ok(out)
}

/// A change to a group's membership, applied by the store row by row.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberOp {
    /// Add these members (existing ones are left alone).
    Add(Vec<MemberRef>),
    /// Remove these member ids (absent ones are ignored).
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
    /// Make the membership exactly this.
    Replace(Vec<MemberRef>),
    /// Remove the members matching a filter on `members`.
    RemoveWhere(Filter),
}

/// What a PATCH did besides changing the document.
#[derive(Clone, Debug, Default)]
pub struct PatchOutcome {
    /// Membership changes, in order.
    pub members: Vec<MemberOp>,
    /// Leniency applied.
    pub notes: Vec<String>,
}

struct Applier<'a> {
    kind: ResourceKind,
    registry: &'a Registry,
    resolver: Resolver<'a>,
    resource_id: &'a str,
    outcome: PatchOutcome,
}

/// Applies operations to a resource document (stored form, without members).
/// On error nothing should be kept: callers apply to a copy.
pub fn apply(
    kind: ResourceKind,
    registry: &Registry,
    resource_id: &str,
    doc: &mut Map<String, Value>,
    ops: &[Operation],
) -> Result<PatchOutcome, ScimError> {
    let mut applier = Applier {
        kind,
        registry,
        resolver: Resolver::new(registry, kind),
        resource_id,
        outcome: PatchOutcome::default(),
    };
    for (n, op) in ops.iter().enumerate() {
        applier.apply_one(doc, op).map_err(|mut e| {
            e.detail = format!("operation {}: {}", n + 1, e.detail);
            e
        })?;
    }
    Ok(applier.outcome)
}

fn is_core_urn(kind: ResourceKind, urn: &str) -> bool {
    urn.eq_ignore_ascii_case(kind.core_urn())
}

impl Applier<'_> {
    fn apply_one(&mut self, doc: &mut Map<String, Value>, op: &Operation) -> Result<(), ScimError> {
        if let Some(urn) = op.path.as_ref().and_then(|p| self.whole_extension(p)) {
            return self.apply_extension(doc, op, &urn);
        }
        match &op.path {
            Some(path) => self.apply_path(doc, op.op, path, op.value.as_ref()),
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(invalid_value("without a path the value must be an object"));
                };
                for (key, value) in values {
                    self.apply_key(doc, op.op, key, value)?;
                }
                Ok(())
            }
        }
    }

    /// The registered extension URN a path names as a whole
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`), which the
    /// path grammar reads as attribute `User` of schema `...:2.0`.
    fn whole_extension(&self, path: &PatchPath) -> Option<String> {
        if path.filter.is_some() || path.attr.sub.is_some() {
            return None;
        }
        let urn = format!("{}:{}", path.attr.urn.as_deref()?, path.attr.name);
        self.registry
            .extension(self.kind, &urn)
            .map(|schema| schema.id.clone())
    }

    /// An operation on a whole extension: add and replace set the sub-attributes
    /// given and keep the others (RFC 7644 §3.5.2.1, §3.5.2.3); remove drops it.
    fn apply_extension(
        &mut self,
        doc: &mut Map<String, Value>,
        op: &Operation,
        urn: &str,
    ) -> Result<(), ScimError> {
        if op.op == OpKind::Remove {
            doc.retain(|k, _| !k.eq_ignore_ascii_case(urn));
            return Ok(());
        }
        let Some(Value::Object(values)) = &op.value else {
            return Err(invalid_value(format!(
                "the value of {urn} must be an object"
            )));
        };
        // Some clients serialise the extension as a resource, with its own "schemas".
        let values: Map<String, Value> = values
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.apply_key(doc, op.op, urn, &Value::Object(values))
    }

    /// One key of a no-path add/replace value: a name, a dotted name, a
    /// URN-qualified name, or an extension URN holding an object.
    fn apply_key(
        &mut self,
        doc: &mut Map<String, Value>,
        op: OpKind,
        key: &str,
        value: &Value,
    ) -> Result<(), ScimError> {
        let lower = key.to_ascii_lowercase();
        if lower == "schemas" || lower == "meta" {
            return Ok(());
        }
        if lower == "id" {
            if value.as_str() == Some(self.resource_id) {
                // Okta repeats the id in no-path replaces.
                return Ok(());
            }
            return Err(ScimError::typed(400, "mutability", "id is readOnly"));
        }
        if lower.starts_with("urn:") && value.is_object() {
            let is_schema = is_core_urn(self.kind, key)
                || self.registry.schema(key).is_some()
                || doc.contains_key(key);
            if is_schema {
                if let Value::Object(inner) = value {
                    for (name, v) in inner {
                        let path = PatchPath {
                            attr: AttrPath {
                                urn: Some(key.to_string()),
                                name: name.clone(),
                                sub: None,
                            },
                            filter: None,
                            sub_after_filter: None,
                        };
                        self.apply_path(doc, op, &path, Some(v))?;
                    }
                }
                return Ok(());
            }
        }
        if key.contains('.') || lower.starts_with("urn:") {
            self.outcome
                .notes
                .push(format!("no-path value key {key:?} read as a path"));
        }
        let path = parse_path(key)?;
        self.apply_path(doc, op, &path, Some(value))
    }

    fn apply_path(
        &mut self,
        doc: &mut Map<String, Value>,
        op: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        // An unregistered extension kept as given (lenient profiles) is patched as plain JSON.
        let resolved = match self.resolver.resolve(&path.attr, None) {
            Ok(r) => r,
            Err(m) => {
                if let Some(urn) = &path.attr.urn
                    && doc.keys().any(|k| k.eq_ignore_ascii_case(urn))
                {
                    return self.apply_raw_extension(doc, op, path, value, urn);
                }
                return Err(invalid_path(m));
            }
        };
        if self.kind == ResourceKind::Group
            && resolved.urn.is_none()
            && resolved.attr.name == "members"
        {
            return self.members_op(op, path, value);
        }
        let name = resolved.attr.name.clone();
        if resolved.attr.mutability == Mutability::ReadOnly {
            if name == "id" && value.and_then(Value::as_str) == Some(self.resource_id) {
                return Ok(());
            }
            if matches!(name.as_str(), "meta" | "groups") && op != OpKind::Remove {
                self.outcome
                    .notes
                    .push(format!("ignored readOnly attribute {name}"));
                return Ok(());
            }
            return Err(ScimError::typed(
                400,
                "mutability",
                format!("{name} is readOnly"),
            ));
        }
        if name == "externalId" && self.kind == ResourceKind::User && path.filter.is_some() {
            return Err(invalid_path("externalId is single-valued"));
        }
        let container: &mut Map<String, Value> = match &resolved.urn {
            Some(urn) => {
                let entry = doc
                    .entry(urn.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                match entry.as_object_mut() {
                    Some(m) => m,
                    None => return Err(invalid_path("extension is not an object")),
                }
            }
            None => doc,
        };
        let value = value.map(|v| self.coerce_stringified(&resolved, v));
        let sub = resolved.sub.as_ref().map(|s| s.name.clone()).or_else(|| {
            path.sub_after_filter
                .clone()
                .map(|s| self.canonical_sub(&resolved, &s))
        });
        match &path.filter {
            None => apply_plain(container, op, &resolved, sub.as_deref(), value.as_ref()),
            Some(filter) => {
                if resolved.attr.ty != AttrType::Complex || !resolved.attr.multi {
                    return Err(invalid_path(format!(
                        "{name} is not a multi-valued complex attribute; it cannot take [...]"
                    )));
                }
                self.resolver
                    .check(&Filter::ValuePath(
                        path.attr.clone(),
                        Box::new(filter.clone()),
                    ))
                    .map_err(|e| invalid_path(e.detail))?;
                self.apply_filtered(
                    container,
                    op,
                    &resolved,
                    filter,
                    sub.as_deref(),
                    value.as_ref(),
                )
            }
        }?;
        if let Some(urn) = &resolved.urn
            && doc
                .get(urn)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
        {
            doc.remove(urn);
        }
        Ok(())
    }

    fn canonical_sub(&self, r: &Resolved, sub: &str) -> String {
        r.attr
            .sub_attr(sub)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| sub.to_string())
    }

    /// Entra sometimes sends complex values as JSON text ("[{\"value\":...}]").
    fn coerce_stringified(&mut self, r: &Resolved, v: &Value) -> Value {
        if r.attr.ty == AttrType::Complex
            && r.sub.is_none()
            && let Value::String(s) = v
        {
            let t = s.trim_start();
            if (t.starts_with('[') || t.starts_with('{'))
                && let Ok(parsed) = serde_json::from_str::<Value>(s)
            {
                self.outcome.notes.push(format!(
                    "{} value given as JSON text was parsed",
                    r.attr.name
                ));
                return parsed;
            }
        }
        v.clone()
    }

    fn apply_raw_extension(
        &mut self,
        doc: &mut Map<String, Value>,
        op: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
        urn: &str,
    ) -> Result<(), ScimError> {
        let key = doc
            .keys()
            .find(|k| k.eq_ignore_ascii_case(urn))
            .cloned()
            .unwrap_or_else(|| urn.to_string());
        let Some(Value::Object(ext)) = doc.get_mut(&key) else {
            return Err(invalid_path(format!("unknown schema {urn}")));
        };
        match (op, value) {
            (OpKind::Remove, _) => {
                ext.remove(&path.attr.name);
            }
            (_, Some(v)) => {
                ext.insert(path.attr.name.clone(), v.clone());
            }
            (_, None) => return Err(invalid_value("a value is required")),
        }
        Ok(())
    }

    fn apply_filtered(
        &mut self,
        container: &mut Map<String, Value>,
        op: OpKind,
        r: &Resolved,
        filter: &Filter,
        sub: Option<&str>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let name = r.attr.name.clone();
        let parent = Resolved {
            urn: r.urn.clone(),
            attr: r.attr.clone(),
            sub: None,
        };
        let mut items: Vec<Value> = match container.remove(&name) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => vec![],
            Some(other) => vec![other],
        };
        let matched: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, e)| self.resolver.matches_element(filter, e, &parent))
            .map(|(i, _)| i)
            .collect();
        match op {
            OpKind::Remove => match sub {
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&i);
                        i += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for i in &matched {
                        if let Some(o) = items[*i].as_object_mut() {
                            o.remove(sub);
                        }
                    }
                }
            },
            OpKind::Add | OpKind::Replace => {
                let value = value.ok_or_else(|| invalid_value("a value is required"))?;
                if matched.is_empty() {
                    // Entra: a filtered add/replace with no match creates the element.
                    let mut element = eq_conditions(filter).ok_or_else(|| {
                        ScimError::typed(
                            400,
                            "noTarget",
                            format!("no {name} value matches the filter"),
                        )
                    })?;
                    match sub {
                        Some(sub) => {
                            element.insert(sub.to_string(), value.clone());
                        }
                        None => match value {
                            Value::Object(o) => element.extend(o.clone()),
                            _ => return Err(invalid_value(format!("{name} values are objects"))),
                        },
                    }
                    self.outcome.notes.push(format!(
                        "created a {name} element for a filtered {op:?} with no match"
                    ));
                    if element.get("primary") == Some(&Value::Bool(true)) {
                        clear_primary(&mut items);
                    }
                    items.push(Value::Object(element));
                } else {
                    for i in &matched {
                        let element = &mut items[*i];
                        match (sub, op) {
                            (Some(sub), _) => {
                                if let Some(o) = element.as_object_mut() {
                                    o.insert(sub.to_string(), value.clone());
                                }
                            }
                            (None, OpKind::Replace) => *element = value.clone(),
                            (None, _) => {
                                if let (Some(o), Value::Object(v)) =
                                    (element.as_object_mut(), value)
                                {
                                    o.extend(v.clone());
                                }
                            }
                        }
                    }
                    let made_primary = sub == Some("primary") && value == &Value::Bool(true)
                        || value.get("primary") == Some(&Value::Bool(true));
                    if made_primary {
                        for (i, e) in items.iter_mut().enumerate() {
                            if !matched.contains(&i)
                                && let Some(o) = e.as_object_mut()
                                && o.get("primary") == Some(&Value::Bool(true))
                            {
                                o.insert("primary".into(), Value::Bool(false));
                            }
                        }
                    }
                }
            }
        }
        if !items.is_empty() {
            container.insert(name, Value::Array(items));
        }
        Ok(())
    }

    fn members_op(
        &mut self,
        op: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let refs = |v: Option<&Value>| -> Result<Vec<MemberRef>, ScimError> {
            match v {
                None => Ok(vec![]),
                Some(Value::Object(_)) => {
                    parse_members(&Value::Array(vec![v.cloned().unwrap_or_default()]))
                }
                Some(v) => parse_members(v),
            }
        };
        let member_op = match (op, &path.filter) {
            (OpKind::Add, None) => MemberOp::Add(refs(value)?),
            (OpKind::Replace, None) => MemberOp::Replace(refs(value)?),
            (OpKind::Remove, None) => match value {
                Some(v) if !v.is_null() => {
                    // Entra/JumpCloud: remove exactly the listed members, not all.
                    self.outcome
                        .notes
                        .push("remove members with a value list removed only those members".into());
                    MemberOp::Remove(refs(Some(v))?.into_iter().map(|m| m.value).collect())
                }
                _ => MemberOp::RemoveAll,
            },
            (OpKind::Remove, Some(filter)) => match member_ids_of(filter) {
                Some(ids) => MemberOp::Remove(ids),
                None => MemberOp::RemoveWhere(filter.clone()),
            },
            (OpKind::Add | OpKind::Replace, Some(filter)) => {
                self.outcome.members.push(match member_ids_of(filter) {
                    Some(ids) => MemberOp::Remove(ids),
                    None => MemberOp::RemoveWhere(filter.clone()),
                });
                MemberOp::Add(refs(value)?)
            }
        };
        if path.sub_after_filter.is_some() || path.attr.sub.is_some() {
            return Err(ScimError::typed(
                400,
                "mutability",
                "member sub-attributes are immutable; add or remove the member instead",
            ));
        }
        self.outcome.members.push(member_op);
        Ok(())
    }
}

/// `value eq "a" [or value eq "b" ...]` → the ids.
fn member_ids_of(filter: &Filter) -> Option<Vec<String>> {
    match filter {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(v))
            if p.urn.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![v.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_ids_of(a)?;
            ids.extend(member_ids_of(b)?);
            Some(ids)
        }
        _ => None,
    }
}

/// For `type eq "work" [and ...]`: the element those conditions describe.
fn eq_conditions(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare(p, CompareOp::Eq, lit) if p.urn.is_none() && p.sub.is_none() => {
            let mut m = Map::new();
            let v = match lit {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return None,
            };
            m.insert(p.name.clone(), v);
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = eq_conditions(a)?;
            m.extend(eq_conditions(b)?);
            Some(m)
        }
        _ => None,
    }
}

fn clear_primary(items: &mut [Value]) {
    for e in items {
        if let Some(o) = e.as_object_mut()
            && o.get("primary") == Some(&Value::Bool(true))
        {
            o.insert("primary".into(), Value::Bool(false));
        }
    }
}

/// add/replace/remove without a value filter.
fn apply_plain(
    container: &mut Map<String, Value>,
    op: OpKind,
    r: &Resolved,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let name = r.attr.name.clone();
    // Existing keys may differ in case only when stored by a lenient profile.
    if let Some(existing) = container
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&name) && **k != name)
        .cloned()
        && let Some(v) = container.remove(&existing)
    {
        container.insert(name.clone(), v);
    }
    match (op, sub) {
        (OpKind::Remove, None) => {
            match (value, r.attr.multi) {
                // Entra style: remove the listed values of a multi-valued attribute.
                (Some(Value::Array(targets)), true) => {
                    if let Some(Value::Array(items)) = container.get_mut(&name) {
                        items.retain(|item| !targets.iter().any(|t| same_value(item, t)));
                        if items.is_empty() {
                            container.remove(&name);
                        }
                    }
                }
                _ => {
                    container.remove(&name);
                }
            }
        }
        (OpKind::Remove, Some(sub)) => match container.get_mut(&name) {
            Some(Value::Array(items)) => {
                for i in items.iter_mut() {
                    if let Some(o) = i.as_object_mut() {
                        o.remove(sub);
                    }
                }
            }
            Some(Value::Object(o)) => {
                o.remove(sub);
                if o.is_empty() {
                    container.remove(&name);
                }
            }
            _ => {}
        },
        (_, Some(sub)) => {
            let value = value
                .ok_or_else(|| invalid_value("a value is required"))?
                .clone();
            match container.get_mut(&name) {
                Some(Value::Array(items)) if r.attr.multi => {
                    if items.is_empty() {
                        let mut m = Map::new();
                        m.insert(sub.to_string(), value);
                        items.push(Value::Object(m));
                    } else {
                        for i in items.iter_mut() {
                            if let Some(o) = i.as_object_mut() {
                                o.insert(sub.to_string(), value.clone());
                            }
                        }
                    }
                }
                Some(Value::Object(o)) => {
                    o.insert(sub.to_string(), value);
                }
                _ => {
                    let mut m = Map::new();
                    m.insert(sub.to_string(), value);
                    let v = if r.attr.multi {
                        Value::Array(vec![Value::Object(m)])
                    } else {
                        Value::Object(m)
                    };
                    container.insert(name, v);
                }
            }
        }
        (OpKind::Replace, None) => {
            let value = value
                .ok_or_else(|| invalid_value("a value is required"))?
                .clone();
            let value = match (r.attr.multi, value) {
                (true, Value::Array(a)) => Value::Array(a),
                (true, Value::Null) => Value::Null,
                (true, single) => Value::Array(vec![single]),
                (false, v) => v,
            };
            if value.is_null() {
                container.remove(&name);
            } else if r.attr.ty == AttrType::Complex && !r.attr.multi && value.is_object() {
                // Replacing a complex attribute replaces its sub-attributes given.
                let mut merged = container
                    .get(&name)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Value::Object(o) = value {
                    merged.extend(o);
                }
                container.insert(name, Value::Object(merged));
            } else {
                container.insert(name, value);
            }
        }
        (OpKind::Add, None) => {
            let value = value
                .ok_or_else(|| invalid_value("a value is required"))?
                .clone();
            if r.attr.multi {
                let new_items = match value {
                    Value::Array(a) => a,
                    Value::Null => vec![],
                    single => vec![single],
                };
                let entry = container
                    .entry(name.clone())
                    .or_insert_with(|| Value::Array(vec![]));
                if !entry.is_array() {
                    *entry = Value::Array(vec![entry.clone()]);
                }
                if let Value::Array(items) = entry {
                    if new_items
                        .iter()
                        .any(|n| n.get("primary") == Some(&Value::Bool(true)))
                    {
                        clear_primary(items);
                    }
                    for n in new_items {
                        if !items.iter().any(|i| i == &n) {
                            items.push(n);
                        }
                    }
                    if items.is_empty() {
                        container.remove(&name);
                    }
                }
            } else if r.attr.ty == AttrType::Complex && value.is_object() {
                let mut merged = container
                    .get(&name)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Value::Object(o) = value {
                    merged.extend(o);
                }
                container.insert(name, Value::Object(merged));
            } else if value.is_null() {
                container.remove(&name);
            } else {
                container.insert(name, value);
            }
        }
    }
    Ok(())
}

/// Whether a stored element is the one a removal names (by `value` when both have one).
fn same_value(item: &Value, target: &Value) -> bool {
    match (item.get("value"), target.get("value")) {
        (Some(a), Some(b)) => a == b,
        _ => item == target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(
        kind: ResourceKind,
        doc: Value,
        body: Value,
    ) -> Result<(Value, PatchOutcome), ScimError> {
        let reg = Registry::new(&[]);
        let mut map = doc.as_object().cloned().unwrap_or_default();
        let ops = parse_request(&body, &mut vec![])?;
        let outcome = apply(kind, &reg, "id1", &mut map, &ops)?;
        Ok((Value::Object(map), outcome))
    }

    fn user_patch(doc: Value, operations: Value) -> Value {
        patch(
            ResourceKind::User,
            doc,
            json!({"schemas": [PATCH_OP], "Operations": operations}),
        )
        .unwrap_or_else(|e| panic!("{}", e.detail))
        .0
    }

    #[test]
    fn path_forms() {
        type Row<'a> = (&'a str, &'a str, Option<&'a str>, bool, Option<&'a str>);
        let table: &[Row] = &[
            ("userName", "userName", None, false, None),
            ("name.givenName", "name", Some("givenName"), false, None),
            ("emails[type eq \"work\"]", "emails", None, true, None),
            (
                "emails[type eq \"work\"].value",
                "emails",
                None,
                true,
                Some("value"),
            ),
            (
                "members[value eq \"2819c223\"]",
                "members",
                None,
                true,
                None,
            ),
            (
                "addresses[type eq \"work\" and primary eq true].locality",
                "addresses",
                None,
                true,
                Some("locality"),
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "manager",
                None,
                false,
                None,
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "manager",
                Some("value"),
                false,
                None,
            ),
            (
                "emails[value eq \"a]b\"].display",
                "emails",
                None,
                true,
                Some("display"),
            ),
        ];
        for (text, attr, sub, filtered, after) in table {
            let p = parse_path(text).unwrap_or_else(|e| panic!("{text}: {}", e.detail));
            assert_eq!(p.attr.name, *attr, "{text}");
            assert_eq!(p.attr.sub.as_deref(), *sub, "{text}");
            assert_eq!(p.filter.is_some(), *filtered, "{text}");
            assert_eq!(p.sub_after_filter.as_deref(), *after, "{text}");
        }
        for bad in [
            "",
            "emails[type eq \"work\"",
            "emails[type eq]",
            "name.givenName[x eq 1]",
            "emails[type eq \"w\"]x",
            "a..b",
        ] {
            let err = parse_path(bad).expect_err(bad);
            assert_eq!(err.scim_type, Some("invalidPath"), "{bad}");
        }
    }

    #[test]
    fn request_errors() {
        for (body, scim_type) in [
            (json!([]), "invalidSyntax"),
            (json!({"schemas": ["x"], "Operations": []}), "invalidSyntax"),
            (json!({"schemas": [PATCH_OP]}), "invalidSyntax"),
            (
                json!({"schemas": [PATCH_OP], "Operations": []}),
                "invalidSyntax",
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "merge", "path": "x"}]}),
                "invalidSyntax",
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove"}]}),
                "noTarget",
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title"}]}),
                "invalidValue",
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": "x"}]}),
                "invalidValue",
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "emails[", "value": 1}]}),
                "invalidPath",
            ),
        ] {
            let err = parse_request(&body, &mut vec![]).expect_err(&body.to_string());
            assert_eq!(err.scim_type, Some(scim_type), "{body}: {}", err.detail);
        }
        let mut notes = vec![];
        let parsed = parse_request(
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
            &mut notes,
        )
        .unwrap();
        assert_eq!(parsed[0].op, OpKind::Replace);
        assert!(notes[0].contains("case-insensitively"));
    }

    #[test]
    fn add_replace_remove_on_every_path_form() {
        let doc = json!({
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bj@work.com", "type": "work", "primary": true},
                {"value": "bj@home.org", "type": "home"}
            ]
        });
        // attribute
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "path": "displayName", "value": "Babs"}]),
        );
        assert_eq!(out["displayName"], "Babs");
        // sub-attribute
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "path": "name.givenName", "value": "Barb"}]),
        );
        assert_eq!(
            out["name"],
            json!({"givenName": "Barb", "familyName": "Jensen"})
        );
        // multi-valued add merges
        let out = user_patch(
            doc.clone(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "x@y.z", "type": "other"}]}]),
        );
        assert_eq!(out["emails"].as_array().unwrap().len(), 3);
        // multi-valued replace replaces
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "path": "emails", "value": [{"value": "only@y.z"}]}]),
        );
        assert_eq!(out["emails"], json!([{"value": "only@y.z"}]));
        // value filter with sub-attribute
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work.com"}]),
        );
        assert_eq!(out["emails"][0]["value"], "new@work.com");
        assert_eq!(out["emails"][1]["value"], "bj@home.org");
        // remove with value filter
        let out = user_patch(
            doc.clone(),
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        );
        assert_eq!(out["emails"].as_array().unwrap().len(), 1);
        // remove without filter
        let out = user_patch(doc.clone(), json!([{"op": "remove", "path": "emails"}]));
        assert!(out.get("emails").is_none());
        // remove a sub-attribute
        let out = user_patch(
            doc.clone(),
            json!([{"op": "remove", "path": "name.familyName"}]),
        );
        assert_eq!(out["name"], json!({"givenName": "Barbara"}));
        // extension-qualified attribute and sub-attribute
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let out = user_patch(
            doc.clone(),
            json!([
                {"op": "add", "path": format!("{ent}:manager"), "value": {"value": "26118915"}},
                {"op": "replace", "path": format!("{ent}:department"), "value": "Sales"}
            ]),
        );
        assert_eq!(
            out[ent],
            json!({"manager": {"value": "26118915"}, "department": "Sales"})
        );
        let out = user_patch(
            out,
            json!([{"op": "remove", "path": format!("{ent}:manager")}, {"op": "remove", "path": format!("{ent}:department")}]),
        );
        assert!(out.get(ent).is_none(), "an emptied extension disappears");
        // primary stays unique: the new primary wins
        let out = user_patch(
            doc.clone(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "p@x.y", "primary": true}]}]),
        );
        let primaries = out["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .count();
        assert_eq!(primaries, 1);
        assert_eq!(out["emails"][2]["primary"], true);
        let out = user_patch(
            doc,
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        );
        assert_eq!(out["emails"][0]["primary"], false);
        assert_eq!(out["emails"][1]["primary"], true);
    }

    #[test]
    fn idp_quirks() {
        let doc = json!({"userName": "u", "active": true});
        // Okta: replace without path.
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "value": {"active": false}}]),
        );
        assert_eq!(out["active"], false);
        // Entra (aadOptscim062020): dotted and URN-qualified keys in a no-path value.
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "value": {
                "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                format!("{ent}:employeeNumber"): "Aklq"
            }}]),
        );
        assert_eq!(
            out["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(out[ent]["employeeNumber"], "Aklq");
        // Extension object in a no-path value.
        let out = user_patch(
            doc.clone(),
            json!([{"op": "add", "value": {ent: {"department": "X"}}}]),
        );
        assert_eq!(out[ent]["department"], "X");
        // Entra: add to emails[type eq "work"].value when none exists creates one element;
        // several sub-attribute ops on one filter merge into that element.
        let out = user_patch(
            doc.clone(),
            json!([
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@x.com"},
                {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"},
                {"op": "Add", "path": "addresses[type eq \"work\"].region", "value": "IL"}
            ]),
        );
        assert_eq!(out["emails"], json!([{"type": "work", "value": "w@x.com"}]));
        assert_eq!(
            out["addresses"],
            json!([{"type": "work", "formatted": "1 Main St", "locality": "Springfield", "region": "IL"}])
        );
        // Entra: manager as a bare string (normalised to {"value"} later), roles as JSON text.
        let out = user_patch(
            doc.clone(),
            json!([
                {"op": "Add", "path": format!("{ent}:manager"), "value": "271"},
                {"op": "add", "path": "roles", "value": "[{\"primary\":\"True\",\"type\":\"WindowsAzureActiveDirectoryRole\",\"value\":\"Admin\"}]"}
            ]),
        );
        assert_eq!(out[ent]["manager"], "271");
        assert_eq!(out["roles"][0]["value"], "Admin");
        // Case-insensitive attribute names.
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "path": "DISPLAYNAME", "value": "c"}]),
        );
        assert_eq!(out["displayName"], "c");
        // Okta repeats the id in no-path replaces: ignored when it is the resource's own.
        let out = user_patch(
            doc.clone(),
            json!([{"op": "replace", "value": {"id": "id1", "displayName": "d"}}]),
        );
        assert_eq!(out["displayName"], "d");
    }

    #[test]
    fn errors_by_type() {
        let doc = json!({"userName": "u"});
        let cases = [
            (
                json!([{"op": "replace", "path": "id", "value": "other"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "value": {"id": "other"}}]),
                "mutability",
            ),
            (json!([{"op": "remove", "path": "meta"}]), "mutability"),
            (
                json!([{"op": "add", "path": "shoeSize", "value": 9}]),
                "invalidPath",
            ),
            (
                json!([{"op": "add", "path": "name.nope", "value": 9}]),
                "invalidPath",
            ),
            (
                json!([{"op": "add", "path": "userName[value eq \"x\"]", "value": 9}]),
                "invalidPath",
            ),
            (
                json!([{"op": "add", "path": "emails[nope eq \"x\"].value", "value": "v"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "emails[type pr].value", "value": "v"}]),
                "noTarget",
            ),
        ];
        for (operations, scim_type) in cases {
            let err = patch(
                ResourceKind::User,
                doc.clone(),
                json!({"schemas": [PATCH_OP], "Operations": operations}),
            )
            .expect_err(&operations.to_string());
            assert_eq!(
                err.scim_type,
                Some(scim_type),
                "{operations}: {}",
                err.detail
            );
            assert!(err.detail.starts_with("operation 1: "), "{}", err.detail);
        }
    }

    #[test]
    fn member_operations_become_row_ops() {
        let group = |operations: Value| {
            patch(
                ResourceKind::Group,
                json!({"displayName": "G"}),
                json!({"schemas": [PATCH_OP], "Operations": operations}),
            )
            .unwrap()
            .1
            .members
        };
        // Okta: filtered remove, then add an array.
        let m = group(json!([
            {"op": "remove", "path": "members[value eq \"89bb1940\"]"},
            {"op": "add", "path": "members", "value": [{"value": "23a35c27", "display": "test.user@okta.local"}]}
        ]));
        assert_eq!(m[0], MemberOp::Remove(vec!["89bb1940".into()]));
        assert!(matches!(&m[1], MemberOp::Add(v) if v[0].value == "23a35c27"));
        // Entra/JumpCloud: remove with a value list removes exactly those.
        let m = group(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}]));
        assert_eq!(m, vec![MemberOp::Remove(vec!["u1091".into()])]);
        // Remove without value: all. Replace with []: empty.
        assert_eq!(
            group(json!([{"op": "remove", "path": "members"}])),
            vec![MemberOp::RemoveAll]
        );
        assert_eq!(
            group(json!([{"op": "replace", "path": "members", "value": []}])),
            vec![MemberOp::Replace(vec![])]
        );
        // No-path value with members (and Okta's id + displayName rename).
        let m = group(
            json!([{"op": "replace", "value": {"id": "id1", "displayName": "Renamed", "members": [{"value": "a"}]}}]),
        );
        assert!(matches!(&m[0], MemberOp::Replace(v) if v.len() == 1));
        // Entra add with $ref null.
        let m = group(
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5"}]}]),
        );
        assert!(matches!(&m[0], MemberOp::Add(v) if v[0].value == "f648f8d5"));
    }
}
