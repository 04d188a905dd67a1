//! The change feed as applications and webhooks see it: event names, the
//! JSON of an event, reading after a cursor, and retention (old events are
//! pruned; a cursor from before the pruned ones is expired, not silently
//! advanced).

use serde_json::{Value, json};

use super::{Directory, DirectoryError, EventRecord};

/// Every event type an application can receive.
pub const EVENT_TYPES: [&str; 11] = [
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "role.permissions_changed",
];

/// An event's public type: `user.created`, `group.member_added`, ...
pub fn event_type(e: &EventRecord) -> String {
    format!(
        "{}.{}",
        e.resource_type.to_ascii_lowercase(),
        e.action.replace('.', "_")
    )
}

/// The opaque cursor of an event (also its webhook message id).
pub fn event_cursor(seq: u64) -> String {
    format!("ev_{seq}")
}

/// Reads a cursor this API handed out.
pub fn parse_cursor(cursor: &str) -> Option<u64> {
    cursor.strip_prefix("ev_")?.parse().ok()
}

/// An event as applications see it.
pub fn event_json(e: &EventRecord) -> Value {
    let mut out = json!({
        "id": event_cursor(e.seq),
        "type": event_type(e),
        "occurred_at": crate::format_time(e.ts_ms / 1000),
        "resource": {"type": e.resource_type, "id": e.id, "version": e.version},
    });
    if let Some(member) = &e.member {
        out["member"] = json!({"id": member});
    }
    if !e.changed.is_empty() {
        out["changed"] = json!(e.changed);
    }
    out
}

/// Meta key of the newest event pruned from a tenant's feed.
fn pruned_key(tenant: u64) -> String {
    format!("events_pruned_through/{tenant}")
}

impl Directory {
    /// A tenant's change feed after sequence number `after`. A cursor older
    /// than what retention kept is refused (`Gone`): the client must resync.
    pub fn events_of(
        &self,
        tenant: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, DirectoryError> {
        let view = self.store.read()?;
        let pruned = pruned_through(&view, tenant)?;
        if after > 0 && after < pruned {
            return Err(DirectoryError::Gone(format!(
                "cursor {} has expired: events up to {} were removed after the retention period of {}; read the directory again and follow the feed from its start",
                event_cursor(after),
                event_cursor(pruned),
                crate::config::describe_duration(self.event_retention)
            )));
        }
        Ok(view.events(tenant, after, limit)?)
    }

    /// Removes every tenant's events older than the retention period (the
    /// newest event of a tenant always stays: it carries the sequence on).
    /// Returns how many tenants had events pruned.
    pub fn prune_events(&self) -> Result<usize, DirectoryError> {
        let cutoff_ms = super::scim::resources::now_ms()
            .saturating_sub(i64::try_from(self.event_retention.as_millis()).unwrap_or(i64::MAX));
        let view = self.store.read()?;
        let mut due = Vec::new();
        for tenant in view.tenants()? {
            let last = view.last_event_seq(tenant.id)?;
            let mut through = 0;
            let mut after = pruned_through(&view, tenant.id)?;
            'scan: loop {
                let batch = view.events(tenant.id, after, 512)?;
                let Some(end) = batch.last().map(|e| e.seq) else {
                    break;
                };
                for e in &batch {
                    if e.ts_ms >= cutoff_ms || e.seq >= last {
                        break 'scan;
                    }
                    through = e.seq;
                }
                after = end;
            }
            if through > 0 {
                due.push((tenant.id, through));
            }
        }
        drop(view);
        if due.is_empty() {
            return Ok(0);
        }
        let n = due.len();
        self.store.write_lazy(|tx| {
            for (tenant, through) in &due {
                tx.prune_events(*tenant, *through)?;
                tx.meta_put(&pruned_key(*tenant), through.to_string().as_bytes())?;
            }
            Ok::<_, DirectoryError>(())
        })?;
        Ok(n)
    }
}

/// The newest pruned event of a tenant's feed (0: none pruned).
pub(crate) fn pruned_through(
    view: &crate::store::View<'_, '_>,
    tenant: u64,
) -> Result<u64, DirectoryError> {
    Ok(view
        .meta_get(&pruned_key(tenant))?
        .and_then(|b| String::from_utf8_lossy(&b).parse().ok())
        .unwrap_or(0))
}
