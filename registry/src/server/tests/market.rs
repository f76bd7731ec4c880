//! The marketplace over HTTP, on both backends: prices, purchases through the test payment
//! provider, entitlements guarding a paid plugin's package, refunds, revenue-share rates,
//! disputes (audited) and the payout report from the stored ledger, line by line.

use serde_json::json;

use super::*;
use crate::server::payments::TestPayments;
use crate::server::store::market::{RefundRecord, SaleRecord};

/// A server selling through [`TestPayments`] (or taking no payments), with `names`
/// published and `acme` owning each.
pub(super) fn serve_market(names: &[&str], payments: bool) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = server_options(tmp.path().join("data"));
    if payments {
        options.payments = Some(Arc::new(TestPayments));
    }
    let server = Server::start(&options).unwrap();
    let releases = names
        .iter()
        .map(|n| {
            let bytes = format!("{n}@1.0.0").into_bytes();
            (line(n, "1.0.0", &bytes), bytes)
        })
        .collect();
    let d = server.data_dir();
    publish_unverified(&d.registry, &d.keys, releases, &Expiries::default()).unwrap();
    let db = db(&server);
    for n in names {
        assert!(db.store().claim_new(n, "acme", 1).unwrap());
    }
    (tmp, server)
}

/// GETs `path` with an optional token: status, Cache-Control, body.
fn get_with(server: &Server, path: &str, auth: Option<&str>) -> (u16, Option<String>, Vec<u8>) {
    let mut req = agent().get(format!("{}{path}", server.url()));
    if let Some(t) = auth {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    let cache = resp
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.body_mut().read_to_vec().unwrap();
    (resp.status().as_u16(), cache, body)
}

fn download_path(server: &Server, name: &str) -> String {
    let (status, doc) = get_json(server, &format!("/api/v1/plugins/{name}"));
    assert_eq!(status, 200, "{doc}");
    doc["versions"][0]["download"].as_str().unwrap().to_owned()
}

pub(super) fn price(
    server: &Server,
    token: &str,
    name: &str,
    pricing: serde_json::Value,
) -> (u16, serde_json::Value) {
    send(
        server,
        "post",
        &format!("/api/v1/plugins/{name}/pricing"),
        Some(token),
        Some(pricing),
    )
}

pub(super) fn buy(
    server: &Server,
    token: &str,
    name: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    send(
        server,
        "post",
        &format!("/api/v1/plugins/{name}/purchase"),
        Some(token),
        Some(body),
    )
}

fn audit_actions(server: &Server, admin: &str, subject: &str) -> Vec<String> {
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
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

fn a_paid_plugin_is_refused_without_an_entitlement_and_served_with_one() {
    let (_tmp, server) = serve_market(&["lint", "fmt"], true);
    let acme = token(&server, "acme", "account", None);
    let ann = token(&server, "ann", "publish:ann-*", None);
    let admin = token(&server, "root", "admin", None);
    let lint = download_path(&server, "lint");
    let fmt = download_path(&server, "fmt");

    // Free until priced: anyone downloads.
    assert_eq!(get_with(&server, &lint, None).0, 200);
    // Prices are checked (SB1347 kept in the message), set by an owner only.
    let (status, doc) = price(
        &server,
        &acme,
        "lint",
        json!({"model": "paid", "price": {"amount": 0, "currency": "EUR"}}),
    );
    assert_eq!((status, code(&doc)), (400, "SB1489"), "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("SB1347"), "{doc}");
    let (status, doc) = price(
        &server,
        &ann,
        "lint",
        json!({"model": "paid", "price": {"amount": 4900, "currency": "EUR"}}),
    );
    assert_eq!(status, 403, "{doc}");
    let (status, doc) = price(
        &server,
        &acme,
        "lint",
        json!({"model": "paid", "price": {"amount": 4900, "currency": "EUR"}}),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["pricing"]["shown"], "49.00 EUR");

    // The price shows in details and search.
    let (_, doc) = get_json(&server, "/api/v1/plugins/lint");
    assert_eq!(doc["pricing"]["model"], "paid");
    assert_eq!(doc["pricing"]["price"]["amount"], 4900);
    let (_, doc) = get_json(&server, "/api/v1/search?q=lint");
    assert_eq!(doc["hits"][0]["pricing"]["shown"], "49.00 EUR");
    let (_, doc) = get_json(&server, "/api/v1/search?q=fmt");
    assert_eq!(doc["hits"][0]["pricing"]["model"], "free");

    // Without an entitlement: 402, coded, naming the next step; the index stays open.
    let (status, cache, body) = get_with(&server, &lint, None);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, code(&doc)), (402, "SB1480"), "{doc}");
    assert!(
        doc["next_step"]
            .as_str()
            .unwrap()
            .contains("switchboard buy lint"),
        "{doc}"
    );
    assert_ne!(cache.as_deref(), Some("private, no-cache"));
    let (status, _, body) = get_with(&server, &lint, Some(&ann));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, code(&doc)), (402, "SB1480"), "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("`ann`"), "{doc}");
    assert_eq!(get_with(&server, "/index/timestamp.json", None).0, 200);
    assert_eq!(get_with(&server, &fmt, None).0, 200);
    // A bad token is a 401, not a purchase prompt.
    assert_eq!(get_with(&server, &lint, Some("sbt_nope_nope")).0, 401);
    // Its owners and admins download it.
    assert_eq!(get_with(&server, &lint, Some(&acme)).0, 200);
    assert_eq!(get_with(&server, &lint, Some(&admin)).0, 200);

    // A declined payment records nothing.
    let (status, doc) = buy(
        &server,
        &ann,
        "lint",
        json!({"payment_method": "test-decline"}),
    );
    assert_eq!((status, code(&doc)), (402, "SB1481"), "{doc}");
    let (status, doc) = buy(&server, &ann, "lint", json!({}));
    assert_eq!((status, code(&doc)), (402, "SB1481"), "{doc}");
    let (_, doc) = send(&server, "get", "/api/v1/entitlements", Some(&ann), None);
    assert_eq!(doc["entitlements"], json!([]));
    assert!(db(&server).store().sales().unwrap().is_empty());
    assert!(!audit_actions(&server, &admin, "plugin:lint").contains(&"market.purchase".to_owned()));
    assert_eq!(get_with(&server, &lint, Some(&ann)).0, 402);

    // Bought: an entitlement without expiry, a sale, an audit entry; the package is served,
    // privately.
    let (status, doc) = buy(
        &server,
        &ann,
        "lint",
        json!({"payment_method": "test-approve"}),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["charged"], json!({"amount": 4900, "currency": "EUR"}));
    assert_eq!(doc["entitlement"]["kind"], "purchase");
    assert_eq!(doc["entitlement"]["expires"], serde_json::Value::Null);
    let sale_id = doc["purchase"].as_str().unwrap().to_owned();
    let (status, cache, body) = get_with(&server, &lint, Some(&ann));
    assert_eq!(status, 200);
    assert_eq!(body, b"lint@1.0.0");
    assert_eq!(cache.as_deref(), Some("private, no-cache"));
    let sales = db(&server).store().sales().unwrap();
    assert_eq!(sales.len(), 1);
    assert_eq!(
        (
            sales[0].publisher.as_str(),
            sales[0].buyer.as_str(),
            sales[0].amount
        ),
        ("acme", "ann", 4900)
    );
    assert_eq!(sales[0].reference, format!("test-{sale_id}"));
    assert!(audit_actions(&server, &admin, "plugin:lint").contains(&"market.purchase".to_owned()));
    // Buying again charges nothing.
    let (status, doc) = buy(
        &server,
        &ann,
        "lint",
        json!({"payment_method": "test-approve"}),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["charged"], serde_json::Value::Null);
    assert_eq!(db(&server).store().sales().unwrap().len(), 1);
    let (_, doc) = send(&server, "get", "/api/v1/entitlements", Some(&ann), None);
    assert_eq!(doc["entitlements"][0]["plugin"], "lint");
    assert_eq!(doc["entitlements"][0]["active"], true);

    // Refunds: an admin's; more than was paid refused; in full, the entitlement ends.
    let refund = format!("/api/v1/purchases/{sale_id}/refund");
    let (status, _) = send(&server, "post", &refund, Some(&ann), Some(json!({})));
    assert_eq!(status, 403);
    let (status, doc) = send(
        &server,
        "post",
        &refund,
        Some(&admin),
        Some(json!({"amount": 5000})),
    );
    assert_eq!((status, code(&doc)), (409, "SB1486"), "{doc}");
    let (status, doc) = send(
        &server,
        "post",
        &refund,
        Some(&admin),
        Some(json!({"amount": 900})),
    );
    assert_eq!((status, doc["left"].as_i64()), (200, Some(4000)), "{doc}");
    assert_eq!(get_with(&server, &lint, Some(&ann)).0, 200);
    let (status, doc) = send(&server, "post", &refund, Some(&admin), Some(json!({})));
    assert_eq!(
        (status, doc["entitlement_ended"].as_bool()),
        (200, Some(true)),
        "{doc}"
    );
    assert_eq!(get_with(&server, &lint, Some(&ann)).0, 402);
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/purchases/sale-nope/refund",
        Some(&admin),
        Some(json!({})),
    );
    assert_eq!((status, code(&doc)), (404, "SB1485"), "{doc}");

    // A free plugin has nothing to buy. A subscription with a trial: one trial per account;
    // the first charge runs a period from the day it is paid (a trial is not paid time).
    let (status, doc) = buy(
        &server,
        &ann,
        "fmt",
        json!({"payment_method": "test-approve"}),
    );
    assert_eq!((status, code(&doc)), (409, "SB1482"), "{doc}");
    let (status, _) = price(
        &server,
        &acme,
        "fmt",
        json!({"model": "subscription", "price": {"amount": 900, "currency": "EUR"}, "period": "month", "trial_days": 14}),
    );
    assert_eq!(status, 200);
    let (status, doc) = buy(&server, &ann, "fmt", json!({"trial": true}));
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["entitlement"]["kind"], "trial");
    let since = doc["entitlement"]["since"].as_i64().unwrap();
    assert_eq!(
        doc["entitlement"]["expires"].as_i64(),
        Some(since + 14 * 86_400)
    );
    assert_eq!(get_with(&server, &fmt, Some(&ann)).0, 200);
    let (status, doc) = buy(
        &server,
        &ann,
        "fmt",
        json!({"payment_method": "test-approve"}),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["entitlement"]["kind"], "subscription");
    let since = doc["entitlement"]["since"].as_i64().unwrap();
    assert_eq!(
        doc["entitlement"]["expires"].as_i64(),
        Some(since + 30 * 86_400)
    );
    let bob = token(&server, "bob", "account", None);
    let (status, _) = buy(&server, &bob, "fmt", json!({"trial": true}));
    assert_eq!(status, 200);
    // Ended by hand (as time would end it): a second trial is refused.
    backend().execute(
        &server,
        "UPDATE entitlements SET expires = 1 WHERE account = 'bob'",
    );
    assert_eq!(get_with(&server, &fmt, Some(&bob)).0, 402);
    let (status, doc) = buy(&server, &bob, "fmt", json!({"trial": true}));
    assert_eq!((status, code(&doc)), (409, "SB1483"), "{doc}");
}

