//! `#[plugin]`: parse the impl block, validate the commands, expand the entry points.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprArray, ExprLit, FnArg, ImplItem, ImplItemFn, ItemImpl, Lit, LitStr, Meta,
    MetaNameValue, PathArguments, ReturnType, Token, Type, TypeReference,
};

use crate::errors::Errors;

/// The parsed `#[plugin(...)]` arguments.
#[derive(Default)]
struct Args {
    capabilities: Vec<String>,
    services: Vec<String>,
}

/// One `#[hook("point", kind, …)]` contribution; it is served by the command of the same
/// method (`command`).
struct Hook {
    point: String,
    kind: String,
    command: String,
    priority: i32,
    before: Vec<String>,
    after: Vec<String>,
}

/// The kinds `#[hook("point", KIND)]` accepts (`switchboard_sdk::extend::HookKind`).
const HOOK_KINDS: &[&str] = &[
    "collect", "first", "filter", "replace", "before", "after", "register", "wrap",
];

const HOOK_USAGE: &str = "write `#[hook(\"workflow.phase.build\", KIND)]`, KIND one of `collect`, \
     `first`, `filter`, `replace`, `before`, `after`, `register`, `wrap`; options after it: \
     `priority = N`, `before = [\"plugin\"]`, `after = [\"plugin\"]`, `name = \"command\"`";

/// The arguments of `#[hook(...)]`: the point, the kind, then `name = value` options.
struct HookArgs {
    point: LitStr,
    kind: syn::Ident,
    options: Vec<MetaNameValue>,
}

impl syn::parse::Parse for HookArgs {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let point: LitStr = input.parse()?;
        input.parse::<Token![,]>()?;
        // `before`, `after` and `replace` are plain identifiers; no keyword needs accepting.
        let kind: syn::Ident = input.parse()?;
        let mut options = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            options.push(input.parse()?);
        }
        Ok(HookArgs {
            point,
            kind,
            options,
        })
    }
}

/// Reads one `#[hook]` attribute into a hook served by command `default_name` (unless
/// `name = "…"` renames it). `None` after reporting what is wrong.
fn hook_args(attr: &Attribute, default_name: String, errors: &mut Errors) -> Option<Hook> {
    let args = match attr.parse_args::<HookArgs>() {
        Ok(a) => a,
        Err(_) => {
            errors.spanned(attr, HOOK_USAGE);
            return None;
        }
    };
    let mut ok = true;
    let point = args.point.value();
    if !valid_dotted(&point) {
        errors.spanned(
            &args.point,
            "an extension point is named by dot-separated segments of letters, digits, `-` and \
             `_`, as the host declares it: `\"workflow.phase.build\"`",
        );
        ok = false;
    }
    let kind = args.kind.to_string();
    if !HOOK_KINDS.contains(&kind.as_str()) {
        let hint = match crate::suggest::closest(&kind, HOOK_KINDS) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("the kinds are {}", HOOK_KINDS.join(", ")),
        };
        errors.spanned(&args.kind, format!("unknown hook kind `{kind}`; {hint}"));
        ok = false;
    }
    let mut hook = Hook {
        point,
        kind,
        command: default_name,
        priority: 0,
        before: Vec::new(),
        after: Vec::new(),
    };
    for m in &args.options {
        if m.path.is_ident("priority") {
            match priority_value(&m.value) {
                Some(p) => hook.priority = p,
                None => {
                    errors.spanned(
                        &m.value,
                        "`priority` is a whole number (negative allowed, e.g. `priority = -10`); \
                         higher runs earlier",
                    );
                    ok = false;
                }
            }
        } else if m.path.is_ident("before") || m.path.is_ident("after") {
            let list = match &m.value {
                Expr::Array(ExprArray { elems, .. }) => elems
                    .iter()
                    .map(|e| match e {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) if valid_command_name(&s.value()) => Ok(s.value()),
                        other => Err(other),
                    })
                    .collect::<Result<Vec<_>, _>>(),
                other => Err(other),
            };
            match list {
                Ok(names) if m.path.is_ident("before") => hook.before = names,
                Ok(names) => hook.after = names,
                Err(bad) => {
                    errors.spanned(
                        bad,
                        "`before` and `after` take a list of plugin names: \
                         `before = [\"audit\"]`",
                    );
                    ok = false;
                }
            }
        } else if m.path.is_ident("name") {
            match &m.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) if valid_command_name(&s.value()) => hook.command = s.value(),
                other => {
                    errors.spanned(
                        other,
                        "`name` is the command that serves the hook: ASCII letters, digits, `_` \
                         and `-`, starting with a letter",
                    );
                    ok = false;
                }
            }
        } else {
            let got = m.path.to_token_stream().to_string();
            let hint = match crate::suggest::closest(&got, &["priority", "before", "after", "name"])
            {
                Some(c) => format!("did you mean `{c}`?"),
                None => HOOK_USAGE.to_owned(),
            };
            errors.spanned(&m.path, format!("unknown `#[hook]` option `{got}`; {hint}"));
            ok = false;
        }
    }
    if hook.before.iter().any(|b| hook.after.contains(b)) {
        errors.spanned(
            attr,
            "a hook cannot run both before and after the same plugin; keep it in one list",
        );
        ok = false;
    }
    ok.then_some(hook)
}

/// A priority: an integer literal, possibly negated, that fits an `i32`.
fn priority_value(value: &Expr) -> Option<i32> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i32>().ok(),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => i
                .base10_parse::<i64>()
                .ok()
                .and_then(|n| i32::try_from(-n).ok()),
            _ => None,
        },
        _ => None,
    }
}

/// One `#[migration(from = "…", to = "…")]` method.
struct Migration {
    from: String,
    to: String,
    method: syn::Ident,
}

/// One `#[subscribe("pattern", …)]` handler.
struct Subscription {
    pattern: String,
    method: syn::Ident,
    delivery: Delivery,
}

/// The delivery options a handler asks for (all optional).
#[derive(Default)]
struct Delivery {
    queue: Option<u64>,
    overflow: Option<String>,
    block_ms: Option<u64>,
}

