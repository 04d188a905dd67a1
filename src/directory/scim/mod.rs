//! SCIM resources, one room: reads and renders (`resources`), writes with
//! their invariants (`writes`: uniqueness, indexes, memberships, change
//! events in the write's transaction), IdP profiles and every leniency rule
//! (`profile`), and here the face the SCIM surface calls: one async method
//! per operation, which decides where the work runs (inline, the blocking
//! pool, or the store's group-commit writer) and hands back what to answer.

pub mod profile;
pub mod resources;
pub mod writes;

use std::sync::Arc;

use serde_json::Value;

use self::resources::{GroupRead, MemberStream, Rendered, ScimContext};
use self::writes::{MembersInAnswer, ScimWrite, WriteOutcome, mentions_password};
use super::Directory;
use crate::scim::error::ScimError;
use crate::scim::filter::Resolver;
use crate::scim::query::ListQuery;
use crate::scim::resource::Projection;
use crate::scim::schema::ResourceKind;

/// The most members a group PATCH answer lists; a larger group's PATCH answers
/// 204, so that a change of one member never renders a hundred thousand.
const MEMBERS_IN_PATCH_ANSWER: usize = 1000;

/// One SCIM request on a resource (or a collection, with `id` empty).
pub struct ScimRequest {
    /// The tenant, its schemas and its IdP profile.
    pub ctx: ScimContext,
    /// Users or Groups.
    pub kind: ResourceKind,
    /// The resource id from the path.
    pub id: String,
    /// `If-Match`, when sent.
    pub if_match: Option<String>,
    /// `attributes` / `excludedAttributes`.
    pub projection: Projection,
    /// Whether the client sent either projection parameter at all.
    pub projection_asked: bool,
}

/// What a GET of one resource answers.
pub enum ScimRead {
    /// A whole user, already JSON text.
    Json {
        /// The body.
        body: Vec<u8>,
        /// Its ETag.
        etag: String,
    },
    /// A rendered resource.
    Resource(Rendered),
    /// A large group, written as it is read.
    Streamed(Box<MemberStream>),
}

/// What a list answers.
pub enum ScimPage {
    /// A one-user answer, already JSON text.
    Json(Vec<u8>),
    /// A ListResponse.
    Body(Value),
}

/// What a PATCH answers.
pub enum PatchAnswer {
    /// 200 with the resource.
    Resource(Rendered),
    /// 204 with the ETag only (Entra's groups, or a group too large to list).
    NoContent(String),
}

/// Runs blocking directory work off the async workers.
async fn off_workers<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    crate::plumbing::blocking::block(f)
        .await
        .map_err(|_| ScimError::new(500, "internal error; see the server log"))?
}

/// The SCIM face of the directory: `dir.scim().create(…)`.
pub struct ScimFace<'d>(&'d Arc<Directory>);

impl Directory {
    /// The SCIM resources face.
    pub fn scim(self: &Arc<Self>) -> ScimFace<'_> {
        ScimFace(self)
    }
}

