//! The SCIM write path: create (or revive), replace, patch, delete (soft or
//! hard). Each request is one write transaction: the resource row, its indexes,
//! membership rows and change events commit together or not at all.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::resources::{
    Rendered, ScimContext, check_precondition, check_unique, etag, hashed, index_keys, name_index,
    new_resource_id, not_found, now_ms, resolve_members, store_kind, write_indexes,
};
use crate::directory::Directory;
use crate::scim::bulk;
use crate::scim::error::ScimError;
use crate::scim::filter::Resolved;
use crate::scim::patch::{self, MemberOp};
use crate::scim::resource::{MemberRef, normalize};
use crate::scim::schema::ResourceKind;
use crate::store::records::{DeletePolicy, EventRecord, ResourceRecord, UnknownMembers};
use crate::store::{Tx, UniqueIndex};

/// The new state of a resource, ready to commit.
struct Change {
    kind: ResourceKind,
    id: String,
    schemas: Vec<String>,
    data: Map<String, Value>,
    password_hash: Option<String>,
    members: Vec<MemberOp>,
    /// The live record being replaced.
    old: Option<ResourceRecord>,
    /// For a new record: the deleted one it re-creates.
    previous_id: Option<String>,
    /// Whether the caller already found its unique keys unowned.
    keys_free: bool,
}

fn event(
    kind: ResourceKind,
    id: &str,
    action: &str,
    version: u64,
    member: Option<&str>,
) -> EventRecord {
    EventRecord {
        seq: 0,
        ts_ms: now_ms(),
        resource_type: kind.name().into(),
        id: id.into(),
        action: action.into(),
        version,
        member: member.map(str::to_string),
        changed: Vec::new(),
    }
}

/// The top-level attributes whose values differ (`meta` aside), sorted.
fn changed_attributes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let mut changed: Vec<String> = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(new.keys().filter(|k| !old.contains_key(*k)).cloned())
        .filter(|k| k != "meta")
        .collect();
    changed.sort();
    changed
}

fn active(data: &Map<String, Value>) -> bool {
    data.get("active") != Some(&Value::Bool(false))
}

/// A SCIM write ready to run in a store transaction. It owns what it needs,
/// so it can run on the caller's thread (`Store::write`) or be queued for the
/// writer thread (`Store::write_queued`); it may run more than once.
pub trait ScimWrite<T>: FnMut(&mut Tx) -> Result<T, ScimError> + Send + 'static {}

impl<T, F: FnMut(&mut Tx) -> Result<T, ScimError> + Send + 'static> ScimWrite<T> for F {}

/// What a create, replace or patch answers: the resource and leniency notes.
pub type WriteOutcome = (Rendered, Vec<String>);

/// How many of a group's members a PATCH answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembersInAnswer {
    /// None (the client asked for other attributes, or wants no body).
    None,
    /// All of them (the client asked for `members`).
    All,
    /// All of them when there are at most this many; otherwise none, and the
    /// answer is 204 (RFC 7644 §3.5.2 allows it) rather than a partial group.
    UpTo(usize),
}

/// Whether a request body carries a password anywhere (argon2 hashing is
/// slow: such a request is prepared off the async workers).
pub fn mentions_password(body: &Value) -> bool {
    // Checked on every write: no lower-cased copy of each key and string.
    let says_password = |s: &str| {
        s.as_bytes()
            .windows(8)
            .any(|w| w.eq_ignore_ascii_case(b"password"))
    };
    match body {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| says_password(k) || mentions_password(v)),
        Value::Array(items) => items.iter().any(mentions_password),
        Value::String(s) => says_password(s),
        _ => false,
    }
}

impl Directory {
    /// Creates a User or Group. A POST matching a soft-deleted one (same
    /// userName, externalId or group displayName) creates a new record with a
    /// new id that names the deleted one as its previous id.
    pub fn scim_create(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        body: &Value,
    ) -> Result<WriteOutcome, ScimError> {
        self.store
            .write(self.create_write(ctx.clone(), kind, body)?)
    }

