//! Reviews, moderation and abuse reports over HTTP, on both backends: review → moderate →
//! visible in the damped average; edits back to moderation; one review per account per
//! version; every refusal coded; reports → queue → resolution; the audit trail.

use serde_json::{json, Value};

use super::*;

fn reviews_of(server: &Server) -> Value {
    let (status, doc) = get_json(server, "/api/v1/plugins/hello/reviews");
    assert_eq!(status, 200, "{doc}");
    doc
}

fn write(server: &Server, who: &str, version: &str, rating: Value, text: &str) -> (u16, Value) {
    send(
        server,
        "post",
        "/api/v1/plugins/hello/reviews",
        Some(who),
        Some(json!({ "version": version, "rating": rating, "text": text })),
    )
}

fn id(doc: &Value) -> i64 {
    doc["id"].as_i64().unwrap()
}

fn audit_actions(server: &Server, admin: &str, subject: &str) -> Vec<(String, String, String)> {
    let (status, doc) = send(
        server,
        "get",
        &format!("/api/v1/audit?subject={subject}"),
        Some(admin),
        None,
    );
    assert_eq!(status, 200, "{doc}");
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(super) fn a_review_is_shown_and_counted_only_once_approved_and_edits_go_back_to_moderation() {
    let (_tmp, server) = serve(vec![
        line("hello", "1.0.0", b""),
        line("hello", "1.1.0", b""),
    ]);
    db(&server).store().claim_new("hello", "acme", 0).unwrap();
    let bob = token(&server, "bob", "yank", None);
    let carol = token(&server, "carol", "publish:carol-*", None);
    let moderator = token(&server, "mia", "moderate", None);
    let admin = token(&server, "root", "admin", None);
    let owner = token(&server, "acme", "account", None);

    // Written: pending, not shown, not counted.
    let (status, bobs) = write(&server, &bob, "1.0.0", json!(5), "  Does what it says.\r\n");
    assert_eq!(status, 201, "{bobs}");
    assert_eq!(bobs["state"], "pending");
    assert_eq!(bobs["text"], "Does what it says.");
    let doc = reviews_of(&server);
    assert_eq!(
        (doc["total"].as_u64(), doc["rating"]["count"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(doc["rating"]["average"], 3.0);

    // The queue is a moderator's.
    let (status, doc) = send(&server, "get", "/api/v1/moderation/reviews", None, None);
    assert_eq!((status, code(&doc)), (401, "SB1385"));
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/moderation/reviews",
        Some(&bob),
        None,
    );
    assert_eq!((status, code(&doc)), (403, "SB1388"));
    // Each decision names the revision the moderator read (here: the review as it is).
    let seen = |review: i64| {
        db(&server)
            .store()
            .review(review)
            .unwrap()
            .unwrap()
            .revision()
    };
    let approve = |who: &str, review: i64| {
        send(
            &server,
            "post",
            &format!("/api/v1/moderation/reviews/{review}/approve"),
            Some(who),
            Some(json!({ "revision": seen(review) })),
        )
    };
    let (status, doc) = approve(&bob, id(&bobs));
    assert_eq!((status, code(&doc)), (403, "SB1388"));
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/moderation/reviews",
        Some(&moderator),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(doc["reviews"][0]["id"], bobs["id"]);

    // Approved: shown, counted; one 5-star review is damped to 3.33.
    let (status, doc) = approve(&moderator, id(&bobs));
    assert_eq!(
        (status, doc["state"].as_str()),
        (200, Some("approved")),
        "{doc}"
    );
    assert_eq!(doc["decided_by"], "mia");
    let doc = reviews_of(&server);
    assert_eq!(doc["rating"]["count"], 1);
    assert_eq!(doc["rating"]["average"], 3.33);
    assert_eq!(doc["reviews"][0]["text"], "Does what it says.");
    assert!(doc["reviews"][0].get("state").is_none(), "{doc}");
    let (_, details) = get_json(&server, "/api/v1/plugins/hello");
    assert_eq!(details["rating"]["average"], 3.33);
    assert_eq!(details["rating"]["count"], 1);
    // Deciding twice is refused.
    let (status, doc) = approve(&moderator, id(&bobs));
    assert_eq!((status, code(&doc)), (409, "SB1458"));

    // One review per account per version; another version is another review.
    let (status, doc) = write(&server, &bob, "1.0.0", json!(1), "again");
    assert_eq!((status, code(&doc)), (409, "SB1455"));
    assert!(
        doc["message"]
            .as_str()
            .unwrap()
            .contains(&format!("review {}", id(&bobs))),
        "{doc}"
    );
    let (status, bob11) = write(&server, &bob, "1.1.0", json!(4), "Better.");
    assert_eq!(status, 201, "{bob11}");
    let (status, carols) = write(&server, &carol, "1.1.0", json!(1), "Crashed for me.");
    assert_eq!(status, 201);
    let (status, _) = approve(&admin, id(&carols));
    assert_eq!(status, 200);
    // 5 and 1: (15 + 6) / 7.
    assert_eq!(reviews_of(&server)["rating"]["average"], 3.0);

    // An edit replaces the review and sends it back to moderation: out of the average.
    let put = |who: &str, review: i64, body: Value| {
        send(
            &server,
            "put",
            &format!("/api/v1/plugins/hello/reviews/{review}"),
            Some(who),
            Some(body),
        )
    };
    let (status, doc) = put(
        &carol,
        id(&bobs),
        json!({ "rating": 1, "text": "mine now" }),
    );
    assert_eq!((status, code(&doc)), (403, "SB1457"));
    let (status, doc) = put(&moderator, id(&bobs), json!({ "rating": 1, "text": "x" }));
    assert_eq!(
        (status, code(&doc)),
        (403, "SB1457"),
        "moderators do not rewrite reviews"
    );
    let (status, doc) = put(
        &bob,
        id(&bobs),
        json!({ "rating": 4, "text": "Good, one bug." }),
    );
    assert_eq!(
        (status, doc["state"].as_str()),
        (200, Some("pending")),
        "{doc}"
    );
    let doc = reviews_of(&server);
    assert_eq!(doc["rating"]["count"], 1);
    assert_eq!(doc["rating"]["average"], 2.67);
    let (status, _) = approve(&moderator, id(&bobs));
    assert_eq!(status, 200);
    assert_eq!(reviews_of(&server)["rating"]["count"], 2);

    // Rejected with a reason, which its author sees; a reason is required.
    let reject = |review: i64, body: Option<Value>| {
        let body = body.map(|mut b| {
            if b.get("reason").is_some() {
                b["revision"] = json!(seen(review));
            }
            b
        });
        send(
            &server,
            "post",
            &format!("/api/v1/moderation/reviews/{review}/reject"),
            Some(&moderator),
            body,
        )
    };
    let (status, doc) = reject(id(&bob11), Some(json!({})));
    assert_eq!((status, code(&doc)), (400, "SB1391"));
    let (status, doc) = reject(id(&bob11), Some(json!({ "reason": "  " })));
    assert_eq!((status, code(&doc)), (400, "SB1454"));
    let (status, doc) = reject(id(&bob11), Some(json!({ "reason": "Off topic." })));
    assert_eq!(
        (status, doc["state"].as_str()),
        (200, Some("rejected")),
        "{doc}"
    );
    let (status, doc) = send(&server, "get", "/api/v1/reviews/mine", Some(&bob), None);
    assert_eq!(status, 200);
    let rejected = doc["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == bob11["id"])
        .unwrap();
    assert_eq!(rejected["reason"], "Off topic.");
    assert_eq!(reviews_of(&server)["rating"]["count"], 2);

    // Refusals, coded.
    for bad in [
        json!(0),
        json!(6),
        json!("5"),
        json!(2.5),
        json!(null),
        json!(-1),
    ] {
        let (status, doc) = write(&server, &carol, "1.0.0", bad.clone(), "text");
        assert_eq!((status, code(&doc)), (400, "SB1453"), "{bad}: {doc}");
    }
    for bad in ["", "   ", "bell\u{7}", "nul\u{0}", "c1\u{85}"] {
        let (status, doc) = write(&server, &carol, "1.0.0", json!(3), bad);
        assert_eq!((status, code(&doc)), (400, "SB1454"), "{bad:?}: {doc}");
    }
    let long = "a".repeat(4001);
    let (status, doc) = write(&server, &carol, "1.0.0", json!(3), &long);
    assert_eq!((status, code(&doc)), (400, "SB1454"));
    let (status, doc) = write(&server, &carol, "9.9.9", json!(3), "text");
    assert_eq!((status, code(&doc)), (404, "SB1459"));
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/nope/reviews",
        Some(&carol),
        Some(json!({ "version": "1.0.0", "rating": 3, "text": "x" })),
    );
    assert_eq!((status, code(&doc)), (404, "SB1381"));
    let (status, doc) = write(&server, &owner, "1.0.0", json!(5), "My own is the best.");
    assert_eq!((status, code(&doc)), (403, "SB1358"));
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/reviews",
        None,
        Some(json!({ "version": "1.0.0", "rating": 3, "text": "x" })),
    );
    assert_eq!((status, code(&doc)), (401, "SB1385"));
    let (status, doc) = put(&bob, 999_999, json!({ "rating": 3, "text": "x" }));
    assert_eq!((status, code(&doc)), (404, "SB1456"));
    let (status, doc) = get_json(&server, "/api/v1/plugins/hello/reviews?per_page=0");
    assert_eq!((status, code(&doc)), (400, "SB1382"));

    // Pages of one: the two approved reviews, each once.
    let (_, first) = get_json(&server, "/api/v1/plugins/hello/reviews?per_page=1");
    let (_, second) = get_json(&server, "/api/v1/plugins/hello/reviews?per_page=1&page=2");
    assert_eq!(
        (second["pages"].as_u64(), second["total"].as_u64()),
        (Some(2), Some(2))
    );
    let mut ids = vec![id(&first["reviews"][0]), id(&second["reviews"][0])];
    ids.sort_unstable();
    assert_eq!(ids, [id(&bobs), id(&carols)]);

    // Deleted by a stranger: no; by a moderator or the author: yes, and out of the average.
    let delete = |who: &str, review: i64| {
        send(
            &server,
            "delete",
            &format!("/api/v1/plugins/hello/reviews/{review}"),
            Some(who),
            None,
        )
    };
    let (status, doc) = delete(&carol, id(&bobs));
    assert_eq!((status, code(&doc)), (403, "SB1457"));
    let (status, _) = delete(&moderator, id(&carols));
    assert_eq!(status, 200);
    let (status, _) = delete(&bob, id(&bobs));
    assert_eq!(status, 200);
    let (status, doc) = delete(&bob, id(&bobs));
    assert_eq!((status, code(&doc)), (404, "SB1456"));
    assert_eq!(reviews_of(&server)["rating"]["count"], 0);

    // Every decision and deletion is in the audit trail, with who and why.
    let trail = audit_actions(&server, &admin, "plugin:hello");
    let has = |actor: &str, action: &str, detail: &str| {
        trail
            .iter()
            .any(|(a, b, d)| a == actor && b == action && d.contains(detail))
    };
    assert!(
        has("mia", "review.approve", "by bob (5 stars)"),
        "{trail:?}"
    );
    assert!(
        has("root", "review.approve", "by carol (1 stars)"),
        "{trail:?}"
    );
    assert!(has("mia", "review.reject", "Off topic."), "{trail:?}");
    assert!(has("mia", "review.delete", "by carol"), "{trail:?}");
    assert!(has("bob", "review.delete", "by bob"), "{trail:?}");
}

pub(super) fn abuse_reports_queue_for_moderators_and_are_resolved_once_audited() {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let bob = token(&server, "bob", "yank", None);
    let carol = token(&server, "carol", "account", None);
    let moderator = token(&server, "mia", "moderate", None);
    let admin = token(&server, "root", "admin", None);
    let (_, review) = write(
        &server,
        &carol,
        "1.0.0",
        json!(1),
        "Buy pills at example.com",
    );
    let report =
        |who: Option<&str>, body: Value| send(&server, "post", "/api/v1/reports", who, Some(body));

    let (status, doc) = report(None, json!({ "plugin": "hello", "reason": "malware" }));
    assert_eq!((status, code(&doc)), (401, "SB1385"));
    let (status, on_plugin) = report(
        Some(&bob),
        json!({ "plugin": "hello", "reason": "It uploads my files." }),
    );
    assert_eq!(
        (status, on_plugin["state"].as_str()),
        (201, Some("open")),
        "{on_plugin}"
    );
    assert_eq!(on_plugin["kind"], "plugin");
    let (status, on_review) = report(
        Some(&bob),
        json!({ "plugin": "hello", "review": id(&review), "reason": "Spam." }),
    );
    assert_eq!(
        (status, on_review["kind"].as_str()),
        (201, Some("review")),
        "{on_review}"
    );
    for (body, want) in [
        (
            json!({ "plugin": "hello", "review": 999_999, "reason": "x" }),
            (400, "SB1460"),
        ),
        (
            json!({ "plugin": "Bad Name", "reason": "x" }),
            (400, "SB1460"),
        ),
        (json!({ "plugin": "nope", "reason": "x" }), (404, "SB1381")),
        (json!({ "plugin": "hello", "reason": "" }), (400, "SB1454")),
        (json!({ "plugin": "hello" }), (400, "SB1391")),
    ] {
        let (status, doc) = report(Some(&bob), body.clone());
        assert_eq!((status, code(&doc)), want, "{body}: {doc}");
    }

    // The queue is a moderator's (or an admin's).
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/moderation/reports",
        Some(&bob),
        None,
    );
    assert_eq!((status, code(&doc)), (403, "SB1388"));
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/moderation/reports",
        Some(&admin),
        None,
    );
    assert_eq!(status, 200);
    let open: Vec<&Value> = doc["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(open, [&on_plugin["id"], &on_review["id"]]);

    let resolve = |who: &str, report: &Value, body: Value| {
        send(
            &server,
            "post",
            &format!("/api/v1/moderation/reports/{}/resolve", report["id"]),
            Some(who),
            Some(body),
        )
    };
    let (status, doc) = resolve(
        &bob,
        &on_review,
        json!({ "outcome": "dismissed", "note": "n" }),
    );
    assert_eq!((status, code(&doc)), (403, "SB1388"));
    let (status, doc) = resolve(
        &moderator,
        &on_review,
        json!({ "outcome": "maybe", "note": "n" }),
    );
    assert_eq!((status, code(&doc)), (400, "SB1359"));
    let (status, doc) = resolve(
        &moderator,
        &on_review,
        json!({ "outcome": "actioned", "note": "" }),
    );
    assert_eq!((status, code(&doc)), (400, "SB1454"));
    let (status, doc) = resolve(
        &moderator,
        &on_review,
        json!({ "outcome": "actioned", "note": "Review rejected as spam." }),
    );
    assert_eq!(
        (status, doc["state"].as_str()),
        (200, Some("actioned")),
        "{doc}"
    );
    assert_eq!(doc["resolved_by"], "mia");
    let (status, doc) = resolve(
        &moderator,
        &on_review,
        json!({ "outcome": "dismissed", "note": "n" }),
    );
    assert_eq!((status, code(&doc)), (409, "SB1462"));
    let (status, doc) = resolve(
        &moderator,
        &json!(424_242),
        json!({ "outcome": "dismissed", "note": "n" }),
    );
    assert_eq!((status, code(&doc)), (404, "SB1461"));
    let (_, doc) = send(
        &server,
        "get",
        "/api/v1/moderation/reports",
        Some(&moderator),
        None,
    );
    assert_eq!(doc["reports"].as_array().unwrap().len(), 1);

    // Reports and resolutions are audited under the thing reported.
    let trail = audit_actions(&server, &admin, "plugin:hello");
    let has = |actor: &str, action: &str, detail: &str| {
        trail
            .iter()
            .any(|(a, b, d)| a == actor && b == action && d.contains(detail))
    };
    assert!(
        has("bob", "report.open", "It uploads my files."),
        "{trail:?}"
    );
    assert!(has("bob", "report.open", "Spam."), "{trail:?}");
    assert!(
        has(
            "mia",
            "report.resolve",
            "actioned: Review rejected as spam."
        ),
        "{trail:?}"
    );
    let review_trail = audit_actions(
        &server,
        &admin,
        &format!("plugin:hello@1.0.0/review:{}", id(&review)),
    );
    assert_eq!(review_trail.len(), 2, "{review_trail:?}");
}

on_both_backends!(
    a_review_is_shown_and_counted_only_once_approved_and_edits_go_back_to_moderation,
    abuse_reports_queue_for_moderators_and_are_resolved_once_audited,
);

/// POSTs a form (`application/x-www-form-urlencoded`) to a page path: status and HTML.
pub(super) fn post_form(server: &Server, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut resp = agent()
        .post(format!("{}{path}", server.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body.as_bytes())
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn page(server: &Server, path: &str) -> String {
    let (status, _, _, body) = get(server, path, None);
    assert_eq!(status, 200, "{path}");
    String::from_utf8(body).unwrap()
}

pub(super) fn the_page_shows_approved_reviews_escaped_and_takes_reviews_reports_and_moderation_by_form(
) {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let bob = token(&server, "bob", "yank", None);
    let moderator = token(&server, "mia", "moderate", None);

    // A review by form: accepted, pending; a bad one refused with its code on the page.
    let (status, html) = post_form(
        &server,
        "/plugins/hello/reviews",
        &[
            ("version", "1.0.0"),
            ("rating", "5"),
            ("text", "<script>alert(1)</script> works\r\nwell"),
            ("token", &bob),
        ],
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("waits for moderation"), "{html}");
    let (status, html) = post_form(
        &server,
        "/plugins/hello/reviews",
        &[
            ("version", "1.0.0"),
            ("rating", "9"),
            ("text", "x"),
            ("token", &bob),
        ],
    );
    assert_eq!(status, 400);
    assert!(html.contains("SB1453"), "{html}");
    let (status, html) = post_form(
        &server,
        "/plugins/hello/reviews",
        &[
            ("version", "1.0.0"),
            ("rating", "3"),
            ("text", "x"),
            ("token", ""),
        ],
    );
    assert_eq!(status, 401);
    assert!(html.contains("SB1385"), "{html}");
    let before = page(&server, "/plugins/hello");
    assert!(
        before.contains(r#"<strong id="rating-average">3.00</strong>"#),
        "{before}"
    );
    assert!(!before.contains("works"), "a pending review is not shown");

    // The moderation page: a sign-in form; a non-moderator refused; then the queue and an
    // approval from it.
    let signin = page(&server, "/admin/moderation");
    assert!(
        signin.contains(r#"name="token" type="password""#),
        "{signin}"
    );
    let (status, html) = post_form(&server, "/admin/moderation", &[("token", &bob)]);
    assert_eq!(status, 403);
    assert!(html.contains("SB1388"));
    let (status, html) = post_form(&server, "/admin/moderation", &[("token", &moderator)]);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Reviews waiting (1)"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62; works"),
        "{html}"
    );
    let id = html
        .split("id=\"pending-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let revision = html
        .split("name=\"revision\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let (status, html) = post_form(
        &server,
        "/admin/moderation",
        &[
            ("token", &moderator),
            ("id", &id),
            ("revision", &revision),
            ("action", "approve"),
        ],
    );
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("Approved review {id} of hello@1.0.0.")),
        "{html}"
    );
    assert!(html.contains("Reviews waiting (0)"), "{html}");

    // Shown, escaped, counted.
    let after = page(&server, "/plugins/hello");
    assert!(
        after.contains(r#"<strong id="rating-average">3.33</strong>"#),
        "{after}"
    );
    assert!(after.contains(r#"<span id="rating-count">1</span>"#));
    assert!(
        after.contains("&#60;script&#62;alert(1)&#60;/script&#62; works\nwell"),
        "{after}"
    );
    assert!(!after.contains("<script>alert"));

    // A report by form, then resolved from the moderation page.
    let (status, html) = post_form(
        &server,
        "/plugins/hello/report",
        &[
            ("review", &id),
            ("reason", "Script in a review."),
            ("token", &bob),
        ],
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("your report was received"), "{html}");
    let (status, html) = post_form(
        &server,
        "/plugins/hello/report",
        &[("review", "abc"), ("reason", "x"), ("token", &bob)],
    );
    assert_eq!(status, 400);
    assert!(html.contains("SB1460"));
    let (_, html) = post_form(&server, "/admin/moderation", &[("token", &moderator)]);
    assert!(html.contains("Open reports (1)"), "{html}");
    assert!(html.contains("Script in a review."));
    let report = html
        .split("id=\"report-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let (status, html) = post_form(
        &server,
        "/admin/moderation",
        &[
            ("token", &moderator),
            ("id", &report),
            ("action", "resolve"),
            ("outcome", "dismissed"),
            ("note", "Escaped: harmless."),
        ],
    );
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("Report {report} dismissed.")),
        "{html}"
    );
    assert!(html.contains("Open reports (0)"));
}

on_both_backends!(
    the_page_shows_approved_reviews_escaped_and_takes_reviews_reports_and_moderation_by_form
);

pub(super) fn writes_and_decisions_at_once_keep_one_review_per_version_and_one_decision() {
    use crate::server::store::reviews::{
        Inserted, NewReview, ReportKind, ReportState, ReviewState,
    };
    let (_tmp, server) = serve(vec![]);
    let main = db(&server);
    for round in 0..5 {
        let version = format!("1.0.{round}");
        // One account writes its review of one version four times at once, over four
        // connections: one is stored, the others are told its id.
        let handles = (0..4).map(|_| db(&server)).collect();
        let written = at_once(handles, |h, i| {
            h.store()
                .insert_review(&NewReview::new(
                    "race",
                    &version,
                    "bob",
                    3,
                    &format!("try {i}"),
                    0,
                ))
                .unwrap()
        });
        let stored: Vec<i64> = written
            .iter()
            .filter_map(|w| match w {
                Inserted::Review(r) => Some(r.id),
                _ => None,
            })
            .collect();
        assert_eq!(stored.len(), 1, "round {round}: {written:?}");
        assert!(written.iter().all(|w| match w {
            Inserted::Review(r) => r.id == stored[0],
            Inserted::Duplicate(id) => *id == stored[0],
        }));
        // Four moderators decide it at once: one decision stands.
        let handles = (0..4).map(|_| db(&server)).collect();
        let decided = at_once(handles, |h, i| {
            let to = if i % 2 == 0 {
                ReviewState::Approved
            } else {
                ReviewState::Rejected
            };
            h.store()
                .decide_review(stored[0], to, Some("why"), &format!("mod-{i}"), 0)
                .unwrap()
        });
        let made: Vec<_> = decided.iter().flatten().collect();
        assert_eq!(made.len(), 1, "round {round}: {decided:?}");
        let now = main.store().review(stored[0]).unwrap().unwrap();
        assert_eq!(
            (now.state, &now.decided_by),
            (made[0].state, &made[0].decided_by)
        );
        // And one report resolved by four at once: one resolution.
        let report = main
            .store()
            .insert_report(ReportKind::Plugin, "race", None, "bob", "why", 0)
            .unwrap();
        let handles = (0..4).map(|_| db(&server)).collect();
        let resolved = at_once(handles, |h, i| {
            h.store()
                .resolve_report(
                    report.id,
                    ReportState::Dismissed,
                    "n",
                    &format!("mod-{i}"),
                    0,
                )
                .unwrap()
        });
        assert_eq!(resolved.iter().flatten().count(), 1, "round {round}");
    }
}

on_both_backends!(writes_and_decisions_at_once_keep_one_review_per_version_and_one_decision);