impl ScimFace<'_> {
    /// Runs a write of `body`: prepared inline (or, when it carries a
    /// password to hash, off the workers), then queued for the store's
    /// writer thread, which group-commits it; the worker serves others until
    /// it is durable. The projection is checked before anything is written
    /// (a bad `attributes` must not commit and then fail) and applied after.
    async fn projected_write<W: ScimWrite<WriteOutcome>>(
        &self,
        ctx: ScimContext,
        kind: ResourceKind,
        projection: &Projection,
        body: Value,
        prepare: impl FnOnce(&Directory, ScimContext, &Value) -> Result<W, ScimError> + Send + 'static,
    ) -> Result<WriteOutcome, ScimError> {
        let registry = ctx.registry.clone();
        let resolver = Resolver::new(&registry, kind);
        projection.check(&resolver)?;
        let write = if mentions_password(&body) {
            let dir = self.0.clone();
            off_workers(move || prepare(&dir, ctx, &body)).await?
        } else {
            prepare(self.0, ctx, &body)?
        };
        let (mut rendered, notes) = self.0.store.write_queued(write).await?;
        rendered.body = projection.apply(&resolver, rendered.body);
        Ok((rendered, notes))
    }

    /// POST: creates a resource.
    pub async fn create(&self, r: ScimRequest, body: Value) -> Result<WriteOutcome, ScimError> {
        let kind = r.kind;
        self.projected_write(r.ctx, kind, &r.projection, body, move |dir, ctx, body| {
            dir.create_write(ctx, kind, body)
        })
        .await
    }

    /// PUT: replaces a resource.
    pub async fn replace(&self, r: ScimRequest, body: Value) -> Result<WriteOutcome, ScimError> {
        let (kind, id, if_match) = (r.kind, r.id, r.if_match);
        self.projected_write(r.ctx, kind, &r.projection, body, move |dir, ctx, body| {
            dir.replace_write(ctx, kind, &id, body, if_match.as_deref())
        })
        .await
    }

    /// PATCH: applies the operations all-or-nothing.
    pub async fn patch(
        &self,
        r: ScimRequest,
        body: Value,
    ) -> Result<(PatchAnswer, Vec<String>), ScimError> {
        let no_content = r.kind == ResourceKind::Group
            && r.ctx.profile.wants_no_content_from_group_patch()
            && !r.projection_asked;
        let members = if no_content {
            MembersInAnswer::None
        } else if !r.projection_asked {
            MembersInAnswer::UpTo(MEMBERS_IN_PATCH_ANSWER)
        } else if r
            .projection
            .attributes
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case("members"))
        {
            MembersInAnswer::All
        } else {
            MembersInAnswer::None
        };
        let (kind, id, if_match) = (r.kind, r.id, r.if_match);
        let (rendered, notes) = self
            .projected_write(r.ctx, kind, &r.projection, body, move |dir, ctx, body| {
                dir.patch_write(ctx, kind, &id, body, if_match.as_deref(), members)
            })
            .await?;
        let answer = if no_content || rendered.members_left_out {
            PatchAnswer::NoContent(rendered.etag)
        } else {
            PatchAnswer::Resource(rendered)
        };
        Ok((answer, notes))
    }

    /// DELETE: removes a resource (soft or hard, per the tenant).
    pub async fn delete(&self, r: ScimRequest) -> Result<(), ScimError> {
        let write = self
            .0
            .delete_write(&r.ctx, r.kind, &r.id, r.if_match.as_deref());
        self.0.store.write_queued(write).await
    }

    /// GET of one resource. A user is one row plus its few group links: read
    /// inline, without a thread hop. A group may have 100 000 members: read
    /// off the workers, and streamed when large.
    pub async fn get(&self, r: ScimRequest) -> Result<ScimRead, ScimError> {
        match r.kind {
            ResourceKind::User if r.projection.is_everything() => {
                let (body, etag) = self.0.scim_get_user_json(&r.ctx, &r.id)?;
                Ok(ScimRead::Json { body, etag })
            }
            ResourceKind::User => Ok(ScimRead::Resource(self.0.scim_get(
                &r.ctx,
                r.kind,
                &r.id,
                &r.projection,
            )?)),
            ResourceKind::Group => {
                let dir = self.0.clone();
                let read =
                    off_workers(move || dir.scim_get_group(&r.ctx, &r.id, &r.projection)).await?;
                Ok(match read {
                    GroupRead::Whole(rendered) => ScimRead::Resource(rendered),
                    GroupRead::Streamed(stream) => ScimRead::Streamed(stream),
                })
            }
        }
    }

    /// GET of a collection. A lookup by a unique index reads a row or two:
    /// inline, cheaper than a thread hop; anything else runs off the workers.
    pub async fn list(
        &self,
        ctx: ScimContext,
        kind: ResourceKind,
        query: ListQuery,
    ) -> Result<ScimPage, ScimError> {
        if let Some(point) = self.0.point_query(&ctx, kind, &query) {
            if let Some(body) = self.0.scim_list_point_json(&ctx, kind, &query, &point)? {
                return Ok(ScimPage::Json(body));
            }
            return Ok(ScimPage::Body(
                self.0.scim_list_point(&ctx, kind, &query, point)?.body,
            ));
        }
        self.search(ctx, vec![kind], query).await
    }

    /// POST .search: over one kind or (at the root) both.
    pub async fn search(
        &self,
        ctx: ScimContext,
        kinds: Vec<ResourceKind>,
        query: ListQuery,
    ) -> Result<ScimPage, ScimError> {
        let dir = self.0.clone();
        let page = off_workers(move || dir.scim_list(&ctx, &kinds, &query)).await?;
        Ok(ScimPage::Body(page.body))
    }

    /// POST /Bulk: the operations in order, each its own write.
    pub async fn bulk(
        &self,
        ctx: ScimContext,
        body: Value,
    ) -> Result<(Value, Vec<String>), ScimError> {
        let request = crate::scim::bulk::parse(&body)?;
        let dir = self.0.clone();
        off_workers(move || Ok(dir.scim_bulk(&ctx, &request))).await
    }
}
