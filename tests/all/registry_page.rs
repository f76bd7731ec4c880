//! The registry's web page in a real headless Chromium, driven over WebDriver (chromedriver,
//! with `fantoccini`): a live server on 127.0.0.1 with real signed packages published to it;
//! search from the home page, open a plugin, see its trust badge and versions; reach the
//! search box with the keyboard and see its focus; no horizontal overflow at 360 px; a
//! hostile README stays inert. Screenshots of the pages are saved under
//! `target/browser-screenshots/` (the path is printed).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test fails, saying so; outside CI (`CI` unset) `SWITCHBOARD_SKIP_BROWSER_TESTS=1` skips it.
//! `SWITCHBOARD_CHROMEDRIVER` and `SWITCHBOARD_CHROMIUM` name other binaries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use switchboard_host::package::build;
use switchboard_registry::format::{Channel, Yanked};
use switchboard_registry::publish::{publish, publish_unverified, Expiries, PublishOptions};
use switchboard_registry::server::{parse_listen, Server, ServerOptions};
use switchboard_tests::packages::{example_package, files, keys, manifest, sign, workspace, write};

/// Set (outside CI) to skip the browser tests on a machine without Chromium.
pub(crate) const SKIP_VAR: &str = "SWITCHBOARD_SKIP_BROWSER_TESTS";

/// The longest any one wait for the page may take before the test fails (a bound, not a
/// pause: every wait returns as soon as its condition holds).
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A README meant to run script three ways; the page must show it as text.
const HOSTILE_README: &str = "# wordcount\n\n<script>window.__xss = 1</script>\n\n\
    <img src=x onerror=\"window.__xss = 2\">\n\n[click me](javascript:window.__xss=3)\n";

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver and the Chromium it drives, if installed.
pub(crate) fn browser() -> Option<(PathBuf, PathBuf)> {
    let named =
        |var: &str| std::env::var_os(var).map(|p| Some(PathBuf::from(p)).filter(|p| p.is_file()));
    let driver = named("SWITCHBOARD_CHROMEDRIVER").unwrap_or_else(|| on_path("chromedriver"))?;
    // Debian's /usr/bin/chromium is a shell wrapper; the binary itself starts faster.
    let chromium = named("SWITCHBOARD_CHROMIUM").unwrap_or_else(|| {
        Some(PathBuf::from("/usr/lib/chromium/chromium"))
            .filter(|p| p.is_file())
            .or_else(|| on_path("chromium"))
    })?;
    Some((driver, chromium))
}

/// chromedriver on a free 127.0.0.1 port, killed when dropped.
pub(crate) struct Driver {
    child: Child,
    pub(crate) url: String,
}

impl Driver {
    pub(crate) fn start(binary: &Path) -> Result<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        // It says when it listens; reading that line is the synchronisation.
        let stdout = child.stdout.take().context("chromedriver's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("started successfully") => break,
                Some(Ok(line)) => seen.push(line),
                _ => {
                    let _ = child.kill();
                    bail!(
                        "chromedriver stopped before listening: {}",
                        seen.join(" | ")
                    );
                }
            }
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("browser-screenshots")
}

