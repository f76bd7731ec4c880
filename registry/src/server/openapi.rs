//! `GET /api/openapi.json`: the API described as OpenAPI 3.1, written by hand beside the
//! handlers (a test checks it names every route the router serves).

use axum::Json;
use serde_json::{json, Value};

use super::api::{DEFAULT_PER_PAGE, MAX_PER_PAGE};

/// Every route the server serves, as OpenAPI paths (method, path).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/index/{path}"),
    ("get", "/api/v1/search"),
    ("get", "/api/v1/plugins/{name}"),
    ("post", "/api/v1/publish"),
    ("post", "/api/v1/plugins/{name}/yank"),
    ("post", "/api/v1/plugins/{name}/unyank"),
    ("post", "/api/v1/plugins/{name}/deprecate"),
    ("post", "/api/v1/plugins/{name}/promote"),
    ("get", "/api/v1/plugins/{name}/owners"),
    ("post", "/api/v1/plugins/{name}/owners"),
    ("delete", "/api/v1/plugins/{name}/owners/{account}"),
    ("get", "/api/v1/accounts/{account}/keys"),
    ("post", "/api/v1/accounts/{account}/keys"),
    ("delete", "/api/v1/accounts/{account}/keys/{key_id}"),
    ("get", "/api/v1/whoami"),
    ("get", "/api/v1/uploads/{id}"),
    ("get", "/api/v1/holds"),
    ("post", "/api/v1/holds/{id}/release"),
    ("post", "/api/v1/holds/{id}/reject"),
    ("get", "/api/v1/audit"),
    (
        "get",
        "/api/v1/plugins/{name}/versions/{version}/certification",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/versions/{version}/certification",
    ),
    ("get", "/api/v1/certification/queue"),
    ("get", "/api/v1/certification/key"),
    ("post", "/api/v1/certification/{id}/approve"),
    ("post", "/api/v1/certification/{id}/deny"),
    ("get", "/api/v1/plugins/{name}/reviews"),
    ("post", "/api/v1/plugins/{name}/reviews"),
    ("put", "/api/v1/plugins/{name}/reviews/{id}"),
    ("delete", "/api/v1/plugins/{name}/reviews/{id}"),
    ("get", "/api/v1/reviews/mine"),
    ("get", "/api/v1/moderation/reviews"),
    ("post", "/api/v1/moderation/reviews/{id}/approve"),
    ("post", "/api/v1/moderation/reviews/{id}/reject"),
    ("post", "/api/v1/reports"),
    ("get", "/api/v1/moderation/reports"),
    ("post", "/api/v1/moderation/reports/{id}/resolve"),
    ("post", "/api/v1/plugins/{name}/pricing"),
    ("post", "/api/v1/plugins/{name}/purchase"),
    ("get", "/api/v1/entitlements"),
    ("post", "/api/v1/purchases/{id}/refund"),
    ("post", "/api/v1/market/rates"),
    ("post", "/api/v1/market/thresholds"),
    ("get", "/api/v1/disputes"),
    ("post", "/api/v1/disputes"),
    ("post", "/api/v1/disputes/{id}/resolve"),
    ("get", "/api/v1/payouts"),
    ("get", "/api/openapi.json"),
];

pub(super) fn body(required: &[&str], properties: Value) -> Value {
    json!({
        "required": true,
        "content": { "application/json": { "schema": {
            "type": "object", "additionalProperties": false, "required": required,
            "properties": properties
        } } }
    })
}