fn a_server_without_a_payment_provider_sells_nothing() {
    let (_tmp, server) = serve_market(&["lint"], false);
    let acme = token(&server, "acme", "account", None);
    let ann = token(&server, "ann", "account", None);
    let (status, _) = price(
        &server,
        &acme,
        "lint",
        json!({"model": "paid", "price": {"amount": 500, "currency": "USD"}, "trial_days": 7}),
    );
    assert_eq!(status, 200);
    let (status, doc) = buy(
        &server,
        &ann,
        "lint",
        json!({"payment_method": "test-approve"}),
    );
    assert_eq!((status, code(&doc)), (403, "SB1484"), "{doc}");
    assert!(db(&server).store().sales().unwrap().is_empty());
    // A trial charges nothing: it starts.
    let (status, doc) = buy(&server, &ann, "lint", json!({"trial": true}));
    assert_eq!(status, 200, "{doc}");
    let (status, doc) = buy(&server, &ann, "nope", json!({"trial": true}));
    assert_eq!((status, code(&doc)), (404, "SB1381"), "{doc}");
}

fn sale(id: &str, publisher: &str, plugin: &str, day: &str, amount: i64) -> SaleRecord {
    SaleRecord {
        id: id.into(),
        buyer: "ann".into(),
        publisher: publisher.into(),
        plugin: plugin.into(),
        day: day.into(),
        amount,
        currency: "EUR".into(),
        at: 0,
        reference: format!("test-{id}"),
    }
}

