//! Every redb table, declared in one place.
//!
//! Keys start with the tenant id wherever a row belongs to a tenant: a range scan
//! over one tenant's prefix can never reach another tenant's rows.

use redb::TableDefinition;

/// Key/value settings of the store itself: schema version, counters, key fingerprint.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// tenant id → tenant record.
pub const TENANTS: TableDefinition<u64, &[u8]> = TableDefinition::new("tenants");
/// slug → tenant id (slugs are unique).
pub const TENANT_SLUGS: TableDefinition<&str, u64> = TableDefinition::new("tenant_slugs");
/// (tenant, user id) → user record.
pub const USERS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("users");
/// (tenant, group id) → group record (members live in `MEMBERS`).
pub const GROUPS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("groups");
/// (tenant, lower(userName)) → user id.
pub const USER_NAMES: TableDefinition<(u64, &str), &str> = TableDefinition::new("idx_user_names");
/// (tenant, externalId) → user id.
pub const USER_EXTERNAL_IDS: TableDefinition<(u64, &str), &str> =
    TableDefinition::new("idx_user_external_ids");
/// (tenant, lower(email), user id) → (): emails are not unique.
pub const USER_EMAILS: TableDefinition<(u64, &str, &str), ()> =
    TableDefinition::new("idx_user_emails");
/// (tenant, lower(displayName)) → group id.
pub const GROUP_NAMES: TableDefinition<(u64, &str), &str> = TableDefinition::new("idx_group_names");
/// (tenant, lastModified in Unix ms, user id) → (): users in `meta.lastModified`
/// order, tombstones included (schema v3).
pub const USER_MODIFIED: TableDefinition<(u64, i64, &str), ()> =
    TableDefinition::new("idx_user_modified");
/// (tenant, lastModified in Unix ms, group id) → (): groups likewise.
pub const GROUP_MODIFIED: TableDefinition<(u64, i64, &str), ()> =
    TableDefinition::new("idx_group_modified");
/// (tenant, group id, member id) → member type ("User" or "Group"): one row per membership.
pub const MEMBERS: TableDefinition<(u64, &str, &str), &str> = TableDefinition::new("members");
/// (tenant, member id, group id) → (): the reverse of `MEMBERS`, for `User.groups`.
pub const MEMBER_OF: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("member_of");
/// (tenant, credential id) → credential record (token hash or sealed secret).
pub const CREDENTIALS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("credentials");
/// (tenant, SHA-256 of a bearer token) → credential id.
pub const TOKEN_HASHES: TableDefinition<(u64, &[u8]), &str> = TableDefinition::new("token_hashes");
/// data key id → data key record, its key material sealed by the master key.
pub const KEYRING: TableDefinition<u32, &[u8]> = TableDefinition::new("keyring");
/// (tenant, seq) → change record: the change feed.
pub const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");
/// seq → audit record: the provisioning log.
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// SHA-256 of a session id → session record.
pub const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
/// admin username → admin record (argon2id hash).
pub const ADMINS: TableDefinition<&str, &[u8]> = TableDefinition::new("admins");
/// tenant id → (live users, live groups): counts without a scan (schema v2).
pub const TENANT_COUNTS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("tenant_counts");
/// (tenant, endpoint id) → webhook record (schema v4).
pub const WEBHOOKS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("webhooks");
/// (tenant, seq) → delivery record: the webhook delivery log (schema v4).
pub const DELIVERIES: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("webhook_deliveries");

/// Calls macro `$m` with every table, in the order above: the one list that
/// creating, backing up and the snapshot slots go by.
macro_rules! all_tables {
    ($m:ident) => {
        $m!(
            META,
            TENANTS,
            TENANT_SLUGS,
            USERS,
            GROUPS,
            USER_NAMES,
            USER_EXTERNAL_IDS,
            USER_EMAILS,
            GROUP_NAMES,
            USER_MODIFIED,
            GROUP_MODIFIED,
            MEMBERS,
            MEMBER_OF,
            CREDENTIALS,
            TOKEN_HASHES,
            KEYRING,
            EVENTS,
            AUDIT,
            SESSIONS,
            ADMINS,
            TENANT_COUNTS,
            WEBHOOKS,
            DELIVERIES,
        )
    };
}
pub(crate) use all_tables;

/// Every table's name, in the order above (slots of a shared read snapshot).
pub const TABLE_NAMES: [&str; 23] = [
    "meta",
    "tenants",
    "tenant_slugs",
    "users",
    "groups",
    "idx_user_names",
    "idx_user_external_ids",
    "idx_user_emails",
    "idx_group_names",
    "idx_user_modified",
    "idx_group_modified",
    "members",
    "member_of",
    "credentials",
    "token_hashes",
    "keyring",
    "events",
    "audit",
    "sessions",
    "admins",
    "tenant_counts",
    "webhooks",
    "webhook_deliveries",
];

#[cfg(test)]
mod tests {
    use redb::TableHandle;

    use super::*;

    #[test]
    fn every_table_has_a_snapshot_slot() {
        macro_rules! names {
            ($($def:ident),* $(,)?) => { [$($def.name()),*] };
        }
        let names = all_tables!(names);
        assert_eq!(names, TABLE_NAMES);
    }
}
