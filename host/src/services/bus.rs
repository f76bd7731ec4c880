//! Events and shared services for plugins: the namespace rule and the capability checks
//! before anything reaches the bus.

use std::sync::Arc;

use switchboard_sdk::abi::ServiceCall;
use switchboard_sdk::batch::{BatchTopic, EventBatch};
use switchboard_sdk::caps::Access;
use switchboard_sdk::manifest::name_key;
use switchboard_sdk::PluginError;

use super::PluginServices;
use crate::bus::topic::{namespace, Namespace};
use crate::bus::{validate_topic, BusError, Header, Outgoing};

/// Whether a plugin may publish on `topic`: its own `plugin.<name>.*` needs no grant (only a
/// running instance); `system.*` is refused; anything else needs `events.publish` covering
/// the topic. A denial is audited.
fn admit_topic(services: &PluginServices, topic: &str) -> Result<(), PluginError> {
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
    Ok(())
}

/// Publishes for a plugin, once [`admit_topic`] allows the topic.
pub(super) fn publish(
    services: &PluginServices,
    topic: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> Result<u32, PluginError> {
    admit_topic(services, topic)?;
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

/// Publishes a plugin's batch, all or nothing: the batch's size, each distinct topic (as
/// [`publish`] checks one) and each event's size are checked before anything is delivered.
/// Then each run of consecutive events on one topic goes out as the host's
/// `Bus::publish_batch` does (runs of up to 64 envelopes per queue slot), carrying its
/// topic's headers; order is kept across runs.
pub(super) fn publish_batch(
    services: &PluginServices,
    batch: &EventBatch<'_>,
) -> Result<u32, PluginError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let bus = services.bus.inner();
    let topics = batch.topics();
    let header_bytes: Vec<usize> = topics.iter().map(BatchTopic::header_bytes).collect();
    let size = batch.payload_bytes()
        + batch
            .iter()
            .map(|(t, _)| header_bytes.get(t).copied().unwrap_or(0))
            .sum::<usize>();
    if size > bus.limits.max_call_bytes {
        return Err(BusError::BatchTooLarge {
            publisher: services.name.clone(),
            events: batch.len(),
            size,
            limit: bus.limits.max_call_bytes,
        }
        .to_plugin_error());
    }
    // Once per distinct topic (one topic with two sets of headers is listed twice).
    for (i, t) in topics.iter().enumerate() {
        if !topics[..i].iter().any(|seen| seen.topic == t.topic) {
            admit_topic(services, t.topic)?;
        }
    }
    for (t, payload) in batch.iter() {
        let (topic, headers) = (topics.get(t).map_or("", |t| t.topic), header_bytes.get(t));
        bus.check_event_size(
            topic,
            &services.name,
            payload.len() + headers.copied().unwrap_or(0),
        )
        .map_err(|e| e.to_plugin_error())?;
    }
    let headers: Vec<Arc<[Header]>> = topics
        .iter()
        .map(|t| {
            t.headers
                .iter()
                .map(|(k, v)| (Box::<str>::from(*k), Box::<str>::from(*v)))
                .collect()
        })
        .collect();
    let mut delivered = 0usize;
    let mut first_error = None;
    let mut events = batch.iter().peekable();
    while let Some((t, first)) = events.next() {
        // The run of consecutive events on the same topic.
        let mut run = vec![first];
        while let Some((_, p)) = events.next_if(|(next, _)| *next == t) {
            run.push(p);
        }
        let (Some(topic), Some(headers)) = (topics.get(t), headers.get(t)) else {
            continue;
        };
        match bus.publish_batch_as(&services.publisher, topic.topic, headers, run) {
            Ok(n) => delivered += n,
            // Like a single publish: the others still get theirs, the first refusal is told.
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.to_plugin_error()),
        None => Ok(u32::try_from(delivered).unwrap_or(u32::MAX)),
    }
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
