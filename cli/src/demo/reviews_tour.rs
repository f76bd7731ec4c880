//! The demo's reviews step (SPEC S9.4), on the registry server the server tour started: a
//! user reviews hello, the review waits for moderation (not counted), a moderator approves
//! it, and the rating shown — the damped average of approved reviews — moves; the decision
//! is in the server's audit trail. Each claim is checked against the server's answers.

use anyhow::Result;
use serde_json::{json, Value};
use switchboard_registry::server::{tokens, Database, Server};

use super::Report;

/// Sends `body` (if any) to `url` with `token`: status and JSON answer.
fn send(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let bearer = token.map(|t| format!("Bearer {t}"));
    let result = if method == "POST" {
        let mut req = agent.post(url).header("Content-Type", "application/json");
        if let Some(b) = &bearer {
            req = req.header("Authorization", b.as_str());
        }
        req.send(body.map(Value::to_string).unwrap_or_default().as_bytes())
    } else {
        let mut req = agent.get(url);
        if let Some(b) = &bearer {
            req = req.header("Authorization", b.as_str());
        }
        req.call()
    };
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn rating(url: &str) -> (f64, u64) {
    let (_, doc) = send(
        "GET",
        &format!("{url}/api/v1/plugins/hello/reviews"),
        None,
        None,
    );
    (
        doc["rating"]["average"].as_f64().unwrap_or(-1.0),
        doc["rating"]["count"].as_u64().unwrap_or(u64::MAX),
    )
}

/// Runs the step against `server` (hello is listed on it), making its tokens in `db`.
pub(super) fn run(r: &mut Report<'_>, server: &Server, db: &Database) -> Result<()> {
    let url = server.url();
    let reviewer = tokens::create(db, "ada", "yank".parse()?, None)?.token;
    let moderator = tokens::create(db, "mod", "moderate".parse()?, None)?.token;
    let admin = tokens::create(db, "operator", "admin".parse()?, None)?.token;
    let (_, hello) = send("GET", &format!("{url}/api/v1/plugins/hello"), None, None);
    let version = hello["latest"].as_str().unwrap_or("0.0.0").to_owned();

    let before = rating(&url);
    let (written, review) = send(
        "POST",
        &format!("{url}/api/v1/plugins/hello/reviews"),
        Some(&reviewer),
        Some(&json!({ "version": version, "rating": 5, "text": "Says hello, reliably." })),
    );
    let pending = rating(&url);
    let (_, queue) = send(
        "GET",
        &format!("{url}/api/v1/moderation/reviews"),
        Some(&moderator),
        None,
    );
    let queued = queue["reviews"][0]["id"] == review["id"];
    // The moderator approves the revision they read in the queue.
    let (approved, _) = send(
        "POST",
        &format!("{url}/api/v1/moderation/reviews/{}/approve", review["id"]),
        Some(&moderator),
        Some(&json!({ "revision": queue["reviews"][0]["revision"] })),
    );
    let after = rating(&url);
    let page = ureq::get(&format!("{url}/plugins/hello"))
        .call()
        .ok()
        .and_then(|mut resp| resp.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let (_, trail) = send(
        "GET",
        &format!("{url}/api/v1/audit?subject=plugin:hello"),
        Some(&admin),
        None,
    );
    let audited = trail["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["actor"] == "mod" && e["action"] == "review.approve");
    let ok = written == 201
        && review["state"] == "pending"
        && before == (3.0, 0)
        && pending == (3.0, 0)
        && queued
        && approved == 200
        && after == (3.33, 1)
        && page.contains(r#"<strong id="rating-average">3.33</strong>"#)
        && audited;
    r.say(
        "Marketplace: a review of hello waits for moderation, a moderator approves it, and the rating shown moves (damped, so one 5-star review makes 3.33, not 5)",
        ok,
        format!(
            "POST /api/v1/plugins/hello/reviews (ada, 5 stars, hello@{version}) → {written}, {}\n\
             rating before: {:.2} from {} reviews; while pending: {:.2} from {}\n\
             POST /api/v1/moderation/reviews/{}/approve (scope moderate) → {approved}\n\
             rating after: {:.2} from {} (shown on {url}/plugins/hello); audited: review.approve by mod",
            review["state"].as_str().unwrap_or("?"),
            before.0,
            before.1,
            pending.0,
            pending.1,
            review["id"],
            after.0,
            after.1,
        ),
    )?;
    Ok(())
}
