//! Extension points (SPEC S5.4), as plugins see them: the kinds of contribution a `#[hook]`
//! method makes, how a contribution to a `first` point declines to answer, and the [`Next`] a
//! `wrap` hook calls to run the rest of the operation.
//!
//! A host declares named, typed extension points; a plugin contributes to them with
//! `#[hook("point", kind)]` methods, which the macro records in the embedded manifest, so the
//! host checks every contribution (the point exists, takes this kind, with these contracts,
//! and the plugin holds `extend:POINT`) before any plugin code runs.
//!
//! # Example
//!
//! ```
//! use switchboard_sdk::extend::HookKind;
//!
//! let kind: HookKind = "filter".parse().unwrap();
//! assert_eq!(kind, HookKind::Filter);
//! assert_eq!(kind.to_string(), "filter");
//! assert!("wrapp".parse::<HookKind>().is_err());
//! assert_eq!("wrap".parse::<HookKind>(), Ok(HookKind::Wrap));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::abi::ServiceCall;
use crate::{Context, ErrorCode, Message, PluginError};

/// How a contribution takes part in an extension point. The point's kind decides which hook
/// kinds it accepts (a `collect` point takes `collect` hooks; an operation point takes
/// `before` and `after` hooks and one `replace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HookKind {
    /// Runs with every other contribution; the host gathers all results (`In -> Out`).
    Collect,
    /// Runs in order until one answers (`In -> Out`); decline with [`pass`].
    First,
    /// Takes the value the contribution before it returned and returns it changed (`T -> T`).
    Filter,
    /// Runs in place of the host's default operation (`In -> Out`); one per point.
    Replace,
    /// Runs before the host's operation and may change its input (`In -> In`).
    Before,
    /// Runs after the host's operation and may change its result (`Out -> Out`).
    After,
    /// Contributes one named item (named after its command) to a host-defined list
    /// (`In -> Out`); names are unique per point.
    Register,
    /// Wraps an operation (onion): gets the input and a [`Next`] that runs the rest of the
    /// chain — the wrappers inside it, then the replacement or the host's default — and may
    /// change the input, skip `next`, or change the result or the error (`In -> Out`).
    Wrap,
}

impl HookKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [HookKind; 8] = [
        HookKind::Collect,
        HookKind::First,
        HookKind::Filter,
        HookKind::Replace,
        HookKind::Before,
        HookKind::After,
        HookKind::Register,
        HookKind::Wrap,
    ];

    /// The name written in `#[hook("point", NAME)]` and in the manifest.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookKind::Collect => "collect",
            HookKind::First => "first",
            HookKind::Filter => "filter",
            HookKind::Replace => "replace",
            HookKind::Before => "before",
            HookKind::After => "after",
            HookKind::Register => "register",
            HookKind::Wrap => "wrap",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookKind {
    type Err = String;

    /// Parses a kind's name; the error lists the kinds.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = HookKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown hook kind `{s}`; the kinds are {}",
                    names.join(", ")
                )
            })
    }
}

/// The code of [`pass`]: a contribution to a `first` point that declines to answer. The host
/// moves on to the next contribution and counts it as no failure.
pub const PASSED: ErrorCode = ErrorCode::from_number(1700);

/// The error a contribution to a `first` point returns to decline: the host asks the next
/// contribution, and records no failure.
///
/// ```
/// use switchboard_sdk::extend::{pass, PASSED};
///
/// let declined = pass();
/// assert_eq!(declined.code(), PASSED);
/// ```
pub fn pass() -> PluginError {
    PluginError::with_code(
        PASSED,
        "the contribution passed: it does not answer this input",
    )
}

/// The service name through which [`Next::call`] re-enters the host: a `wrap` hook's `next`
/// travels the same host call a shared service does (so it works in-process and across the
/// isolated boundary alike). The method is the invocation's token in decimal; the request is
/// the input's bytes. Hosts answer it themselves; no plugin can provide it.
#[doc(hidden)]
pub const NEXT_SERVICE: &str = "switchboard.extend.next";