fn entitlement(plugin: &str, sale: &str) -> crate::server::store::market::EntitlementRecord {
    crate::server::store::market::EntitlementRecord {
        account: "ann".into(),
        plugin: plugin.into(),
        kind: "purchase".into(),
        since: 0,
        expires: None,
        sale: Some(sale.into()),
    }
}

fn a_payout_report_for_a_month_whose_rate_changed_mid_month_is_checked_line_by_line() {
    let (_tmp, server) = serve_market(&["lint", "fmt"], true);
    let admin = token(&server, "root", "admin", None);
    let acme = token(&server, "acme", "account", None);
    let zeta = token(&server, "zeta", "account", None);
    // Terms: 15 % from the start of 2026, 20 % from 15 November; zeta's own 10 % from
    // 20 November. Above the cap is refused.
    let rate = |body: serde_json::Value| {
        send(
            &server,
            "post",
            "/api/v1/market/rates",
            Some(&admin),
            Some(body),
        )
    };
    assert_eq!(
        rate(json!({"from": "2026-01-01", "basis_points": 1500})).0,
        200
    );
    assert_eq!(
        rate(json!({"from": "2026-11-15", "basis_points": 2000})).0,
        200
    );
    assert_eq!(
        rate(json!({"publisher": "zeta", "from": "2026-11-20", "basis_points": 1000})).0,
        200
    );
    let (status, doc) = rate(json!({"from": "2026-12-01", "basis_points": 2600}));
    assert_eq!((status, code(&doc)), (400, "SB1489"), "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("SB1344"), "{doc}");
    let (status, _) = send(
        &server,
        "post",
        "/api/v1/market/rates",
        Some(&acme),
        Some(json!({"from": "2026-01-01", "basis_points": 0})),
    );
    assert_eq!(status, 403);
    let (status, _) = send(
        &server,
        "post",
        "/api/v1/market/thresholds",
        Some(&admin),
        Some(json!({"amount": 1000, "currency": "EUR"})),
    );
    assert_eq!(status, 200);
    assert!(audit_actions(&server, &admin, "terms:").contains(&"market.rate".to_owned()));

    // The ledger, as purchases and refunds record it, on dates of November.
    let db = db(&server);
    let store = db.store();
    for (s, plugin) in [
        (sale("s1", "acme", "lint", "2026-11-03", 4900), "lint"),
        (sale("s2", "acme", "lint", "2026-11-14", 999), "lint"),
        (sale("s3", "acme", "lint", "2026-11-15", 4900), "lint"),
        (sale("s4", "zeta", "fmt", "2026-11-19", 1001), "fmt"),
        (sale("s5", "zeta", "fmt", "2026-11-20", 1001), "fmt"),
        (sale("s6", "acme", "lint", "2026-10-30", 2000), "lint"),
    ] {
        store.record_sale(&s, &entitlement(plugin, &s.id)).unwrap();
    }
    // October's sale refunded in part in November, at October's 15 %.
    store
        .add_refund(
            &RefundRecord {
                sale: "s6".into(),
                day: "2026-11-21".into(),
                amount: 500,
                currency: "EUR".into(),
                at: 0,
                by: "root".into(),
            },
            false,
        )
        .unwrap();

    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/payouts?month=2026-11",
        Some(&admin),
        None,
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["all"], true);
    let lines = doc["report"]["lines"].as_array().unwrap();
    let row = |l: &serde_json::Value| {
        (
            l["publisher"].as_str().unwrap().to_owned(),
            l["plugin"].as_str().unwrap().to_owned(),
            l["basis_points"].as_i64(),
            l["sales_count"].as_i64().unwrap(),
            l["sales"].as_i64().unwrap(),
            l["refunds"].as_i64().unwrap(),
            l["gross"].as_i64().unwrap(),
            l["fees"].as_i64().unwrap(),
            l["net"].as_i64().unwrap(),
        )
    };
    let got: Vec<_> = lines.iter().map(row).collect();
    let s = |x: &str| x.to_owned();
    // acme at 15 %: 49.00 + 9.99 sold (fees 7.35 + 1.50, each rounded on its own: 149.85 →
    // 150), 5.00 of October's sale refunded (its fee 0.75 given back).
    // acme at 20 %: 49.00 (fee 9.80). zeta: 10.01 at 20 % (2.00) and 10.01 at its own 10 %
    // from the 20th (1.00).
    assert_eq!(
        got,
        vec![
            (
                s("acme"),
                s("lint"),
                Some(1500),
                2,
                5899,
                500,
                5399,
                735 + 150 - 75,
                5399 - 810
            ),
            (
                s("acme"),
                s("lint"),
                Some(2000),
                1,
                4900,
                0,
                4900,
                980,
                3920
            ),
            (s("zeta"), s("fmt"), Some(1000), 1, 1001, 0, 1001, 100, 901),
            (s("zeta"), s("fmt"), Some(2000), 1, 1001, 0, 1001, 200, 801),
        ],
        "{doc}"
    );
    for l in lines {
        assert_eq!(
            l["gross"].as_i64().unwrap(),
            l["fees"].as_i64().unwrap() + l["net"].as_i64().unwrap()
        );
    }
    for t in doc["report"]["publishers"].as_array().unwrap() {
        let of: Vec<_> = lines
            .iter()
            .filter(|l| l["publisher"] == t["publisher"])
            .collect();
        for k in ["gross", "fees", "net"] {
            let sum: i64 = of.iter().map(|l| l[k].as_i64().unwrap()).sum();
            assert_eq!(t[k].as_i64().unwrap(), sum, "{k} of {}", t["publisher"]);
        }
    }

    // A publisher sees its own lines only; CSV has the same figures.
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/payouts?month=2026-11",
        Some(&zeta),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(doc["all"], false);
    assert!(doc["report"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["publisher"] == "zeta"));
    assert_eq!(doc["report"]["lines"].as_array().unwrap().len(), 2);
    let mut resp = agent()
        .get(format!(
            "{}/api/v1/payouts?month=2026-11&format=csv",
            server.url()
        ))
        .header("Authorization", format!("Bearer {zeta}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.body_mut().read_to_string().unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("month,publisher,plugin,currency,kind,basis_points"),
        "{csv}"
    );
    assert_eq!(
        rows[1],
        "2026-11,zeta,fmt,EUR,sales,1000,1,10.01,0.00,10.01,1.00,9.01,,,,"
    );
    assert_eq!(
        rows[2],
        "2026-11,zeta,fmt,EUR,sales,2000,1,10.01,0.00,10.01,2.00,8.01,,,,"
    );
    assert!(rows.iter().all(|r| !r.contains("acme")), "{csv}");

    // Bad months and formats are coded.
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/payouts?month=2026-13",
        Some(&zeta),
        None,
    );
    assert_eq!((status, code(&doc)), (400, "SB1489"), "{doc}");
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/payouts?month=2026-11&format=xml",
        Some(&zeta),
        None,
    );
    assert_eq!((status, code(&doc)), (400, "SB1382"), "{doc}");
    let (status, _) = send(&server, "get", "/api/v1/payouts?month=2026-11", None, None);
    assert_eq!(status, 401);
}

