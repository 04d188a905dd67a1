//! SCIM Users and Groups of a tenant: create, read, replace, delete, list.
//!
//! Invariants kept in every write transaction: the unique indexes (lower
//! userName, externalId, lower group displayName) and the email index match
//! the stored attributes; membership rows exist in both directions.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::crypto::password::hash_password;
use crate::directory::{Directory, DirectoryError};
use crate::scim::error::ScimError;
use crate::scim::filter::{IndexedEq, Resolved, Resolver, values_at};
use crate::scim::query::{CursorPos, ListQuery, decode_cursor, encode_cursor};
use crate::scim::resource::{Leniency, MemberRef, Normalized, Projection};
use crate::scim::schema::{AttrType, Attribute, LIST_RESPONSE, Registry, ResourceKind, Schema};
use crate::store::records::{ResourceRecord, TenantRecord};
use crate::store::{Kind, PageStart, SortIndex, StoreError, Tx, UniqueIndex, View};

/// A tenant's SCIM setting for one request: schemas, leniency, base URL.
#[derive(Clone)]
pub struct ScimContext {
    /// The tenant.
    pub tenant: TenantRecord,
    /// Its schemas (built-in plus registered extensions).
    pub registry: std::sync::Arc<Registry>,
    /// What its IdP profile tolerates.
    pub leniency: Leniency,
    /// `https://host/scim/v2/{slug}`.
    pub base: String,
    /// The IdP profile in effect (the tenant's, or the one detected under "auto").
    pub profile: crate::directory::IdpProfile,
}

/// A resource as returned to a client, with its ETag.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The SCIM JSON.
    pub body: Value,
    /// The weak ETag (`W/"n"`), also in `meta.version`.
    pub etag: String,
    /// A large group's members were left out of a body meant to be whole:
    /// the answer is 204 without a body rather than a partial resource.
    pub members_left_out: bool,
}

pub(crate) fn store_kind(kind: ResourceKind) -> Kind {
    match kind {
        ResourceKind::User => Kind::User,
        ResourceKind::Group => Kind::Group,
    }
}

pub(crate) fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A new resource id: a UUIDv7, so id order is creation order (stable paging).
pub fn new_resource_id() -> String {
    let ms = now_ms() as u64;
    let mut bytes: [u8; 16] = rand::random();
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 0x0f)] as char);
    }
    id
}

pub(crate) fn not_found(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::new(404, format!("{} {id} not found", kind.name()))
}

fn uniqueness(msg: String) -> ScimError {
    ScimError::typed(409, "uniqueness", msg)
}

/// The index keys a resource's attributes imply.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct IndexKeys {
    pub(crate) name: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) emails: Vec<String>,
}

pub(crate) fn index_keys(kind: ResourceKind, data: &Map<String, Value>) -> IndexKeys {
    let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
    match kind {
        ResourceKind::User => {
            let mut emails: Vec<String> = data
                .get("emails")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|e| e.get("value").and_then(Value::as_str))
                        .map(str::to_lowercase)
                        .collect()
                })
                .unwrap_or_default();
            emails.sort();
            emails.dedup();
            IndexKeys {
                name: text("userName").map(|s| s.to_lowercase()),
                external_id: text("externalId"),
                emails,
            }
        }
        ResourceKind::Group => IndexKeys {
            name: text("displayName").map(|s| s.to_lowercase()),
            external_id: None,
            emails: vec![],
        },
    }
}

pub(crate) fn name_index(kind: ResourceKind) -> UniqueIndex {
    match kind {
        ResourceKind::User => UniqueIndex::UserName,
        ResourceKind::Group => UniqueIndex::GroupName,
    }
}

/// Checks the unique keys are free (or already this resource's).
/// `held`: the keys of the live record being replaced. Every write keeps a
/// live record's keys in the index, naming it, so those are not looked up
/// again (a patch of `active` looks nothing up).
pub(crate) fn check_unique(
    tx: &Tx,
    ctx: &ScimContext,
    kind: ResourceKind,
    keys: &IndexKeys,
    held: Option<&IndexKeys>,
    id: &str,
) -> Result<(), ScimError> {
    let view = tx.view();
    let t = ctx.tenant.id;
    let live = |owner: &str| -> Result<bool, ScimError> {
        Ok(view
            .resource(store_kind(kind), t, owner)?
            .is_some_and(|r| r.deleted_ms.is_none()))
    };
    if let Some(name) = &keys.name
        && held.is_none_or(|h| h.name.as_ref() != Some(name))
        && let Some(owner) = view.index_get(name_index(kind), t, name)?
        && owner != id
        && live(&owner)?
    {
        let attr = match kind {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        };
        return Err(uniqueness(format!(
            "a {} with this {attr} already exists (id {owner})",
            kind.name()
        )));
    }
    if let Some(ext) = &keys.external_id
        && held.is_none_or(|h| h.external_id.as_ref() != Some(ext))
        && let Some(owner) = view.index_get(UniqueIndex::UserExternalId, t, ext)?
        && owner != id
        && view
            .resource(Kind::User, t, &owner)?
            .is_some_and(|r| r.deleted_ms.is_none())
    {
        return Err(uniqueness(format!(
            "a User with this externalId already exists (id {owner})"
        )));
    }
    Ok(())
}

pub(crate) fn write_indexes(
    tx: &mut Tx,
    tenant: u64,
    kind: ResourceKind,
    old: &IndexKeys,
    new: &IndexKeys,
    id: &str,
) -> Result<(), ScimError> {
    if old.name != new.name {
        if let Some(k) = &old.name {
            tx.index_remove(name_index(kind), tenant, k, id)?;
        }
        if let Some(k) = &new.name {
            tx.index_put(name_index(kind), tenant, k, id)?;
        }
    }
    if old.external_id != new.external_id {
        if let Some(k) = &old.external_id {
            tx.index_remove(UniqueIndex::UserExternalId, tenant, k, id)?;
        }
        if let Some(k) = &new.external_id {
            tx.index_put(UniqueIndex::UserExternalId, tenant, k, id)?;
        }
    }
    for e in old.emails.iter().filter(|e| !new.emails.contains(e)) {
        tx.email_index(tenant, e, id, false)?;
    }
    for e in new.emails.iter().filter(|e| !old.emails.contains(e)) {
        tx.email_index(tenant, e, id, true)?;
    }
    Ok(())
}

