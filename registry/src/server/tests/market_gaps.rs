//! Issue 21's marketplace gaps, on both backends: ratings in search hits and `sort=rating`
//! (a moderation decision reaches the next search, kept pages included); moderation pinned
//! to the revision the moderator saw; certification requests left `checking` by a stopped
//! server; refunds after renewal; one purchase at a time across servers.

use serde_json::{json, Value};

use super::*;

fn review(server: &Server, who: &str, plugin: &str, rating: u8) -> i64 {
    let (status, doc) = send(
        server,
        "post",
        &format!("/api/v1/plugins/{plugin}/reviews"),
        Some(who),
        Some(json!({ "version": "1.0.0", "rating": rating, "text": "ok" })),
    );
    assert_eq!(status, 201, "{doc}");
    doc["id"].as_i64().unwrap()
}

/// The revision a moderator saw: the review as the queue lists it.
fn seen(server: &Server, moderator: &str, id: i64) -> String {
    let (status, doc) = send(
        server,
        "get",
        "/api/v1/moderation/reviews",
        Some(moderator),
        None,
    );
    assert_eq!(status, 200, "{doc}");
    doc["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .and_then(|r| r["revision"].as_str())
        .unwrap_or_else(|| panic!("review {id} is not in the queue: {doc}"))
        .to_owned()
}

fn decide(server: &Server, moderator: &str, id: i64, how: &str, body: Value) -> (u16, Value) {
    send(
        server,
        "post",
        &format!("/api/v1/moderation/reviews/{id}/{how}"),
        Some(moderator),
        Some(body),
    )
}

fn approve(server: &Server, moderator: &str, id: i64) {
    let revision = seen(server, moderator, id);
    let (status, doc) = decide(
        server,
        moderator,
        id,
        "approve",
        json!({ "revision": revision }),
    );
    assert_eq!(status, 200, "{doc}");
}

fn hits(server: &Server, query: &str) -> Vec<(String, Value)> {
    let (status, doc) = get_json(server, &format!("/api/v1/search?{query}"));
    assert_eq!(status, 200, "{query}: {doc}");
    doc["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().to_owned(), h["rating"].clone()))
        .collect()
}

fn names(hits: &[(String, Value)]) -> Vec<&str> {
    hits.iter().map(|(n, _)| n.as_str()).collect()
}

pub(super) fn search_hits_carry_the_damped_rating_and_sort_by_it_after_each_decision() {
    let (_tmp, server) = serve(vec![
        line("alpha", "1.0.0", b""),
        line("beta", "1.0.0", b""),
        line("gamma", "1.0.0", b""),
    ]);
    let moderator = token(&server, "mia", "moderate", None);
    let bob = token(&server, "bob", "account", None);
    let carol = token(&server, "carol", "account", None);
    let dave = token(&server, "dave", "account", None);

    // No approved review: every rating null, sort=rating is name order.
    let before = hits(&server, "sort=rating");
    assert_eq!(names(&before), ["alpha", "beta", "gamma"]);
    assert!(before.iter().all(|(_, r)| r.is_null()), "{before:?}");
    // A page sorted by name is kept from here on.
    assert!(hits(&server, "sort=name").iter().all(|(_, r)| r.is_null()));

    // A pending review changes nothing.
    let on_beta = review(&server, &bob, "beta", 5);
    assert_eq!(
        names(&hits(&server, "sort=rating")),
        ["alpha", "beta", "gamma"]
    );

    // Approved: beta leads, with 3.33 from one review — in the sorted search and in the
    // kept page sorted by name.
    approve(&server, &moderator, on_beta);
    let rated = hits(&server, "sort=rating");
    assert_eq!(names(&rated), ["beta", "alpha", "gamma"]);
    assert_eq!(rated[0].1, json!({ "average": 3.33, "count": 1 }));
    assert!(rated[1].1.is_null() && rated[2].1.is_null(), "{rated:?}");
    let by_name = hits(&server, "sort=name");
    assert_eq!(
        by_name[1],
        ("beta".to_owned(), json!({ "average": 3.33, "count": 1 }))
    );

    // Gamma gets a 4 (3.17): below beta, above the unrated alpha.
    let on_gamma = review(&server, &carol, "gamma", 4);
    approve(&server, &moderator, on_gamma);
    let rated = hits(&server, "sort=rating");
    assert_eq!(names(&rated), ["beta", "gamma", "alpha"]);
    assert_eq!(rated[1].1, json!({ "average": 3.17, "count": 1 }));

    // Alpha gets two fives (3.57): first.
    for who in [&carol, &dave] {
        let id = review(&server, who, "alpha", 5);
        approve(&server, &moderator, id);
    }
    let rated = hits(&server, "sort=rating&per_page=2");
    assert_eq!(names(&rated), ["alpha", "beta"]);
    assert_eq!(rated[0].1, json!({ "average": 3.57, "count": 2 }));
    let (_, doc) = get_json(&server, "/api/v1/search?sort=rating&per_page=2&page=2");
    assert_eq!(doc["total"], 3);
    assert_eq!(doc["hits"][0]["name"], "gamma");

    // Filters still apply, and words.
    assert_eq!(names(&hits(&server, "q=gamma&sort=rating")), ["gamma"]);

    // Deleting beta's approved review takes its rating away at once.
    let (status, doc) = send(
        &server,
        "delete",
        &format!("/api/v1/plugins/beta/reviews/{on_beta}"),
        Some(&moderator),
        None,
    );
    assert_eq!(status, 200, "{doc}");
    let rated = hits(&server, "sort=rating");
    assert_eq!(names(&rated), ["alpha", "gamma", "beta"]);
    assert!(rated[2].1.is_null());

    // The page's result list shows the rating.
    let (status, _, _, html) = get(&server, "/search?q=alpha", None);
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("★ 3.57 (2 reviews)"), "{html}");

    // The page sorts by rating too, in the API's order, and offers the choice.
    let (status, _, _, html) = get(&server, "/search?sort=rating", None);
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    let at = |name: &str| {
        html.find(&format!(">{name}</a> <span class=\"version\">"))
            .unwrap_or_else(|| panic!("{name} not listed: {html}"))
    };
    assert!(
        at("alpha") < at("gamma") && at("gamma") < at("beta"),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"rating\" selected>Best rated</option>"),
        "{html}"
    );
}

