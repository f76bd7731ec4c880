//! READMEs rendered safely: Markdown to HTML with pulldown-cmark, where raw HTML in the
//! source is shown as text (escaped), links other than `http`, `https`, `mailto` and
//! relative ones lose their target, images become plain links (the page loads nothing from
//! elsewhere), and headings move down two levels to sit under the page's own.

use pulldown_cmark::{CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

/// The largest README rendered; a longer one is cut there (on a character boundary).
pub const MAX_README_BYTES: usize = 256 << 10;

/// Whether `url` may be a link target: `http:`, `https:` or `mailto:`, or a relative
/// reference (no scheme). Control characters and spaces inside a scheme (`java\tscript:`,
/// which browsers ignore) count against it.
pub fn safe_url(url: &str) -> bool {
    let url = url.trim_start_matches(|c: char| c.is_ascii_whitespace() || c.is_control());
    if url.chars().any(char::is_control) {
        return false;
    }
    let end = url.find(['/', '?', '#']).unwrap_or(url.len());
    match url[..end].split_once(':') {
        None => true,
        Some((scheme, _)) => {
            let scheme = scheme.to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
    }
}

fn demote(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// `source` as HTML safe to place inside the page.
pub fn render(source: &str) -> String {
    let mut end = source.len().min(MAX_README_BYTES);
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    // Images become links: an <img> would load from elsewhere (the CSP would block it) and
    // hide its address; the alt text becomes the link's text.
    let events = Parser::new_ext(&source[..end], options).filter_map(|event| {
        Some(match event {
            Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
            Event::Start(Tag::Heading {
                level,
                id: _,
                classes: _,
                attrs: _,
            }) => Event::Start(Tag::Heading {
                level: demote(level),
                id: None,
                classes: Vec::new(),
                attrs: Vec::new(),
            }),
            Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demote(level))),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Link {
                link_type,
                dest_url: if safe_url(&dest_url) {
                    dest_url
                } else {
                    CowStr::Borrowed("#unsafe-link-removed")
                },
                title,
                id,
            }),
            Event::Start(Tag::Image {
                dest_url,
                title,
                id,
                ..
            }) => Event::Start(Tag::Link {
                link_type: LinkType::Inline,
                dest_url: if safe_url(&dest_url) {
                    dest_url
                } else {
                    CowStr::Borrowed("#unsafe-link-removed")
                },
                title,
                id,
            }),
            Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
            Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => return None,
            other => other,
        })
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_escaped_not_kept() {
        let html = render("# Hi\n\n<script>alert(1)</script>\n\ninline <b onclick=x>b</b>\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b "), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<h3>Hi</h3>"), "{html}");
    }

    #[test]
    fn only_safe_link_targets_survive() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:x",
            "&#106;avascript:alert(1)",
            "javascript&colon;alert(1)",
        ] {
            let html = render(&format!("[x](<{bad}>) ![y](<{bad}>) [z]({bad})"));
            // Every link left points nowhere; the text may stay, as text.
            for (i, _) in html.match_indices("href=\"") {
                assert!(
                    html[i..].starts_with("href=\"#unsafe-link-removed\""),
                    "{bad}: {html}"
                );
            }
            assert!(html.contains("#unsafe-link-removed"), "{bad}: {html}");
        }
        let html =
            render("[a](https://example.com/x) [b](docs/guide.md) [c](#usage) [d](mailto:a@b.c)");
        for ok in [
            "https://example.com/x",
            "docs/guide.md",
            "#usage",
            "mailto:a@b.c",
        ] {
            assert!(html.contains(&format!("href=\"{ok}\"")), "{ok}: {html}");
        }
    }

    #[test]
    fn images_become_links_and_long_readmes_are_cut() {
        let html = render("![logo](https://example.com/logo.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("href=\"https://example.com/logo.png\""),
            "{html}"
        );
        let long = "é".repeat(MAX_README_BYTES);
        assert!(render(&long).len() < MAX_README_BYTES + 64);
    }
}