impl Delivery {
    fn is_empty(&self) -> bool {
        self.queue.is_none() && self.overflow.is_none() && self.block_ms.is_none()
    }
}

/// The arguments of `#[subscribe(...)]`: the pattern, then `name = value` options.
struct SubscribeArgs {
    pattern: LitStr,
    options: Vec<MetaNameValue>,
}

impl syn::parse::Parse for SubscribeArgs {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let pattern: LitStr = input.parse()?;
        let mut options = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            options.push(input.parse()?);
        }
        Ok(SubscribeArgs { pattern, options })
    }
}

const SUBSCRIBE_OPTIONS: &str = "the options are `queue = N` (envelopes), `overflow = \
     \"drop_oldest\" | \"drop_newest\" | \"block\"` and, with `block`, `block_ms = N`: \
     `#[subscribe(\"host.>\", queue = 4096, overflow = \"drop_newest\")]`";

/// Reads the `name = value` options of one `#[subscribe]`.
fn delivery_options(options: &[MetaNameValue], errors: &mut Errors) -> Delivery {
    let mut d = Delivery::default();
    for m in options {
        let int = |errors: &mut Errors| match &m.value {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => match i.base10_parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.spanned(i, "write a whole number of at least 1");
                    None
                }
            },
            other => {
                errors.spanned(other, "write a whole number of at least 1");
                None
            }
        };
        if m.path.is_ident("queue") {
            d.queue = int(errors);
        } else if m.path.is_ident("block_ms") {
            d.block_ms = int(errors);
        } else if m.path.is_ident("overflow") {
            match &m.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(v), ..
                }) if ["drop_oldest", "drop_newest", "block"].contains(&v.value().as_str()) => {
                    d.overflow = Some(v.value());
                }
                other => errors.spanned(
                    other,
                    "`overflow` is `\"drop_oldest\"`, `\"drop_newest\"` or `\"block\"`",
                ),
            }
        } else {
            errors.spanned(&m.path, SUBSCRIBE_OPTIONS);
        }
    }
    if d.block_ms.is_some() && d.overflow.as_deref() != Some("block") {
        if let Some(m) = options.iter().find(|m| m.path.is_ident("block_ms")) {
            errors.spanned(
                m,
                "`block_ms` applies only with `overflow = \"block\"`; add it, or remove `block_ms`",
            );
        }
    }
    d
}

/// One validated command.
struct Command {
    name: String,
    method: syn::Ident,
    takes_ctx: bool,
    request: Request,
    response: Response,
    /// A `wrap` hook: the type its `next` argument is declared with (for the span of a
    /// mismatch).
    next: Option<Box<Type>>,
    /// For a streaming command (`out: &mut Sink<'_, Chunk>`): the chunk type.
    stream: Option<Box<Type>>,
}

enum Request {
    None,
    Raw,
    Typed(Box<Type>),
}

enum Response {
    Unit {
        fallible: bool,
    },
    Bytes {
        fallible: bool,
    },
    /// The command writes into `out: &mut Output` itself.
    Written {
        fallible: bool,
    },
    Typed {
        ty: Box<Type>,
        fallible: bool,
    },
}

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_args(attr, &mut errors);
    let mut imp: ItemImpl = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(_) => {
            errors.push(syn::Error::new(
                Span::call_site(),
                "`#[plugin]` goes on an inherent `impl` block holding the `#[command]` methods, \
                 e.g. `#[plugin] impl MyPlugin { #[command] fn greet(&self, name: String) -> String { … } }`",
            ));
            let mut out = errors.to_compile_error();
            out.extend(item);
            return out;
        }
    };

    if let Some((_, path, _)) = &imp.trait_ {
        errors.spanned(
            path,
            "`#[plugin]` goes on an inherent `impl` block (`impl MyPlugin { … }`) holding the \
             `#[command]` methods, not on a trait impl; keep `impl Plugin for MyPlugin` separate",
        );
    }
    if !imp.generics.params.is_empty() {
        errors.spanned(
            &imp.generics,
            "a plugin type cannot be generic: the host loads one concrete type per library; \
             define a concrete type (or a type alias) and put `#[plugin]` on its impl",
        );
    }

    let (commands, hooks) = collect_commands(&mut imp, &mut errors);
    let subscriptions = collect_subscriptions(&mut imp, &mut errors);
    let migrations = collect_migrations(&mut imp, &mut errors);
    let self_ty = (*imp.self_ty).clone();
    let generated = if imp.trait_.is_none() && imp.generics.params.is_empty() {
        generate(
            &self_ty,
            &args,
            &commands,
            &hooks,
            &subscriptions,
            &migrations,
        )
    } else {
        TokenStream::new()
    };

    let errs = errors.to_compile_error();
    quote! {
        #errs
        #imp
        #generated
    }
}

fn parse_args(attr: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    let metas = match parser.parse2(attr) {
        Ok(m) => m,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("{e}; expected `#[plugin]` or `#[plugin(capabilities = [\"kv\", …])]`"),
            ));
            return args;
        }
    };
    for meta in metas {
        match &meta {
            Meta::NameValue(MetaNameValue { path, value, .. }) if path.is_ident("capabilities") => {
                match value {
                    Expr::Array(ExprArray { elems, .. }) => {
                        for elem in elems {
                            match elem {
                                Expr::Lit(ExprLit {
                                    lit: Lit::Str(s), ..
                                }) => {
                                    let v = s.value();
                                    match crate::capability::check(&v) {
                                        Ok(()) => args.capabilities.push(v),
                                        Err(msg) => errors.spanned(s, msg),
                                    }
                                }
                                other => errors.spanned(
                                    other,
                                    "each capability is a string literal, e.g. `\"kv\"` or \
                                     `\"fs.read:/data/**\"`",
                                ),
                            }
                        }
                    }
                    other => errors.spanned(
                        other,
                        "`capabilities` takes a list of strings: `capabilities = [\"kv\"]`",
                    ),
                }
            }
            Meta::NameValue(MetaNameValue { path, value, .. }) if path.is_ident("services") => {
                match value {
                    Expr::Array(ExprArray { elems, .. }) => {
                        for elem in elems {
                            match elem {
                                Expr::Lit(ExprLit {
                                    lit: Lit::Str(s), ..
                                }) if valid_dotted(&s.value()) => args.services.push(s.value()),
                                other => errors.spanned(
                                    other,
                                    "each service is a string of dot-separated segments of \
                                     letters, digits, `-` and `_`, e.g. `\"text.tools\"`",
                                ),
                            }
                        }
                    }
                    other => errors.spanned(
                        other,
                        "`services` takes a list of strings: `services = [\"text.tools\"]`",
                    ),
                }
            }
            other => {
                let name = other
                    .path()
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| other.path().to_token_stream().to_string());
                let hint = match crate::suggest::closest(&name, &["capabilities", "services"]) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "the arguments are `capabilities = [\"…\"]` and `services = [\"…\"]`"
                        .to_owned(),
                };
                errors.spanned(
                    other,
                    format!("unknown `#[plugin]` argument `{name}`; {hint}"),
                );
            }
        }
    }
    args
}