#[test]
fn ratings_order_by_damped_average_then_reviews_then_name() {
    use crate::server::search::rating::Ratings;
    use crate::server::search::{Prepared, Query};
    let plugins: std::collections::BTreeMap<String, Vec<IndexLine>> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| (n.to_string(), vec![line(n, "1.0.0", b"")]))
        .collect();
    let prepared = Prepared::new(&plugins);
    // a: one five (3.33); b: four reviews summing 15 (3.33, more reviews); d: one five
    // (3.33); e: one one (2.67); c: none.
    let ratings = Ratings::from_totals([
        ("a".to_owned(), 1, 5),
        ("b".to_owned(), 4, 15),
        ("d".to_owned(), 1, 5),
        ("e".to_owned(), 1, 1),
    ]);
    let query = |page: usize, per_page: usize| {
        Query::parse(
            "",
            None,
            None,
            None,
            None,
            None,
            None,
            Some("rating"),
            page,
            per_page,
        )
        .unwrap()
    };
    let order = |page: usize, per_page: usize| -> Vec<String> {
        let q = query(page, per_page);
        let p = prepared.compute_by_rating(&q, &Default::default(), &ratings);
        let bytes = p.write(&prepared, &q, &Default::default(), &ratings, "", "rating");
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        doc["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(order(1, 10), ["b", "a", "d", "e", "c"]);
    assert_eq!(order(2, 2), ["d", "e"]);
    assert_eq!(order(3, 2), ["c"]);
}

pub(super) fn a_moderator_cannot_approve_or_reject_an_edit_they_have_not_seen() {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let moderator = token(&server, "mia", "moderate", None);
    let bob = token(&server, "bob", "account", None);
    let id = review(&server, &bob, "hello", 5);
    let read = seen(&server, &moderator, id);
    assert_eq!(read.len(), 16, "{read}");

    // Bob edits it after the moderator read it: both decisions on what was read are refused.
    let (status, doc) = send(
        &server,
        "put",
        &format!("/api/v1/plugins/hello/reviews/{id}"),
        Some(&bob),
        Some(json!({ "rating": 1, "text": "Actually: buy my plugin instead." })),
    );
    assert_eq!(status, 200, "{doc}");
    assert_ne!(doc["revision"], read);
    let (status, doc) = decide(
        &server,
        &moderator,
        id,
        "approve",
        json!({ "revision": read }),
    );
    assert_eq!((status, code(&doc)), (409, "SB1910"), "{doc}");
    assert!(doc["message"].as_str().unwrap().contains(&read), "{doc}");
    let (status, doc) = decide(
        &server,
        &moderator,
        id,
        "reject",
        json!({ "reason": "Spam.", "revision": read }),
    );
    assert_eq!((status, code(&doc)), (409, "SB1910"), "{doc}");
    let stored = db(&server).store().review(id).unwrap().unwrap();
    assert_eq!(stored.state.as_str(), "pending");
    assert_eq!(stored.rating, 1);

    // No revision at all: refused, coded.
    let (status, doc) = send(
        &server,
        "post",
        &format!("/api/v1/moderation/reviews/{id}/approve"),
        Some(&moderator),
        None,
    );
    assert_eq!((status, code(&doc)), (400, "SB1911"), "{doc}");
    let (status, doc) = decide(&server, &moderator, id, "approve", json!({}));
    assert_eq!((status, code(&doc)), (400, "SB1911"), "{doc}");
    let (status, doc) = decide(&server, &moderator, id, "reject", json!({ "reason": "x" }));
    assert_eq!((status, code(&doc)), (400, "SB1911"), "{doc}");
    let (status, doc) = decide(
        &server,
        &moderator,
        id,
        "approve",
        json!({ "revision": "" }),
    );
    assert_eq!((status, code(&doc)), (400, "SB1911"), "{doc}");

    // Read again: the decision on what is there now goes through; nothing was rated before.
    let (_, doc) = get_json(&server, "/api/v1/plugins/hello/reviews");
    assert_eq!(doc["rating"]["count"], 0);
    let now = seen(&server, &moderator, id);
    let (status, doc) = decide(
        &server,
        &moderator,
        id,
        "reject",
        json!({ "reason": "Spam.", "revision": now }),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["state"], "rejected");

    // The store makes the check and the decision one step: a stale reading decides nothing.
    let id2 = review(
        &server,
        &token(&server, "carol", "account", None),
        "hello",
        4,
    );
    let store = db(&server);
    let before = store.store().review(id2).unwrap().unwrap();
    store
        .store()
        .edit_review(id2, 2, "changed", before.updated + 1)
        .unwrap();
    use crate::server::store::reviews::ReviewState;
    assert!(store
        .store()
        .decide_seen(&before, ReviewState::Approved, None, "mia", 0)
        .unwrap()
        .is_none());
    let after = store.store().review(id2).unwrap().unwrap();
    assert!(store
        .store()
        .decide_seen(&after, ReviewState::Approved, None, "mia", 0)
        .unwrap()
        .is_some());

    // The moderation page sends the revision it showed; a stale one is refused there too.
    let id3 = review(
        &server,
        &token(&server, "dave", "account", None),
        "hello",
        3,
    );
    let shown = seen(&server, &moderator, id3);
    send(
        &server,
        "put",
        &format!("/api/v1/plugins/hello/reviews/{id3}"),
        Some(&token(&server, "dave", "account", None)),
        Some(json!({ "rating": 3, "text": "edited" })),
    );
    let (status, html) = super::reviews::post_form(
        &server,
        "/admin/moderation",
        &[
            ("token", &moderator),
            ("id", &id3.to_string()),
            ("revision", &shown),
            ("action", "approve"),
        ],
    );
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("SB1910"), "{html}");
}

