//! The plugin side: turning a [`PluginEntry`] type into the exported root module.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Once};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RStr, RString, RVec};

use super::output::Output;
use super::types::{
    AbiError, AbiHealth, HostContextBox, PluginModule, PluginModuleRef, PluginObject,
    PluginObjectBox, PluginObject_TO, StreamSinkBox,
};
use crate::caps::Access;
use crate::context::{Context, ContextBackend, Level};
use crate::error::{codes, PluginError};
use crate::message::{decode_as, encode_into};
use crate::plugin::{Health, PluginEntry};
use crate::state::{CasOutcome, CasRequest, CommitBatch, CommitOutcome, KvEntry, KvPage, Secret};

/// Builds the root module for plugin type `P`. Called once, by the exported loader.
pub fn root_module<P: PluginEntry>() -> PluginModuleRef {
    PluginModule {
        sdk_abi_major: super::SDK_ABI_MAJOR,
        sdk_abi_minor: super::SDK_ABI_MINOR,
        manifest: RSlice::from_slice(P::MANIFEST),
        instantiate: instantiate::<P>,
    }
    .leak_into_prefix()
}

/// Creates the plugin object. Panics in [`Plugin::create`](crate::Plugin::create) become errors.
pub extern "C" fn instantiate<P: PluginEntry>(
    host: HostContextBox,
) -> RResult<PluginObjectBox, AbiError> {
    panic_message_hook_install();
    let ctx = Context::from_backend(Arc::new(HostLink { host }));
    match guard(|| P::create(&ctx)) {
        Ok(plugin) => RResult::ROk(PluginObject_TO::from_value(
            Adapter { plugin, ctx },
            TD_Opaque,
        )),
        Err(e) => RResult::RErr(to_abi(e)),
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per library) a panic hook that records the message and location of a panic
/// for the error the host receives, instead of printing it: a library never prints.
pub fn panic_message_hook_install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            let text = match info.location() {
                Some(loc) => format!("{msg} (at {}:{})", loc.file(), loc.line()),
                None => msg,
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
        }));
    });
}

/// Runs plugin code; a panic becomes a coded [`PluginError`] and never unwinds across the ABI.
fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            let text = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "the plugin panicked".to_owned());
            Err(PluginError::with_code(
                codes::PLUGIN_PANICKED,
                format!("plugin panicked: {text}"),
            ))
        }
    }
}

pub(super) fn to_abi(e: PluginError) -> AbiError {
    AbiError {
        code: e.code().number(),
        message: RString::from(e.message()),
        next_step: RString::from(e.next_step_hint().unwrap_or_default()),
    }
}

/// What a host gets from a plugin built before streaming (SDK ABI 1.3).
pub(super) fn stream_unsupported() -> PluginError {
    PluginError::with_code(
        codes::STREAM_UNSUPPORTED,
        "this plugin predates SDK ABI 1.3 and has no streaming commands",
    )
    .next_step("rebuild the plugin against switchboard-sdk 1.3 or later")
}

/// What a plugin gets from a host built before metering (SDK ABI 1.3).
pub(super) fn usage_unsupported() -> PluginError {
    PluginError::with_code(
        codes::USAGE_UNSUPPORTED,
        "this host predates SDK ABI 1.3 and does not meter usage; nothing was recorded",
    )
    .next_step("run the plugin in a host built with switchboard-host 1.3 or later")
}

/// A host's stream sink, seen by the plugin through [`RawSink`](crate::stream::RawSink).
struct AbiSink<'s> {
    sink: StreamSinkBox<'s>,
}

impl crate::stream::RawSink for AbiSink<'_> {
    fn send(&mut self, chunk: &[u8]) -> Result<(), PluginError> {
        from_rresult(self.sink.send(RSlice::from_slice(chunk)))
    }

    fn is_cancelled(&self) -> bool {
        self.sink.is_cancelled()
    }
}

#[inline]
fn to_rresult(r: Result<(), PluginError>) -> RResult<(), AbiError> {
    match r {
        Ok(()) => RResult::ROk(()),
        Err(e) => RResult::RErr(to_abi(e)),
    }
}

/// Adapts a [`PluginEntry`] type to the ABI trait, guarding every entry point.
struct Adapter<P> {
    plugin: P,
    ctx: Context,
}

impl<P: PluginEntry> PluginObject for Adapter<P> {
    fn start(&self) -> RResult<(), AbiError> {
        to_rresult(guard(|| self.plugin.start(&self.ctx)))
    }

    fn stop(&self) -> RResult<(), AbiError> {
        to_rresult(guard(|| self.plugin.stop(&self.ctx)))
    }

