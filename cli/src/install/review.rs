//! The capability review before an install or an update: what a plugin asks for, in words.

/// One capability request in words, for a person deciding whether to grant it (the host's
/// [`switchboard_host::caps::in_words`], which the registry's web page uses too).
pub fn in_words(plugin: &str, request: &str) -> String {
    switchboard_host::caps::in_words(plugin, request)
}
