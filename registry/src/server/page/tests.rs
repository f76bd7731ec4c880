//! The web page over real HTTP on 127.0.0.1: every page's status, headers and content,
//! escaping of hostile plugin data, the 404 and 400 pages. (The browser tests, in headless
//! Chromium, are `tests/all/registry_page.rs`.)

use std::collections::BTreeMap;

use super::query::{PageQuery, MAX_PAGE};
use crate::format::{Channel, Deprecated, IndexLine, LineDependency, LineHostApi, Yanked};
use crate::publish::{publish_unverified, Expiries};
use crate::server::{parse_listen, Server, ServerOptions, CONTENT_SECURITY_POLICY};
use switchboard_host::TrustLevel;

/// A package holding `readme` as its README (the page opens packages only to read that).
fn package(readme: Option<&str>) -> Vec<u8> {
    let mut files = BTreeMap::new();
    files.insert("plugin.toml".to_owned(), b"name = \"x\"\n".to_vec());
    if let Some(r) = readme {
        files.insert("README.md".to_owned(), r.as_bytes().to_vec());
    }
    switchboard_host::package::write_archive(&files).unwrap()
}

/// A server over a new data directory with `releases` published (line, README).
fn serve(releases: Vec<(IndexLine, Option<&str>)>) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let options = ServerOptions::new(
        tmp.path().join("data"),
        parse_listen("127.0.0.1:0").unwrap(),
    );
    let server = Server::start(&options).unwrap();
    if !releases.is_empty() {
        let releases = releases
            .into_iter()
            .map(|(mut l, readme)| {
                // Each package distinct, so each release has its own digest.
                let readme =
                    readme.map_or_else(|| format!("# {} {}\n", l.name, l.version), str::to_owned);
                let bytes = package(Some(&readme));
                l.sha256 = crate::sha256_hex(&bytes);
                l.size = bytes.len() as u64;
                (l, bytes)
            })
            .collect();
        let d = server.data_dir();
        publish_unverified(&d.registry, &d.keys, releases, &Expiries::default()).unwrap();
    }
    (tmp, server)
}

fn line(name: &str, version: &str) -> IndexLine {
    crate::testing::line(name, version)
}

struct Page {
    path: String,
    status: u16,
    headers: BTreeMap<String, String>,
    /// The HTML as sent.
    body: String,
    /// The HTML with the escapes of `<`, `>`, `&` and quotes undone, for finding text.
    text: String,
}

fn unescape(html: &str) -> String {
    html.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}

fn get(server: &Server, path: &str) -> Page {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(format!("{}{path}", server.url())).call().unwrap();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp.body_mut().read_to_string().unwrap();
    let text = unescape(&body);
    Page {
        text,
        path: path.to_owned(),
        status: resp.status().as_u16(),
        headers,
        body,
    }
}

