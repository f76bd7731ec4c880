use super::*;

fn no_manifest() -> Error {
    Error::from(LoadError::NoManifest {
        path: PathBuf::from("libx.so"),
    })
}

const MESSAGE: &str =
    "libx.so has no Switchboard manifest section: it was not built with `#[plugin]`";

#[test]
fn display_shows_code_message_and_next_step() {
    assert_eq!(
        no_manifest().to_string(),
        format!(
            "[SB0202] {MESSAGE}\n  next: build the crate as a `cdylib` with `#[plugin]` on its \
             impl block"
        )
    );
}

#[test]
fn debug_is_what_fn_main_prints_so_it_reads_like_display() {
    let e = no_manifest();
    assert_eq!(format!("{e:?}"), e.to_string());
    // The structure stays available to whoever asks for it.
    assert!(format!("{e:#?}").contains("NoManifest"), "{e:#?}");
}

#[test]
fn the_plain_message_is_available_without_code_or_next_step() {
    assert_eq!(no_manifest().message(), MESSAGE);
}

#[test]
fn the_source_chain_does_not_repeat_the_message() {
    use std::error::Error as _;
    // Like `#[error(transparent)]`: the area error is not a second link in the chain, so
    // `anyhow`'s `{:#}` does not print its message twice.
    assert!(no_manifest().source().is_none());
    let io = Error::from(LoadError::Read {
        path: PathBuf::from("x"),
        source: std::io::Error::other("boom"),
    });
    assert_eq!(
        io.source().map(ToString::to_string).as_deref(),
        Some("boom")
    );
}