    /// Prepares `scim_create` (validation and password hashing happen here).
    pub fn create_write(
        &self,
        ctx: ScimContext,
        kind: ResourceKind,
        body: &Value,
    ) -> Result<impl ScimWrite<WriteOutcome> + use<>, ScimError> {
        let normalized = normalize(kind, &ctx.registry, body, ctx.leniency)?;
        let password_hash = hashed(&normalized)?;
        let t = ctx.tenant.id;
        Ok(move |tx: &mut Tx| {
            let mut notes = normalized.notes.clone();
            let keys = index_keys(kind, &normalized.data);
            let view = tx.view();
            let mut owners = Vec::new();
            if let Some(name) = &keys.name {
                owners.extend(view.index_get(name_index(kind), t, name)?);
            }
            if let Some(ext) = &keys.external_id {
                owners.extend(view.index_get(UniqueIndex::UserExternalId, t, ext)?);
            }
            let keys_free = owners.is_empty();
            // A deleted record with these keys stays deleted: the new one gets
            // a new id (RFC 7644 §3.6) and a link to it.
            let mut previous_id = None;
            for owner in owners {
                if let Some(rec) = view.resource(store_kind(kind), t, &owner)?
                    && rec.deleted_ms.is_some()
                {
                    previous_id = Some(rec.id);
                    break;
                }
            }
            drop(view);
            if let Some(previous) = &previous_id {
                notes.push(format!("re-created; previously {previous}"));
            }
            let change = Change {
                kind,
                id: new_resource_id(),
                schemas: normalized.schemas.clone(),
                data: normalized.data.clone(),
                password_hash: password_hash.clone(),
                members: normalized
                    .members
                    .clone()
                    .map(|m| vec![MemberOp::Replace(m)])
                    .unwrap_or_default(),
                old: None,
                previous_id,
                keys_free,
            };
            // A brand-new user belongs to no group yet.
            let links = kind == ResourceKind::Group;
            let rec = commit(tx, &ctx, change, &mut notes)?;
            Ok((rendered(tx, &ctx, kind, rec, links)?, notes))
        })
    }