/// Checks what every HTML page carries: its type, the CSP and the other headers.
fn assert_html(page: &Page, status: u16) {
    assert_eq!(page.status, status, "{}: {}", page.path, page.body);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        page.headers["content-security-policy"],
        CONTENT_SECURITY_POLICY
    );
    assert!(CONTENT_SECURITY_POLICY.contains("default-src 'none'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(page.body.starts_with("<!doctype html>"), "{}", page.body);
    assert!(page.body.contains("<main id=\"main\""));
    assert!(!page.body.contains("<script"), "{}", page.body);
}

fn the_catalog() -> Vec<(IndexLine, Option<&'static str>)> {
    let mut hello1 = line("hello", "0.1.0");
    hello1.yanked = Some(Yanked {
        reason: "greets twice".into(),
    });
    let mut hello2 = line("hello", "0.2.0");
    hello2.description = "Says hello to whoever asks".into();
    hello2.categories = vec!["Greetings".into()];
    hello2.keywords = vec!["greeting".into()];
    hello2.capabilities = vec!["fs.read:/data/**".into(), "kv".into()];
    hello2.dependencies = vec![LineDependency::new("wordcount", "^1.2", false)];
    hello2.host_api = Some(LineHostApi::new("switchboard-demo", "^0.1"));
    hello2.published = "2026-03-01T00:00:00Z".into();
    hello2.repository = Some("https://example.com/hello".into());
    hello2.maintainers = vec!["Ada Lovelace <ada@example.com>".into()];
    let mut hello3 = line("hello", "0.3.0-beta.1");
    hello3.channel = Channel::Beta;
    let mut wordcount = line("wordcount", "1.2.0");
    wordcount.categories = vec!["Text".into()];
    wordcount.trust = TrustLevel::SelfSigned;
    wordcount.description = "Counts words".into();
    wordcount.published = "2026-02-01T00:00:00Z".into();
    let mut relay = line("relay", "2.0.0");
    relay.categories = vec!["Network".into(), "text".into()];
    relay.capabilities = vec!["net.connect:*.example.com:443".into()];
    relay.trust = TrustLevel::Certified;
    relay.deprecated = Some(Deprecated {
        successor: Some("hello".into()),
        message: None,
    });
    vec![
        (hello1, None),
        (
            hello2,
            Some("# Hello\n\nA **friendly** plugin.\n\n## Usage\n\nRun it.\n"),
        ),
        (hello3, None),
        (wordcount, None),
        (relay, None),
    ]
}

#[test]
fn the_home_page_lists_categories_and_recent_plugins() {
    let (_tmp, server) = serve(the_catalog());
    let page = get(&server, "/");
    assert_html(&page, 200);
    let b = &page.text;
    assert!(b.contains("<label for=\"q\">"), "{b}");
    assert!(b.contains("3 plugins published here."), "{b}");
    assert!(b.contains("href=\"/categories/Greetings\""), "{b}");
    // `Text` and `text` are one category of two plugins.
    assert!(
        b.to_lowercase()
            .contains(">text <span class=\"count\">(2)</span>"),
        "{b}"
    );
    // Most recently published first.
    let (hello, wordcount) = (
        b.find("/plugins/hello").unwrap(),
        b.find("/plugins/wordcount").unwrap(),
    );
    assert!(hello < wordcount, "{b}");
    assert!(b.contains("badge-certified"), "{b}");
    let (_tmp2, empty) = serve(Vec::new());
    let page = get(&empty, "/");
    assert_html(&page, 200);
    assert!(
        page.body.contains("Nothing is published yet"),
        "{}",
        page.body
    );
}

#[test]
fn search_filters_sorts_and_pages() {
    let (_tmp, server) = serve(the_catalog());
    let names = |path: &str| -> Vec<String> {
        let page = get(&server, path);
        assert_html(&page, 200);
        page.body
            .match_indices("<h3 class=\"card-title\"><a href=\"/plugins/")
            .map(|(i, m)| {
                let rest = &page.body[i + m.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    };
    assert_eq!(names("/search?q=hello"), ["hello"]);
    assert_eq!(names("/search?q=words"), ["wordcount"]);
    assert_eq!(names("/search"), ["hello", "relay", "wordcount"]);
    assert_eq!(
        names("/search?sort=updated"),
        ["hello", "wordcount", "relay"]
    );
    assert_eq!(names("/search?category=text"), ["relay", "wordcount"]);
    assert_eq!(names("/categories/Text"), ["relay", "wordcount"]);
    assert_eq!(names("/search?capability=net.connect"), ["relay"]);
    assert_eq!(
        names("/search?capability=fs.read%3A%2Fdata%2F**"),
        ["hello"]
    );
    assert_eq!(names("/search?trust=verified"), ["hello", "relay"]);
    assert_eq!(names("/search?trust=certified"), ["relay"]);
    assert_eq!(names("/search?maintainer=lovelace"), ["hello"]);
    assert_eq!(
        names("/search?host_api=switchboard-demo%400.1.5"),
        ["hello", "relay", "wordcount"]
    );
    assert_eq!(
        names("/search?host_api=other%401.0.0"),
        ["relay", "wordcount"]
    );
    // The form's blank fields mean "any".
    assert_eq!(
        names("/search?q=&category=&capability=&trust=&channel=&host_api=&maintainer=&sort="),
        ["hello", "relay", "wordcount"]
    );
    // Betas only when asked for.
    let page = get(&server, "/search?q=hello&channel=beta");
    assert!(page.body.contains("0.3.0-beta.1"), "{}", page.body);
    assert!(!get(&server, "/search?q=hello")
        .body
        .contains("0.3.0-beta.1"));
    // The filters show open when one is in use.
    assert!(!get(&server, "/search?q=hello")
        .text
        .contains("<details class=\"more\" open>"));
    assert!(get(&server, "/search?q=hello&trust=verified")
        .text
        .contains("<details class=\"more\" open>"));
    // The chosen filters stay chosen in the form.
    let page = get(&server, "/search?trust=verified&sort=name");
    assert!(
        page.body.contains("<option value=\"verified\" selected>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<option value=\"name\" selected>"),
        "{}",
        page.body
    );
}

#[test]
fn pages_of_results_link_to_each_other_up_to_the_maximum() {
    let lines: Vec<(IndexLine, Option<&str>)> = (0..45)
        .map(|i| (line(&format!("plugin-{i:02}"), "1.0.0"), None))
        .collect();
    let (_tmp, server) = serve(lines);
    let page = get(&server, "/search?q=plugin&sort=name");
    assert_html(&page, 200);
    assert_eq!(page.body.matches("class=\"card\"").count(), 20);
    assert!(page.body.contains("page 1 of 3"), "{}", page.body);
    assert!(
        page.text
            .contains("href=\"/search?q=plugin&sort=name&page=2\""),
        "{}",
        page.body
    );
    let last = get(&server, "/search?q=plugin&sort=name&page=3");
    assert_eq!(last.body.matches("class=\"card\"").count(), 5);
    assert!(last.body.contains("rel=\"prev\""));
    assert!(!last.body.contains("rel=\"next\""));
    assert!(last.body.contains("/plugins/plugin-44"));
    // Past the last page: empty, not an error; past the hard maximum: refused.
    assert_eq!(get(&server, "/search?page=4").status, 200);
    let over = get(&server, &format!("/search?page={}", MAX_PAGE + 1));
    assert_html(&over, 400);
    assert!(over.body.contains("SB1472"), "{}", over.body);
}

#[test]
fn the_plugin_page_shows_versions_trust_capabilities_and_the_readme() {
    let (_tmp, server) = serve(the_catalog());
    let page = get(&server, "/plugins/hello");
    assert_html(&page, 200);
    let b = &page.text;
    for want in [
        "<h1>hello <span class=\"version\">0.2.0</span></h1>",
        "badge-verified",
        "Verified publisher",
        "<code>TEST0001</code>",
        // Capabilities in words, beside the request.
        "read files matching /data/** <code>fs.read:/data/**</code>",
        "keep data in its own key-value store",
        // Dependencies (linked: it is published here) and compatibility in words.
        "<a href=\"/plugins/wordcount\">wordcount</a> >=1.2.0, <2.0.0",
        "<code>switchboard-demo</code> >=0.1.0, <0.2.0",
        // Every version, the yanked one marked with its reason, channels named.
        "<tr class=\"yanked\">",
        "<strong>Yanked:</strong> greets twice",
        "0.3.0-beta.1",
        "<span class=\"channel\">beta</span> 0.3.0-beta.1",
        "href=\"/index/packages/",
        // The install commands, with this server's address.
        &format!(
            "switchboard registry add marketplace {}/index",
            server.url()
        ),
        "switchboard install hello",
        // The README, rendered, its headings under the page's own.
        "<h3>Hello</h3>",
        "<strong>friendly</strong>",
        "<h4>Usage</h4>",
        "href=\"https://example.com/hello\"",
        "href=\"/categories/Greetings\"",
    ] {
        assert!(b.contains(want), "missing {want:?} in\n{b}");
    }
    // Headings in order: one h1, then h2s.
    assert_eq!(b.matches("<h1").count(), 1);
    let relay = get(&server, "/plugins/relay");
    assert_html(&relay, 200);
    assert!(
        relay.body.contains("<strong>Deprecated:</strong>"),
        "{}",
        relay.body
    );
    assert!(
        relay
            .body
            .contains("Use\n    <a href=\"/plugins/hello\">hello</a> instead."),
        "{}",
        relay.body
    );
    assert!(relay
        .body
        .contains("connect over the network to *.example.com:443"));
    assert!(relay.body.contains("badge-certified"));
}

/// Records an upload of `name@version` in `state` with `checks` (as publishing does).
fn record_upload(
    db: &crate::server::Database,
    id: &str,
    name: &str,
    version: &str,
    state: crate::server::uploads::UploadState,
    checks: &[(&str, crate::server::uploads::Outcome, Option<&str>, &str)],
) {
    use crate::server::uploads::{self, CheckResult, Upload, UploadState};
    let upload = Upload {
        id: id.into(),
        account: "acme".into(),
        name: name.into(),
        version: version.into(),
        channel: "ga".into(),
        sha256: "0".repeat(64),
        size: 1,
        state: UploadState::Checking,
        reason: None,
        created: crate::server::tokens::now(),
        decided: None,
        decided_by: None,
        checks: Vec::new(),
    };
    uploads::insert(db, &upload).unwrap();
    let checks: Vec<CheckResult> = checks
        .iter()
        .map(|(n, o, code, m)| CheckResult::new(n, *o, code.map(str::to_owned), (*m).to_owned()))
        .collect();
    uploads::finish(db, id, &checks, state, None, None).unwrap();
}

#[test]
fn the_plugin_page_shows_every_owner_the_shown_release_checks_and_the_deprecation_message() {
    use crate::server::uploads::{Outcome, UploadState};
    let mut catalog = the_catalog();
    for (l, _) in &mut catalog {
        if l.name == "wordcount" {
            l.deprecated = Some(Deprecated {
                successor: None,
                message: Some("Use <b>tally</b> & friends".into()),
            });
        }
    }
    let (tmp, server) = serve(catalog);
    let db = crate::server::open_database(&tmp.path().join("data")).unwrap();
    crate::server::accounts::claim_new(&db, "hello", "acme").unwrap();
    crate::server::accounts::add_owner(&db, "hello", "bob", "acme").unwrap();
    crate::server::accounts::add_owner(&db, "hello", "carol", "acme").unwrap();
    // The shown release (0.2.0) was listed after its checks; an older upload of it failed,
    // and 0.1.0 has checks of its own: only the listed 0.2.0 upload's are shown.
    record_upload(
        &db,
        "u-failed",
        "hello",
        "0.2.0",
        UploadState::Failed,
        &[("signer", Outcome::Failed, Some("SB1442"), "key not bound")],
    );
    record_upload(
        &db,
        "u-old",
        "hello",
        "0.1.0",
        UploadState::Listed,
        &[("package", Outcome::Passed, None, "old package check")],
    );
    record_upload(
        &db,
        "u-listed",
        "hello",
        "0.2.0",
        UploadState::Listed,
        &[
            ("package", Outcome::Passed, None, "verified <sig>"),
            ("signer", Outcome::Passed, None, "key bound to acme"),
            ("listing", Outcome::Passed, None, "listed"),
        ],
    );
    drop(db);

    let page = get(&server, "/plugins/hello");
    assert_html(&page, 200);
    let t = &page.text;
    assert!(
        t.contains(
            "<dt>Publisher accounts</dt><dd><a href=\"/publishers/acme\">acme</a>, \
             <a href=\"/publishers/bob\">bob</a>, <a href=\"/publishers/carol\">carol</a></dd>"
        ),
        "{t}"
    );
    for want in [
        "What this server checked when version 0.2.0 was uploaded",
        "<strong>Passed:</strong> package — verified <sig>",
        "<strong>Passed:</strong> signer — key bound to acme",
        "<strong>Passed:</strong> listing — listed",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    assert!(
        !t.contains("key not bound") && !t.contains("old package check"),
        "{t}"
    );
    // Check details are escaped like everything else.
    assert!(
        page.body.contains("verified &#60;sig&#62;"),
        "{}",
        page.body
    );

    // A plugin with one owner says so in the singular; a release written by hand has no
    // recorded checks, and the page says that rather than showing nothing.
    let db = crate::server::open_database(&tmp.path().join("data")).unwrap();
    crate::server::accounts::claim_new(&db, "relay", "acme").unwrap();
    drop(db);
    let relay = get(&server, "/plugins/relay");
    assert!(
        relay
            .text
            .contains("<dt>Publisher account</dt><dd><a href=\"/publishers/acme\">acme</a></dd>"),
        "{}",
        relay.text
    );
    assert!(relay.text.contains("no record of checks for version 2.0.0"));

    // The deprecation's message, escaped, beside the notice (no successor named).
    let wordcount = get(&server, "/plugins/wordcount");
    assert_html(&wordcount, 200);
    assert!(wordcount.text.contains("<strong>Deprecated:</strong>"));
    assert!(
        wordcount
            .body
            .contains("The publisher says: <q>Use &#60;b&#62;tally&#60;/b&#62; &#38; friends</q>"),
        "{}",
        wordcount.body
    );
    assert!(!wordcount.body.contains(" instead."), "{}", wordcount.body);
}

const HOSTILE: &str = "<script>alert('xss')</script>";

#[test]
fn hostile_plugin_data_is_escaped_everywhere_it_is_shown() {
    let mut evil = line("evil", "1.0.0");
    evil.description = format!("{HOSTILE} \"quoted\" <img src=x onerror=alert(1)>");
    evil.categories = vec![format!("cat{HOSTILE}")];
    evil.keywords = vec![HOSTILE.into()];
    evil.maintainers = vec![format!("Mallory {HOSTILE}")];
    evil.license = Some(HOSTILE.into());
    evil.repository = Some("javascript:alert(1)".into());
    evil.signer = "<b>KEY</b>".into();
    evil.host_api = Some(LineHostApi::new(HOSTILE, "^1"));
    evil.capabilities = vec![format!("fs.read:/{HOSTILE}")];
    let readme = format!(
        "# Evil\n\n{HOSTILE}\n\n<iframe src=\"https://example.com\"></iframe>\n\n\
         [click](javascript:alert(1)) [again](JAVASCRIPT:alert(2)) \
         ![img](javascript:alert(3)) <a href=\"javascript:alert(4)\">raw</a>\n"
    );
    let (_tmp, server) = serve(vec![(evil, Some(readme.as_str()))]);
    for path in [
        "/",
        "/search?q=evil",
        "/categories",
        "/plugins/evil",
        &format!("/search?q={}", super::query::encode(HOSTILE)),
        &format!(
            "/categories/{}",
            super::query::encode(&format!("cat{HOSTILE}"))
        ),
    ] {
        let page = get(&server, path);
        assert_html(&page, 200);
        let b = page.body.to_lowercase();
        assert!(!b.contains("<script"), "{path}: {b}");
        assert!(!b.contains("<img"), "{path}: {b}");
        assert!(!b.contains("<iframe"), "{path}: {b}");
        assert!(!b.contains("<b>key"), "{path}: {b}");
        // No element links to a script (raw `<a href="javascript:…">` is shown as text).
        assert!(!b.contains("<a href=\"javascript:"), "{path}: {b}");
    }
    let page = get(&server, "/plugins/evil");
    let b = &page.body;
    // Shown as text: escaped in the HTML (by the templates, and in the README by the
    // Markdown renderer), readable once unescaped.
    assert!(
        b.contains("&#60;script&#62;alert(&#39;xss&#39;)&#60;/script&#62;"),
        "{b}"
    );
    assert!(
        b.contains("&lt;script&gt;alert('xss')&lt;/script&gt;"),
        "{b}"
    );
    assert!(page.text.contains(HOSTILE), "{b}");
    assert!(b.contains("#unsafe-link-removed"), "{b}");
    // The repository link is dropped, not shown as a link.
    assert!(!b.contains("Source</dt>"), "{b}");
}

#[test]
fn unknown_pages_and_plugins_get_the_html_404_while_the_api_keeps_json() {
    let (_tmp, server) = serve(the_catalog());
    let page = get(&server, "/no/such/page");
    assert_html(&page, 404);
    assert!(page.body.contains("SB1470"), "{}", page.body);
    assert!(page.body.contains("Page not found"));
    let page = get(&server, "/plugins/nosuch");
    assert_html(&page, 404);
    assert!(page.body.contains("SB1471"), "{}", page.body);
    let page = get(&server, "/static/other.css");
    assert_html(&page, 404);
    // A hostile path is echoed escaped.
    let page = get(&server, "/%3Cscript%3Ealert(1)%3C/script%3E");
    assert_html(&page, 404);
    // The API and the index answer in their own formats still.
    let api = get(&server, "/api/v1/nope");
    assert_eq!(api.status, 404);
    assert!(api.headers["content-type"].starts_with("application/json"));
    assert!(api.body.contains("SB1380"), "{}", api.body);
    let index = get(&server, "/index/nope.json");
    assert_eq!(index.status, 404);
    assert!(!index.headers["content-type"].starts_with("text/html"));
    // The stylesheet, with an ETag.
    let css = get(&server, "/static/page.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert!(css.headers.contains_key("etag"));
    assert!(css.body.contains(":focus-visible"));
}

#[test]
fn bad_search_parameters_and_names_get_a_friendly_400_page() {
    let (_tmp, server) = serve(the_catalog());
    let long_q = format!("/search?q={}", "a".repeat(300));
    for (path, code) in [
        ("/search?nope=1", "SB1472"),
        ("/search?q=a&q=b", "SB1472"),
        ("/search?page=0", "SB1472"),
        ("/search?page=two", "SB1472"),
        ("/search?trust=bogus", "SB1472"),
        ("/search?sort=random", "SB1472"),
        ("/search?channel=draft", "SB1472"),
        ("/search?host_api=nonsense", "SB1472"),
        ("/search?capability=no.such", "SB1472"),
        (long_q.as_str(), "SB1472"),
        ("/categories/Text?category=x", "SB1472"),
        ("/plugins/Not%20A%20Name", "SB1473"),
        ("/plugins/%3Cscript%3E", "SB1473"),
    ] {
        let page = get(&server, path);
        assert_html(&page, 400);
        assert!(page.body.contains(code), "{path}: {}", page.body);
        assert!(page.body.contains("What to do:"), "{path}: {}", page.body);
    }
}

#[test]
fn a_search_address_round_trips_through_its_parameters() {
    let pairs: Vec<(String, String)> = [
        ("q", "hello world"),
        ("category", "Text & more"),
        ("capability", "fs.read:/data/**"),
        ("trust", "verified"),
        ("channel", "beta"),
        ("host_api", "demo@1.2.3"),
        ("maintainer", "Ada"),
        ("sort", "updated"),
        ("page", "3"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let q = PageQuery::parse(&pairs).unwrap();
    let href = q.href(3);
    let back: Vec<(String, String)> = href
        .trim_start_matches("/search?")
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), percent_decode(v))
        })
        .collect();
    assert_eq!(PageQuery::parse(&back).unwrap(), q);
    assert_eq!(PageQuery::parse(&[]).unwrap().href(1), "/search");
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_registry_the_server_cannot_read_gets_the_500_page_without_its_paths() {
    let (tmp, server) = serve(the_catalog());
    std::fs::remove_file(server.data_dir().registry.join("timestamp.json")).unwrap();
    let page = get(&server, "/plugins/hello");
    assert_html(&page, 500);
    assert!(page.body.contains("SB1474"), "{}", page.body);
    let root = tmp.path().display().to_string();
    assert!(!page.body.contains(&root), "{}", page.body);
}