    #[inline]
    fn dispatch(
        &self,
        method: u32,
        request: RSlice<'_, u8>,
        response: &mut RVec<u8>,
    ) -> RResult<(), RBox<AbiError>> {
        let mut out = Output::from_rvec(response);
        // The hot path: the error is boxed so the result fits in two registers.
        match guard(|| {
            self.plugin
                .dispatch(&self.ctx, method, request.as_slice(), &mut out)
        }) {
            Ok(()) => RResult::ROk(()),
            Err(e) => RResult::RErr(RBox::new(to_abi(e))),
        }
    }

    fn dispatch_stream(
        &self,
        method: u32,
        request: RSlice<'_, u8>,
        sink: StreamSinkBox<'_>,
        response: &mut RVec<u8>,
    ) -> RResult<(), RBox<AbiError>> {
        let mut out = Output::from_rvec(response);
        let mut sink = AbiSink { sink };
        match guard(|| {
            self.plugin
                .dispatch_stream(&self.ctx, method, request.as_slice(), &mut sink, &mut out)
        }) {
            Ok(()) => RResult::ROk(()),
            Err(e) => RResult::RErr(RBox::new(to_abi(e))),
        }
    }

    fn on_event(&self, topic: RStr<'_>, envelope: RSlice<'_, u8>) -> RResult<(), AbiError> {
        to_rresult(guard(|| {
            self.plugin
                .on_event(&self.ctx, topic.as_str(), envelope.as_slice())
        }))
    }

    fn snapshot(&self) -> RResult<RVec<u8>, AbiError> {
        match guard(|| self.plugin.snapshot(&self.ctx)) {
            Ok(bytes) => RResult::ROk(RVec::from(bytes)),
            Err(e) => RResult::RErr(to_abi(e)),
        }
    }

    fn restore(&self, state: RSlice<'_, u8>) -> RResult<(), AbiError> {
        to_rresult(guard(|| self.plugin.restore(&self.ctx, state.as_slice())))
    }

    fn health(&self) -> AbiHealth {
        let health = guard(|| Ok(self.plugin.health(&self.ctx)))
            .unwrap_or_else(|e| Health::Unhealthy(e.message().to_owned()));
        let (status, message) = match health {
            Health::Healthy => (0, String::new()),
            Health::Degraded(m) => (1, m),
            Health::Unhealthy(m) => (2, m),
        };
        AbiHealth {
            status,
            message: RString::from(message),
        }
    }
}

/// The plugin's view of the host: calls back through the host's ABI object.
struct HostLink {
    host: HostContextBox,
}

impl ContextBackend for HostLink {
    fn plugin_name(&self) -> String {
        self.host.plugin_name().into_string()
    }

    fn log(&self, level: Level, message: &str) {
        self.host.log(level as u8, RStr::from_str(message));
    }

