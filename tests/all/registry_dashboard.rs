//! The marketplace's pages in a real headless Chromium (as `registry_page`): a paid plugin's
//! page shows its price and how to buy it; its owner's link leads to the publisher
//! dashboard (plugins, prices, a downloads-per-day chart); the payouts form is filled and
//! sent with the keyboard alone, and shows the month's net; nothing overflows sideways at
//! 360 px. Screenshots go to `target/browser-screenshots/` beside the page's own.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use switchboard_registry::publish::{publish, PublishOptions};
use switchboard_registry::server::payments::TestPayments;
use switchboard_registry::server::{open_database, parse_listen, tokens, Server, ServerOptions};
use switchboard_tests::packages::{example_package, keys, sign};

use super::registry_page::{
    browser, js, no_horizontal_overflow, save, screenshot_dir, Driver, SKIP_VAR, WAIT,
};

/// A server selling through the test provider, with hello published, owned by acme, priced
/// 49.00 EUR, bought by ann and downloaded by her twice.
fn serve(tmp: &Path) -> (Server, String) {
    let mut options = ServerOptions::new(tmp.join("server"), parse_listen("127.0.0.1:0").unwrap());
    options.payments = Some(std::sync::Arc::new(TestPayments));
    let server = Server::start(&options).unwrap();
    let packages = tmp.join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let k = keys(&packages);
    let d = server.data_dir();
    let hello = example_package("hello", &packages);
    sign(&hello, &k);
    publish(&d.registry, &d.keys, &hello, &PublishOptions::default()).unwrap();
    let db = open_database(&d.root).unwrap();
    assert!(db.store().claim_new("hello", "acme", 1).unwrap());
    let acme = tokens::create(&db, "acme", "account".parse().unwrap(), None)
        .unwrap()
        .token;
    let ann = tokens::create(&db, "ann", "account".parse().unwrap(), None)
        .unwrap()
        .token;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let api = |token: &str, path: &str, body: serde_json::Value| {
        let mut resp = agent
            .post(format!("{}{path}", server.url()))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = resp.status().as_u16();
        let doc: serde_json::Value =
            serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap();
        assert_eq!(status, 200, "{path}: {doc}");
        doc
    };
    api(
        &acme,
        "/api/v1/plugins/hello/pricing",
        json!({"model": "paid", "price": {"amount": 4900, "currency": "EUR"}}),
    );
    api(
        &ann,
        "/api/v1/plugins/hello/purchase",
        json!({"payment_method": "test-approve"}),
    );
    let details: serde_json::Value = serde_json::from_slice(
        &agent
            .get(format!("{}/api/v1/plugins/hello", server.url()))
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap(),
    )
    .unwrap();
    let download = details["versions"][0]["download"].as_str().unwrap();
    for _ in 0..2 {
        let resp = agent
            .get(format!("{}{download}", server.url()))
            .header("Authorization", format!("Bearer {ann}"))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    (server, acme)
}

fn tab() -> KeyActions {
    KeyActions::new("keyboard".into())
        .then(KeyAction::Down {
            value: Key::Tab.into(),
        })
        .then(KeyAction::Up {
            value: Key::Tab.into(),
        })
}

async fn tour(c: &Client, base: &str, acme: &str, shots: &Path) -> Result<()> {
    let wait = || c.wait().at_most(WAIT);
    c.set_window_size(1280, 900).await?;

    // The paid plugin's page: its price, and buying before installing.
    c.goto(&format!("{base}/plugins/hello")).await?;
    let price = c.find(Locator::Id("price")).await?.text().await?;
    ensure!(price == "49.00 EUR", "price badge {price}");
    let install = c
        .find(Locator::Css("pre.command code"))
        .await?
        .text()
        .await?;
    ensure!(
        install.contains("switchboard buy hello --registry marketplace"),
        "install commands {install}"
    );
    save(c, shots, "market-plugin-price.png").await?;

    // Its owner's link: the dashboard.
    c.find(Locator::Css("a[href='/publishers/acme']"))
        .await?
        .click()
        .await?;
    wait()
        .for_element(Locator::Css("article.dashboard"))
        .await?;
    let row = c
        .find(Locator::Css("table.plugins tbody tr"))
        .await?
        .text()
        .await?;
    ensure!(
        row.contains("hello") && row.contains("49.00 EUR"),
        "plugin row {row}"
    );
    let chart = js(
        c,
        "const s = document.querySelector('.chart svg'); \
         return [s.getAttribute('role'), s.querySelector('title').textContent, \
                 Array.from(s.querySelectorAll('rect')).filter(r => +r.getAttribute('height') > 0).length];",
    )
    .await?;
    ensure!(chart[0] == "img", "chart role {chart}");
    ensure!(
        chart[1]
            .as_str()
            .is_some_and(|t| t.starts_with("2 downloads of hello")),
        "chart summary {chart}"
    );
    ensure!(chart[2] == 1, "one day with downloads: {chart}");
    save(c, shots, "market-dashboard.png").await?;

    // The payouts form with the keyboard alone: Tab to the token, type it, Tab past the
    // month (already this month), Enter on the button.
    let mut presses = 0;
    while js(c, "return document.activeElement.id;").await? != "token" {
        presses += 1;
        ensure!(presses <= 30, "thirty Tabs never reached the token field");
        c.perform_actions(tab()).await?;
    }
    let outline = js(
        c,
        "return getComputedStyle(document.activeElement).outlineStyle;",
    )
    .await?;
    ensure!(
        outline != "none",
        "the focused token field shows no outline"
    );
    c.active_element().await?.send_keys(acme).await?;
    c.perform_actions(tab()).await?;
    ensure!(
        js(c, "return document.activeElement.id;").await? == "month",
        "Tab from the token does not reach the month"
    );
    c.perform_actions(tab()).await?;
    let focused = js(c, "return document.activeElement.tagName;").await?;
    ensure!(focused == "BUTTON", "then the button, not {focused}");
    c.active_element()
        .await?
        .send_keys(&char::from(Key::Enter).to_string())
        .await?;
    wait().for_element(Locator::Id("payouts-month")).await?;
    let net = c
        .find(Locator::Css("table.payouts td.net"))
        .await?
        .text()
        .await?;
    ensure!(net == "41.65 EUR", "net {net}");
    save(c, shots, "market-dashboard-payouts.png").await?;

    // A phone: nothing overflows sideways.
    c.set_window_size(360, 800).await?;
    for (path, shot) in [
        ("/publishers/acme", "market-dashboard-360.png"),
        ("/plugins/hello", "market-plugin-price-360.png"),
    ] {
        c.goto(&format!("{base}{path}")).await?;
        no_horizontal_overflow(c, path).await?;
        save(c, shots, shot).await?;
    }
    Ok(())
}

#[test]
#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "where the screenshots are, and why the test skipped, in the test's output"
)]
fn the_price_and_the_publisher_dashboard_work_in_headless_chromium() {
    let Some((driver, chromium)) = browser() else {
        if std::env::var_os(SKIP_VAR).is_some() && std::env::var_os("CI").is_none() {
            eprintln!("skipped: no chromium/chromedriver, and {SKIP_VAR} is set");
            return;
        }
        panic!(
            "the marketplace's browser test needs Chromium and chromedriver: install Debian's \
             `chromium` and `chromium-driver`, or outside CI set {SKIP_VAR}=1 to skip it"
        );
    };
    let tmp = tempfile::tempdir().unwrap();
    let (server, acme) = serve(tmp.path());
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let shots = shots.canonicalize().unwrap_or(shots);
    let driver = Driver::start(&driver).unwrap();
    let profile = tmp.path().join("chromium-profile");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result: Result<()> = runtime.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .context("starting a Chromium session")?;
        let outcome = tour(&client, &server.url(), &acme, &shots).await;
        let _ = client.close().await;
        outcome
    });
    println!("screenshots of the marketplace pages: {}", shots.display());
    if let Err(e) = result {
        panic!("{e:#}");
    }
}