pub(super) fn param(name: &str, pattern: Option<&str>) -> Value {
    let mut schema = json!({ "type": "string" });
    if let Some(p) = pattern {
        schema["pattern"] = json!(p);
    }
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

pub(super) fn error_responses(codes: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for c in codes {
        out.insert(
            (*c).to_owned(),
            json!({
                "description": "a coded refusal",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
            }),
        );
    }
    out.insert(
        "429".into(),
        json!({
            "description": "rate limited (SB1397); see Retry-After",
            "headers": { "Retry-After": { "schema": { "type": "integer" } } },
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        }),
    );
    Value::Object(out)
}

pub(super) fn with_ok(mut responses: Value, schema: &str) -> Value {
    responses["200"] = json!({
        "description": "OK",
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    });
    responses
}

/// A version as the server parses it (semver).
pub(super) const SEMVER: &str =
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$";

/// The document.
pub fn openapi() -> Value {
    let mut doc = document();
    super::certification::describe(&mut doc);
    super::reviews::describe(&mut doc);
    doc
}

fn document() -> Value {
    let bearer = json!([{ "token": [] }]);
    let name = json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$" } });
    let yank_body = json!({
        "required": true,
        "content": { "application/json": { "schema": {
            "type": "object", "additionalProperties": false, "required": ["version"],
            "properties": { "version": { "type": "string", "pattern": SEMVER }, "reason": { "type": "string" } }
        } } }
    });
    let mut publish_responses = with_ok(
        error_responses(&["400", "401", "403", "409", "413", "422", "503"]),
        "Published",
    );
    publish_responses["202"] = json!({ "description": "held for review (a name close to a listed one)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Upload" } } } });
    let mut plugin_responses = with_ok(error_responses(&["400", "404"]), "Plugin");
    plugin_responses["200"]["headers"] = json!({ "ETag": { "schema": { "type": "string" } } });
    plugin_responses["304"] = json!({ "description": "unchanged since the ETag given", "headers": { "ETag": { "schema": { "type": "string" } } } });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard registry server",
            "version": "1",
            "description": "The signed registry under /index/ and a JSON API under /api/v1/. Every refusal is {code, message, next_step}."
        },
        "paths": {
            "/index/{path}": { "get": {
                "summary": "A registry file exactly as the client reads it (ETag, If-None-Match, Cache-Control)",
                "parameters": [
                    { "name": "path", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "If-None-Match", "in": "header", "schema": { "type": "string" } }
                ],
                "responses": {
                    "200": { "description": "the file", "headers": { "ETag": { "schema": { "type": "string" } } },
                             "content": { "application/octet-stream": {}, "application/json": {} } },
                    "304": { "description": "unchanged" },
                    "400": { "description": "a path trick (SB1379)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                    "404": { "description": "no such file (SB1380)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                    "429": { "description": "rate limited (SB1397)" }
                }
            } },
            "/api/v1/search": { "get": {
                "summary": "Plugins with a visible release matching every word and filter, one page, with the total",
                "parameters": [
                    { "name": "q", "in": "query", "description": "at most 256 bytes of UTF-8", "schema": { "type": "string", "maxLength": super::api::MAX_QUERY_BYTES } },
                    { "name": "category", "in": "query", "description": "exact, any case", "schema": { "type": "string", "pattern": "\\S", "maxLength": super::api::MAX_QUERY_BYTES } },
                    { "name": "capability", "in": "query", "description": "a kind (fs.read) or a whole request", "schema": { "type": "string", "pattern": "\\S", "maxLength": super::api::MAX_QUERY_BYTES } },
                    { "name": "compatible_with", "in": "query", "description": "HOSTAPI@VERSION: the shown release loads in such a host", "schema": { "type": "string", "pattern": "^.+@[0-9]+\\.[0-9]+\\.[0-9]+.*$" } },
                    { "name": "maintainer", "in": "query", "description": "part of a manifest author (any case), or an owning account", "schema": { "type": "string", "pattern": "\\S", "maxLength": super::api::MAX_QUERY_BYTES } },
                    { "name": "trust", "in": "query", "description": "the least trust level", "schema": { "type": "string", "enum": ["self-signed", "verified", "certified"] } },
                    { "name": "channel", "in": "query", "description": "ga: generally available only; beta: the newest of beta and ga", "schema": { "type": "string", "enum": ["ga", "beta"] } },
                    { "name": "sort", "in": "query", "description": "default relevance with q, name without; rating: highest damped average of approved reviews first, then more reviews, then name; plugins without an approved review last, by name", "schema": { "type": "string", "enum": ["relevance", "downloads", "updated", "name", "rating"] } },
                    { "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1 } },
                    { "name": "per_page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE } }
                ],
                "responses": with_ok(error_responses(&["400"]), "SearchPage")
            } },
            "/api/v1/plugins/{name}": { "get": {
                "summary": "A plugin: every version (newest first) with its checks, channels, yanks, deprecation, owners, downloads, unlisted uploads (ETag; 304 on a matching If-None-Match)",
                "parameters": [
                    name,
                    { "name": "If-None-Match", "in": "header", "schema": { "type": "string" } }
                ],
                "responses": plugin_responses
            } },
            "/api/v1/publish": { "post": {
                "summary": "Upload a signed package: stored, checked (recorded per check), then listed (200), held for review (202), or refused with the first failure's code (the body adds upload, state, checks)",
                "security": bearer,
                "parameters": [
                    { "name": "channel", "in": "query", "schema": { "type": "string", "enum": ["draft", "beta", "ga"] } },
                    { "name": "Switchboard-Signature", "in": "header", "required": true, "description": "the .minisig, base64", "schema": { "type": "string" } },
                    { "name": "Switchboard-Package-File", "in": "header", "required": true, "description": "NAME-VERSION.sbpkg", "schema": { "type": "string" } }
                ],
                "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": publish_responses
            } },
            "/api/v1/plugins/{name}/yank": { "post": {
                "summary": "Yank a release, with a reason",
                "security": bearer,
                "parameters": [name],
                "requestBody": yank_body,
                "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Changed")
            } },
            "/api/v1/plugins/{name}/unyank": { "post": {
                "summary": "Withdraw a yank",
                "security": bearer,
                "parameters": [name],
                "requestBody": yank_body,
                "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Changed")
            } },
            "/api/v1/plugins/{name}/deprecate": { "post": {
                "summary": "Deprecate every release, with an optional successor and message (publish scope for the name, of an owner; or admin)",
                "security": bearer,
                "parameters": [name],
                "requestBody": body(&[], json!({ "successor": { "type": "string" }, "message": { "type": "string", "maxLength": 1024 } })),
                "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Object")
            } },
            "/api/v1/plugins/{name}/promote": { "post": {
                "summary": "Move a release forward: draft → beta → ga (publish scope for the name, of an owner; or admin)",
                "security": bearer,
                "parameters": [name],
                "requestBody": body(&["version", "channel"], json!({ "version": { "type": "string", "pattern": SEMVER }, "channel": { "type": "string", "enum": ["beta", "ga"] } })),
                "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Object")
            } },
            "/api/v1/plugins/{name}/owners": {
                "get": {
                    "summary": "The accounts owning the name, first owner first",
                    "parameters": [name],
                    "responses": with_ok(error_responses(&["400", "404"]), "Owners")
                },
                "post": {
                    "summary": "Add an owner (account scope, of an owner; or admin, which also assigns a name nobody owns)",
                    "security": bearer,
                    "parameters": [name],
                    "requestBody": body(&["account"], json!({ "account": { "type": "string" } })),
                    "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Owners")
                }
            },
            "/api/v1/plugins/{name}/owners/{account}": { "delete": {
                "summary": "Remove an owner; the last owner stays (SB1441)",
                "security": bearer,
                "parameters": [name, param("account", None)],
                "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Owners")
            } },
            "/api/v1/accounts/{account}/keys": {
                "get": {
                    "summary": "The minisign public keys bound to an account",
                    "parameters": [param("account", Some("^[a-z0-9_-]{1,64}$"))],
                    "responses": with_ok(error_responses(&["400"]), "Object")
                },
                "post": {
                    "summary": "Bind a minisign public key to the account (its own account-scoped token, or admin)",
                    "security": bearer,
                    "parameters": [param("account", Some("^[a-z0-9_-]{1,64}$"))],
                    "requestBody": body(&["public_key"], json!({ "public_key": { "type": "string", "maxLength": 4096 } })),
                    "responses": with_ok(error_responses(&["400", "401", "403", "409"]), "Object")
                }
            },
            "/api/v1/accounts/{account}/keys/{key_id}": { "delete": {
                "summary": "Unbind a key (releases it signed stay listed)",
                "security": bearer,
                "parameters": [param("account", Some("^[a-z0-9_-]{1,64}$")), param("key_id", None)],
                "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Object")
            } },
            "/api/v1/whoami": { "get": {
                "summary": "The token's account, scope and expiry",
                "security": bearer,
                "responses": with_ok(error_responses(&["401"]), "Object")
            } },
            "/api/v1/uploads/{id}": { "get": {
                "summary": "An upload: its state (checking, listed, held, failed, rejected) and every check's result",
                "parameters": [param("id", None)],
                "responses": with_ok(error_responses(&["404"]), "Upload")
            } },
            "/api/v1/holds": { "get": {
                "summary": "Uploads held for review (admin)",
                "security": bearer,
                "responses": with_ok(error_responses(&["401", "403"]), "Object")
            } },
            "/api/v1/holds/{id}/release": { "post": {
                "summary": "Release a held upload: its checks run again, then it is listed (admin)",
                "security": bearer,
                "parameters": [param("id", None)],
                "responses": with_ok(error_responses(&["400", "401", "403", "404", "409", "422"]), "Published")
            } },
            "/api/v1/holds/{id}/reject": { "post": {
                "summary": "Reject a held upload, with a reason (admin)",
                "security": bearer,
                "parameters": [param("id", None)],
                "requestBody": body(&[], json!({ "reason": { "type": "string" } })),
                "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Upload")
            } },
            "/api/v1/audit": { "get": {
                "summary": "The audit trail, newest first: yanks, deprecations, promotions, owners, keys, holds and the marketplace's decisions (admin)",
                "security": bearer,
                "parameters": [
                    { "name": "subject", "in": "query", "required": false, "description": "only subjects starting with this (`plugin:hello`, `account:acme`, `upload:ID`)", "schema": { "type": "string", "maxLength": 256 } },
                    { "name": "limit", "in": "query", "required": false, "schema": { "type": "string", "pattern": "^[0-9]{1,3}$" }, "description": "1 to 500, default 100" }
                ],
                "responses": with_ok(error_responses(&["400", "401", "403"]), "Audit")
            } },
            "/api/openapi.json": { "get": {
                "summary": "This document",
                "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": {} } } }
            } }
        },
        "components": {
            "securitySchemes": { "token": { "type": "http", "scheme": "bearer", "description": "sbt_ID_SECRET from `switchboard registry token create`" } },
            "schemas": {
                "Error": { "type": "object", "required": ["code", "message", "next_step"], "properties": {
                    "code": { "type": "string", "pattern": "^SB[0-9]{4}$" },
                    "message": { "type": "string" }, "next_step": { "type": "string" } } },
                "Hit": { "type": "object", "required": ["name", "version", "channel", "description", "trust"], "properties": {
                    "name": { "type": "string" }, "version": { "type": "string" }, "channel": { "type": "string" },
                    "description": { "type": "string" }, "trust": { "type": "string" },
                    "keywords": { "type": "array", "items": { "type": "string" } },
                    "categories": { "type": "array", "items": { "type": "string" } },
                    "capabilities": { "type": "array", "items": { "type": "string" } },
                    "host_api": { "type": ["object", "null"] },
                    "maintainers": { "type": "array", "items": { "type": "string" } },
                    "downloads": { "type": "integer", "minimum": 0 },
                    "rating": { "type": ["object", "null"], "description": "the damped average of approved reviews (docs/marketplace.md) and their count; null without an approved review", "required": ["average", "count"], "properties": {
                        "average": { "type": "number", "minimum": 1, "maximum": 5 }, "count": { "type": "integer", "minimum": 1 } } },
                    "score": { "type": "integer", "minimum": 1 },
                    "deprecated": { "type": ["object", "null"] }, "published": { "type": "string" } } },
                "SearchPage": { "type": "object", "required": ["query", "sort", "page", "per_page", "pages", "total", "hits"], "properties": {
                    "query": { "type": "string" }, "sort": { "type": "string" }, "page": { "type": "integer" }, "per_page": { "type": "integer" },
                    "pages": { "type": "integer", "minimum": 1 },
                    "total": { "type": "integer" }, "hits": { "type": "array", "items": { "$ref": "#/components/schemas/Hit" } } } },
                "Plugin": { "type": "object", "required": ["name", "channels", "versions"], "properties": {
                    "name": { "type": "string" }, "latest": { "type": ["string", "null"] },
                    "description": { "type": ["string", "null"] },
                    "deprecated": { "type": ["object", "null"] },
                    "channels": { "type": "object", "additionalProperties": { "type": "string" } },
                    "versions": { "type": "array", "items": { "type": "object", "description": "an index line (docs/registry.md) with `download`, `checks` (of its listed upload, or null) and `upload`" } },
                    "owners": { "type": "array", "items": { "type": "object" } },
                    "downloads": { "type": "integer", "minimum": 0 }, "rating": { "$ref": "#/components/schemas/Rating" },
                    "unlisted": { "type": "array", "items": { "$ref": "#/components/schemas/Upload" } } } },
                "Published": { "type": "object", "required": ["name", "version", "added"], "properties": {
                    "name": { "type": "string" }, "version": { "type": "string" }, "channel": { "type": "string" },
                    "sha256": { "type": "string" }, "size": { "type": "integer" }, "trust": { "type": "string" },
                    "signer": { "type": "string" }, "added": { "type": "boolean" },
                    "account": { "type": ["string", "null"] }, "download": { "type": "string" },
                    "snapshot_version": { "type": "integer" } } },
                "Object": { "type": "object" },
                "Check": { "type": "object", "required": ["name", "outcome", "message"], "properties": {
                    "name": { "type": "string" }, "outcome": { "type": "string", "enum": ["passed", "failed", "errored"] },
                    "code": { "type": ["string", "null"] }, "message": { "type": "string" } } },
                "Audit": { "type": "object", "required": ["entries"], "properties": {
                    "entries": { "type": "array", "items": { "type": "object", "required": ["id", "at", "actor", "action", "subject", "detail"], "properties": {
                        "id": { "type": "integer" }, "at": { "type": "integer" }, "actor": { "type": "string" },
                        "action": { "type": "string" }, "subject": { "type": "string" }, "detail": { "type": "string" }
                    } } }
                } },
                "Upload": { "type": "object", "required": ["upload", "state", "checks"], "properties": {
                    "upload": { "type": "string" }, "account": { "type": "string" }, "name": { "type": "string" },
                    "version": { "type": "string" }, "channel": { "type": "string" },
                    "state": { "type": "string", "enum": ["checking", "listed", "held", "failed", "rejected"] },
                    "reason": { "type": ["string", "null"] },
                    "checks": { "type": "array", "items": { "$ref": "#/components/schemas/Check" } } } },
                "Owners": { "type": "object", "required": ["name", "owners"], "properties": {
                    "name": { "type": "string" },
                    "owners": { "type": "array", "items": { "type": "object", "properties": {
                        "account": { "type": "string" }, "since": { "type": "integer" }, "added_by": { "type": "string" } } } } } },
                "Changed": { "type": "object", "required": ["name", "version", "changed"], "properties": {
                    "name": { "type": "string" }, "version": { "type": "string" },
                    "yanked": { "type": ["string", "null"] }, "changed": { "type": "boolean" } } }
            }
        }
    });
    market(&mut doc, &bearer, &name);
    doc
}

