//! Events and shared services for plugins: the namespace rule and the capability checks
//! before anything reaches the bus.

use std::sync::Arc;

use switchboard_sdk::abi::ServiceCall;
use switchboard_sdk::caps::Access;
use switchboard_sdk::manifest::name_key;
use switchboard_sdk::PluginError;

use super::PluginServices;
use crate::bus::topic::{namespace, Namespace};
use crate::bus::{validate_topic, BusError, Outgoing};

/// Publishes for a plugin: its own `plugin.<name>.*` needs no grant; `system.*` is refused;
/// anything else needs `events.publish` covering the topic.
pub(super) fn publish(
    services: &PluginServices,
    topic: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> Result<u32, PluginError> {
    validate_topic(topic).map_err(|e| e.to_plugin_error())?;
    match namespace(topic) {
        // No grant needed, but a stopped or removed instance publishes nothing.
        Namespace::Plugin(owner) if name_key(owner) == name_key(&services.name) => services
            .gate
            .require_live(&Access::Publish(topic))
            .map_err(|e| e.to_plugin_error())?,
        Namespace::System => {
            return Err(BusError::ReservedTopic {
                topic: topic.to_owned(),
                publisher: services.name.clone(),
            }
            .to_plugin_error())
        }
        _ => services.authorize(&Access::Publish(topic))?,
    }
    // Refused before the payload leaves the plugin's memory.
    services
        .bus
        .inner()
        .check_event_size(
            topic,
            &services.name,
            payload.len()
                + headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>(),
        )
        .map_err(|e| e.to_plugin_error())?;
    let event = Outgoing {
        topic: topic.into(),
        payload: Arc::from(payload),
        headers: headers
            .iter()
            .map(|(k, v)| (Box::<str>::from(*k), Box::<str>::from(*v)))
            .collect(),
        ttl: None,
    };
    services
        .bus
        .inner()
        .publish_as(&services.publisher, event)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .map_err(|e| e.to_plugin_error())
}

/// Calls a shared service for a plugin: `service.call` checked, contracts compared, the
/// caller's throttle applied. The provider runs with its own context only.
pub(super) fn call_service(
    services: &PluginServices,
    call: &ServiceCall<'_>,
) -> Result<Vec<u8>, PluginError> {
    let bus = services.bus.inner();
    let client = bus
        .services
        .bind_raw(
            bus,
            &services.name,
            Some(services.gate.clone()),
            call.service,
            call.method,
        )
        .and_then(|c| {
            c.check_contracts(call.request_contract, call.response_contract)?;
            Ok(c)
        })
        .map_err(|e| e.to_plugin_error())?;
    match call.timeout {
        None => client.call(call.request),
        Some(timeout) => client.call_timeout(call.request, timeout),
    }
    .map_err(|e| e.to_plugin_error())
}
