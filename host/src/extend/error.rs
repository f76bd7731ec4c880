//! What can go wrong declaring, joining and invoking extension points, and reading points
//! files (`SB1700`–`SB1749`).

use switchboard_sdk::extend::HookKind;
use switchboard_sdk::ErrorCode;

use crate::error::{CallError, CapsError};

/// An extension-point error, with a stable code and a next step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtendError {
    /// A plugin contributes to a point the host does not declare.
    #[error("`{plugin}` contributes `{command}` to extension point `{point}`, which this host does not declare")]
    UndeclaredPoint {
        /// The plugin.
        plugin: String,
        /// The command serving the contribution.
        command: String,
        /// The point it names.
        point: String,
        /// The points the host declares.
        declared: String,
    },
    /// The contribution's kind is not one the point takes.
    #[error("`{plugin}`'s `{command}` is a `{hook}` hook, but `{point}` is a {kind} point, which takes {accepts}")]
    WrongKind {
        /// The plugin.
        plugin: String,
        /// The command serving the contribution.
        command: String,
        /// The point.
        point: String,
        /// The hook kind written.
        hook: HookKind,
        /// The point's kind.
        kind: &'static str,
        /// The hook kinds it takes.
        accepts: String,
    },
    /// The contribution's request or response contract is not the point's.
    #[error("`{plugin}`'s `{command}` takes `{}` and returns `{}`, but a `{hook}` hook on `{point}` must take `{want_request}` and return `{want_response}`", .found.0, .found.1)]
    WrongContract {
        /// The plugin.
        plugin: String,
        /// The command serving the contribution.
        command: String,
        /// The point.
        point: String,
        /// The hook kind.
        hook: HookKind,
        /// The command's request and response contracts.
        found: Box<(String, String)>,
        /// The contract the point needs it to take.
        want_request: &'static str,
        /// The contract the point needs it to return.
        want_response: &'static str,
    },
    /// The manifest's hook names no command of the library: a damaged or crafted library.
    #[error("`{plugin}`'s manifest has a hook on `{point}` served by `{command}`, a command the library does not have")]
    NoSuchCommand {
        /// The plugin.
        plugin: String,
        /// The point.
        point: String,
        /// The command named.
        command: String,
    },
    /// The plugin does not hold `extend:POINT`.
    #[error("`{plugin}` may not contribute to `{point}`: {source}")]
    NotGranted {
        /// The plugin.
        plugin: String,
        /// The point.
        point: String,
        /// The capability check's denial.
        source: Box<CapsError>,
    },
    /// A second plugin replaces the same operation.
    #[error("`{plugin}` replaces `{point}`, which `{holder}` replaces already; an operation takes one replacement")]
    ReplaceConflict {
        /// The plugin refused.
        plugin: String,
        /// The point.
        point: String,
        /// The plugin whose replacement is in place.
        holder: String,
    },
    /// A second item of the same name in a registry point.
    #[error("`{plugin}` registers `{item}` in `{point}`, which `{holder}` registered already")]
    RegistryConflict {
        /// The plugin refused.
        plugin: String,
        /// The point.
        point: String,
        /// The item's name.
        item: String,
        /// The plugin that registered it first.
        holder: String,
    },
    /// `before`/`after` constraints that no order satisfies.
    #[error("the order of contributions to `{point}` has a cycle: {path}")]
    Cycle {
        /// The point.
        point: String,
        /// The cycle, as `a → b → a` (plugins).
        path: String,
    },
    /// The point is declared already, with another kind or other contracts.
    #[error("extension point `{point}` is declared already as a {kind} point from `{input}` to `{output}`")]
    Redeclared {
        /// The point.
        point: String,
        /// Its kind.
        kind: &'static str,
        /// Its input contract.
        input: String,
        /// Its output contract.
        output: String,
    },
    /// A point's declaration is not valid (a bad name, a filter whose input and output differ).
    #[error("extension point `{point}` cannot be declared: {reason}")]
    BadDeclaration {
        /// The point.
        point: String,
        /// Why.
        reason: String,
    },
    /// A contribution failed (an error, a panic, an answer that does not decode) and the
    /// point's policy propagates it.
    #[error("contribution `{plugin}`/`{command}` to `{point}` failed: {source}")]
    Contribution {
        /// The plugin.
        plugin: String,
        /// The command serving the contribution.
        command: String,
        /// The point.
        point: String,
        /// What the call reported.
        source: Box<CallError>,
    },
    /// A contribution ran past the point's timeout; its result was discarded.
    #[error("contribution `{plugin}`/`{command}` to `{point}` took {took_ms} ms, past the point's {limit_ms} ms; its result was discarded")]
    TimedOut {
        /// The plugin.
        plugin: String,
        /// The command serving the contribution.
        command: String,
        /// The point.
        point: String,
        /// How long it took.
        took_ms: u64,
        /// The point's timeout.
        limit_ms: u64,
    },
    /// The point was invoked in a way its kind does not offer (`filter` on a collect point).
    #[error("`{point}` is a {kind} point; it is invoked with {use_instead}")]
    WrongInvocation {
        /// The point.
        point: String,
        /// Its kind.
        kind: &'static str,
        /// The method to call instead.
        use_instead: &'static str,
    },
    /// A manifest's hook entry is not valid (an unknown kind): a damaged or crafted library.
    #[error("`{plugin}`'s manifest has an invalid hook on `{point}`: {reason}")]
    BadHook {
        /// The plugin.
        plugin: String,
        /// The point.
        point: String,
        /// What is wrong.
        reason: String,
    },
    /// A wrapper's `next` was called when it is not running: after its wrapper returned, from
    /// another thread than the wrapper's, or with a token no invocation issued.
    #[error("`{plugin}` called a wrapper's `next` that is not active on this thread ({reason})")]
    NextNotActive {
        /// The plugin that called it.
        plugin: String,
        /// Why it is not active.
        reason: String,
    },
    /// A wrapper's `next` was called a second time in one invocation.
    #[error("`{plugin}` called its wrapper's `next` on `{point}` twice; it runs the rest of the operation once")]
    NextTwice {
        /// The plugin.
        plugin: String,
        /// The point.
        point: String,
    },
    /// A plugin called the `next` of another plugin's wrapper.
    #[error("`{plugin}` called the `next` of `{holder}`'s wrapper on `{point}`")]
    NextNotYours {
        /// The plugin that called it.
        plugin: String,
        /// The point.
        point: String,
        /// The plugin whose wrapper it belongs to.
        holder: String,
    },
    /// Wrappers nested deeper than the host allows on one thread (a wrapper whose operation
    /// invokes its own point again, say).
    #[error(
        "wrappers on `{point}` would nest {depth} deep on this thread, past the limit of {limit}"
    )]
    TooDeep {
        /// The point.
        point: String,
        /// The depth it would reach.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// The host's own operation (given to
    /// [`ExtensionPoint::try_run`](super::ExtensionPoint::try_run)) failed, and no wrapper
    /// changed the error.
    #[error("the operation of `{point}` failed: {}", .error.message())]
    Operation {
        /// The point.
        point: String,
        /// The operation's error.
        error: switchboard_sdk::PluginError,
    },
    /// A plugin of kind `instrument` provides no streaming command.
    #[error("`{plugin}` is an `instrument` but provides no streaming command")]
    InstrumentWithoutCommand {
        /// The plugin.
        plugin: String,
    },
    /// A plugin of kind `operator` provides no command, or one taking raw bytes.
    #[error("`{plugin}` is an `operator`, but {reason}")]
    OperatorUntyped {
        /// The plugin.
        plugin: String,
        /// What is missing or untyped.
        reason: String,
    },
    /// A plugin of kind `addon` provides commands that serve no hook (and no service).
    #[error("`{plugin}` is an `addon` (contributions only) but provides the commands {commands}")]
    AddonWithCommands {
        /// The plugin.
        plugin: String,
        /// The commands, comma-separated.
        commands: String,
    },
    /// A plugin of kind `addon` contributes nothing.
    #[error("`{plugin}` is an `addon` but contributes no hook, subscription or service")]
    AddonWithoutContributions {
        /// The plugin.
        plugin: String,
    },
    /// A wrapper called `next` with other message types than the point's, or with an input
    /// that does not decode as the point's input.
    #[error("`{plugin}` called `next` on `{point}` with {reason}")]
    NextContract {
        /// The plugin.
        plugin: String,
        /// The point.
        point: String,
        /// What does not match.
        reason: String,
    },
    /// A points file (`switchboard preflight --points`) is not TOML of `[[point]]` tables
    /// with `name`, `kind`, `input` and `output`.
    #[error("the points file is not valid: {reason}")]
    BadPointsFile {
        /// What is wrong.
        reason: String,
    },
    /// A points file gives a point a kind there is not.
    #[error("point `{point}` in the points file has kind `{kind}`, which is not a point kind")]
    UnknownPointKind {
        /// The point.
        point: String,
        /// The kind written.
        kind: String,
    },
    /// A points file names a point twice.
    #[error("the points file names point `{point}` twice")]
    PointListedTwice {
        /// The point.
        point: String,
    },
}