/// Finds `#[command]` and `#[hook]` methods, strips the attribute, and validates each
/// signature. A hook is served by a command of its own (named after the method, or `name`),
/// so the host calls it as it calls any command.
fn collect_commands(imp: &mut ItemImpl, errors: &mut Errors) -> (Vec<Command>, Vec<Hook>) {
    let mut commands: Vec<(Command, Span)> = Vec::new();
    let mut hooks = Vec::new();
    for item in &mut imp.items {
        let ImplItem::Fn(func) = item else { continue };
        let hook_attr = take_attr(func, "hook");
        // A method serves one hook (its command answers one point): a second `#[hook]` left
        // on it would expand on its own and say it is outside `#[plugin]`.
        while let Some(again) = take_attr(func, "hook") {
            errors.spanned(
                &again,
                "a method serves one `#[hook]`: its command answers one point; write another \
                 method for the other point (it may call this one)",
            );
        }
        let command_attr = func
            .attrs
            .iter()
            .position(is_command_attr)
            .map(|pos| func.attrs.remove(pos));
        let mut wrap = false;
        let name = match (&command_attr, &hook_attr) {
            (Some(c), Some(_)) => {
                errors.spanned(
                    c,
                    "a `#[hook]` method is already served as a command; remove `#[command]` \
                     (rename it with `#[hook(…, name = \"…\")]`)",
                );
                continue;
            }
            (Some(attr), None) => command_name(attr, func, errors),
            (None, Some(attr)) => {
                let Some(hook) = hook_args(attr, func.sig.ident.to_string(), errors) else {
                    continue;
                };
                let name = hook.command.clone();
                wrap = hook.kind == "wrap";
                hooks.push(hook);
                name
            }
            (None, None) => continue,
        };
        // The host calls a hook with one request and takes one response: said before the
        // signature's other checks, which a `wrap` hook with a sink would fail less clearly.
        let streams = func.sig.inputs.iter().any(|arg| {
            matches!(arg, syn::FnArg::Typed(t) if is_ref_to(&t.ty, "Sink", true) || is_ref_to(&t.ty, "Sink", false))
        });
        if hook_attr.is_some() && streams {
            errors.spanned(
                &func.sig.ident,
                "a `#[hook]` answers with one value and cannot stream: remove the \
                 `out: &mut Sink<'_, Chunk>` argument, or serve the stream as a `#[command]`",
            );
            continue;
        }
        let Some(cmd) = validate_command(func, name.clone(), wrap, errors) else {
            continue;
        };
        // Offered for inlining into the command's own entry (SDK ABI 1.6), where the output
        // is known to be the host's window: a hint the optimiser weighs, never a promise, and
        // left alone when the author wrote an `#[inline…]` of their own.
        if !func.attrs.iter().any(|a| a.path().is_ident("inline")) {
            func.attrs.push(syn::parse_quote!(#[inline]));
        }
        if let Some((first, _)) = commands.iter().find(|(c, _)| c.name == cmd.name) {
            errors.spanned(
                &func.sig.ident,
                format!(
                    "a command named `{}` is already declared above (method `{}`); give one of \
                     them another name with `#[command(name = \"…\")]`",
                    cmd.name, first.method
                ),
            );
            continue;
        }
        commands.push((cmd, func.sig.ident.span()));
    }
    // A hook whose method failed validation has no command to serve it: drop it too, so one
    // mistake gives one message.
    hooks.retain(|h| commands.iter().any(|(c, _)| c.name == h.command));
    (commands.into_iter().map(|(c, _)| c).collect(), hooks)
}

/// Whether `s` is dot-separated segments of ASCII letters, digits, `-` and `_`.
fn valid_dotted(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether `s` is a subscription pattern: segments, `*` for one, `>` (last) for the rest.
fn valid_pattern(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    !s.is_empty()
        && parts.iter().enumerate().all(|(i, seg)| {
            *seg == "*"
                || (*seg == ">" && i + 1 == parts.len())
                || (!seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        })
}

/// Removes and returns the method's attribute called `name` (`#[name]` or `#[path::name]`).
fn take_attr(func: &mut ImplItemFn, name: &str) -> Option<Attribute> {
    let pos = func
        .attrs
        .iter()
        .position(|a| a.path().segments.last().is_some_and(|s| s.ident == name))?;
    Some(func.attrs.remove(pos))
}

/// Whether the method takes `&self` and `arity - 1` more arguments.
fn takes_shared_self(func: &ImplItemFn, arity: usize) -> bool {
    matches!(func.sig.inputs.first(), Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none())
        && func.sig.inputs.len() == arity
}

/// Finds `#[subscribe("pattern")]` methods, strips the attribute, and checks each signature:
/// `fn name(&self, ctx: &Context, event: &Event<'_>)` returning `()` or a `Result`.
fn collect_subscriptions(imp: &mut ItemImpl, errors: &mut Errors) -> Vec<Subscription> {
    let mut subs = Vec::new();
    for item in &mut imp.items {
        let ImplItem::Fn(func) = item else { continue };
        let Some(attr) = take_attr(func, "subscribe") else {
            continue;
        };
        let (pattern, delivery) = match attr.parse_args::<SubscribeArgs>() {
            Ok(args) if valid_pattern(&args.pattern.value()) => (
                args.pattern.value(),
                delivery_options(&args.options, errors),
            ),
            Ok(SubscribeArgs { pattern: lit, .. }) => {
                errors.spanned(
                    &lit,
                    "a subscription pattern is dot-separated segments; `*` stands for one \
                     segment and `>`, last, for the rest: `\"plugin.*.saved\"`, `\"host.>\"`",
                );
                continue;
            }
            Err(_) => {
                errors.spanned(
                    &attr,
                    "write the pattern as a string: `#[subscribe(\"plugin.notes.*\")]`",
                );
                continue;
            }
        };
        if !takes_shared_self(func, 3) {
            errors.spanned(
                &func.sig,
                "a `#[subscribe]` handler takes `(&self, ctx: &Context, event: &Event<'_>)` and \
                 returns `()` or `Result<(), PluginError>`",
            );
            continue;
        }
        subs.push(Subscription {
            pattern,
            method: func.sig.ident.clone(),
            delivery,
        });
    }
    subs
}

/// Whether `s` is a version prefix: one to three dot-separated numbers (`0.1`, `1.2.3`).
fn valid_version_prefix(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Finds `#[migration(from = "0.1", to = "0.2")]` methods, strips the attribute, and checks
/// each: `fn name(&self, data: &mut MigrationData) -> Result<(), PluginError>`.
fn collect_migrations(imp: &mut ItemImpl, errors: &mut Errors) -> Vec<Migration> {
    let mut out = Vec::new();
    for item in &mut imp.items {
        let ImplItem::Fn(func) = item else { continue };
        let Some(attr) = take_attr(func, "migration") else {
            continue;
        };
        let usage = "write `#[migration(from = \"0.1\", to = \"0.2\")]`: the versions the data \
                     migrates between (a prefix such as `0.1` covers every `0.1.x`)";
        let metas =
            match attr.parse_args_with(Punctuated::<MetaNameValue, Token![,]>::parse_terminated) {
                Ok(m) => m,
                Err(_) => {
                    errors.spanned(&attr, usage);
                    continue;
                }
            };
        let (mut from, mut to) = (None, None);
        // One mistake, one message: a bad value is reported where it is, not again as missing.
        let mut reported = false;
        for m in &metas {
            let value = match &m.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) if valid_version_prefix(&s.value()) => s.value(),
                other => {
                    errors.spanned(other, usage);
                    reported = true;
                    continue;
                }
            };
            if m.path.is_ident("from") {
                from = Some(value);
            } else if m.path.is_ident("to") {
                to = Some(value);
            } else {
                errors.spanned(&m.path, usage);
                reported = true;
            }
        }
        let (Some(from), Some(to)) = (from, to) else {
            if !reported {
                errors.spanned(&attr, usage);
            }
            continue;
        };
        if !takes_shared_self(func, 2) {
            errors.spanned(
                &func.sig,
                "a `#[migration]` method takes `(&self, data: &mut MigrationData)` and returns \
                 `Result<(), PluginError>`",
            );
            continue;
        }
        out.push(Migration {
            from,
            to,
            method: func.sig.ident.clone(),
        });
    }
    out
}

fn is_command_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "command")
}

fn command_name(attr: &Attribute, func: &ImplItemFn, errors: &mut Errors) -> String {
    let default = func.sig.ident.to_string();
    let Meta::List(list) = &attr.meta else {
        return default;
    };
    let parser = Punctuated::<MetaNameValue, Token![,]>::parse_terminated;
    let metas = match parser.parse2(list.tokens.clone()) {
        Ok(m) => m,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("{e}; expected `#[command]` or `#[command(name = \"…\")]`"),
            ));
            return default;
        }
    };
    let mut name = default;
    for nv in metas {
        if nv.path.is_ident("name") {
            match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => {
                    let v = s.value();
                    if valid_command_name(&v) {
                        name = v;
                    } else {
                        errors.spanned(
                            s,
                            format!(
                                "`{v}` is not a valid command name; use ASCII letters, digits, `_` \
                                 and `-`, starting with a letter, at most 64 characters"
                            ),
                        );
                    }
                }
                other => errors.spanned(other, "`name` takes a string: `name = \"greet\"`"),
            }
        } else {
            let got = nv.path.to_token_stream().to_string();
            let hint = match crate::suggest::closest(&got, &["name"]) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "the only argument is `name = \"…\"`".to_owned(),
            };
            errors.spanned(
                &nv.path,
                format!("unknown `#[command]` argument `{got}`; {hint}"),
            );
        }
    }
    name
}