fn a_dispute_opened_and_resolved_adjusts_that_months_report_and_is_audited() {
    let (_tmp, server) = serve_market(&["lint"], true);
    let admin = token(&server, "root", "admin", None);
    let acme = token(&server, "acme", "account", None);
    let ann = token(&server, "ann", "account", None);
    assert_eq!(
        price(
            &server,
            &acme,
            "lint",
            json!({"model": "paid", "price": {"amount": 4900, "currency": "EUR"}})
        )
        .0,
        200
    );
    // Nothing sold yet: nothing to dispute.
    let open = |t: &str| {
        send(
            &server,
            "post",
            "/api/v1/disputes",
            Some(t),
            Some(json!({"plugin": "lint", "note": "a sale is missing"})),
        )
    };
    let (status, doc) = open(&acme);
    assert_eq!((status, code(&doc)), (400, "SB1489"), "{doc}");
    assert_eq!(
        buy(
            &server,
            &ann,
            "lint",
            json!({"payment_method": "test-approve"})
        )
        .0,
        200
    );
    // Not ann's to dispute (she sold nothing); acme's is.
    assert_eq!(open(&ann).0, 400);
    let (status, doc) = open(&acme);
    assert_eq!(status, 200, "{doc}");
    let id = doc["id"].as_str().unwrap().to_owned();
    let month = crate::market::Month::of(super::super::market::day_of(tokens::now())).to_string();
    let report = |t: &str| {
        let (status, doc) = send(
            &server,
            "get",
            &format!("/api/v1/payouts?month={month}"),
            Some(t),
            None,
        );
        assert_eq!(status, 200, "{doc}");
        doc["report"].clone()
    };
    assert_eq!(report(&acme)["open_disputes"], json!([id]));
    let (_, doc) = send(&server, "get", "/api/v1/disputes", Some(&acme), None);
    assert_eq!(doc["disputes"][0]["id"], id.as_str());
    let (_, doc) = send(&server, "get", "/api/v1/disputes", Some(&ann), None);
    assert_eq!(doc["disputes"], json!([]));

    // Resolved by an admin only, once, with an adjustment: its own line, no fee.
    let resolve = |t: &str, body: serde_json::Value| {
        send(
            &server,
            "post",
            &format!("/api/v1/disputes/{id}/resolve"),
            Some(t),
            Some(body),
        )
    };
    let body = json!({"adjustment": {"amount": 1200, "currency": "EUR"}, "note": "found it"});
    assert_eq!(resolve(&acme, body.clone()).0, 403);
    let (status, doc) = resolve(&admin, body.clone());
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["resolved_by"], "root");
    let (status, doc) = resolve(&admin, body);
    assert_eq!((status, code(&doc)), (409, "SB1488"), "{doc}");
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/disputes/dispute-nope/resolve",
        Some(&admin),
        Some(json!({"note": "x"})),
    );
    assert_eq!((status, code(&doc)), (404, "SB1487"), "{doc}");

    let r = report(&acme);
    assert_eq!(r["open_disputes"], json!([]));
    let lines = r["lines"].as_array().unwrap();
    let adjustment = lines.iter().find(|l| l["kind"] == "adjustment").unwrap();
    assert_eq!(
        (
            adjustment["gross"].as_i64(),
            adjustment["fees"].as_i64(),
            adjustment["net"].as_i64()
        ),
        (Some(1200), Some(0), Some(1200))
    );
    assert!(
        adjustment["note"].as_str().unwrap().contains("found it"),
        "{adjustment}"
    );
    let sales = lines.iter().find(|l| l["kind"] == "sales").unwrap();
    assert_eq!(
        (sales["gross"].as_i64(), sales["fees"].as_i64()),
        (Some(4900), Some(735))
    );
    let total = &r["publishers"][0];
    assert_eq!(total["net"].as_i64(), Some(4900 - 735 + 1200));

    // Both are in the audit trail, in order.
    let actions = audit_actions(&server, &admin, "plugin:lint");
    let pos = |a: &str| {
        actions
            .iter()
            .position(|x| x == a)
            .unwrap_or_else(|| panic!("{a} not in {actions:?}"))
    };
    // Newest first.
    assert!(pos("dispute.resolve") < pos("dispute.open"));
    assert!(pos("dispute.open") < pos("market.purchase"));
    assert!(pos("market.purchase") < pos("plugin.pricing"));
}