/// A server with hello and wordcount (real, signed; wordcount's README hostile) and a
/// plugin of three releases, one yanked and one beta.
fn serve(tmp: &Path) -> Server {
    let options = ServerOptions::new(tmp.join("server"), parse_listen("127.0.0.1:0").unwrap());
    let server = Server::start(&options).unwrap();
    let packages = tmp.join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let k = keys(&packages);
    let d = server.data_dir();
    let hello = example_package("hello", &packages);
    sign(&hello, &k);
    publish(&d.registry, &d.keys, &hello, &PublishOptions::default()).unwrap();
    let mut wc_files = files("wordcount");
    wc_files.insert("README.md".into(), HOSTILE_README.as_bytes().to_vec());
    let built = build(&manifest("wordcount"), &wc_files).unwrap();
    let wordcount = write(&packages, &built.file_name, &built.bytes);
    sign(&wordcount, &k);
    publish(&d.registry, &d.keys, &wordcount, &PublishOptions::default()).unwrap();
    let releases = [
        ("1.0.0", Channel::Ga, true),
        ("1.1.0", Channel::Ga, false),
        ("2.0.0-beta.1", Channel::Beta, false),
    ]
    .into_iter()
    .map(|(version, channel, yanked)| {
        let bytes = format!("legacy-tool {version}").into_bytes();
        let mut l = switchboard_registry::testing::line("legacy-tool", version);
        l.sha256 = switchboard_registry::sha256_hex(&bytes);
        l.size = bytes.len() as u64;
        l.channel = channel;
        l.categories = vec!["examples".into()];
        l.description = "An old tool with a long history of releases".into();
        l.yanked = yanked.then(|| {
            serde_json::from_value::<Yanked>(json!({"reason": "corrupts its state file"})).unwrap()
        });
        (l, bytes)
    })
    .collect();
    publish_unverified(&d.registry, &d.keys, releases, &Expiries::default()).unwrap();
    server
}

pub(crate) async fn js(c: &Client, script: &str) -> Result<serde_json::Value> {
    Ok(c.execute(script, Vec::new()).await?)
}

pub(crate) async fn save(c: &Client, dir: &Path, name: &str) -> Result<()> {
    let png = c.screenshot().await?;
    ensure!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(dir.join(name), png)?;
    Ok(())
}

pub(crate) async fn no_horizontal_overflow(c: &Client, what: &str) -> Result<()> {
    let v = js(
        c,
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth];",
    )
    .await?;
    let n = |i: usize| v[i].as_u64().unwrap_or(u64::MAX);
    ensure!(
        n(2) <= 400,
        "{what}: the window is {} px wide, not narrow",
        n(2)
    );
    ensure!(
        n(0) <= n(1),
        "{what}: the page is {} px wide in a {} px viewport (horizontal overflow)",
        n(0),
        n(1)
    );
    Ok(())
}