    fn check(&self, access: &Access<'_>) -> Result<(), PluginError> {
        let target = access.target();
        from_rresult(self.host.check(
            RStr::from_str(access.kind().as_str()),
            RStr::from_str(&target),
        ))
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        from_rresult(self.host.read_file(RStr::from_str(path))).map(RVec::into_vec)
    }

    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), PluginError> {
        from_rresult(
            self.host
                .write_file(RStr::from_str(path), RSlice::from_slice(data)),
        )
    }

    fn env_var(&self, name: &str) -> Result<Option<String>, PluginError> {
        from_rresult(self.host.env_var(RStr::from_str(name)))
            .map(|v| v.into_option().map(RString::into_string))
    }

    fn publish(
        &self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError> {
        let headers = if headers.is_empty() {
            Vec::new()
        } else {
            postcard::to_allocvec(headers).map_err(|e| {
                PluginError::with_code(
                    codes::ENCODE_FAILED,
                    format!("the event headers do not encode: {e}"),
                )
            })?
        };
        from_rresult(self.host.publish(
            RStr::from_str(topic),
            RSlice::from_slice(&headers),
            RSlice::from_slice(payload),
        ))
    }

    fn publish_batch(&self, batch: &crate::batch::EventBatch<'_>) -> Result<u32, PluginError> {
        let (topics, events, ends, payloads) = batch.parts();
        let topics = postcard::to_allocvec(topics).map_err(|e| {
            PluginError::with_code(
                codes::ENCODE_FAILED,
                format!("the batch's topics do not encode: {e}"),
            )
        })?;
        from_rresult(self.host.publish_batch(
            RSlice::from_slice(&topics),
            RSlice::from_slice(events),
            RSlice::from_slice(ends),
            RSlice::from_slice(payloads),
        ))
    }

    fn call_service(&self, call: &super::import::ServiceCall<'_>) -> Result<Vec<u8>, PluginError> {
        let (service, method) = (RStr::from_str(call.service), RStr::from_str(call.method));
        let (req, resp) = (
            RStr::from_str(call.request_contract),
            RStr::from_str(call.response_contract),
        );
        let request = RSlice::from_slice(call.request);
        let reply = match call.timeout {
            None => self.host.call_service(service, method, req, resp, request),
            Some(t) => self.host.call_service_timeout(
                service,
                method,
                req,
                resp,
                request,
                u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
            ),
        };
        from_rresult(reply).map(RVec::into_vec)
    }

    // plugin state (issue 6)
    fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        from_rresult(self.host.kv_get(RStr::from_str(key))).map(|e| {
            e.into_option().map(|e| KvEntry {
                value: e.value.into_vec(),
                version: e.version,
            })
        })
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError> {
        from_rresult(
            self.host
                .kv_put(RStr::from_str(key), RSlice::from_slice(value)),
        )
    }

    fn kv_delete(&self, key: &str) -> Result<bool, PluginError> {
        from_rresult(self.host.kv_delete(RStr::from_str(key)))
    }

    fn kv_list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        let bytes = from_rresult(self.host.kv_list(
            RStr::from_str(prefix),
            after.map(RStr::from_str).into(),
            limit,
        ))?;
        decode_as(&bytes)
    }

    fn kv_cas(&self, request: &CasRequest) -> Result<CasOutcome, PluginError> {
        let mut buf = Vec::new();
        encode_into(request, &mut buf);
        let bytes = from_rresult(self.host.kv_cas(RSlice::from_slice(&buf)))?;
        decode_as(&bytes)
    }

    fn kv_commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, PluginError> {
        let mut buf = Vec::new();
        encode_into(batch, &mut buf);
        let bytes = from_rresult(self.host.kv_commit(RSlice::from_slice(&buf)))?;
        decode_as(&bytes)
    }

    fn secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        from_rresult(self.host.secret_get(RStr::from_str(name)))
            .map(|v| v.into_option().map(|b| Secret::new(b.into_vec())))
    }

    fn secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError> {
        from_rresult(
            self.host
                .secret_put(RStr::from_str(name), RSlice::from_slice(value)),
        )
    }

    fn secret_delete(&self, name: &str) -> Result<bool, PluginError> {
        from_rresult(self.host.secret_delete(RStr::from_str(name)))
    }

    fn config_json(&self) -> Result<String, PluginError> {
        from_rresult(self.host.config_json()).map(RString::into_string)
    }

    fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError> {
        from_rresult(self.host.usage(RStr::from_str(unit), amount))
    }
}

fn from_rresult<T>(r: RResult<T, AbiError>) -> Result<T, PluginError> {
    match r {
        RResult::ROk(v) => Ok(v),
        RResult::RErr(e) => Err(super::import::from_abi(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use abi_stable::sabi_trait::TD_Opaque;
    use abi_stable::std_types::RArc;

    use super::HostLink;
    use crate::abi::import::ServicesAdapter;
    use crate::abi::types::HostContext_TO;
    use crate::abi::HostServices;
    use crate::context::{Context, Level};
    use crate::error::codes;

    /// A host that offers nothing beyond the two required services, as one written before
    /// batches existed does.
    struct Plain;

    impl HostServices for Plain {
        fn plugin_name(&self) -> String {
            "old".into()
        }
        fn log(&self, _level: Level, _message: &str) {}
    }

    #[test]
    fn a_batch_to_a_host_without_batches_is_a_coded_error() {
        let host = HostContext_TO::from_ptr(RArc::new(ServicesAdapter(Arc::new(Plain))), TD_Opaque);
        let ctx = Context::from_backend(Arc::new(HostLink { host }));
        let e = ctx
            .publish_batch("plugin.old.tick", &[1u32, 2])
            .unwrap_err();
        assert_eq!(e.code(), codes::BATCH_UNSUPPORTED);
        assert_eq!(e.code().to_string(), "SB1620");
        // Empty batches never reach the host.
        assert_eq!(ctx.publish_batch::<u32>("plugin.old.tick", &[]).unwrap(), 0);
    }

    #[test]
    fn usage_to_a_host_without_metering_is_a_coded_error() {
        let host = HostContext_TO::from_ptr(RArc::new(ServicesAdapter(Arc::new(Plain))), TD_Opaque);
        let ctx = Context::from_backend(Arc::new(HostLink { host }));
        let e = ctx.usage("tokens", 3).unwrap_err();
        assert_eq!(e.code(), codes::USAGE_UNSUPPORTED);
        assert_eq!(e.code().to_string(), "SB1735");
        // A bad unit is refused before it reaches any host.
        assert_eq!(ctx.usage("", 3).unwrap_err().code(), codes::BAD_USAGE_UNIT);
        assert_eq!(
            ctx.usage(&"a".repeat(65), 3).unwrap_err().code(),
            codes::BAD_USAGE_UNIT
        );
    }
}