fn valid_command_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `WRAP_USAGE`: the signature of a `wrap` hook.
const WRAP_USAGE: &str = "a `wrap` hook takes `(&self, [ctx: &Context,] input: In, next: \
     Next<In, Out>)` and returns `Out` or `Result<Out, PluginError>`, In and Out the point's \
     message types; call `next.call(input)` to run the rest of the operation";

fn validate_command(
    func: &ImplItemFn,
    name: String,
    wrap: bool,
    errors: &mut Errors,
) -> Option<Command> {
    let sig = &func.sig;
    let mut ok = true;
    if let Some(a) = &sig.asyncness {
        errors.spanned(
            a,
            "commands are synchronous: remove `async` (the host calls commands from its own \
             threads; block on async work inside the command if you need it)",
        );
        ok = false;
    }
    // Lifetimes are fine (a borrowing request and the response that borrows from it); types
    // are not.
    if sig.generics.type_params().next().is_some() || sig.generics.const_params().next().is_some() {
        errors.spanned(
            &sig.generics,
            "a command cannot be generic: the dispatch table needs one concrete request type \
             (lifetimes, for messages that borrow, are fine)",
        );
        ok = false;
    }

    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) => {
            errors.spanned(
                r,
                "commands take `&self`: the host may call a plugin from several threads at once \
                 and never locks around plugin code; keep mutable state in an atomic or a `Mutex`",
            );
            ok = false;
        }
        _ => {
            errors.spanned(
                &sig.ident,
                "a command needs a `&self` receiver: write `fn name(&self, …)`",
            );
            return None;
        }
    }

    let mut takes_ctx = false;
    let mut request = Request::None;
    let mut writes_output = false;
    // An `Output` and a `Sink` both: reported once, where the second is.
    let mut two_outputs = false;
    let mut next: Option<Box<Type>> = None;
    let mut stream: Option<Box<Type>> = None;
    for (i, arg) in inputs.enumerate() {
        let FnArg::Typed(pat) = arg else { continue };
        let ty = &*pat.ty;
        if i == 0 && is_ref_to(ty, "Context", false) {
            takes_ctx = true;
            continue;
        }
        if next.is_some() {
            errors.spanned(arg, WRAP_USAGE);
            ok = false;
            continue;
        }
        if last_segment_is(ty, "Next") {
            if !wrap {
                errors.spanned(
                    ty,
                    "only a `wrap` hook takes `next: Next<In, Out>`: write \
                     `#[hook(\"point\", wrap)]`, or remove the argument",
                );
                ok = false;
            } else if matches!(request, Request::None) {
                errors.spanned(ty, WRAP_USAGE);
                ok = false;
            }
            next = Some(Box::new(ty.clone()));
            continue;
        }
        if is_ref_to(ty, "Sink", false) {
            errors.spanned(
                ty,
                "a streaming command sends through a mutable sink: write `out: &mut Sink<'_, Chunk>`",
            );
            ok = false;
            continue;
        }
        if is_ref_to(ty, "Sink", true) {
            if writes_output || stream.is_some() {
                errors.spanned(
                    ty,
                    "a command has one output: either `out: &mut Output` or one \
                     `out: &mut Sink<'_, Chunk>`, not both",
                );
                ok = false;
                two_outputs = true;
                continue;
            }
            match sink_chunk(ty) {
                Some(chunk) => stream = Some(Box::new(chunk)),
                None => {
                    errors.spanned(
                        ty,
                        "name the chunk type: `out: &mut Sink<'_, Chunk>` where `Chunk` is a \
                         `#[derive(Message)]` type (or `String`, `Vec<u8>`, a number…)",
                    );
                    ok = false;
                }
            }
            continue;
        }
        if is_ref_to(ty, "Output", true) {
            if stream.is_some() {
                errors.spanned(
                    ty,
                    "a command has one output: either `out: &mut Output` or one \
                     `out: &mut Sink<'_, Chunk>`, not both",
                );
                ok = false;
                continue;
            }
            writes_output = true;
            continue;
        }
        if writes_output || stream.is_some() {
            let what = if writes_output {
                "`out: &mut Output`"
            } else {
                "`out: &mut Sink<'_, Chunk>`"
            };
            errors.spanned(ty, format!("{what} must be the last argument of a command"));
            ok = false;
            continue;
        }
        if !matches!(request, Request::None) {
            errors.spanned(
                arg,
                "a command takes at most one request value; put several values in one struct \
                 with `#[derive(Message)]`",
            );
            ok = false;
            continue;
        }
        if is_byte_slice(ty) {
            request = Request::Raw;
        } else if let Type::Reference(r) = ty {
            errors.spanned(
                r,
                "take the request by value (e.g. `name: String`), or raw bytes as `&[u8]`; a \
                 `&Context` comes first, before the request",
            );
            ok = false;
        } else {
            request = Request::Typed(Box::new(ty.clone()));
        }
    }

    let (ret_ty, fallible) = match &sig.output {
        ReturnType::Default => (None, false),
        ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(inner) => (Some(inner), true),
            None => (Some((**ty).clone()), false),
        },
    };
    let response = match ret_ty {
        _ if writes_output => {
            // With a sink too, that one mistake is said already.
            if !two_outputs && ret_ty.as_ref().is_some_and(|t| !is_unit(t)) {
                errors.spanned(
                    &sig.output,
                    "a command that writes to `out: &mut Output` returns `()` or \
                     `Result<(), PluginError>`",
                );
                ok = false;
            }
            Response::Written { fallible }
        }
        None => Response::Unit { fallible },
        Some(t) if is_unit(&t) => Response::Unit { fallible },
        Some(t) if is_byte_vec(&t) => Response::Bytes { fallible },
        Some(t) => Response::Typed {
            ty: Box::new(t),
            fallible,
        },
    };
    if wrap {
        let typed_request = matches!(request, Request::Typed(_));
        let typed_response =
            matches!(response, Response::Typed { .. } | Response::Unit { .. }) && !writes_output;
        if next.is_none() || !typed_request || !typed_response {
            if ok {
                errors.spanned(&sig.ident, WRAP_USAGE);
            }
            ok = false;
        }
    }
    ok.then(|| Command {
        name,
        method: sig.ident.clone(),
        takes_ctx,
        request,
        response,
        next,
        stream,
    })
}