/// The marketplace's paths and schemas (`super::market`).
fn market(doc: &mut Value, bearer: &Value, name: &Value) {
    let money = json!({ "type": "object", "additionalProperties": false, "required": ["amount", "currency"], "properties": {
        "amount": { "type": "integer", "description": "minor units (cents)" },
        "currency": { "type": "string", "pattern": "^[A-Z]{3}$" } } });
    let paths = json!({
        "/api/v1/plugins/{name}/pricing": { "post": {
            "summary": "Set a plugin's price: free, paid once, or a subscription, with trial days (an owner's `account` or `publish:` token, or admin; audited)",
            "security": bearer,
            "parameters": [name],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Pricing" } } } },
            "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "PricingSet")
        } },
        "/api/v1/plugins/{name}/purchase": { "post": {
            "summary": "Buy a paid plugin for the token's account through the server's payment provider (or start its trial): a sale and an entitlement; a declined payment records nothing (SB1481)",
            "security": bearer,
            "parameters": [name],
            "requestBody": body(&[], json!({ "payment_method": { "type": "string" }, "trial": { "type": "boolean" } })),
            "responses": with_ok(error_responses(&["400", "401", "402", "403", "404", "409"]), "Purchase")
        } },
        "/api/v1/entitlements": { "get": {
            "summary": "The token's account's entitlements (plugins it may download), active or ended",
            "security": bearer,
            "responses": with_ok(error_responses(&["401"]), "Object")
        } },
        "/api/v1/purchases/{id}/refund": { "post": {
            "summary": "Refund all (the default) or part of a purchase (admin; audited). In full: a one-off purchase's entitlement ends; a subscription charge's period is taken out, so the entitlement covers only the periods still paid for (`entitlement_expires`: its new end, null when none is left; `entitlement_ended`: whether it no longer lets the buyer download)",
            "security": bearer,
            "parameters": [param("id", None)],
            "requestBody": body(&[], json!({ "amount": { "type": "integer", "minimum": 1 } })),
            "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Object")
        } },
        "/api/v1/market/rates": { "post": {
            "summary": "Set a revenue-share rate from a day on: everyone's default, or one publisher's (at most 2500 basis points; admin; audited)",
            "security": bearer,
            "requestBody": body(&["from", "basis_points"], json!({
                "publisher": { "type": "string" },
                "from": { "type": "string", "format": "date" },
                "basis_points": { "type": "integer", "minimum": 0, "maximum": 65535 } })),
            "responses": with_ok(error_responses(&["400", "401", "403"]), "Object")
        } },
        "/api/v1/market/thresholds": { "post": {
            "summary": "Set a currency's payout threshold: a smaller month's total rolls over (admin; audited)",
            "security": bearer,
            "requestBody": { "required": true, "content": { "application/json": { "schema": money } } },
            "responses": with_ok(error_responses(&["400", "401", "403"]), "Object")
        } },
        "/api/v1/disputes": {
            "get": {
                "summary": "The account's own disputes (every one for an admin)",
                "security": bearer,
                "responses": with_ok(error_responses(&["401"]), "Object")
            },
            "post": {
                "summary": "Dispute the payouts of a plugin the account owns and has sold (audited)",
                "security": bearer,
                "requestBody": body(&["plugin", "note"], json!({ "plugin": { "type": "string" }, "note": { "type": "string", "maxLength": 2000 } })),
                "responses": with_ok(error_responses(&["400", "401"]), "Dispute")
            }
        },
        "/api/v1/disputes/{id}/resolve": { "post": {
            "summary": "Resolve a dispute, with an optional adjustment in the month's report (admin; audited)",
            "security": bearer,
            "parameters": [param("id", None)],
            "requestBody": body(&["note"], json!({ "adjustment": money, "note": { "type": "string", "maxLength": 2000 } })),
            "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Dispute")
        } },
        "/api/v1/payouts": { "get": {
            "summary": "A month's creator payout report from the stored ledger: the publisher's own lines (an admin's token: everyone's), as JSON or CSV",
            "security": bearer,
            "parameters": [
                { "name": "month", "in": "query", "required": true, "schema": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$" } },
                { "name": "format", "in": "query", "required": false, "schema": { "type": "string", "enum": ["json", "csv"] } }
            ],
            "responses": {
                "200": { "description": "the report", "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/Object" } },
                    "text/csv": { "schema": { "type": "string" } } } },
                "400": error_responses(&["400"])["400"].clone(),
                "401": error_responses(&["401"])["401"].clone(),
                "429": error_responses(&[])["429"].clone()
            }
        } }
    });
    let schemas = json!({
        "Pricing": { "type": "object", "required": ["model"], "properties": {
            "model": { "type": "string", "enum": ["free", "paid", "subscription"] },
            "price": money, "period": { "type": "string", "enum": ["month", "year"] },
            "trial_days": { "type": "integer", "minimum": 0, "maximum": 365 } } },
        "PricingSet": { "type": "object", "required": ["name", "pricing"], "properties": {
            "name": { "type": "string" }, "pricing": { "type": "object" } } },
        "Purchase": { "type": "object", "required": ["name", "entitlement"], "properties": {
            "name": { "type": "string" }, "purchase": { "type": ["string", "null"] },
            "charged": { "type": ["object", "null"] }, "entitlement": { "type": "object" } } },
        "Dispute": { "type": "object", "required": ["id", "publisher", "plugin", "opened"], "properties": {
            "id": { "type": "string" }, "publisher": { "type": "string" }, "plugin": { "type": "string" },
            "opened": { "type": "string" }, "resolved": { "type": ["string", "null"] },
            "adjustment": { "type": ["object", "null"] }, "note": { "type": "string" },
            "resolved_by": { "type": ["string", "null"] } } }
    });
    if let (Some(p), Some(add)) = (doc["paths"].as_object_mut(), paths.as_object()) {
        p.extend(add.clone());
    }
    if let (Some(s), Some(add)) = (
        doc["components"]["schemas"].as_object_mut(),
        schemas.as_object(),
    ) {
        s.extend(add.clone());
    }
    // A paid plugin's package without an entitlement.
    doc["paths"]["/index/{path}"]["get"]["responses"]["402"] = json!({
        "description": "a paid plugin's package, and the token's account has no entitlement (SB1480)",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    doc["paths"]["/index/{path}"]["get"]["responses"]["401"] = json!({
        "description": "a paid plugin's package asked for with a token the server does not take (SB1385–SB1387)",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
}

/// `GET /api/openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(openapi())
}
