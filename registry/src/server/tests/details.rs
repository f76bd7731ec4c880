//! Plugin details served from the details cache (`server::details`), on both backends: the
//! same answer (and ETag, and `304` for it) while nothing changed, and a new one after every
//! kind of write details show — owners (over HTTP and written beside the server), price,
//! rating, yank, deprecation, downloads, an upload's checks — and after the registry
//! directory changed behind the server.

use serde_json::{json, Value};

use super::*;
use crate::server::payments::TestPayments;

/// GET the details of `hello`: ETag and document.
fn details(server: &Server) -> (String, Value) {
    let (status, tag, _, body) = get(server, "/api/v1/plugins/hello", None);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{doc}");
    (tag.expect("an ETag"), doc)
}

/// The details changed from `before` (a new ETag; the old one no longer answers 304), and
/// the new answer is stable (asked twice: one ETag, and 304 for it). Returns the new state.
fn changed(server: &Server, before: &(String, Value), what: &str) -> (String, Value) {
    let now = details(server);
    assert_ne!(now.0, before.0, "{what}: the ETag did not change");
    assert_ne!(now.1, before.1, "{what}: the details did not change");
    let (status, _, _, _) = get(server, "/api/v1/plugins/hello", Some(&before.0));
    assert_eq!(status, 200, "{what}: the old ETag still answered");
    let again = details(server);
    assert_eq!(again, now, "{what}: asked again, a different answer");
    let (status, tag, _, body) = get(server, "/api/v1/plugins/hello", Some(&now.0));
    assert_eq!(
        (status, tag.as_deref()),
        (304, Some(now.0.as_str())),
        "{what}"
    );
    assert!(body.is_empty());
    now
}

