//! Micro-benchmarks of the pure hot paths: filter parse and evaluation, PATCH
//! application, and sealing/opening secrets. Run with `cargo bench`.

use std::collections::BTreeMap;

use roster::crypto::{KeyBytes, Keyring, SealContext};
use roster::scim::filter::{self, Resolver};
use roster::scim::patch;
use roster::scim::schema::{Registry, ResourceKind};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

const FILTERS: [&str; 3] = [
    r#"userName eq "bjensen@example.com""#,
    r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    r#"emails[type eq "work" and value co "@example.com"] or not (title pr) and meta.lastModified gt "2011-05-13T04:42:34Z""#,
];

fn user() -> Value {
    json!({
        "id": "2819c223", "userName": "bjensen@example.com", "userType": "Employee", "title": "Tour Guide",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
        "meta": {"lastModified": "2024-05-13T04:42:34Z"}
    })
}

#[divan::bench(args = FILTERS)]
fn filter_parse(src: &str) -> Option<filter::Filter> {
    filter::parse(divan::black_box(src)).ok()
}

#[divan::bench(args = FILTERS)]
fn filter_evaluate(bencher: divan::Bencher, src: &str) {
    let registry = Registry::new(&[]);
    let resolver = Resolver::new(&registry, ResourceKind::User);
    let prepared = filter::parse(src).ok().map(|f| resolver.prepare(&f));
    let resource = user();
    bencher.bench_local(|| {
        prepared
            .as_ref()
            .map(|f| f.matches(divan::black_box(&resource)))
    });
}

/// Resolving a filter's paths against the schemas: once per list, not per resource.
#[divan::bench(args = FILTERS)]
fn filter_prepare(bencher: divan::Bencher, src: &str) {
    let registry = Registry::new(&[]);
    let resolver = Resolver::new(&registry, ResourceKind::User);
    let parsed = filter::parse(src).ok();
    bencher.bench_local(|| {
        parsed
            .as_ref()
            .map(|f| resolver.prepare(divan::black_box(f)))
    });
}

#[divan::bench]
fn patch_entra_update(bencher: divan::Bencher) {
    let registry = Registry::new(&[]);
    let body = json!({"schemas": [patch::PATCH_OP], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Pvlo"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"},
        {"op": "replace", "value": {"active": false}}
    ]});
    let base = user();
    bencher.bench_local(|| {
        let mut notes = Vec::new();
        let ops = patch::parse_request(&body, &mut notes).ok()?;
        let mut doc = base.as_object()?.clone();
        patch::apply(ResourceKind::User, &registry, "2819c223", &mut doc, &ops).ok()
    });
}

fn ring() -> Keyring {
    Keyring::new(BTreeMap::from([(1, KeyBytes::random())]), 1)
}

fn ctx() -> SealContext<'static> {
    SealContext {
        table: "credentials",
        record: "1/basic_abc".into(),
        field: "secret",
    }
}

#[divan::bench]
fn seal_secret(bencher: divan::Bencher) {
    let ring = ring();
    let ctx = ctx();
    bencher.bench_local(|| {
        ring.seal(
            &ctx,
            divan::black_box(b"47dhLCfijeUlEfCaM8PMJYyefRwjoP7fx0kUrPv11Xr"),
        )
    });
}

#[divan::bench]
fn open_secret(bencher: divan::Bencher) {
    let ring = ring();
    let ctx = ctx();
    let sealed = ring
        .seal(&ctx, b"47dhLCfijeUlEfCaM8PMJYyefRwjoP7fx0kUrPv11Xr")
        .unwrap_or_default();
    bencher.bench_local(|| ring.open(&ctx, divan::black_box(&sealed)).is_ok());
}