/// Member ids with their types ("User" or "Group").
pub(crate) type KnownMembers = Vec<(String, &'static str)>;

/// Resolves member ids to their types; returns the known ones and the unknown ids.
pub(crate) fn resolve_members(
    view: &View<'_, '_>,
    tenant: u64,
    group_id: &str,
    members: &[MemberRef],
) -> Result<(KnownMembers, Vec<String>), ScimError> {
    let mut out = Vec::with_capacity(members.len());
    let mut unknown = Vec::new();
    let live = |kind: Kind, id: &str| -> Result<bool, ScimError> {
        Ok(view
            .resource(kind, tenant, id)?
            .is_some_and(|r| r.deleted_ms.is_none()))
    };
    for m in members {
        if m.value == group_id {
            return Err(ScimError::typed(
                400,
                "invalidValue",
                "a group cannot be a member of itself",
            ));
        }
        let prefers_group = m
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("group"));
        if !prefers_group && live(Kind::User, &m.value)? {
            out.push((m.value.clone(), "User"));
        } else if live(Kind::Group, &m.value)? {
            out.push((m.value.clone(), "Group"));
        } else if live(Kind::User, &m.value)? {
            out.push((m.value.clone(), "User"));
        } else {
            unknown.push(m.value.clone());
        }
    }
    Ok((out, unknown))
}