async fn tour(c: &Client, base: &str, shots: &Path) -> Result<()> {
    let wait = || c.wait().at_most(WAIT);
    c.set_window_size(1280, 900).await?;

    // Home: the search box is reachable by keyboard, right after the skip link and the
    // site's navigation, and shows where the focus is.
    c.goto(&format!("{base}/")).await?;
    ensure!(c.title().await?.contains("Find plugins"), "home title");
    save(c, shots, "home.png").await?;
    let tab = || {
        KeyActions::new("keyboard".into())
            .then(KeyAction::Down {
                value: Key::Tab.into(),
            })
            .then(KeyAction::Up {
                value: Key::Tab.into(),
            })
    };
    c.perform_actions(tab()).await?;
    let first = js(c, "return document.activeElement.className;").await?;
    ensure!(
        first == "skip",
        "the first Tab lands on {first}, not the skip link"
    );
    let mut presses = 1;
    while js(c, "return document.activeElement.id;").await? != "q" {
        presses += 1;
        ensure!(presses <= 10, "ten Tabs never reached the search box");
        c.perform_actions(tab()).await?;
    }
    let outline = js(
        c,
        "return getComputedStyle(document.activeElement).outlineStyle;",
    )
    .await?;
    ensure!(outline != "none", "the focused search box shows no outline");

    // Search by typing into the focused box and pressing Enter.
    c.active_element()
        .await?
        .send_keys(&format!("hello{}", char::from(Key::Enter)))
        .await?;
    wait().for_element(Locator::Id("results-heading")).await?;
    ensure!(c.current_url().await?.path() == "/search", "search URL");
    let hits = c.find_all(Locator::Css(".cards .card")).await?;
    ensure!(hits.len() == 1, "{} hits for hello", hits.len());
    save(c, shots, "search.png").await?;

    // Open the plugin: its badge and its versions.
    c.find(Locator::Css(".cards a[href='/plugins/hello']"))
        .await?
        .click()
        .await?;
    wait().for_element(Locator::Css("article.plugin")).await?;
    let h1 = c.find(Locator::Css("h1")).await?.text().await?;
    ensure!(h1.starts_with("hello"), "details heading {h1}");
    let badge = c
        .find(Locator::Css(".plugin-head .badge"))
        .await?
        .text()
        .await?;
    ensure!(badge == "Self-signed", "badge {badge}");
    let rows = c.find_all(Locator::Css("table.versions tbody tr")).await?;
    ensure!(rows.len() == 1, "{} version rows", rows.len());
    let install = c
        .find(Locator::Css("pre.command code"))
        .await?
        .text()
        .await?;
    ensure!(
        install.contains("switchboard install hello"),
        "install command {install}"
    );
    // Published into the directory, not uploaded: the checks section says there is no record.
    let checks = c
        .find(Locator::Css("section[aria-labelledby='checks']"))
        .await?
        .text()
        .await?;
    ensure!(
        checks.contains("no record of checks for version"),
        "checks section {checks}"
    );
    save(c, shots, "details.png").await?;

    // A plugin with a yanked release and a beta.
    c.goto(&format!("{base}/plugins/legacy-tool")).await?;
    let rows = c.find_all(Locator::Css("table.versions tbody tr")).await?;
    ensure!(rows.len() == 3, "{} legacy-tool rows", rows.len());
    let yanked = c.find(Locator::Css("tr.yanked")).await?.text().await?;
    ensure!(
        yanked.contains("Yanked: corrupts its state file"),
        "{yanked}"
    );
    save(c, shots, "details-versions.png").await?;

    // The hostile README is text: nothing ran, no element was made from it.
    c.goto(&format!("{base}/plugins/wordcount")).await?;
    let inert = js(
        c,
        "return [window.__xss === undefined, document.querySelectorAll('.readme script, .readme img').length, \
         Array.from(document.querySelectorAll('.readme a')).map(a => a.getAttribute('href')), \
         document.querySelector('.readme').textContent];",
    )
    .await?;
    ensure!(inert[0] == true, "README script ran: {inert}");
    ensure!(inert[1] == 0, "README made elements: {inert}");
    ensure!(
        inert[2]
            .as_array()
            .is_some_and(|a| a.iter().all(|h| h == "#unsafe-link-removed")),
        "README links: {inert}"
    );
    ensure!(
        inert[3].as_str().is_some_and(|t| t.contains("<script>")),
        "the README's script is not shown as text: {inert}"
    );

    // A phone: 360 px wide, nothing overflows sideways.
    c.set_window_size(360, 800).await?;
    for (path, shot) in [
        ("/", Some("home-360.png")),
        (
            "/search?q=e&trust=self-signed&channel=beta",
            Some("search-360.png"),
        ),
        ("/plugins/hello", Some("details-360.png")),
        ("/plugins/legacy-tool", None),
        ("/plugins/wordcount", None),
        ("/no/such/page", None),
    ] {
        c.goto(&format!("{base}{path}")).await?;
        no_horizontal_overflow(c, path).await?;
        if let Some(shot) = shot {
            save(c, shots, shot).await?;
        }
    }
    Ok(())
}

#[test]
#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "where the screenshots are, and why the test skipped, in the test's output"
)]
fn the_web_page_works_in_headless_chromium() {
    let Some((driver, chromium)) = browser() else {
        if std::env::var_os(SKIP_VAR).is_some() && std::env::var_os("CI").is_none() {
            eprintln!("skipped: no chromium/chromedriver, and {SKIP_VAR} is set");
            return;
        }
        panic!(
            "the web page's browser test needs Chromium and chromedriver: install Debian's \
             `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`; \
             .ci/run does), or outside CI set {SKIP_VAR}=1 to skip it"
        );
    };
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
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
        let outcome = tour(&client, &server.url(), &shots).await;
        let _ = client.close().await;
        outcome
    });
    println!("screenshots of the web page: {}", shots.display());
    if let Err(e) = result {
        panic!("{e:#}");
    }
}