const fn code(n: u16) -> ErrorCode {
    ErrorCode::from_number(n)
}

impl ExtendError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExtendError::UndeclaredPoint { .. } => code(1701),
            ExtendError::WrongKind { .. } => code(1702),
            ExtendError::WrongContract { .. } => code(1703),
            ExtendError::NoSuchCommand { .. } => code(1704),
            ExtendError::NotGranted { .. } => code(1705),
            ExtendError::ReplaceConflict { .. } => code(1706),
            ExtendError::RegistryConflict { .. } => code(1707),
            ExtendError::Cycle { .. } => code(1708),
            ExtendError::Redeclared { .. } => code(1709),
            ExtendError::BadDeclaration { .. } => code(1710),
            ExtendError::Contribution { .. } => code(1711),
            ExtendError::TimedOut { .. } => code(1712),
            ExtendError::WrongInvocation { .. } => code(1713),
            ExtendError::BadHook { .. } => code(1714),
            ExtendError::NextNotActive { .. } => code(1715),
            ExtendError::NextTwice { .. } => code(1716),
            ExtendError::NextNotYours { .. } => code(1717),
            ExtendError::TooDeep { .. } => code(1718),
            ExtendError::Operation { .. } => code(1719),
            ExtendError::NextContract { .. } => code(1720),
            ExtendError::InstrumentWithoutCommand { .. } => code(1721),
            ExtendError::OperatorUntyped { .. } => code(1722),
            ExtendError::AddonWithCommands { .. } => code(1723),
            ExtendError::AddonWithoutContributions { .. } => code(1724),
            ExtendError::BadPointsFile { .. } => code(1725),
            ExtendError::UnknownPointKind { .. } => code(1726),
            ExtendError::PointListedTwice { .. } => code(1727),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            ExtendError::UndeclaredPoint { declared, .. } => format!(
                "declare the point with `Host::extension_point` before loading the plugin, or \
                 fix the name in the plugin's `#[hook]` (declared: {declared})"
            ),
            ExtendError::WrongKind { accepts, .. } => {
                format!("write one of {accepts} as the kind in the plugin's `#[hook]`")
            }
            ExtendError::WrongContract { .. } => {
                "change the hook method's argument and return types to the point's message types"
                    .into()
            }
            ExtendError::NoSuchCommand { .. } | ExtendError::BadHook { .. } => {
                "rebuild the plugin with `#[hook]`; its library is damaged or was not built by \
                 the macro"
                    .into()
            }
            ExtendError::NotGranted { point, .. } => format!(
                "request `extend:{point}` in `#[plugin(capabilities = [...])]` and grant it in \
                 the policy"
            ),
            ExtendError::ReplaceConflict { holder, .. } => format!(
                "stop or remove `{holder}`, or turn one replacement into a `before`/`after` hook"
            ),
            ExtendError::RegistryConflict { .. } => {
                "rename one item (`#[hook(…, name = \"…\")]`) or remove one plugin".into()
            }
            ExtendError::Cycle { .. } => {
                "drop one of the `before`/`after` constraints on the path".into()
            }
            ExtendError::Redeclared { .. } => {
                "use the handle already declared, or another name for the new point".into()
            }
            ExtendError::BadDeclaration { .. } => {
                "name the point with dot-separated segments; a filter takes and returns one type"
                    .into()
            }
            ExtendError::Contribution { source, .. } => source.next_step(),
            ExtendError::TimedOut { .. } => {
                "make the contribution faster, raise the point's timeout, or give the point a \
                 skip policy"
                    .into()
            }
            ExtendError::WrongInvocation { use_instead, .. } => format!("call {use_instead}"),
            ExtendError::NextNotActive { .. } => {
                "call `next` only inside the wrapper, on its own thread, before it returns".into()
            }
            ExtendError::NextTwice { .. } => {
                "call `next` once; to retry, retry inside the host's operation instead".into()
            }
            ExtendError::NextNotYours { .. } => {
                "call only the `next` your own wrapper was given".into()
            }
            ExtendError::TooDeep { .. } => {
                "do not invoke a point from inside its own operation or wrappers, or use fewer \
                 wrappers"
                    .into()
            }
            ExtendError::Operation { error, .. } => error
                .next_step_hint()
                .map_or_else(|| "see the operation's error".to_owned(), str::to_owned),
            ExtendError::NextContract { .. } => {
                "declare `next` as `Next<In, Out>` with the point's input and output types".into()
            }
            ExtendError::InstrumentWithoutCommand { .. } => {
                "add a streaming `#[command]` (`out: &mut Sink<'_, Chunk>`), or give the manifest another `kind`".into()
            }
            ExtendError::OperatorUntyped { .. } => {
                "give every command a `#[derive(Message)]` request type, or give the manifest \
                 another `kind`"
                    .into()
            }
            ExtendError::AddonWithCommands { .. } => {
                "turn the commands into `#[hook]` contributions, or make the plugin an \
                 `extension` or `operator`"
                    .into()
            }
            ExtendError::AddonWithoutContributions { .. } => {
                "add a `#[hook]` or `#[subscribe]` method, or give the manifest another `kind`"
                    .into()
            }
            ExtendError::BadPointsFile { .. } => {
                "write one `[[point]]` table per point, with `name`, `kind`, `input` and `output` \
                 (contract ids) and nothing else"
                    .into()
            }
            ExtendError::UnknownPointKind { .. } => {
                "write one of `collect`, `first`, `filter`, `operation`, `registry`".into()
            }
            ExtendError::PointListedTwice { .. } => "list each point once".into(),
        }
    }

    /// The plugin the error is about, if any.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            ExtendError::UndeclaredPoint { plugin, .. }
            | ExtendError::WrongKind { plugin, .. }
            | ExtendError::WrongContract { plugin, .. }
            | ExtendError::NoSuchCommand { plugin, .. }
            | ExtendError::NotGranted { plugin, .. }
            | ExtendError::ReplaceConflict { plugin, .. }
            | ExtendError::RegistryConflict { plugin, .. }
            | ExtendError::Contribution { plugin, .. }
            | ExtendError::TimedOut { plugin, .. }
            | ExtendError::BadHook { plugin, .. }
            | ExtendError::NextNotActive { plugin, .. }
            | ExtendError::NextTwice { plugin, .. }
            | ExtendError::NextNotYours { plugin, .. }
            | ExtendError::NextContract { plugin, .. }
            | ExtendError::InstrumentWithoutCommand { plugin }
            | ExtendError::OperatorUntyped { plugin, .. }
            | ExtendError::AddonWithCommands { plugin, .. }
            | ExtendError::AddonWithoutContributions { plugin } => Some(plugin),
            _ => None,
        }
    }
}