impl ScimContext {
    /// The resolver for a kind.
    pub fn resolver(&self, kind: ResourceKind) -> Resolver<'_> {
        Resolver::new(&self.registry, kind)
    }

    fn location(&self, kind: ResourceKind, id: &str) -> String {
        format!("{}/{}/{id}", self.base, kind.endpoint())
    }

    /// A record as SCIM JSON without groups/members, taking its data (no copy):
    /// what filters and sort keys that do not name links are evaluated on.
    /// `meta` is built only when asked for (it costs more than the rest).
    fn render_unlinked(
        &self,
        kind: ResourceKind,
        mut rec: ResourceRecord,
        with_meta: bool,
    ) -> Value {
        let meta = with_meta.then(|| self.meta(kind, &rec));
        let mut obj = std::mem::take(&mut rec.data);
        obj.insert(
            "schemas".into(),
            Value::from(std::mem::take(&mut rec.schemas)),
        );
        if let Some(meta) = meta {
            obj.insert("meta".into(), meta);
        }
        obj.insert("id".into(), Value::String(rec.id));
        Value::Object(obj)
    }

    /// The `meta` of a stored record.
    fn meta(&self, kind: ResourceKind, rec: &ResourceRecord) -> Value {
        self.meta_of(
            kind,
            &rec.id,
            rec.created_ms,
            rec.modified_ms,
            rec.version,
            rec.deleted_ms,
        )
    }

    fn meta_of(
        &self,
        kind: ResourceKind,
        id: &str,
        created_ms: i64,
        modified_ms: i64,
        version: u64,
        deleted_ms: Option<i64>,
    ) -> Value {
        let mut meta = json!({
            "resourceType": kind.name(),
            "created": format_ms(created_ms),
            "lastModified": format_ms(modified_ms),
            "location": self.location(kind, id),
            "version": etag(version),
        });
        // Only the console sees tombstones; SCIM answers 404 for them.
        if let (Some(ms), Some(m)) = (deleted_ms, meta.as_object_mut()) {
            m.insert("deleted".into(), json!(format_ms(ms)));
        }
        meta
    }

    /// One entry of Group.members.
    fn member_json(&self, id: String, member_type: String) -> Value {
        let target = if member_type == "Group" {
            ResourceKind::Group
        } else {
            ResourceKind::User
        };
        json!({
            "$ref": self.location(target, &id),
            "value": id,
            "type": member_type,
        })
    }

    /// Renders a stored record; `with_links` adds User.groups / Group.members.
    pub(crate) fn render(
        &self,
        view: &View<'_, '_>,
        kind: ResourceKind,
        rec: &ResourceRecord,
        with_links: bool,
    ) -> Result<Value, ScimError> {
        self.render_owned(view, kind, rec.clone(), with_links)
    }

    /// `render`, taking the record's data instead of copying it (list pages).
    pub(crate) fn render_owned(
        &self,
        view: &View<'_, '_>,
        kind: ResourceKind,
        mut rec: ResourceRecord,
        with_links: bool,
    ) -> Result<Value, ScimError> {
        let meta = self.meta(kind, &rec);
        let mut obj = std::mem::take(&mut rec.data);
        obj.insert(
            "schemas".into(),
            Value::from(std::mem::take(&mut rec.schemas)),
        );
        let t = self.tenant.id;
        if with_links {
            match kind {
                ResourceKind::User => {
                    if let Some(groups) = self.user_groups(view, &rec.id)? {
                        obj.insert("groups".into(), groups);
                    }
                }
                ResourceKind::Group => {
                    let members: Vec<Value> = view
                        .members(t, &rec.id)?
                        .into_iter()
                        .map(|(mid, mtype)| self.member_json(mid, mtype))
                        .collect();
                    if !members.is_empty() {
                        obj.insert("members".into(), Value::Array(members));
                    }
                }
            }
        }
        obj.insert("meta".into(), meta);
        obj.insert("id".into(), Value::String(rec.id));
        Ok(Value::Object(obj))
    }

    /// User.groups of a user, or None when it is in no group.
    fn user_groups(&self, view: &View<'_, '_>, user: &str) -> Result<Option<Value>, ScimError> {
        let t = self.tenant.id;
        let mut groups = Vec::new();
        for gid in view.groups_of(t, user)? {
            let display = view
                .resource(Kind::Group, t, &gid)?
                .and_then(|g| g.data.get("displayName").cloned())
                .unwrap_or(Value::Null);
            groups.push(json!({
                "value": gid,
                "$ref": self.location(ResourceKind::Group, &gid),
                "display": display,
                "type": "direct",
            }));
        }
        Ok((!groups.is_empty()).then_some(Value::Array(groups)))
    }

    /// A stored user's response body (all attributes, with groups), spliced
    /// from its stored JSON: the bytes `render_owned` and serializing would
    /// give (the same keys in the same sorted order), without decoding every
    /// attribute into values and encoding them again (in a profile, about a
    /// sixth of a GET's CPU). None for a tombstone.
    fn user_body(
        &self,
        view: &View<'_, '_>,
        stored: &[u8],
    ) -> Result<Option<(Vec<u8>, u64)>, ScimError> {
        /// What a user's GET reads of its record; attributes stay raw JSON.
        #[derive(serde::Deserialize)]
        struct StoredUser<'a> {
            #[serde(borrow)]
            id: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            schemas: &'a RawValue,
            #[serde(borrow)]
            data: BTreeMap<std::borrow::Cow<'a, str>, &'a RawValue>,
            created_ms: i64,
            modified_ms: i64,
            version: u64,
            #[serde(default)]
            deleted_ms: Option<i64>,
        }
        enum Piece<'a> {
            Raw(&'a RawValue),
            Text(&'a str),
            Value(&'a Value),
        }
        let user: StoredUser<'_> = serde_json::from_slice(stored)
            .map_err(|e| StoreError::Corrupt(format!("undecodable record: {e}")))?;
        if user.deleted_ms.is_some() {
            return Ok(None);
        }
        let kind = ResourceKind::User;
        let meta = self.meta_of(
            kind,
            &user.id,
            user.created_ms,
            user.modified_ms,
            user.version,
            None,
        );
        let groups = self.user_groups(view, &user.id)?;
        // A map orders the keys as serde_json's map does (by bytes).
        let mut fields: BTreeMap<&str, Piece<'_>> = user
            .data
            .iter()
            .map(|(k, v)| (k.as_ref(), Piece::Raw(v)))
            .collect();
        if let Some(groups) = &groups {
            fields.insert("groups", Piece::Value(groups));
        }
        fields.insert("schemas", Piece::Raw(user.schemas));
        fields.insert("meta", Piece::Value(&meta));
        fields.insert("id", Piece::Text(&user.id));
        let mut out = Vec::with_capacity(stored.len() + 320);
        out.push(b'{');
        for (i, (key, piece)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(&mut out, key)?;
            out.push(b':');
            match piece {
                Piece::Raw(raw) => out.extend_from_slice(raw.get().as_bytes()),
                Piece::Text(text) => write_json(&mut out, text)?,
                Piece::Value(value) => write_json(&mut out, value)?,
            }
        }
        out.push(b'}');
        Ok(Some((out, user.version)))
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), ScimError> {
    serde_json::to_writer(out, value)
        .map_err(|e| ScimError::new(500, format!("cannot encode a response: {e}")))
}

pub(crate) fn custom_schemas(tenant: &TenantRecord) -> Vec<(Schema, ResourceKind)> {
    tenant
        .extensions
        .iter()
        .filter_map(|ext| {
            let kind = if ext.applies_to.eq_ignore_ascii_case("group") {
                ResourceKind::Group
            } else {
                ResourceKind::User
            };
            Schema::from_json(&ext.schema).ok().map(|s| (s, kind))
        })
        .collect()
}

/// A resource that matched a list query: enough to order and page it.
struct Hit {
    kind: ResourceKind,
    id: String,
    /// `Kind:id`, the default order and the cursor position.
    key: String,
    sort_key: Option<Value>,
    /// Whether the sort attribute compares case-exactly.
    exact: bool,
}

/// Groups with more members than this are written to the client as they are read.
pub const STREAM_MEMBERS_OVER: usize = 1000;

/// A group read: whole, or a head and a cursor over many members.
pub enum GroupRead {
    /// Rendered in memory.
    Whole(Rendered),
    /// Written in chunks.
    Streamed(Box<MemberStream>),
}

/// The JSON text of a large group, chunk by chunk, from one read snapshot.
pub struct MemberStream {
    head: Option<String>,
    /// The group's ETag.
    pub etag: String,
    view: View<'static, 'static>,
    ctx: ScimContext,
    group: String,
    pending: Vec<(String, String)>,
    after: Option<String>,
    started: bool,
    done: bool,
}

impl Iterator for MemberStream {
    type Item = Result<String, ScimError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(head) = self.head.take() {
            return Some(Ok(head));
        }
        if self.done {
            return None;
        }
        if self.pending.is_empty() {
            match self.view.members_page(
                self.ctx.tenant.id,
                &self.group,
                self.after.as_deref(),
                STREAM_MEMBERS_OVER,
            ) {
                Ok(page) => self.pending = page,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
            if self.pending.is_empty() {
                self.done = true;
                return Some(Ok("]}".into()));
            }
        }
        let mut chunk = String::with_capacity(self.pending.len() * 160);
        for (id, member_type) in std::mem::take(&mut self.pending) {
            if self.started {
                chunk.push(',');
            }
            self.started = true;
            chunk.push_str(&self.ctx.member_json(id.clone(), member_type).to_string());
            self.after = Some(id);
        }
        Some(Ok(chunk))
    }
}

/// Live rows between two page anchors: a deep page walks at most this many.
const ANCHOR_EVERY: usize = 256;

/// The attributes rendered from membership rows, not from the resource row.
const LINKS: [&str; 2] = ["members", "groups"];

/// Page anchors per (tenant, is-user), with the resource generation they match.
pub(crate) type AnchorCache = std::sync::Mutex<HashMap<(u64, bool), (u64, Arc<Vec<String>>)>>;

/// A list a unique index answers: at most a few rows (see `point_query`).
pub struct PointQuery {
    eq: IndexedEq,
    /// Whether every record the index yields matches the whole filter.
    exact: bool,
}

/// The result of a list or search.
pub struct ListPage {
    /// The ListResponse body.
    pub body: Value,
}

fn sort_key<'v>(values: &[&'v Value]) -> Option<&'v Value> {
    values.first().copied()
}

/// A sort key that compares in the attribute's order: dateTimes as instants
/// (their text forms differ in fraction digits and offsets).
fn comparable(attr: &Attribute, value: &Value) -> Value {
    if attr.ty == AttrType::DateTime
        && let Some(text) = value.as_str()
        && let Ok(t) =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        && let Ok(micros) = i64::try_from(t.unix_timestamp_nanos() / 1000)
    {
        return json!(micros);
    }
    value.clone()
}

