//! An instance's place on the bus: its `#[subscribe]` handlers and the services it provides,
//! joined when it starts and left when it stops.
//!
//! The bus holds instances weakly (a delivery to a removed plugin is a counted failure, never a
//! dangling call), and every delivery goes through the instance's door like a command does.

use std::sync::{Arc, Weak};

use switchboard_sdk::abi::ResponseBuffer;
use switchboard_sdk::caps::Access;
use switchboard_sdk::{codes, Frame, PluginError};

use super::{Binding, Code, Instance, Shared};
use crate::bus::{
    BusError, Envelope, Handler, MethodDef, Pattern, ServiceDef, ServiceImpl, SubscribeOptions,
};
use crate::error::{CallError, LifecycleError};

/// Delivers envelopes to one `#[subscribe]` handler of a plugin.
struct PluginHandler {
    instance: Weak<Shared>,
    index: u32,
}

fn gone() -> PluginError {
    PluginError::with_code(codes::SERVICE_UNAVAILABLE, "the plugin has been removed")
}

impl Handler for PluginHandler {
    fn handle(&self, envelope: &Envelope) -> Result<(), PluginError> {
        let shared = self.instance.upgrade().ok_or_else(gone)?;
        // Once per delivery, not per call: `tracing`'s disabled span is cheap enough here.
        let span = tracing::debug_span!(
            target: "switchboard::event",
            "plugin_event",
            plugin = %shared.name,
            topic = envelope.topic(),
            trace_id = envelope.trace_id().0,
            event_id = envelope.id().0
        );
        let _in_span = span.enter();
        let headers: Vec<(&str, &str)> = envelope
            .headers()
            .iter()
            .map(|(k, v)| (&**k, &**v))
            .collect();
        let frame = Frame {
            handler: self.index,
            id: envelope.id().0,
            trace_id: envelope.trace_id().0,
            causation_id: envelope.causation_id().map(|c| c.0),
            hops: envelope.hops(),
            publisher: envelope.publisher(),
            headers,
            payload: envelope.payload(),
        }
        .encode();
        Instance { shared }.on_event(envelope.topic(), &frame)
    }
}

/// One of a plugin's commands offered as a service method.
struct PluginMethod {
    instance: Weak<Shared>,
    binding: Binding,
    service: String,
}

impl ServiceImpl for PluginMethod {
    fn call(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), PluginError> {
        let shared = self.instance.upgrade().ok_or_else(gone)?;
        let mut buf = ResponseBuffer::new();
        Instance { shared }
            .dispatch(&self.binding, request, &mut buf)
            .map_err(|e| match *e {
                // The door refused an oversized reply before it was copied: say so in the
                // bus's words, as for any other provider.
                CallError::ResponseTooLarge { size, limit, .. } => BusError::ReplyTooLarge {
                    service: self.service.clone(),
                    method: self.binding.name.clone(),
                    size,
                    limit,
                }
                .to_plugin_error(),
                other => other.into_plugin_error(),
            })?;
        out.clear();
        out.extend_from_slice(buf.as_slice());
        Ok(())
    }
}

impl Instance {
    /// Checks, before anything runs, that `code` may subscribe and provide all it declares,
    /// and that its patterns parse and its service names are free (or its own: a reload).
    pub(crate) fn check_bus(
        &self,
        code: &Code,
    ) -> Result<Vec<(Pattern, SubscribeOptions)>, LifecycleError> {
        let manifest = code.manifest();
        let gate = &code.caps().gate;
        let refuse = |error: BusError| LifecycleError::Bus {
            plugin: self.name().to_owned(),
            error: Box::new(error),
        };
        let bus = &code.caps().bus;
        // The macro writes a request only for a handler it generated; one naming no handler
        // comes from a damaged or crafted library and is refused rather than dropped.
        let handlers = manifest.subscriptions.len();
        if let Some(d) = manifest
            .delivery
            .iter()
            .find(|d| usize::try_from(d.handler).map_or(true, |h| h >= handlers))
        {
            return Err(refuse(BusError::DeliveryRefused {
                plugin: self.name().to_owned(),
                pattern: format!("handler #{}", d.handler),
                requested: "delivery options".to_owned(),
                reason: format!(
                    "the library declares {handlers} `#[subscribe]` handler(s) and no handler \
                     #{}; rebuild the plugin",
                    d.handler
                ),
            }));
        }
        let mut patterns = Vec::new();
        for (index, text) in manifest.subscriptions.iter().enumerate() {
            let pattern = Pattern::parse(text).map_err(refuse)?;
            gate.authorize_declared(&Access::Subscribe(&pattern.to_capability_pattern()))
                .map_err(|e| refuse(e.into()))?;
            let request = manifest
                .delivery
                .iter()
                .find(|d| usize::try_from(d.handler).is_ok_and(|h| h == index));
            let opts = bus
                .inner()
                .delivery
                .options_for(self.name(), text, request)
                .map_err(refuse)?;
            patterns.push((pattern, opts));
        }
        for name in &manifest.services {
            gate.authorize_declared(&Access::ProvideService(name))
                .map_err(|e| refuse(e.into()))?;
            if let Some(existing) = bus
                .services()
                .into_iter()
                .find(|s| &s.name == name && s.provider != self.name())
            {
                return Err(refuse(BusError::ServiceExists {
                    name: name.clone(),
                    owner: existing.provider,
                }));
            }
        }
        Ok(patterns)
    }

    /// Subscribes `code`'s handlers and registers its services (after `start` succeeded).
    /// They reach the plugin through the instance, so they deliver to whichever code serves.
    pub(crate) fn join_bus(
        &self,
        code: &Code,
        patterns: Vec<(Pattern, SubscribeOptions)>,
    ) -> Result<(), BusError> {
        let bus = code.caps().bus.inner().clone();
        let owner: Arc<str> = self.name().into();
        for (index, (pattern, opts)) in patterns.into_iter().enumerate() {
            let handler = PluginHandler {
                instance: Arc::downgrade(&self.shared),
                index: u32::try_from(index).unwrap_or(u32::MAX),
            };
            bus.subscribe_as(owner.clone(), pattern, opts, Arc::new(handler))?;
        }
        let manifest = code.manifest();
        for name in &manifest.services {
            let methods = manifest
                .commands
                .iter()
                .enumerate()
                .map(|(i, c)| MethodDef {
                    name: c.name.clone(),
                    request: c.request.clone(),
                    response: c.response.clone(),
                    imp: Arc::new(PluginMethod {
                        instance: Arc::downgrade(&self.shared),
                        binding: Binding::raw(
                            self,
                            &c.name,
                            code,
                            u32::try_from(i).unwrap_or(u32::MAX),
                        ),
                        service: name.clone(),
                    }),
                })
                .collect();
            bus.services
                .register(ServiceDef::new(name.clone(), owner.clone(), methods))?;
        }
        Ok(())
    }

    /// Unsubscribes the handlers and withdraws the services.
    pub(crate) fn leave_bus(&self) {
        let bus = self.code().caps().bus.clone();
        if let Some(m) = self.metrics() {
            // Its subscriptions' counts go with them: kept here, so the totals never drop.
            let (delivered, dropped) = bus.events_of(self.name());
            m.retire_events(delivered, dropped);
        }
        bus.inner().remove_owner(self.name());
    }
}