/// The rest of an operation's chain, as a `wrap` hook gets it: the wrappers inside this one,
/// then the replacement or the host's default operation.
///
/// A wrapper may call it once (it is consumed), with the input as is or changed; skip it
/// (answer without running the operation); and change what it returns, `Ok` or `Err`.
/// Calling it re-enters the host on the wrapper's own thread, which runs the next layer and
/// hands back its result. A `Next` kept past its wrapper's return, or sent to another thread,
/// is refused with a coded error (`SB1715`), never undefined behaviour.
///
/// ```
/// use switchboard_sdk::extend::Next;
/// use switchboard_sdk::PluginError;
///
/// // What a wrapper does with its `next`, tested with a closure standing in for the host.
/// fn shout(job: String, next: Next<String, String>) -> Result<String, PluginError> {
///     let built = next.call(job.to_uppercase())?;
///     Ok(format!("{built}!"))
/// }
/// let next = Next::from_fn(|job: String| Ok(format!("built {job}")));
/// assert_eq!(shout("app".into(), next).unwrap(), "built APP!");
/// ```
pub struct Next<In, Out> {
    inner: NextInner<In, Out>,
}

enum NextInner<In, Out> {
    /// The host's chain: re-entered through the context with the invocation's token.
    Host { ctx: Context, token: u64 },
    /// A closure, for unit tests of a wrapper.
    Local(Box<dyn FnOnce(In) -> Result<Out, PluginError> + Send>),
}

impl<In, Out> fmt::Debug for Next<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            NextInner::Host { token, .. } => f.debug_struct("Next").field("token", token).finish(),
            NextInner::Local(_) => f.debug_struct("Next").field("local", &true).finish(),
        }
    }
}

impl<In: Message, Out: Message> Next<In, Out> {
    /// The `next` the generated dispatch of a `wrap` hook hands the method.
    #[doc(hidden)]
    pub fn __from_host(ctx: &Context, token: u64) -> Self {
        Next {
            inner: NextInner::Host {
                ctx: ctx.clone(),
                token,
            },
        }
    }

    /// The invocation's token, for a `next` from the host (`None` for [`Next::from_fn`]).
    #[doc(hidden)]
    pub fn __token(&self) -> Option<u64> {
        match &self.inner {
            NextInner::Host { token, .. } => Some(*token),
            NextInner::Local(_) => None,
        }
    }

    /// A `next` that runs `f`: for unit tests of a wrapper, in place of the host's chain.
    pub fn from_fn(f: impl FnOnce(In) -> Result<Out, PluginError> + Send + 'static) -> Self {
        Next {
            inner: NextInner::Local(Box::new(f)),
        }
    }

    /// Runs the rest of the chain with `input` and returns its result: what the wrappers
    /// inside this one, and the replacement or host operation, made of it — or their error,
    /// with its code, which the wrapper may return as is, change or recover from.
    pub fn call(self, input: In) -> Result<Out, PluginError> {
        match self.inner {
            NextInner::Local(f) => f(input),
            NextInner::Host { ctx, token } => {
                let mut request = Vec::new();
                input.__encode_into(&mut request);
                let method = token.to_string();
                let bytes = ctx.backend().call_service(&ServiceCall {
                    service: NEXT_SERVICE,
                    method: &method,
                    request_contract: In::CONTRACT.id,
                    response_contract: Out::CONTRACT.id,
                    request: &request,
                    timeout: None,
                })?;
                Out::__decode(&bytes)
            }
        }
    }
}

/// Splits a `wrap` hook's request into the invocation's token and the input's bytes: the host
/// sends the token (8 bytes, little-endian) before the input.
#[doc(hidden)]
pub fn __split_wrap(request: &[u8]) -> Result<(u64, &[u8]), PluginError> {
    match request.split_first_chunk::<8>() {
        Some((token, rest)) => Ok((u64::from_le_bytes(*token), rest)),
        None => Err(PluginError::with_code(
            crate::codes::BAD_REQUEST,
            "a `wrap` hook was called without its invocation token: only the host's \
             extension point calls it",
        )),
    }
}