fn compare_keys(a: Option<&Value>, b: Option<&Value>, case_exact: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        // Missing values sort last ascending (RFC 7644 §3.4.2.3).
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Value::String(x)), Some(Value::String(y))) => {
            if case_exact {
                x.cmp(y)
            } else {
                x.to_lowercase().cmp(&y.to_lowercase())
            }
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

impl Directory {
    /// The SCIM context of a tenant under an IdP profile (its own, or a detected one).
    pub fn scim_context(
        &self,
        tenant: &TenantRecord,
        profile: crate::directory::IdpProfile,
    ) -> ScimContext {
        ScimContext {
            registry: self.registry_of(tenant),
            leniency: Leniency {
                unknown_extensions: profile.keeps_unknown_extensions(),
            },
            base: self.scim_endpoint(&tenant.slug),
            profile,
            tenant: tenant.clone(),
        }
    }

    /// The console's view of a tenant's SCIM data: its fixed profile, or generic under "auto".
    pub fn console_scim_context(&self, tenant: &TenantRecord) -> ScimContext {
        let profile = crate::directory::IdpProfile::of_setting(tenant.idp)
            .unwrap_or(crate::directory::IdpProfile::Generic);
        self.scim_context(tenant, profile)
    }

    /// Reads one resource; members/groups are loaded only if the projection keeps them.
    pub fn scim_get(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        id: &str,
        projection: &Projection,
    ) -> Result<Rendered, ScimError> {
        let resolver = ctx.resolver(kind);
        projection.check(&resolver)?;
        let view = self.store.read().map_err(DirectoryError::from)?;
        let rec = view
            .resource(store_kind(kind), ctx.tenant.id, id)?
            .filter(|r| r.deleted_ms.is_none())
            .ok_or_else(|| not_found(kind, id))?;
        let links = match kind {
            ResourceKind::User => projection.includes(&resolver, "groups"),
            ResourceKind::Group => projection.includes(&resolver, "members"),
        };
        let etag = etag(rec.version);
        let body = ctx.render_owned(&view, kind, rec, links)?;
        Ok(Rendered {
            body: projection.apply(&resolver, body),
            etag,
            members_left_out: false,
        })
    }

    /// Reads one user with every attribute (no `attributes` or
    /// `excludedAttributes`): its response body and ETag.
    pub fn scim_get_user_json(
        &self,
        ctx: &ScimContext,
        id: &str,
    ) -> Result<(Vec<u8>, String), ScimError> {
        let kind = ResourceKind::User;
        let view = self.store.read().map_err(DirectoryError::from)?;
        let stored = view.resource_json(Kind::User, ctx.tenant.id, id)?;
        let body = match &stored {
            Some(stored) => ctx.user_body(&view, stored)?,
            None => None,
        };
        let (body, version) = body.ok_or_else(|| not_found(kind, id))?;
        Ok((body, etag(version)))
    }

    /// The unique-index term (id, userName, externalId, group displayName) a
    /// list of one kind is answered from, in default order and without a
    /// cursor: at most a few rows. None when the list needs a scan or an index
    /// walk.
    pub fn point_query(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Option<PointQuery> {
        if query.sort_by.is_some() || query.cursor.is_some() {
            return None;
        }
        let resolver = ctx.resolver(kind);
        let filter = query.filter.as_ref()?;
        let (eq, exact) = match resolver.lone_indexed_eq(filter) {
            Some(lone) => lone,
            None => {
                resolver.check(filter).ok()?;
                (resolver.indexed_eq(filter)?, false)
            }
        };
        let unique = match eq {
            IndexedEq::Id(_) | IndexedEq::UserName(_) | IndexedEq::GroupName(_) => true,
            // Only users have an externalId index.
            IndexedEq::ExternalId(_) => kind == ResourceKind::User,
            IndexedEq::Email(_) => false,
        };
        let whole_groups_stay_off =
            kind == ResourceKind::User || !query.projection.includes(&resolver, "members");
        (unique && whole_groups_stay_off).then_some(PointQuery { eq, exact })
    }

    /// Reads a group. One with more than `STREAM_MEMBERS_OVER` members (and a
    /// projection that keeps its members whole) comes back as a head plus a
    /// cursor over its members, so the response is written as it is read.
    pub fn scim_get_group(
        &self,
        ctx: &ScimContext,
        id: &str,
        projection: &Projection,
    ) -> Result<GroupRead, ScimError> {
        let kind = ResourceKind::Group;
        let resolver = ctx.resolver(kind);
        projection.check(&resolver)?;
        let view = self.store.read().map_err(DirectoryError::from)?;
        let rec = view
            .resource(Kind::Group, ctx.tenant.id, id)?
            .filter(|r| r.deleted_ms.is_none())
            .ok_or_else(|| not_found(kind, id))?;
        let sample =
            json!({"schemas": [], "id": "", "members": [{"value": "", "$ref": "", "type": ""}]});
        let whole_members =
            projection.apply(&resolver, sample.clone())["members"] == sample["members"];
        let first = if whole_members {
            view.members_page(ctx.tenant.id, id, None, STREAM_MEMBERS_OVER + 1)?
        } else {
            Vec::new()
        };
        if first.len() <= STREAM_MEMBERS_OVER {
            let links = projection.includes(&resolver, "members");
            let body = ctx.render(&view, kind, &rec, links)?;
            return Ok(GroupRead::Whole(Rendered {
                body: projection.apply(&resolver, body),
                etag: etag(rec.version),
                members_left_out: false,
            }));
        }
        let mut head = projection
            .apply(&resolver, ctx.render(&view, kind, &rec, false)?)
            .to_string();
        head.pop(); // the closing brace: members follow
        head.push_str(if head.len() > 1 {
            ",\"members\":["
        } else {
            "\"members\":["
        });
        Ok(GroupRead::Streamed(Box::new(MemberStream {
            head: Some(head),
            etag: etag(rec.version),
            view,
            ctx: ctx.clone(),
            group: id.to_string(),
            pending: first,
            after: None,
            started: false,
            done: false,
        })))
    }

    /// Lists or searches resources of the given kinds (both for a root `.search`).
    pub fn scim_list(
        &self,
        ctx: &ScimContext,
        kinds: &[ResourceKind],
        query: &ListQuery,
    ) -> Result<ListPage, ScimError> {
        // Read before the snapshot: cached page anchors are used only if no
        // change to users or groups was committed since they were built.
        let generation = self.store.resource_generation();
        let view = self.store.read().map_err(DirectoryError::from)?;
        let t = ctx.tenant.id;
        if let [kind] = kinds
            && let Some(page) = self.list_in_index_order(ctx, &view, generation, *kind, query)?
        {
            return Ok(page);
        }
        if let [kind] = kinds
            && let Some(point) = self.point_query(ctx, *kind, query)
        {
            return self.list_point(ctx, &view, *kind, query, point);
        }
        // Matches keep only what ordering and paging need; the page itself is
        // read again and rendered at the end, so memory is O(matches), small.
        let mut matches: Vec<Hit> = Vec::new();
        let mut resolvable = false;
        let mut first_error = None;
        let names_any = |names: &[&str]| {
            query.filter.as_ref().is_some_and(|f| f.names_any(names))
                || query.sort_by.as_ref().is_some_and(|s| s.names_any(names))
        };
        let filter_links = names_any(&LINKS);
        let needs_meta = names_any(&["meta"]);
        let mut sort_known = query.sort_by.is_none();
        for &kind in kinds {
            let resolver = ctx.resolver(kind);
            if let Some(filter) = &query.filter
                && let Err(e) = resolver.check(filter)
            {
                first_error.get_or_insert(e);
                continue;
            }
            resolvable = true;
            if kinds.len() == 1 {
                query.projection.check(&resolver)?;
            }
            let sort_path = match &query.sort_by {
                Some(path) => resolver.resolve(path, None).ok(),
                None => None,
            };
            sort_known |= sort_path.is_some();
            let prepared = query.filter.as_ref().map(|f| resolver.prepare(f));
            let mut failed = None;
            let mut visit = |rec: ResourceRecord| -> bool {
                if !query.include_deleted && rec.deleted_ms.is_some() {
                    return true;
                }
                let id = rec.id.clone();
                let doc = if filter_links {
                    match ctx.render(&view, kind, &rec, true) {
                        Ok(doc) => doc,
                        Err(e) => {
                            failed = Some(e);
                            return false;
                        }
                    }
                } else {
                    ctx.render_unlinked(kind, rec, needs_meta)
                };
                if prepared.as_ref().is_none_or(|f| f.matches(&doc)) {
                    let (sort_key, exact) = match &sort_path {
                        Some(r) => (
                            sort_key(&primary_first(values_at(&doc, r), &doc, r))
                                .map(|v| comparable(r.leaf(), v)),
                            r.leaf().case_exact,
                        ),
                        None => (None, false),
                    };
                    matches.push(Hit {
                        kind,
                        key: format!("{}:{id}", kind.name()),
                        id,
                        sort_key,
                        exact,
                    });
                }
                true
            };
            match query.filter.as_ref().and_then(|f| resolver.indexed_eq(f)) {
                Some(eq) => {
                    for rec in self.indexed_candidates(&view, kind, t, &eq)? {
                        if !visit(rec) {
                            break;
                        }
                    }
                }
                None => view.scan_resources(store_kind(kind), t, &mut visit)?,
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        if !resolvable {
            return Err(first_error.unwrap_or_else(|| {
                ScimError::typed(400, "invalidFilter", "the filter matches no resource type")
            }));
        }

        if let Some(sort_by) = &query.sort_by {
            if !sort_known {
                return Err(ScimError::typed(
                    400,
                    "invalidValue",
                    format!("sortBy: unknown attribute {sort_by}"),
                ));
            }
            // Ties in id order, the whole order reversed for descending: the
            // same order as the index paths.
            matches.sort_by(|a, b| {
                let o = compare_keys(a.sort_key.as_ref(), b.sort_key.as_ref(), a.exact)
                    .then_with(|| a.key.cmp(&b.key));
                if query.descending { o.reverse() } else { o }
            });
        }

        let total = matches.len();
        let count = query.count;
        let mut body = Map::new();
        body.insert("schemas".into(), json!([LIST_RESPONSE]));
        body.insert("totalResults".into(), json!(total));
        let (start, page_len, next, previous) = match &query.cursor {
            Some(cursor) => {
                let pos = decode_cursor(cursor)?;
                let sorted = query.sort_by.is_some();
                let start = match &pos {
                    None => 0,
                    Some(CursorPos::Offset(n)) => (*n).min(total),
                    Some(CursorPos::After(k)) => matches.partition_point(|m| m.key <= *k),
                    Some(CursorPos::Before(k)) => matches
                        .partition_point(|m| m.key < *k)
                        .saturating_sub(count),
                };
                let end = (start + count).min(total);
                let next = (end < total && count > 0).then(|| {
                    if sorted {
                        encode_cursor(&CursorPos::Offset(end))
                    } else {
                        encode_cursor(&CursorPos::After(matches[end - 1].key.clone()))
                    }
                });
                let previous = (start > 0).then(|| {
                    if sorted {
                        encode_cursor(&CursorPos::Offset(start.saturating_sub(count)))
                    } else {
                        encode_cursor(&CursorPos::Before(matches[start].key.clone()))
                    }
                });
                (start, end - start, next, previous)
            }
            None => {
                let start = (query.start_index - 1).min(total);
                let end = (start + count).min(total);
                body.insert("startIndex".into(), json!(query.start_index));
                (start, end - start, None, None)
            }
        };
        body.insert("itemsPerPage".into(), json!(page_len));
        if let Some(n) = next {
            body.insert("nextCursor".into(), json!(n));
        }
        if let Some(p) = previous {
            body.insert("previousCursor".into(), json!(p));
        }
        let mut resources = Vec::with_capacity(page_len);
        for hit in matches.iter().skip(start).take(page_len) {
            let resolver = ctx.resolver(hit.kind);
            let links = match hit.kind {
                ResourceKind::User => query.projection.includes(&resolver, "groups"),
                ResourceKind::Group => query.projection.includes(&resolver, "members"),
            };
            // The same snapshot the matches came from: the record is there.
            let Some(rec) = view.resource(store_kind(hit.kind), t, &hit.id)? else {
                continue;
            };
            let doc = ctx.render_owned(&view, hit.kind, rec, links)?;
            resources.push(query.projection.apply(&resolver, doc));
        }
        body.insert("Resources".into(), Value::Array(resources));
        Ok(ListPage {
            body: Value::Object(body),
        })
    }

    /// A page of a live group's members after member id `after`, in id order,
    /// and whether more follow.
    pub fn group_members_page(
        &self,
        ctx: &ScimContext,
        group: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Value>, bool), ScimError> {
        let view = self.store.read().map_err(DirectoryError::from)?;
        view.resource(Kind::Group, ctx.tenant.id, group)?
            .filter(|r| r.deleted_ms.is_none())
            .ok_or_else(|| not_found(ResourceKind::Group, group))?;
        let mut page = view.members_page(ctx.tenant.id, group, after, limit + 1)?;
        let more = page.len() > limit;
        page.truncate(limit);
        Ok((
            page.into_iter()
                .map(|(id, member_type)| ctx.member_json(id, member_type))
                .collect(),
            more,
        ))
    }

    /// One resource for the console, tombstones included, with its change history.
    pub fn console_resource(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        id: &str,
    ) -> Result<(Value, Vec<crate::store::records::EventRecord>), ScimError> {
        let view = self.store.read().map_err(DirectoryError::from)?;
        let rec = view
            .resource(store_kind(kind), ctx.tenant.id, id)?
            .ok_or_else(|| not_found(kind, id))?;
        let mut body = ctx.render(&view, kind, &rec, true)?;
        // Like a tombstone's deletion time, only the console sees this link.
        if let (Some(previous), Some(meta)) = (&rec.previous_id, body["meta"].as_object_mut()) {
            meta.insert("previousId".into(), json!(previous));
        }
        let history = view
            .events(ctx.tenant.id, 0, usize::MAX)?
            .into_iter()
            .filter(|e| e.id == id || e.member.as_deref() == Some(id))
            .collect();
        Ok((body, history))
    }

    /// The userNames of users by id, for lists of members (a gone user: "").
    pub fn user_names(
        &self,
        tenant: &crate::store::records::TenantRecord,
        ids: &[&str],
    ) -> Result<Vec<String>, DirectoryError> {
        let view = self.store.read()?;
        ids.iter()
            .map(|id| {
                Ok(view
                    .resource(Kind::User, tenant.id, id)?
                    .and_then(|r| r.data.get("userName")?.as_str().map(str::to_string))
                    .unwrap_or_default())
            })
            .collect()
    }

    /// Unfiltered lists in id order, or sorted by the unique name, read only
    /// their page in index order (skipped rows are not decoded). `None` when the
    /// query needs the general path.
    fn list_in_index_order(
        &self,
        ctx: &ScimContext,
        view: &View<'_, '_>,
        generation: u64,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Option<ListPage>, ScimError> {
        if query.filter.is_some() || query.include_deleted {
            return Ok(None);
        }
        let resolver = ctx.resolver(kind);
        // Sorted by the unique name (userName, group displayName: its index is
        // lower-cased, as caseExact=false compares) or by meta.lastModified.
        let sort_index = match &query.sort_by {
            None => None,
            Some(_) if query.cursor.is_some() => return Ok(None),
            Some(path) => match resolver.resolve(path, None) {
                Ok(r) if r.urn.is_none() && r.sub.is_none() => {
                    let name = match kind {
                        ResourceKind::User => "userName",
                        ResourceKind::Group => "displayName",
                    };
                    if r.attr.name == name {
                        Some(SortIndex::Name(name_index(kind)))
                    } else {
                        return Ok(None);
                    }
                }
                Ok(r)
                    if r.urn.is_none()
                        && r.attr.name == "meta"
                        && r.sub.as_ref().is_some_and(|s| s.name == "lastModified") =>
                {
                    Some(SortIndex::Modified)
                }
                _ => return Ok(None),
            },
        };
        let prefix = format!("{}:", kind.name());
        let (after, skip, cursor_mode) = match &query.cursor {
            None => (None, query.start_index - 1, false),
            Some(c) => match decode_cursor(c)? {
                None => (None, 0, true),
                Some(CursorPos::After(k)) => match k.strip_prefix(&prefix) {
                    Some(id) => (Some(id.to_string()), 0, true),
                    None => return Ok(None),
                },
                Some(_) => return Ok(None),
            },
        };
        query.projection.check(&resolver)?;
        let t = ctx.tenant.id;
        let (users, groups) = view.resource_counts(t)?;
        let total = match kind {
            ResourceKind::User => users,
            ResourceKind::Group => groups,
        } as usize;
        // One extra record tells whether a next page exists.
        let mut records = if let Some(by) = sort_index {
            view.resources_sorted(
                by,
                store_kind(kind),
                t,
                query.descending,
                skip,
                query.count + 1,
            )?
        } else if let Some(after) = &after {
            view.resources_page(
                store_kind(kind),
                t,
                PageStart::After(after),
                0,
                query.count + 1,
            )?
        } else {
            // Start from the nearest anchor at or before the first row wanted.
            let anchors = if skip >= ANCHOR_EVERY {
                self.anchors(view, generation, kind, t)?
            } else {
                Arc::default()
            };
            match anchors.get(skip / ANCHOR_EVERY) {
                Some(anchor) => view.resources_page(
                    store_kind(kind),
                    t,
                    PageStart::At(anchor),
                    skip % ANCHOR_EVERY,
                    query.count + 1,
                )?,
                None if !anchors.is_empty() => Vec::new(),
                None => view.resources_page(
                    store_kind(kind),
                    t,
                    PageStart::First,
                    skip,
                    query.count + 1,
                )?,
            }
        };
        let more = records.len() > query.count;
        records.truncate(query.count);
        let links = match kind {
            ResourceKind::User => query.projection.includes(&resolver, "groups"),
            ResourceKind::Group => query.projection.includes(&resolver, "members"),
        };
        let first_id = records.first().map(|r| r.id.clone());
        let last_id = records.last().map(|r| r.id.clone());
        let mut resources = Vec::with_capacity(records.len());
        for rec in records {
            let body = ctx.render_owned(view, kind, rec, links)?;
            resources.push(query.projection.apply(&resolver, body));
        }
        let mut body = Map::new();
        body.insert("schemas".into(), json!([LIST_RESPONSE]));
        body.insert("totalResults".into(), json!(total));
        body.insert("itemsPerPage".into(), json!(resources.len()));
        if cursor_mode {
            if more && let Some(last) = last_id {
                let key = format!("{prefix}{last}");
                body.insert(
                    "nextCursor".into(),
                    json!(encode_cursor(&CursorPos::After(key))),
                );
            }
            if let (true, Some(first)) = (after.is_some(), first_id) {
                let key = format!("{prefix}{first}");
                body.insert(
                    "previousCursor".into(),
                    json!(encode_cursor(&CursorPos::Before(key))),
                );
            }
        } else {
            body.insert("startIndex".into(), json!(query.start_index));
        }
        body.insert("Resources".into(), Value::Array(resources));
        Ok(Some(ListPage {
            body: Value::Object(body),
        }))
    }

    /// `scim_list` of a query `point_query` answered.
    pub fn scim_list_point(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        query: &ListQuery,
        point: PointQuery,
    ) -> Result<ListPage, ScimError> {
        let view = self.store.read().map_err(DirectoryError::from)?;
        self.list_point(ctx, &view, kind, query, point)
    }

    /// `scim_list_point` of users whose index decides the filter, with every
    /// attribute: the ListResponse body spliced from the stored records (see
    /// `user_body`). None when the list needs rendering.
    pub fn scim_list_point_json(
        &self,
        ctx: &ScimContext,
        kind: ResourceKind,
        query: &ListQuery,
        point: &PointQuery,
    ) -> Result<Option<Vec<u8>>, ScimError> {
        if kind != ResourceKind::User
            || !point.exact
            || !query.projection.is_everything()
            || query.include_deleted
        {
            return Ok(None);
        }
        let view = self.store.read().map_err(DirectoryError::from)?;
        let t = ctx.tenant.id;
        let Some(ids) = point_ids(&view, kind, t, &point.eq)? else {
            return Ok(None);
        };
        let mut total = 0usize;
        let mut resources = Vec::new();
        for id in ids {
            let Some(stored) = view.resource_json(Kind::User, t, &id)? else {
                continue;
            };
            // A tombstone (None) is not listed.
            if let Some((body, _)) = ctx.user_body(&view, &stored)? {
                total += 1;
                if total >= query.start_index && resources.len() < query.count {
                    resources.push(body);
                }
            }
        }
        // The keys in serde_json's map order, as `list_point` renders them.
        let mut out = Vec::with_capacity(160 + resources.iter().map(Vec::len).sum::<usize>());
        out.extend_from_slice(b"{\"Resources\":[");
        for (i, body) in resources.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(body);
        }
        out.extend_from_slice(
            format!(
                "],\"itemsPerPage\":{},\"schemas\":[\"{LIST_RESPONSE}\"],\"startIndex\":{},\"totalResults\":{total}}}",
                resources.len(),
                query.start_index,
            )
            .as_bytes(),
        );
        Ok(Some(out))
    }

    /// A list answered from a unique index (from `point_query`): each
    /// candidate is read, rendered and (unless the index decides) matched once.
    fn list_point(
        &self,
        ctx: &ScimContext,
        view: &View<'_, '_>,
        kind: ResourceKind,
        query: &ListQuery,
        point: PointQuery,
    ) -> Result<ListPage, ScimError> {
        let resolver = ctx.resolver(kind);
        query.projection.check(&resolver)?;
        let filter = query.filter.as_ref().filter(|_| !point.exact);
        let links = match kind {
            ResourceKind::User => query.projection.includes(&resolver, "groups"),
            ResourceKind::Group => query.projection.includes(&resolver, "members"),
        } || filter.is_some_and(|f| f.names_any(&LINKS));
        let mut total = 0usize;
        let mut resources = Vec::new();
        for rec in self.indexed_candidates(view, kind, ctx.tenant.id, &point.eq)? {
            if rec.deleted_ms.is_some() && !query.include_deleted {
                continue;
            }
            let doc = ctx.render_owned(view, kind, rec, links)?;
            if filter.is_some_and(|f| !resolver.matches(f, &doc)) {
                continue;
            }
            total += 1;
            if total >= query.start_index && resources.len() < query.count {
                resources.push(query.projection.apply(&resolver, doc));
            }
        }
        let mut body = Map::new();
        body.insert("schemas".into(), json!([LIST_RESPONSE]));
        body.insert("totalResults".into(), json!(total));
        body.insert("startIndex".into(), json!(query.start_index));
        body.insert("itemsPerPage".into(), json!(resources.len()));
        body.insert("Resources".into(), Value::Array(resources));
        Ok(ListPage {
            body: Value::Object(body),
        })
    }

    /// Every `ANCHOR_EVERY`-th live id of a tenant's users or groups, cached
    /// until the next committed change to users or groups.
    fn anchors(
        &self,
        view: &View<'_, '_>,
        generation: u64,
        kind: ResourceKind,
        tenant: u64,
    ) -> Result<Arc<Vec<String>>, ScimError> {
        let key = (tenant, kind == ResourceKind::User);
        let mut cache = self.page_anchors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built, anchors)) = cache.get(&key)
            && *built == generation
        {
            return Ok(anchors.clone());
        }
        let anchors = Arc::new(view.live_anchors(store_kind(kind), tenant, ANCHOR_EVERY)?);
        cache.retain(|_, (built, _)| *built == generation);
        cache.insert(key, (generation, anchors.clone()));
        Ok(anchors)
    }

    fn indexed_candidates(
        &self,
        view: &View<'_, '_>,
        kind: ResourceKind,
        tenant: u64,
        eq: &IndexedEq,
    ) -> Result<Vec<ResourceRecord>, ScimError> {
        let Some(ids) = point_ids(view, kind, tenant, eq)? else {
            return Ok(view.resources(store_kind(kind), tenant)?);
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(rec) = view.resource(store_kind(kind), tenant, &id)? {
                out.push(rec);
            }
        }
        Ok(out)
    }
}

/// The ids an index yields for `eq`; None when there is no such index (group
/// externalId: every group is a candidate).
fn point_ids(
    view: &View<'_, '_>,
    kind: ResourceKind,
    tenant: u64,
    eq: &IndexedEq,
) -> Result<Option<Vec<String>>, ScimError> {
    let ids: Vec<String> = match eq {
        IndexedEq::Id(id) => vec![id.clone()],
        IndexedEq::UserName(v) | IndexedEq::GroupName(v) => view
            .index_get(name_index(kind), tenant, &v.to_lowercase())?
            .into_iter()
            .collect(),
        IndexedEq::ExternalId(v) => match kind {
            ResourceKind::User => view
                .index_get(UniqueIndex::UserExternalId, tenant, v)?
                .into_iter()
                .collect(),
            ResourceKind::Group => return Ok(None),
        },
        IndexedEq::Email(v) => view.users_by_email(tenant, &v.to_lowercase())?,
    };
    Ok(Some(ids))
}

/// Multi-valued sort keys use the primary value first (RFC 7644 §3.4.2.3).
fn primary_first<'v>(values: Vec<&'v Value>, resource: &'v Value, r: &Resolved) -> Vec<&'v Value> {
    if !r.attr.multi || r.sub.as_ref().is_some_and(|s| s.name != "value") {
        return values;
    }
    let primary = crate::scim::filter::elements(resource, r)
        .into_iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .and_then(|e| e.get("value"));
    match primary {
        Some(p) => std::iter::once(p).chain(values).collect(),
        None => values,
    }
}

pub(crate) fn hashed(normalized: &Normalized) -> Result<Option<String>, ScimError> {
    normalized
        .password
        .as_deref()
        .map(hash_password)
        .transpose()
        .map_err(|e| DirectoryError::from(e).into())
}

/// `If-Match`: `*` or one of the listed ETags must match the current version.
pub fn check_precondition(if_match: Option<&str>, version: u64) -> Result<(), ScimError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = etag(version);
    let strong = format!("\"{version}\"");
    let ok = header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t == strong);
    if ok {
        Ok(())
    } else {
        Err(ScimError::typed(
            412,
            "preconditionFailed",
            format!("the resource has changed (current version {current})"),
        ))
    }
}