/// POSTs a form to `path`: status and body.
fn post_form(server: &Server, path: &str, form: &str) -> (u16, String) {
    let mut resp = agent()
        .post(format!("{}{path}", server.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form.as_bytes())
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

fn the_dashboard_shows_plugins_prices_downloads_per_day_and_payouts_to_their_publisher() {
    let (_tmp, server) = serve_market(&["lint", "fmt"], true);
    let acme = token(&server, "acme", "account", None);
    let ann = token(&server, "ann", "account", None);
    assert_eq!(
        price(
            &server,
            &acme,
            "lint",
            json!({"model": "paid", "price": {"amount": 4900, "currency": "EUR"}})
        )
        .0,
        200
    );
    assert_eq!(
        buy(
            &server,
            &ann,
            "lint",
            json!({"payment_method": "test-approve"})
        )
        .0,
        200
    );
    let lint = download_path(&server, "lint");
    for _ in 0..3 {
        assert_eq!(get_with(&server, &lint, Some(&ann)).0, 200);
    }
    let today = super::super::market::day_of(tokens::now()).to_string();
    let counts = db(&server).store().daily_counts("lint", &today).unwrap();
    assert_eq!(counts, vec![(today.clone(), 3)]);

    // The plugin page shows the price and how to buy; owners link to their dashboards.
    let (status, html) = raw(&server, "/plugins/lint");
    assert_eq!(status, 200);
    assert!(html.contains("49.00 EUR"), "{html}");
    assert!(
        html.contains("switchboard buy lint --registry marketplace"),
        "{html}"
    );
    assert!(html.contains("href=\"/publishers/acme\""), "{html}");
    let (_, html) = raw(&server, "/plugins/fmt");
    assert!(html.contains(">Free<"), "{html}");

    // A review of lint, approved: the dashboard shows the damped rating beside each plugin,
    // and the certification state of its newest release (none submitted here).
    let (_, details) = get_json(&server, "/api/v1/plugins/lint");
    let version = details["versions"][0]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, review) = send(
        &server,
        "post",
        "/api/v1/plugins/lint/reviews",
        Some(&ann),
        Some(json!({ "version": version, "rating": 5, "text": "does what it says" })),
    );
    assert_eq!(status, 201, "{review}");
    let moderator = token(&server, "mod", "moderate", None);
    let (status, doc) = send(
        &server,
        "post",
        &format!(
            "/api/v1/moderation/reviews/{}/approve",
            review["id"].as_i64().unwrap()
        ),
        Some(&moderator),
        Some(json!({ "revision": db(&server)
            .store()
            .review(review["id"].as_i64().unwrap())
            .unwrap()
            .unwrap()
            .revision() })),
    );
    assert_eq!(status, 200, "{doc}");

    let (status, html) = raw(&server, "/publishers/acme");
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/plugins/fmt\""), "{html}");
    assert!(
        html.contains("<td class=\"rating\">3.33 from 1 review</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td class=\"rating\">no reviews yet</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td class=\"certification\">not submitted</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td class=\"price\">49.00 EUR</td>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("<title>{today}: 3</title>")),
        "{html}"
    );
    assert!(
        html.contains("3 downloads of lint in the last 30 days"),
        "{html}"
    );
    assert!(
        !html.contains("payouts-month"),
        "no payouts without a token"
    );

    // Payouts: with acme's token only.
    let month = crate::market::Month::of(super::super::market::day_of(tokens::now())).to_string();
    let form = |t: &str, m: &str| format!("token={t}&month={m}");
    let (status, html) = post_form(&server, "/publishers/acme", &form(&acme, &month));
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<td class=\"net\">41.65 EUR</td>"), "{html}");
    let (status, html) = post_form(&server, "/publishers/acme", &form(&ann, &month));
    assert_eq!(status, 403, "{html}");
    assert!(!html.contains("41.65"), "{html}");
    let (status, html) = post_form(&server, "/publishers/acme", &form("sbt_x_y", &month));
    assert_eq!(status, 401, "{html}");
    assert!(html.contains("SB1385"), "{html}");
    let (status, html) = post_form(&server, "/publishers/acme", &form(&acme, "2026-13"));
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("SB1346"), "{html}");
    let (status, _) = raw(&server, "/publishers/Not%20An%20Account");
    assert_eq!(status, 400);
}

on_both_backends!(
    the_dashboard_shows_plugins_prices_downloads_per_day_and_payouts_to_their_publisher,
    a_paid_plugin_is_refused_without_an_entitlement_and_served_with_one,
    a_server_without_a_payment_provider_sells_nothing,
    a_payout_report_for_a_month_whose_rate_changed_mid_month_is_checked_line_by_line,
    a_dispute_opened_and_resolved_adjusts_that_months_report_and_is_audited,
);