/// `Chunk` for a sink argument `&mut Sink<'_, Chunk>` (the last type argument).
fn sink_chunk(ty: &Type) -> Option<Type> {
    let Type::Reference(TypeReference { elem, .. }) = ty else {
        return None;
    };
    let Type::Path(p) = &**elem else { return None };
    let PathArguments::AngleBracketed(a) = &p.path.segments.last()?.arguments else {
        return None;
    };
    a.args.iter().rev().find_map(|arg| match arg {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == name),
        _ => false,
    }
}

fn is_ref_to(ty: &Type, name: &str, mutable: bool) -> bool {
    match ty {
        Type::Reference(TypeReference {
            elem, mutability, ..
        }) => mutability.is_some() == mutable && last_segment_is(elem, name),
        _ => false,
    }
}

fn is_byte_slice(ty: &Type) -> bool {
    match ty {
        Type::Reference(TypeReference {
            elem,
            mutability: None,
            ..
        }) => matches!(&**elem, Type::Slice(s) if last_segment_is(&s.elem, "u8")),
        _ => false,
    }
}

fn is_byte_vec(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| {
            s.ident == "Vec"
                && matches!(&s.arguments, PathArguments::AngleBracketed(a)
                    if a.args.len() == 1
                        && matches!(a.args.first(), Some(syn::GenericArgument::Type(t)) if last_segment_is(t, "u8")))
        }),
        _ => false,
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// `T` for a return type `Result<T, E>` (or an alias `Result<T>`).
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(a) = &seg.arguments else {
        return None;
    };
    match a.args.first()? {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// `<T as Message>::CONTRACT.id`, spanned on `T` so a type that is not a message is reported there.
fn contract_id(ty: &Type) -> TokenStream {
    let ty = relifetime(ty, "'static");
    quote_spanned! {ty.span()=> <#ty as ::switchboard_sdk::MessageRef<'static>>::VIEW_CONTRACT.id }
}

/// `ty` with every lifetime replaced by `lifetime`: `'_` where the generated dispatch names a
/// borrowing message type (the method's own lifetime names are not in scope there), `'static`
/// in the manifest's constant.
fn relifetime(ty: &Type, lifetime: &str) -> Type {
    struct Relifetime(syn::Lifetime);
    impl syn::visit_mut::VisitMut for Relifetime {
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            *l = syn::Lifetime::new(&self.0.to_string(), l.span());
        }
    }
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(
        &mut Relifetime(syn::Lifetime::new(lifetime, Span::call_site())),
        &mut ty,
    );
    ty
}

fn generate(
    self_ty: &Type,
    args: &Args,
    commands: &[Command],
    hooks: &[Hook],
    subscriptions: &[Subscription],
    migrations: &[Migration],
) -> TokenStream {
    let sdk = quote!(::switchboard_sdk);
    let private = quote!(#sdk::__private);

    let mut arms = Vec::new();
    let mut stream_arms = Vec::new();
    // Each command's own entry (SDK ABI 1.6): the shared entry with the command number a
    // constant, so the match folds to that command's arm.
    // A host gathers only typed requests, so a command without one has no gathered entry;
    // nor has a streaming command (its entry only refuses the call: streams are not small
    // calls).
    let entries = commands.iter().enumerate().map(|(index, cmd)| {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        if matches!(cmd.request, Request::Typed(_)) && cmd.stream.is_none() {
            quote!(#private::CommandEntryOf::<Self>::typed::<#index>())
        } else {
            quote!(#private::CommandEntryOf::<Self>::plain::<#index>())
        }
    });
    let mut parts = vec![
        quote!(#private::Part::Raw("{\"format\":1,\"name\":")),
        quote!(#private::Part::Str(env!("CARGO_PKG_NAME"))),
        quote!(#private::Part::Raw(",\"version\":")),
        quote!(#private::Part::Str(env!("CARGO_PKG_VERSION"))),
        quote!(#private::Part::Raw(",\"description\":")),
        quote!(#private::Part::Str(env!("CARGO_PKG_DESCRIPTION"))),
        quote!(#private::Part::Raw(",\"sdk_abi\":")),
        quote!(#private::Part::Str(#sdk::SDK_ABI_VERSION)),
        quote!(#private::Part::Raw(",\"commands\":[")),
    ];
    for (index, cmd) in commands.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let method = &cmd.method;
        let ctx_arg = cmd.takes_ctx.then(|| quote!(ctx,));
        let (decode, req_arg, req_id) = match &cmd.request {
            Request::None => (quote!(), quote!(), quote!("unit@1")),
            // Raw bytes are one buffer: a gathered request (which a host only makes of a
            // typed one) is joined first.
            Request::Raw => (
                quote! {
                    let mut __sb_flat = ::std::vec::Vec::new();
                    let request: &[u8] = request.flat(&mut __sb_flat);
                },
                quote!(request,),
                quote!(#sdk::RAW_BYTES_CONTRACT),
            ),
            Request::Typed(ty) => {
                let id = contract_id(ty);
                let ty = relifetime(ty, "'_");
                (
                    // Naming the contract first makes a type that is not a `Message` one error
                    // (the same as the manifest's, so reported once), not a serde one as well.
                    quote_spanned! {ty.span()=>
                        let _: &str = #id;
                        let mut __sb_flat = ::std::vec::Vec::new();
                        let req: #ty =
                            <#ty as #sdk::MessageRef<'_>>::__decode_input(request, &mut __sb_flat)?;
                    },
                    quote!(req,),
                    id,
                )
            }
        };
        let out_arg = if cmd.stream.is_some() {
            Some(quote!(&mut #sdk::Sink::__new(sink)))
        } else {
            matches!(cmd.response, Response::Written { .. }).then(|| quote!(out))
        };
        // A `wrap` hook: the host sends the invocation's token before the input, and the
        // method gets a `next` that re-enters the host with it.
        let (decode, next_arg) = match (&cmd.next, &cmd.request) {
            (Some(next_ty), Request::Typed(req_ty)) => {
                let req_ty = relifetime(req_ty, "'_");
                let resp_ty = match &cmd.response {
                    Response::Typed { ty, .. } => {
                        let ty = relifetime(ty, "'_");
                        quote!(#ty)
                    }
                    _ => quote!(()),
                };
                (
                    quote! {
                        let mut __sb_wrapped = ::std::vec::Vec::new();
                        let (__sb_token, request) =
                            #sdk::extend::__split_wrap(request.flat(&mut __sb_wrapped))?;
                        let request = #private::Input::bytes(request);
                        #decode
                        let next: #sdk::extend::Next<#req_ty, #resp_ty> =
                            #sdk::extend::Next::__from_host(ctx, __sb_token);
                    },
                    Some(quote_spanned!(next_ty.span()=> next,)),
                )
            }
            _ => (decode, None),
        };
        let call = quote!(self.#method(#ctx_arg #req_arg #next_arg #out_arg));
        let lift = |fallible: bool| {
            if fallible {
                quote!(match #call {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(e) => {
                        return ::core::result::Result::Err(::core::convert::Into::into(e))
                    }
                })
            } else {
                call.clone()
            }
        };
        let (body, resp_id) = match &cmd.response {
            Response::Unit { fallible } => {
                let v = lift(*fallible);
                (
                    quote!({ let () = #v; ::core::result::Result::Ok(()) }),
                    quote!("unit@1"),
                )
            }
            Response::Written { fallible } => {
                let v = lift(*fallible);
                (
                    quote!({ let () = #v; ::core::result::Result::Ok(()) }),
                    quote!(#sdk::RAW_BYTES_CONTRACT),
                )
            }
            Response::Bytes { fallible } => {
                let v = lift(*fallible);
                (
                    quote!({ let bytes: ::std::vec::Vec<u8> = #v; out.extend_from_slice(&bytes); ::core::result::Result::Ok(()) }),
                    quote!(#sdk::RAW_BYTES_CONTRACT),
                )
            }
            Response::Typed { ty, fallible } => {
                let v = lift(*fallible);
                let id = contract_id(ty);
                let ty = relifetime(ty, "'_");
                (
                    // As for the request: the contract first, so a non-message is one error.
                    quote_spanned! {ty.span()=> {
                        let _: &str = #id;
                        let resp: #ty = #v;
                        <#ty as #sdk::MessageRef<'_>>::__write_ref(&resp, out)
                    }},
                    id,
                )
            }
        };
        if let Some(chunk) = &cmd.stream {
            let chunk_id = contract_id(chunk);
            stream_arms.push(quote! {
                #index => { let _: &str = #chunk_id; #decode #body }
            });
            let name = &cmd.name;
            arms.push(quote! {
                #index => ::core::result::Result::Err(#sdk::PluginError::with_code(
                    #sdk::codes::CALL_STYLE_STREAM,
                    ::core::concat!("`", #name, "` streams its output; call it as a stream"),
                )),
            });
        } else {
            arms.push(quote! {
                #index => { #decode #body }
            });
        }
        let sep = if index == 0 {
            "{\"name\":"
        } else {
            ",{\"name\":"
        };
        let name = &cmd.name;
        parts.push(quote!(#private::Part::Raw(#sep)));
        parts.push(quote!(#private::Part::Str(#name)));
        parts.push(quote!(#private::Part::Raw(",\"request\":")));
        parts.push(quote!(#private::Part::Str(#req_id)));
        parts.push(quote!(#private::Part::Raw(",\"response\":")));
        parts.push(quote!(#private::Part::Str(#resp_id)));
        if let Some(chunk) = &cmd.stream {
            let chunk_id = contract_id(chunk);
            parts.push(quote!(#private::Part::Raw(",\"stream\":")));
            parts.push(quote!(#private::Part::Str(#chunk_id)));
        }
        parts.push(quote!(#private::Part::Raw("}")));
    }
    let string_list = |parts: &mut Vec<TokenStream>, key: &str, items: Vec<&str>| {
        let open = format!("],\"{key}\":[");
        parts.push(quote!(#private::Part::Raw(#open)));
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                parts.push(quote!(#private::Part::Raw(",")));
            }
            let lit = LitStr::new(item, Span::call_site());
            parts.push(quote!(#private::Part::Str(#lit)));
        }
    };
    string_list(
        &mut parts,
        "capabilities",
        args.capabilities.iter().map(String::as_str).collect(),
    );
    string_list(
        &mut parts,
        "subscriptions",
        subscriptions.iter().map(|s| s.pattern.as_str()).collect(),
    );
    string_list(
        &mut parts,
        "services",
        args.services.iter().map(String::as_str).collect(),
    );
    parts.push(quote!(#private::Part::Raw("],\"migrations\":[")));
    for (i, m) in migrations.iter().enumerate() {
        let sep = if i == 0 { "{\"from\":" } else { ",{\"from\":" };
        let (from, to) = (&m.from, &m.to);
        parts.push(quote!(#private::Part::Raw(#sep)));
        parts.push(quote!(#private::Part::Str(#from)));
        parts.push(quote!(#private::Part::Raw(",\"to\":")));
        parts.push(quote!(#private::Part::Str(#to)));
        parts.push(quote!(#private::Part::Raw("}")));
    }
    parts.push(quote!(#private::Part::Raw("]")));
    // The crate's `plugin.toml`, if it has one, travels in the library, so a development load
    // sees the manifest a package would (configuration, limits, requirements). `include_str!`
    // makes cargo rebuild the plugin when the file changes.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    if manifest_dir.is_some_and(|d| d.join("plugin.toml").is_file()) {
        parts.push(quote!(#private::Part::Raw(",\"plugin_toml\":")));
        parts.push(
            quote!(#private::Part::Str(::core::include_str!(::core::concat!(
                ::core::env!("CARGO_MANIFEST_DIR"),
                "/plugin.toml"
            )))),
        );
    }
    let requests: Vec<String> = subscriptions
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.delivery.is_empty())
        .map(|(i, s)| {
            let d = &s.delivery;
            let mut fields = vec![format!("\"handler\":{i}")];
            if let Some(q) = d.queue {
                fields.push(format!("\"queue\":{q}"));
            }
            if let Some(o) = &d.overflow {
                // One of three fixed words: nothing to escape.
                fields.push(format!("\"overflow\":\"{o}\""));
            }
            if let Some(ms) = d.block_ms {
                fields.push(format!("\"block_ms\":{ms}"));
            }
            format!("{{{}}}", fields.join(","))
        })
        .collect();
    if !requests.is_empty() {
        let text = format!(",\"delivery\":[{}]", requests.join(","));
        parts.push(quote!(#private::Part::Raw(#text)));
    }
    if !hooks.is_empty() {
        parts.push(quote!(#private::Part::Raw(",\"hooks\":[")));
        for (i, h) in hooks.iter().enumerate() {
            let open = if i == 0 {
                "{\"point\":"
            } else {
                ",{\"point\":"
            };
            parts.push(quote!(#private::Part::Raw(#open)));
            let (point, kind, command) = (&h.point, &h.kind, &h.command);
            parts.push(quote!(#private::Part::Str(#point)));
            parts.push(quote!(#private::Part::Raw(",\"kind\":")));
            parts.push(quote!(#private::Part::Str(#kind)));
            parts.push(quote!(#private::Part::Raw(",\"command\":")));
            parts.push(quote!(#private::Part::Str(#command)));
            let priority = format!(",\"priority\":{}", h.priority);
            parts.push(quote!(#private::Part::Raw(#priority)));
            for (key, names) in [("before", &h.before), ("after", &h.after)] {
                if names.is_empty() {
                    continue;
                }
                let open = format!(",\"{key}\":[");
                parts.push(quote!(#private::Part::Raw(#open)));
                for (j, n) in names.iter().enumerate() {
                    if j > 0 {
                        parts.push(quote!(#private::Part::Raw(",")));
                    }
                    parts.push(quote!(#private::Part::Str(#n)));
                }
                parts.push(quote!(#private::Part::Raw("]")));
            }
            parts.push(quote!(#private::Part::Raw("}")));
        }
        parts.push(quote!(#private::Part::Raw("]")));
    }
    parts.push(quote!(#private::Part::Raw("}")));
    for (i, m) in migrations.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let method = &m.method;
        arms.push(quote! {
            i if i == #sdk::migration::MIGRATION_BASE + #index => {
                let mut __sb_flat = ::std::vec::Vec::new();
                #sdk::migration::run_migration(request.flat(&mut __sb_flat), out, |data| self.#method(data))
            }
        });
    }

    let on_event = (!subscriptions.is_empty()).then(|| {
        let arms = subscriptions.iter().enumerate().map(|(i, sub)| {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let method = &sub.method;
            quote!(#index => #sdk::HandlerResult::into_result(self.#method(ctx, &event)),)
        });
        quote! {
            fn on_event(
                &self,
                ctx: &#sdk::Context,
                topic: &str,
                envelope: &[u8],
            ) -> ::core::result::Result<(), #sdk::PluginError> {
                let event = #sdk::Event::from_frame(topic, #sdk::Frame::decode(envelope)?);
                match event.handler() {
                    #(#arms)*
                    other => ::core::result::Result::Err(#sdk::PluginError::with_code(
                        #sdk::codes::UNKNOWN_TOPIC,
                        ::std::format!("no subscription handler with index {other} (topic `{topic}`)"),
                    )),
                }
            }
        }
    });

    let dispatch_stream = (!stream_arms.is_empty()).then(|| {
        quote! {
            fn dispatch_stream(
                &self,
                ctx: &#sdk::Context,
                method: u32,
                request: &[u8],
                sink: &mut dyn #sdk::stream::RawSink,
                out: &mut #private::Output<'_>,
            ) -> ::core::result::Result<(), #sdk::PluginError> {
                let _ = (&ctx, &request, &out);
                let request = #private::Input::bytes(request);
                let _ = &request;
                match method {
                    #(#stream_arms)*
                    other => ::core::result::Result::Err(#sdk::PluginError::with_code(
                        #sdk::codes::CALL_STYLE_PLAIN,
                        ::std::format!("command {other} does not stream"),
                    )),
                }
            }
        }
    });

    let has_migrations = !migrations.is_empty();
    // Streaming commands' arms in `dispatch` only refuse the call: they use none of its
    // arguments.
    let commands: Vec<&Command> = commands.iter().filter(|c| c.stream.is_none()).collect();
    let unused_ctx = commands.iter().all(|c| !c.takes_ctx && c.next.is_none());
    let ctx_name = if unused_ctx {
        format_ident!("_ctx")
    } else {
        format_ident!("ctx")
    };
    let unused_req = !has_migrations && commands.iter().all(|c| matches!(c.request, Request::None));
    let req_name = if unused_req {
        format_ident!("_request")
    } else {
        format_ident!("request")
    };
    let unused_out = !has_migrations
        && commands
            .iter()
            .all(|c| matches!(c.response, Response::Unit { .. }));
    let out_name = if unused_out {
        format_ident!("_out")
    } else {
        format_ident!("out")
    };
    let rebind_ctx = (!unused_ctx).then(|| quote!(let ctx = #ctx_name;));
    let rebind_req = (!unused_req).then(|| quote!(let request = #req_name;));
    let rebind_out = (!unused_out).then(|| quote!(let out = #out_name;));

    quote! {
        const _: () = {
            const __SB_PARTS: &[#private::Part<'static>] = &[#(#parts),*];
            const __SB_LEN: usize = #private::json_len(__SB_PARTS);

            #[used]
            #[cfg_attr(any(target_os = "macos", target_os = "ios"), link_section = "__DATA,__sbmanifest")]
            #[cfg_attr(windows, link_section = ".sbmanif")]
            #[cfg_attr(not(any(target_os = "macos", target_os = "ios", windows)), link_section = "switchboard_manifest")]
            static __SB_MANIFEST: [u8; __SB_LEN] = #private::json_build::<__SB_LEN>(__SB_PARTS);

            // `PluginEntry: Plugin`, so this impl is also the check that the type implements
            // `Plugin`: one error, on the type, with `Plugin`'s hint. (A separate assertion would
            // only add a second copy of it.)
            impl #sdk::PluginEntry for #self_ty {
                const MANIFEST: &'static [u8] = &__SB_MANIFEST;
                const COMMAND_ENTRIES: &'static [#private::CommandEntryOf<Self>] =
                    &[#(#entries),*];

                // Always inlined into its callers (each command's own entry, SDK ABI 1.6, where
                // the command number is a constant and the match folds to one arm; and the
                // SDK's one shared copy): as a frame of its own it cost a call, a prologue and
                // the output's variant unknown to the match (issue 17's fifth round).
                #[inline(always)]
                fn dispatch(
                    &self,
                    #ctx_name: &#sdk::Context,
                    method: u32,
                    #req_name: #private::Input<'_>,
                    #out_name: &mut #private::Output<'_>,
                ) -> ::core::result::Result<(), #sdk::PluginError> {
                    #rebind_ctx
                    #rebind_req
                    #rebind_out
                    match method {
                        #(#arms)*
                        other => ::core::result::Result::Err(#sdk::PluginError::with_code(
                            #sdk::codes::UNKNOWN_METHOD,
                            ::std::format!("no command with index {other}"),
                        )),
                    }
                }

                #on_event

                #dispatch_stream
            }

            #sdk::__export_plugin_root!(#self_ty);
        };
    }
}