pub(super) fn details_are_kept_until_something_they_show_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = server_options(tmp.path().join("data"));
    options.payments = Some(Arc::new(TestPayments));
    let server = Server::start(&options).unwrap();
    let d = server.data_dir();
    let releases = ["1.0.0", "1.1.0"]
        .into_iter()
        .map(|v| {
            let bytes = format!("hello@{v}").into_bytes();
            (line("hello", v, &bytes), bytes)
        })
        .collect();
    publish_unverified(&d.registry, &d.keys, releases, &Expiries::default()).unwrap();

    // The same answer while nothing changes; 304 for its ETag (also in a list, or weak).
    let first = details(&server);
    assert_eq!(details(&server), first);
    for tag in [
        first.0.clone(),
        format!("\"other\", {}", first.0),
        format!("W/{}", first.0),
    ] {
        let (status, _, _, _) = get(&server, "/api/v1/plugins/hello", Some(&tag));
        assert_eq!(status, 304, "{tag}");
    }
    let (status, _, _, _) = get(&server, "/api/v1/plugins/hello", Some("\"other\""));
    assert_eq!(status, 200);
    assert_eq!(first.1["owners"], json!([]));

    // An owner written beside the server (as `switchboard registry` commands and other
    // servers do), not through it.
    accounts::claim_new(&db(&server), "hello", "acme").unwrap();
    let now = changed(&server, &first, "owner claimed beside the server");
    assert_eq!(now.1["owners"][0]["account"], "acme", "{}", now.1);

    // An owner added over HTTP.
    let acme = token(&server, "acme", "admin", None);
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/owners",
        Some(&acme),
        Some(json!({ "account": "bob" })),
    );
    assert_eq!(status, 200, "{doc}");
    let now = changed(&server, &now, "owner added");
    assert_eq!(now.1["owners"].as_array().unwrap().len(), 2, "{}", now.1);

    // A price.
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/pricing",
        Some(&acme),
        Some(json!({"model": "paid", "price": {"amount": 4900, "currency": "EUR"}})),
    );
    assert_eq!(status, 200, "{doc}");
    let now = changed(&server, &now, "price set");
    assert_eq!(now.1["pricing"]["shown"], "49.00 EUR", "{}", now.1);

    // A rating: a review counts once approved (written: pending, nothing shown changes).
    let carol = token(&server, "carol", "yank", None);
    let (status, review) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/reviews",
        Some(&carol),
        Some(json!({ "version": "1.1.0", "rating": 1, "text": "Broke my setup." })),
    );
    assert_eq!(status, 201, "{review}");
    assert_eq!(
        details(&server),
        now,
        "a pending review changed nothing shown"
    );
    let moderator = token(&server, "mia", "moderate", None);
    // The decision names the revision the moderator read in the queue.
    let (status, queue) = send(
        &server,
        "get",
        "/api/v1/moderation/reviews",
        Some(&moderator),
        None,
    );
    assert_eq!(status, 200, "{queue}");
    let revision = queue
        .as_array()
        .or_else(|| queue["reviews"].as_array())
        .and_then(|all| all.iter().find(|r| r["id"] == review["id"]))
        .map(|r| r["revision"].clone())
        .unwrap_or_else(|| panic!("review {} not in the queue: {queue}", review["id"]));
    let (status, doc) = send(
        &server,
        "post",
        &format!(
            "/api/v1/moderation/reviews/{}/approve",
            review["id"].as_i64().unwrap()
        ),
        Some(&moderator),
        Some(json!({ "revision": revision })),
    );
    assert_eq!(status, 200, "{doc}");
    let now = changed(&server, &now, "review approved");
    assert_eq!(now.1["rating"]["count"], 1, "{}", now.1);

    // A yank (the registry directory re-signed by the server).
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/yank",
        Some(&acme),
        Some(json!({ "version": "1.1.0", "reason": "data loss" })),
    );
    assert_eq!(status, 200, "{doc}");
    let now = changed(&server, &now, "yanked");
    assert_eq!(now.1["latest"], "1.0.0", "{}", now.1);

    // A release published straight into the registry directory, behind the server.
    let bytes = b"hello@2.0.0".to_vec();
    publish_unverified(
        &d.registry,
        &d.keys,
        vec![(line("hello", "2.0.0", &bytes), bytes)],
        &Expiries::default(),
    )
    .unwrap();
    let now = changed(&server, &now, "published beside the server");
    assert_eq!(now.1["latest"], "2.0.0", "{}", now.1);

    // A download (counted in memory; it changes no stamp). The plugin is paid now: its
    // owner is entitled.
    let download = now.1["versions"][0]["download"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = now.1["downloads"].as_u64().unwrap();
    let mut resp = agent()
        .get(format!("{}{download}", server.url()))
        .header("Authorization", format!("Bearer {acme}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.body_mut().read_to_vec().unwrap();
    let now = changed(&server, &now, "downloaded");
    assert_eq!(now.1["downloads"].as_u64(), Some(before + 1), "{}", now.1);

    // A deprecation.
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/deprecate",
        Some(&acme),
        Some(json!({ "message": "Use tally." })),
    );
    assert_eq!(status, 200, "{doc}");
    let now = changed(&server, &now, "deprecated");
    assert!(
        now.1["deprecated"].is_object() || now.1["deprecated"].is_string(),
        "{}",
        now.1
    );

    // An upload's checks (a failed upload is listed under `unlisted`), recorded beside the
    // server.
    let failed = crate::server::uploads::Upload {
        id: "u-failed".into(),
        account: "acme".into(),
        name: "hello".into(),
        version: "2.1.0".into(),
        channel: "ga".into(),
        sha256: "0".repeat(64),
        size: 1,
        state: crate::server::uploads::UploadState::Checking,
        reason: None,
        created: tokens::now(),
        decided: None,
        decided_by: None,
        checks: Vec::new(),
    };
    crate::server::uploads::insert(&db(&server), &failed).unwrap();
    let now = changed(&server, &now, "upload recorded");
    assert_eq!(now.1["unlisted"][0]["upload"], "u-failed", "{}", now.1);
    use crate::server::uploads::{CheckResult, Outcome, UploadState};
    let checks = [CheckResult::new(
        "manifest",
        Outcome::Failed,
        Some("SB1300".into()),
        "no manifest".into(),
    )];
    crate::server::uploads::finish(
        &db(&server),
        "u-failed",
        &checks,
        UploadState::Failed,
        Some("no manifest"),
        None,
    )
    .unwrap();
    let now = changed(&server, &now, "upload checked");
    assert_eq!(now.1["unlisted"][0]["state"], "failed", "{}", now.1);
    assert_eq!(
        now.1["unlisted"][0]["checks"][0]["name"], "manifest",
        "{}",
        now.1
    );

    // A name not published: coded 404, every time.
    for _ in 0..2 {
        let (status, doc) = get_json(&server, "/api/v1/plugins/nothing-here");
        assert_eq!((status, code(&doc)), (404, "SB1381"), "{doc}");
    }
}

on_both_backends!(details_are_kept_until_something_they_show_changes);