pub(super) fn a_certification_left_checking_by_a_stopped_server_is_denied_audited_and_resubmittable(
) {
    use crate::server::certification::recovery::{INTERRUPTED_REASON, STUCK_AFTER_SECONDS};
    use crate::server::store::certification::{Certification, CertificationState};
    let (tmp, server) = serve(vec![
        line("hello", "1.0.0", b""),
        line("hello", "1.1.0", b""),
    ]);
    let store = db(&server);
    store.store().claim_new("hello", "acme", 0).unwrap();
    let now = crate::server::tokens::now();
    // Two requests a stopped server left `checking`: one two hours old, one just submitted.
    let request = |id: &str, version: &str, at: i64| {
        let c = Certification::new(id.into(), "hello".into(), version.into(), "acme".into(), at);
        assert_eq!(store.store().insert_certification(&c).unwrap().id, id);
    };
    request("c-old", "1.0.0", now - 2 * STUCK_AFTER_SECONDS);
    request("c-new", "1.1.0", now);
    let data = server.data_dir().root.clone();
    drop(server);

    // Another server starts over the same data.
    let server = Server::start(&server_options(data)).unwrap();
    let status = |version: &str| {
        let (status, doc) = get_json(
            &server,
            &format!("/api/v1/plugins/hello/versions/{version}/certification"),
        );
        assert_eq!(status, 200, "{doc}");
        doc
    };
    let old = status("1.0.0");
    assert_eq!(
        (
            old["id"].as_str(),
            old["state"].as_str(),
            old["decided_by"].as_str()
        ),
        (Some("c-old"), Some("denied"), Some("registry")),
        "{old}"
    );
    assert_eq!(old["reason"], INTERRUPTED_REASON);
    assert_eq!(old["checks"][0]["name"], "interrupted");
    assert_eq!(old["checks"][0]["result"], "error");
    assert_eq!(old["approvable"], false);
    // The young one: on SQLite no check can still be running (the database is this
    // server's); on PostgreSQL another server may be checking it, so it is left alone.
    let young = status("1.1.0");
    let shared = matches!(
        backend().choice(),
        crate::server::DatabaseChoice::Postgres(_)
    );
    let expected = if shared { "checking" } else { "denied" };
    assert_eq!(young["state"], expected, "{young}");

    // Audited.
    let admin = token(&server, "root", "admin", None);
    let (status_code, trail) = send(
        &server,
        "get",
        "/api/v1/audit?subject=plugin:hello@1.0.0",
        Some(&admin),
        None,
    );
    assert_eq!(status_code, 200, "{trail}");
    assert!(
        trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "registry"
                && e["action"] == "certification.interrupted"
                && e["detail"].as_str().unwrap().contains("c-old")),
        "{trail}"
    );

    // A check of the old request finishing late changes nothing.
    store
        .store()
        .finish_certification_checks("c-old", &[], CertificationState::Pending)
        .unwrap();
    let again = store.store().certification("c-old").unwrap().unwrap();
    assert_eq!(again.state, CertificationState::Denied);
    assert_eq!(again.checks.len(), 1);

    // Submitted again: a new request, checked (whatever the checks say of this fake
    // package, it is out of `checking`).
    let acme = token(&server, "acme", "publish:hello", None);
    let (code_, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/versions/1.0.0/certification",
        Some(&acme),
        None,
    );
    assert_eq!(code_, 201, "{doc}");
    assert_ne!(doc["id"], "c-old");
    assert_eq!(doc["state"], "pending", "{doc}");
    let (code_, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/versions/1.1.0/certification",
        Some(&acme),
        None,
    );
    if shared {
        // Still held by the young request another server may be checking.
        assert_eq!((code_, code(&doc)), (409, "SB1464"), "{doc}");
    } else {
        assert_eq!(code_, 201, "{doc}");
    }
    drop(tmp);
}

