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
    ("get", "/api/openapi.json"),
];

fn error_responses(codes: &[&str]) -> Value {
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

fn with_ok(mut responses: Value, schema: &str) -> Value {
    responses["200"] = json!({
        "description": "OK",
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    });
    responses
}

/// The document.
pub fn openapi() -> Value {
    let bearer = json!([{ "token": [] }]);
    let name = json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$" } });
    let yank_body = json!({
        "required": true,
        "content": { "application/json": { "schema": {
            "type": "object", "additionalProperties": false, "required": ["version"],
            "properties": { "version": { "type": "string" }, "reason": { "type": "string" } }
        } } }
    });
    json!({
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
                "summary": "Plugins with a visible release matching every word, by relevance then name",
                "parameters": [
                    { "name": "q", "in": "query", "schema": { "type": "string", "maxLength": super::api::MAX_QUERY_BYTES } },
                    { "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 1, "default": 1 } },
                    { "name": "per_page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE } }
                ],
                "responses": with_ok(error_responses(&["400"]), "SearchPage")
            } },
            "/api/v1/plugins/{name}": { "get": {
                "summary": "A plugin: every version (newest first), channels, yanks, deprecation",
                "parameters": [name],
                "responses": with_ok(error_responses(&["400", "404"]), "Plugin")
            } },
            "/api/v1/publish": { "post": {
                "summary": "Upload a signed package (checked as `switchboard publish` checks it)",
                "security": bearer,
                "parameters": [
                    { "name": "channel", "in": "query", "schema": { "type": "string", "enum": ["draft", "beta", "ga"] } },
                    { "name": "Switchboard-Signature", "in": "header", "required": true, "description": "the .minisig, base64", "schema": { "type": "string" } },
                    { "name": "Switchboard-Package-File", "in": "header", "required": true, "description": "NAME-VERSION.sbpkg", "schema": { "type": "string" } }
                ],
                "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": with_ok(error_responses(&["400", "401", "403", "409", "413", "422"]), "Published")
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
                    "deprecated": { "type": ["object", "null"] }, "published": { "type": "string" } } },
                "SearchPage": { "type": "object", "required": ["query", "page", "per_page", "total", "hits"], "properties": {
                    "query": { "type": "string" }, "page": { "type": "integer" }, "per_page": { "type": "integer" },
                    "total": { "type": "integer" }, "hits": { "type": "array", "items": { "$ref": "#/components/schemas/Hit" } } } },
                "Plugin": { "type": "object", "required": ["name", "channels", "versions"], "properties": {
                    "name": { "type": "string" }, "latest": { "type": ["string", "null"] },
                    "description": { "type": ["string", "null"] },
                    "deprecated": { "type": ["object", "null"] },
                    "channels": { "type": "object", "additionalProperties": { "type": "string" } },
                    "versions": { "type": "array", "items": { "type": "object", "description": "an index line (docs/registry.md) with `download`" } } } },
                "Published": { "type": "object", "required": ["name", "version", "added"], "properties": {
                    "name": { "type": "string" }, "version": { "type": "string" }, "channel": { "type": "string" },
                    "sha256": { "type": "string" }, "size": { "type": "integer" }, "trust": { "type": "string" },
                    "signer": { "type": "string" }, "added": { "type": "boolean" },
                    "account": { "type": ["string", "null"] }, "download": { "type": "string" },
                    "snapshot_version": { "type": "integer" } } },
                "Changed": { "type": "object", "required": ["name", "version", "changed"], "properties": {
                    "name": { "type": "string" }, "version": { "type": "string" },
                    "yanked": { "type": ["string", "null"] }, "changed": { "type": "boolean" } } }
            }
        }
    })
}

/// `GET /api/openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(openapi())
}