    /// Replaces a resource (PUT); readOnly attributes in the body are ignored.
    pub fn scim_replace(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<WriteOutcome, ScimError> {
        let write = self.replace_write(ctx.clone(), kind, id, body, if_match)?;
        self.store.write(write)
    }

    /// Prepares `scim_replace`.
    pub fn replace_write(
        &self,
        ctx: ScimContext,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<impl ScimWrite<WriteOutcome> + use<>, ScimError> {
        let normalized = normalize(kind, &ctx.registry, body, ctx.leniency)?;
        let password_hash = hashed(&normalized)?;
        let t = ctx.tenant.id;
        let (id, if_match) = (id.to_string(), if_match.map(str::to_string));
        Ok(move |tx: &mut Tx| {
            let mut notes = normalized.notes.clone();
            let old = live(tx, kind, t, &id)?;
            check_precondition(if_match.as_deref(), old.version)?;
            let change = Change {
                kind,
                id: id.clone(),
                schemas: normalized.schemas.clone(),
                data: normalized.data.clone(),
                password_hash: password_hash.clone().or(old.password_hash.clone()),
                members: if kind == ResourceKind::Group {
                    vec![MemberOp::Replace(
                        normalized.members.clone().unwrap_or_default(),
                    )]
                } else {
                    vec![]
                },
                old: Some(old),
                previous_id: None,
                keys_free: false,
            };
            let rec = commit(tx, &ctx, change, &mut notes)?;
            Ok((rendered(tx, &ctx, kind, rec, true)?, notes))
        })
    }

    /// Applies a PATCH: all operations or none, in one write transaction.
    /// `members` says how much of a group's membership the answer carries: a
    /// one-member change to a large group must not cost a walk over all of it.
    pub fn scim_patch(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        members: MembersInAnswer,
    ) -> Result<WriteOutcome, ScimError> {
        let write = self.patch_write(ctx.clone(), kind, id, body, if_match, members)?;
        self.store.write(write)
    }

    /// Prepares `scim_patch` (a password in it is hashed here).
    pub fn patch_write(
        &self,
        ctx: ScimContext,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        members: MembersInAnswer,
    ) -> Result<impl ScimWrite<WriteOutcome> + use<>, ScimError> {
        let mut parse_notes = Vec::new();
        let ops = patch::parse_request(body, &mut parse_notes)?;
        let t = ctx.tenant.id;
        let new_password = ops.iter().find_map(|op| {
            let direct = op
                .path
                .as_ref()
                .filter(|p| p.attr.urn.is_none() && p.attr.name.eq_ignore_ascii_case("password"))
                .and(op.value.as_ref());
            let nested = op.path.is_none().then(|| {
                op.value
                    .as_ref()
                    .and_then(Value::as_object)
                    .and_then(|o| crate::scim::schema::get_ci(o, "password"))
            });
            direct
                .or(nested.flatten())
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let password_hash = match (&new_password, kind) {
            (Some(p), ResourceKind::User) => Some(
                crate::crypto::password::hash_password(p)
                    .map_err(|e| ScimError::from(crate::directory::DirectoryError::from(e)))?,
            ),
            _ => None,
        };
        let (id, if_match) = (id.to_string(), if_match.map(str::to_string));
        Ok(move |tx: &mut Tx| {
            let mut notes = parse_notes.clone();
            let old = live(tx, kind, t, &id)?;
            check_precondition(if_match.as_deref(), old.version)?;
            let mut doc = old.data.clone();
            let outcome = patch::apply(kind, &ctx.registry, &id, &mut doc, &ops)?;
            notes.extend(outcome.notes);
            // Validate the result like a PUT: types, required attributes, coercions.
            let mut full = doc;
            full.insert("schemas".into(), json!(old.schemas));
            full.remove("password");
            let normalized = normalize(kind, &ctx.registry, &Value::Object(full), ctx.leniency)?;
            notes.extend(normalized.notes);
            let change = Change {
                kind,
                id: id.clone(),
                schemas: normalized.schemas,
                data: normalized.data,
                password_hash: password_hash.clone().or(old.password_hash.clone()),
                members: outcome.members,
                old: Some(old),
                previous_id: None,
                keys_free: false,
            };
            let rec = commit(tx, &ctx, change, &mut notes)?;
            let (links, members_left_out) = match (kind, members) {
                (ResourceKind::User, _) | (_, MembersInAnswer::All) => (true, false),
                (_, MembersInAnswer::None) => (false, false),
                (_, MembersInAnswer::UpTo(limit)) => {
                    let small = tx.view().members_page(t, &id, None, limit + 1)?.len() <= limit;
                    (small, !small)
                }
            };
            let mut answer = rendered(tx, &ctx, kind, rec, links)?;
            answer.members_left_out = members_left_out;
            Ok((answer, notes))
        })
    }

    /// Deletes a resource: a tombstone under the tenant's soft policy (the default),
    /// or removal under the hard policy. Memberships end either way.
    pub fn scim_delete(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        self.store.write(self.delete_write(ctx, kind, id, if_match))
    }

    /// Prepares `scim_delete`.
    pub fn delete_write(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
    ) -> impl ScimWrite<()> + use<> {
        let t = ctx.tenant.id;
        let hard = ctx.tenant.delete_policy == DeletePolicy::Hard;
        let (id, if_match) = (id.to_string(), if_match.map(str::to_string));
        move |tx: &mut Tx| {
            let id = id.as_str();
            let old = live(tx, kind, t, id)?;
            check_precondition(if_match.as_deref(), old.version)?;
            for gid in tx.view().groups_of(t, id)? {
                tx.remove_member(t, &gid, id)?;
                tx.append_event(
                    t,
                    &event(ResourceKind::Group, &gid, "member.removed", 0, Some(id)),
                )?;
            }
            if kind == ResourceKind::Group {
                for (mid, _) in tx.view().members(t, id)? {
                    tx.remove_member(t, id, &mid)?;
                }
            }
            let old_keys = index_keys(kind, &old.data);
            if hard {
                write_indexes(tx, t, kind, &old_keys, &Default::default(), id)?;
                tx.delete_resource(store_kind(kind), t, &old)?;
            } else {
                // Keep the identity indexes: a later POST with the same keys
                // finds this record and names it as its previous id.
                let mut kept = index_keys(kind, &old.data);
                kept.emails.clear();
                write_indexes(tx, t, kind, &old_keys, &kept, id)?;
                let mut rec = old.clone();
                rec.deleted_ms = Some(now_ms());
                rec.version += 1;
                tx.put_resource(store_kind(kind), t, &rec, Some(old.modified_ms))?;
            }
            count(tx, t, kind, -1)?;
            tx.append_event(t, &event(kind, id, "deleted", old.version + 1, None))?;
            Ok(())
        }
    }
}

/// Commits a change: uniqueness, memberships, the row, indexes and events.
fn commit(
    tx: &mut Tx,
    ctx: &ScimContext,
    change: Change,
    notes: &mut Vec<String>,
) -> Result<ResourceRecord, ScimError> {
    let t = ctx.tenant.id;
    let kind = change.kind;
    let id = change.id.as_str();
    let keys = index_keys(kind, &change.data);
    let now = now_ms();
    let (old_keys, created_ms, version) = match &change.old {
        Some(old) => (index_keys(kind, &old.data), old.created_ms, old.version + 1),
        None => (Default::default(), now, 1),
    };
    if !change.keys_free {
        check_unique(
            tx,
            ctx,
            kind,
            &keys,
            change.old.is_some().then_some(&old_keys),
            id,
        )?;
    }

    let mut member_events = Vec::new();
    for op in &change.members {
        apply_member_op(tx, ctx, id, op, notes, &mut member_events)?;
    }
    let rec = ResourceRecord {
        id: id.to_string(),
        schemas: change.schemas,
        data: change.data,
        password_hash: change.password_hash,
        created_ms,
        modified_ms: change.old.as_ref().map_or(now, |o| now.max(o.modified_ms)),
        version,
        previous_id: match &change.old {
            Some(old) => old.previous_id.clone(),
            None => change.previous_id,
        },
        deleted_ms: None,
    };
    let previous_modified_ms = change.old.as_ref().map(|o| o.modified_ms);
    tx.put_resource(store_kind(kind), t, &rec, previous_modified_ms)?;
    // A new record's keys may still point at a deleted one: they are its own now.
    write_indexes(tx, t, kind, &old_keys, &keys, id)?;
    if change.old.is_none() {
        count(tx, t, kind, 1)?;
    }

    let action = match &change.old {
        None => "created",
        Some(old) if kind == ResourceKind::User && active(&old.data) && !active(&rec.data) => {
            "deactivated"
        }
        Some(old) if kind == ResourceKind::User && !active(&old.data) && active(&rec.data) => {
            "reactivated"
        }
        Some(_) => "updated",
    };
    let mut changed_event = event(kind, id, action, version, None);
    if let Some(old) = &change.old {
        changed_event.changed = changed_attributes(&old.data, &rec.data);
    }
    tx.append_event(t, &changed_event)?;
    for (action, member) in member_events {
        tx.append_event(t, &event(kind, id, action, version, Some(&member)))?;
    }
    Ok(rec)
}

/// Applies one membership change row by row: O(log n) per member in the group's size.
fn apply_member_op(
    tx: &mut Tx,
    ctx: &ScimContext,
    group: &str,
    op: &MemberOp,
    notes: &mut Vec<String>,
    events: &mut Vec<(&'static str, String)>,
) -> Result<(), ScimError> {
    let t = ctx.tenant.id;
    let mut add = |tx: &mut Tx,
                   refs: &[MemberRef],
                   events: &mut Vec<(&'static str, String)>|
     -> Result<(), ScimError> {
        let (known, unknown) = resolve_members(&tx.view(), t, group, refs)?;
        if !unknown.is_empty() {
            if ctx.tenant.unknown_members == UnknownMembers::Reject {
                return Err(ScimError::typed(
                    400,
                    "invalidValue",
                    format!("unknown member id(s): {}", unknown.join(", ")),
                ));
            }
            notes.push(format!(
                "skipped unknown member id(s): {}",
                unknown.join(", ")
            ));
        }
        for (mid, mtype) in known {
            if tx.add_member(t, group, &mid, mtype)? {
                events.push(("member.added", mid));
            }
        }
        Ok(())
    };
    match op {
        MemberOp::Add(refs) => add(tx, refs, events)?,
        MemberOp::Remove(ids) => {
            for mid in ids {
                if tx.remove_member(t, group, mid)? {
                    events.push(("member.removed", mid.clone()));
                }
            }
        }
        MemberOp::RemoveAll => {
            for (mid, _) in tx.view().members(t, group)? {
                tx.remove_member(t, group, &mid)?;
                events.push(("member.removed", mid));
            }
        }
        MemberOp::Replace(refs) => {
            let wanted: std::collections::HashSet<&str> =
                refs.iter().map(|m| m.value.as_str()).collect();
            for (mid, _) in tx.view().members(t, group)? {
                if !wanted.contains(mid.as_str()) {
                    tx.remove_member(t, group, &mid)?;
                    events.push(("member.removed", mid));
                }
            }
            add(tx, refs, events)?;
        }
        MemberOp::RemoveWhere(filter) => {
            let resolver = ctx.resolver(ResourceKind::Group);
            let members_attr = ctx
                .registry
                .group
                .attr("members")
                .cloned()
                .ok_or_else(|| ScimError::new(500, "schema without members"))?;
            let parent = Resolved {
                urn: None,
                attr: members_attr,
                sub: None,
            };
            for (mid, mtype) in tx.view().members(t, group)? {
                let element = json!({"value": mid, "type": mtype});
                if resolver.matches_element(filter, &element, &parent) {
                    tx.remove_member(t, group, &mid)?;
                    events.push(("member.removed", mid));
                }
            }
        }
    }
    Ok(())
}

/// A committed record as the client sees it, with its ETag.
fn rendered(
    tx: &Tx,
    ctx: &ScimContext,
    kind: ResourceKind,
    rec: ResourceRecord,
    links: bool,
) -> Result<Rendered, ScimError> {
    let etag = etag(rec.version);
    Ok(Rendered {
        body: ctx.render_owned(&tx.view(), kind, rec, links)?,
        etag,
        members_left_out: false,
    })
}

/// Keeps the tenant's live user/group counts in step with a create, revive or delete.
fn count(tx: &mut Tx, tenant: u64, kind: ResourceKind, delta: i64) -> Result<(), ScimError> {
    match kind {
        ResourceKind::User => tx.adjust_counts(tenant, delta, 0)?,
        ResourceKind::Group => tx.adjust_counts(tenant, 0, delta)?,
    }
    Ok(())
}

/// The live (not deleted) record, or 404.
fn live(tx: &Tx, kind: ResourceKind, tenant: u64, id: &str) -> Result<ResourceRecord, ScimError> {
    tx.view()
        .resource(store_kind(kind), tenant, id)?
        .filter(|r| r.deleted_ms.is_none())
        .ok_or_else(|| not_found(kind, id))
}

impl Directory {
    /// Runs a bulk request (RFC 7644 §3.7): operations in order, each in its own
    /// transaction, `bulkId:` references resolved as their POSTs succeed (an
    /// operation waiting on a later POST runs after it), stopping after
    /// `failOnErrors` errors.
    pub fn scim_bulk(
        &self,
        ctx: &ScimContext,
        request: &bulk::BulkRequest,
    ) -> (Value, Vec<String>) {
        let ops = &request.operations;
        let defined: HashSet<&str> = ops.iter().filter_map(|o| o.bulk_id.as_deref()).collect();
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<Value>> = vec![None; ops.len()];
        let mut notes = Vec::new();
        let mut errors = 0;
        let mut pending: Vec<usize> = (0..ops.len()).collect();
        'rounds: loop {
            let mut waiting = Vec::new();
            let mut progressed = false;
            for &i in &pending {
                if request.fail_on_errors.is_some_and(|max| errors >= max) {
                    break 'rounds;
                }
                let refs = bulk::references(&ops[i]);
                let blocked = refs
                    .iter()
                    .any(|r| !ids.contains_key(r) && defined.contains(r.as_str()));
                if blocked {
                    waiting.push(i);
                    continue;
                }
                progressed = true;
                let (entry, failed) = self.bulk_one(ctx, &ops[i], &mut ids, &mut notes);
                errors += usize::from(failed);
                results[i] = Some(entry);
            }
            if waiting.is_empty() {
                break;
            }
            if !progressed {
                // Circular references: nothing can run.
                for i in waiting {
                    let err = ScimError::typed(409, "invalidValue", "circular bulkId references");
                    results[i] = Some(bulk_entry(&ops[i], None, None, Err(&err)));
                }
                break;
            }
            pending = waiting;
        }
        let body = json!({
            "schemas": [bulk::BULK_RESPONSE],
            "Operations": results.into_iter().flatten().collect::<Vec<_>>(),
        });
        (body, notes)
    }

    fn bulk_one(
        &self,
        ctx: &ScimContext,
        op: &bulk::BulkOp,
        ids: &mut HashMap<String, String>,
        notes: &mut Vec<String>,
    ) -> (Value, bool) {
        let mut run = || -> Result<(Option<String>, Option<Rendered>, u16), ScimError> {
            let mut probe = json!([op.path, op.data]);
            let missing = bulk::resolve_refs(&mut probe, ids);
            if !missing.is_empty() {
                return Err(ScimError::typed(
                    409,
                    "invalidValue",
                    format!("unresolved bulkId reference(s): {}", missing.join(", ")),
                ));
            }
            let path = probe[0].as_str().unwrap_or_default().to_string();
            let data = probe[1].clone();
            let target = bulk::target(&path)?;
            let need_id = || {
                target.id.clone().ok_or_else(|| {
                    ScimError::typed(
                        400,
                        "invalidPath",
                        format!("{} needs /{}/{{id}}", op.method, target.kind.endpoint()),
                    )
                })
            };
            let version = op.version.as_deref();
            match op.method.as_str() {
                "POST" => {
                    if target.id.is_some() {
                        return Err(ScimError::typed(
                            400,
                            "invalidPath",
                            "POST goes to /Users or /Groups",
                        ));
                    }
                    let (r, n) = self.scim_create(ctx, target.kind, &data)?;
                    notes.extend(n);
                    let id = r.body["id"].as_str().map(str::to_string);
                    Ok((id, Some(r), 201))
                }
                "PUT" => {
                    let (r, n) =
                        self.scim_replace(ctx, target.kind, &need_id()?, &data, version)?;
                    notes.extend(n);
                    Ok((None, Some(r), 200))
                }
                "PATCH" => {
                    let (r, n) = self.scim_patch(
                        ctx,
                        target.kind,
                        &need_id()?,
                        &data,
                        version,
                        MembersInAnswer::None,
                    )?;
                    notes.extend(n);
                    Ok((None, Some(r), 200))
                }
                _ => {
                    self.scim_delete(ctx, target.kind, &need_id()?, version)?;
                    Ok((None, None, 204))
                }
            }
        };
        match run() {
            Ok((new_id, rendered, status)) => {
                if let (Some(bulk_id), Some(id)) = (&op.bulk_id, &new_id) {
                    ids.insert(bulk_id.clone(), id.clone());
                }
                (
                    bulk_entry(op, rendered.as_ref(), Some(status), Ok(())),
                    false,
                )
            }
            Err(e) => (bulk_entry(op, None, None, Err(&e)), true),
        }
    }
}

fn bulk_entry(
    op: &bulk::BulkOp,
    rendered: Option<&Rendered>,
    status: Option<u16>,
    outcome: Result<(), &ScimError>,
) -> Value {
    let mut entry = Map::new();
    entry.insert("method".into(), json!(op.method));
    if let Some(b) = &op.bulk_id {
        entry.insert("bulkId".into(), json!(b));
    }
    if let Some(r) = rendered {
        entry.insert("version".into(), json!(r.etag));
        if let Some(loc) = r.body["meta"]["location"].as_str() {
            entry.insert("location".into(), json!(loc));
        }
    }
    match outcome {
        Ok(()) => {
            entry.insert("status".into(), json!(status.unwrap_or(200).to_string()));
        }
        Err(e) => {
            entry.insert("status".into(), json!(e.status.to_string()));
            entry.insert("response".into(), e.body());
        }
    }
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_anywhere_in_a_body_is_noticed() {
        for body in [
            json!({"userName": "a", "password": "x"}),
            json!({"userName": "a", "PassWord": "x"}),
            json!({"Operations": [{"op": "replace", "path": "password", "value": "x"}]}),
            json!({"Operations": [{"op": "replace", "value": {"PASSWORD": "x"}}]}),
            json!({"urn:ext:1.0:User": {"oldPassword": "x"}}),
        ] {
            assert!(mentions_password(&body), "{body}");
        }
        for body in [
            json!({"userName": "pass word", "title": "Passwor", "active": true}),
            json!({"displayName": "Zoë Ü", "emails": [{"value": "p@x.test"}], "n": 8}),
            json!([]),
        ] {
            assert!(!mentions_password(&body), "{body}");
        }
    }
}