pub(super) fn refunding_a_subscription_charge_after_renewal_leaves_only_the_periods_still_paid() {
    use super::market::{buy, price, serve_market};
    const MONTH: i64 = 30 * 86_400;
    let (_tmp, server) = serve_market(&["fmt"], true);
    let acme = token(&server, "acme", "account", None);
    let root = token(&server, "root", "admin", None);
    let ann = token(&server, "ann", "account", None);
    let (status, doc) = price(
        &server,
        &acme,
        "fmt",
        json!({"model": "subscription", "price": {"amount": 900, "currency": "EUR"}, "period": "month"}),
    );
    assert_eq!(status, 200, "{doc}");
    let charge = || {
        let (status, doc) = buy(
            &server,
            &ann,
            "fmt",
            json!({"payment_method": "test-approve"}),
        );
        assert_eq!(status, 200, "{doc}");
        (
            doc["purchase"].as_str().unwrap().to_owned(),
            doc["entitlement"]["expires"].as_i64().unwrap(),
        )
    };
    let refund = |sale: &str| {
        let (status, doc) = send(
            &server,
            "post",
            &format!("/api/v1/purchases/{sale}/refund"),
            Some(&root),
            Some(json!({})),
        );
        assert_eq!(status, 200, "{doc}");
        doc
    };
    let entitlement = || {
        let (_, doc) = send(&server, "get", "/api/v1/entitlements", Some(&ann), None);
        doc["entitlements"][0].clone()
    };
    let sale_at = |sale: &str| db(&server).store().sale(sale).unwrap().unwrap().at;

    // Bought, then renewed: two months paid, end to end.
    let (a, first_end) = charge();
    let (b, second_end) = charge();
    assert_eq!(second_end, first_end + MONTH);
    // The older charge refunded in full: its month is taken out; b's month counts from b.
    let doc = refund(&a);
    let b_end = sale_at(&b) + MONTH;
    assert_eq!(doc["entitlement_expires"], b_end, "{doc}");
    assert_eq!(doc["entitlement_ended"], false);
    let e = entitlement();
    assert_eq!(
        (e["expires"].as_i64(), e["active"].as_bool()),
        (Some(b_end), Some(true)),
        "{e}"
    );
    assert_eq!(e["purchase"].as_str(), Some(b.as_str()), "{e}");

    // Renewed again (c), then the middle charge (b) refunded: c's month alone.
    let (c, c_end) = charge();
    assert_eq!(c_end, b_end + MONTH);
    let doc = refund(&b);
    assert_eq!(doc["entitlement_expires"], sale_at(&c) + MONTH, "{doc}");
    // A partial refund is a credit: the period stays.
    let (d, d_end) = charge();
    let (status, doc) = send(
        &server,
        "post",
        &format!("/api/v1/purchases/{d}/refund"),
        Some(&root),
        Some(json!({"amount": 100})),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(entitlement()["expires"].as_i64(), Some(d_end));
    // Every charge refunded: the subscription ends and the package is refused.
    refund(&c);
    let doc = refund(&d);
    assert_eq!(doc["entitlement_ended"], true, "{doc}");
    assert_eq!(doc["entitlement_expires"], Value::Null);
    let (_, doc) = send(&server, "get", "/api/v1/entitlements", Some(&ann), None);
    assert_eq!(doc["entitlements"].as_array().unwrap().len(), 0, "{doc}");
}

/// Two servers over one PostgreSQL database (and one data directory), eight buyers' clicks
/// at once — the same account buying the same one-off plugin, half through each server:
/// exactly one charge, one sale, one entitlement. (SQLite has one server per data
/// directory; its process lock is tested by the existing market tests.)
fn two_servers_on_one_postgres_charge_a_purchase_once() {
    use super::market::{price, serve_market};
    use crate::server::payments::TestPayments;
    let (_tmp, first) = serve_market(&["lint"], true);
    let mut options = server_options(first.data_dir().root.clone());
    options.payments = Some(std::sync::Arc::new(TestPayments));
    let second = Server::start(&options).unwrap();
    let acme = token(&first, "acme", "account", None);
    let (status, doc) = price(
        &first,
        &acme,
        "lint",
        json!({"model": "paid", "price": {"amount": 4900, "currency": "EUR"}}),
    );
    assert_eq!(status, 200, "{doc}");
    let ann = token(&first, "ann", "account", None);
    let barrier = std::sync::Barrier::new(8);
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let running: Vec<_> = (0..8)
            .map(|i| {
                let (barrier, ann) = (&barrier, &ann);
                let server = if i % 2 == 0 { &first } else { &second };
                s.spawn(move || {
                    barrier.wait();
                    send(
                        server,
                        "post",
                        "/api/v1/plugins/lint/purchase",
                        Some(ann),
                        Some(json!({"payment_method": "test-approve"})),
                    )
                })
            })
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (status, doc) in &answers {
        assert_eq!(*status, 200, "{doc}");
    }
    let charged = answers
        .iter()
        .filter(|(_, d)| !d["charged"].is_null())
        .count();
    assert_eq!(charged, 1, "{answers:?}");
    let sales = db(&first).store().sales().unwrap();
    assert_eq!(sales.len(), 1, "{sales:?}");
    let purchase = &answers
        .iter()
        .find(|(_, d)| !d["charged"].is_null())
        .unwrap()
        .1["purchase"];
    assert!(
        answers.iter().all(|(_, d)| d["purchase"] == *purchase),
        "{answers:?}"
    );
    drop(second);
}

#[test]
fn two_servers_on_one_postgres_charge_a_purchase_once_postgres() {
    if let Some(b) = Backend::postgres() {
        run_on(b, two_servers_on_one_postgres_charge_a_purchase_once);
    }
}

on_both_backends!(
    refunding_a_subscription_charge_after_renewal_leaves_only_the_periods_still_paid,
    search_hits_carry_the_damped_rating_and_sort_by_it_after_each_decision,
    a_moderator_cannot_approve_or_reject_an_edit_they_have_not_seen,
    a_certification_left_checking_by_a_stopped_server_is_denied_audited_and_resubmittable,
);