/// Whether an `If-None-Match` header matches the current ETag (then: 304).
pub fn none_match_hits(if_none_match: Option<&str>, current: &str) -> bool {
    if_none_match.is_some_and(|h| {
        h.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == current || format!("W/{t}") == current)
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn a_spliced_user_body_is_the_rendered_one_byte_for_byte() {
        let data = tempfile::tempdir().unwrap();
        let config = crate::config::Config {
            data_dir: data.path().to_path_buf(),
            ..Default::default()
        };
        let dir = Directory::open(&config).unwrap();
        let tenant = dir.create_tenant("Acme", None, None, "test").unwrap();
        let ctx = dir.scim_context(&tenant, crate::directory::IdpProfile::Generic);
        let user = |body: Value| {
            let (rendered, _) = dir.scim_create(&ctx, ResourceKind::User, &body).unwrap();
            rendered.body["id"].as_str().unwrap().to_string()
        };
        let plain = user(json!({"userName": "plain@example.com"}));
        let rich = user(json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "userName": "Zoë \"quoted\" \\ back\u{1}slash@example.com",
            "externalId": "ext-1",
            "name": {"givenName": "Zoë", "familyName": "Ünder\nline"},
            "displayName": "日本語",
            "active": false,
            "emails": [{"value": "z@example.com", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "0042",
                "manager": {"value": plain},
            },
        }));
        let (group, _) = dir
            .scim_create(
                &ctx,
                ResourceKind::Group,
                &json!({"displayName": "Ops \"A\"", "members": [{"value": rich}]}),
            )
            .unwrap();
        assert!(group.body["members"].is_array());
        let gone = user(json!({"userName": "gone@example.com"}));
        dir.scim_delete(&ctx, ResourceKind::User, &gone, None)
            .unwrap();

        let view = dir.store.read().unwrap();
        for id in [&plain, &rich] {
            let stored = view
                .resource_json(Kind::User, tenant.id, id)
                .unwrap()
                .unwrap();
            let (spliced, version) = ctx.user_body(&view, &stored).unwrap().unwrap();
            let rec = view.resource(Kind::User, tenant.id, id).unwrap().unwrap();
            assert_eq!(version, rec.version);
            let rendered = ctx
                .render_owned(&view, ResourceKind::User, rec, true)
                .unwrap();
            assert_eq!(
                String::from_utf8(spliced).unwrap(),
                serde_json::to_string(&rendered).unwrap()
            );
        }
        let rich_body: Value =
            serde_json::from_slice(&dir.scim_get_user_json(&ctx, &rich).unwrap().0).unwrap();
        assert_eq!(rich_body["groups"][0]["display"], "Ops \"A\"");
        // A tombstone is not found, as through `scim_get`.
        let stored = view
            .resource_json(Kind::User, tenant.id, &gone)
            .unwrap()
            .unwrap();
        assert!(ctx.user_body(&view, &stored).unwrap().is_none());
        assert_eq!(dir.scim_get_user_json(&ctx, &gone).unwrap_err().status, 404);
        assert_eq!(
            dir.scim_get_user_json(&ctx, "no-such-id")
                .unwrap_err()
                .status,
            404
        );
        drop(view);

        // Point lists: the spliced ListResponse is the rendered one.
        let filters = [
            r#"userName eq "PLAIN@example.com""#.to_string(),
            format!("id eq \"{rich}\""),
            r#"externalId eq "ext-1""#.to_string(),
            r#"userName eq "gone@example.com""#.to_string(),
            r#"userName eq "nobody@example.com""#.to_string(),
        ];
        let mut spliced_lists = 0;
        for filter in &filters {
            for paging in [&[][..], &[("startIndex", "2")][..], &[("count", "0")][..]] {
                let mut params = vec![(Cow::from("filter"), Cow::from(filter.as_str()))];
                params.extend(paging.iter().map(|(k, v)| (Cow::from(*k), Cow::from(*v))));
                let query = ListQuery::from_params(&params).unwrap();
                let point = dir.point_query(&ctx, ResourceKind::User, &query).unwrap();
                let spliced = dir
                    .scim_list_point_json(&ctx, ResourceKind::User, &query, &point)
                    .unwrap();
                let rendered = dir
                    .scim_list_point(&ctx, ResourceKind::User, &query, point)
                    .unwrap()
                    .body;
                if let Some(spliced) = spliced {
                    spliced_lists += 1;
                    assert_eq!(
                        String::from_utf8(spliced).unwrap(),
                        serde_json::to_string(&rendered).unwrap(),
                        "{filter} {paging:?}"
                    );
                }
            }
        }
        assert_eq!(spliced_lists, filters.len() * 3);
    }

    #[test]
    fn ids_are_time_ordered_uuids() {
        let a = new_resource_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_resource_id();
        assert!(a < b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(
            a.bytes()
                .all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn preconditions() {
        assert!(check_precondition(None, 3).is_ok());
        assert!(check_precondition(Some("W/\"3\""), 3).is_ok());
        assert!(check_precondition(Some("*"), 3).is_ok());
        assert_eq!(
            check_precondition(Some("W/\"2\""), 3).unwrap_err().status,
            412
        );
        assert!(none_match_hits(Some("W/\"3\""), "W/\"3\""));
        assert!(!none_match_hits(Some("W/\"2\""), "W/\"3\""));
    }
}
