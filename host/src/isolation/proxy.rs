//! Services across the boundary (ARCHITECTURE D13): on the runner's side, [`Proxy`] carries
//! each `Context` call of the plugin to the host; on the host's side, [`serve`] answers it with
//! the instance's own services, which check its capability token exactly as in-process. The
//! runner holds no token and no grant: everything it asks is decided in the host.

use std::cell::RefCell;

use parking_lot::Mutex;
use serde::Deserialize;
use switchboard_sdk::abi::{HostServices, ServiceCall};
use switchboard_sdk::batch::EventBatch;
use switchboard_sdk::caps::Access;
use switchboard_sdk::state::{
    CasOutcome, CasRequest, CommitBatch, CommitOutcome, KvEntry, KvPage, Secret,
};
use switchboard_sdk::Level;
use switchboard_sdk::{codes, PluginError};

use super::channel::Channel;
use super::protocol::{Frame, Service, WireError};
use crate::bus::BusError;

thread_local! {
    /// The channel this thread serves: a service the plugin calls from inside a request goes
    /// out on it (the host is waiting on it).
    pub(crate) static CURRENT: RefCell<Option<Channel>> = const { RefCell::new(None) };
}

/// The plugin's `Context` services, each a request to the host.
pub(crate) struct Proxy {
    name: String,
    /// For threads the plugin started itself (not serving a channel).
    outbound: Mutex<Channel>,
    /// The host's limit on one call, which a batch of events must fit.
    max_call_bytes: u64,
}

impl Proxy {
    pub(crate) fn new(name: String, outbound: Mutex<Channel>, max_call_bytes: u64) -> Proxy {
        Proxy {
            name,
            outbound,
            max_call_bytes,
        }
    }

    /// Sends `service` and waits for the host's answer, on this thread's channel if it serves
    /// one, else on the outbound channel.
    fn ask<T>(
        &self,
        service: Service<'_>,
        decode: impl FnOnce(&[u8]) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let frame = Frame::Service(service);
        let mut buf = Vec::new();
        let on_current = CURRENT.with(|c| {
            c.borrow_mut()
                .as_mut()
                .map(|channel| exchange(channel, &frame, &mut buf))
        });
        match on_current {
            Some(result) => result,
            None => exchange(&mut self.outbound.lock(), &frame, &mut buf),
        }?;
        match postcard::from_bytes::<Frame<'_>>(&buf) {
            Ok(Frame::Reply(Ok(bytes))) => decode(bytes),
            Ok(Frame::Reply(Err(e))) => Err(e.into()),
            _ => Err(lost(
                "the host answered a service request with something else",
            )),
        }
    }

    fn tell(&self, frame: &Frame<'_>) {
        let on_current = CURRENT.with(|c| c.borrow_mut().as_mut().map(|ch| ch.send(frame)));
        if on_current.is_none() {
            let _ = self.outbound.lock().send(frame);
        }
    }
}

fn exchange(
    channel: &mut Channel,
    frame: &Frame<'_>,
    buf: &mut Vec<u8>,
) -> Result<(), PluginError> {
    channel
        .send(frame)
        .and_then(|()| channel.recv(buf).map(|_| ()))
        .map_err(|e| lost(&format!("the channel to the host failed: {e}")))
}

fn lost(message: &str) -> PluginError {
    PluginError::with_code(codes::SERVICE_UNAVAILABLE, message.to_owned())
}

fn decoded<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, PluginError> {
    postcard::from_bytes(bytes).map_err(|e| lost(&format!("a malformed answer from the host: {e}")))
}

fn empty(_: &[u8]) -> Result<(), PluginError> {
    Ok(())
}

impl HostServices for Proxy {
    fn plugin_name(&self) -> String {
        self.name.clone()
    }

    fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError> {
        self.ask(Service::Usage { unit, amount }, empty)
    }

    fn log(&self, level: Level, message: &str) {
        self.tell(&Frame::Log {
            level: level as u8,
            message,
        });
    }

    fn check(&self, access: &Access<'_>) -> Result<(), PluginError> {
        let target = access.target();
        self.ask(
            Service::Check {
                kind: access.kind().as_str(),
                target: &target,
            },
            empty,
        )
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        self.ask(Service::ReadFile(path), |b| Ok(b.to_vec()))
    }

    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), PluginError> {
        self.ask(Service::WriteFile { path, data }, empty)
    }

    fn env_var(&self, name: &str) -> Result<Option<String>, PluginError> {
        self.ask(Service::EnvVar(name), decoded)
    }

    fn publish(
        &self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError> {
        self.ask(
            Service::Publish {
                topic,
                headers: headers.to_vec(),
                payload,
            },
            decoded,
        )
    }

    fn publish_batch(&self, batch: &EventBatch<'_>) -> Result<u32, PluginError> {
        // Refused here, with the host's code, rather than as a frame over the channel's
        // limit. The frame's own fields (topics, indices, offsets) count too.
        let (topics, events, ends, payloads) = batch.parts();
        let size = payloads.len()
            + topics
                .iter()
                .map(|t| t.topic.len() + t.header_bytes() + 16)
                .sum::<usize>()
            + events.len() * 10;
        let limit = usize::try_from(self.max_call_bytes).unwrap_or(usize::MAX);
        if size > limit {
            return Err(BusError::BatchTooLarge {
                publisher: self.name.clone(),
                events: batch.len(),
                size,
                limit,
            }
            .to_plugin_error());
        }
        self.ask(
            Service::PublishBatch {
                topics: topics.to_vec(),
                events: events.to_vec(),
                ends: ends.to_vec(),
                payloads,
            },
            decoded,
        )
    }

    fn call_service(&self, call: &ServiceCall<'_>) -> Result<Vec<u8>, PluginError> {
        self.ask(
            Service::Invoke {
                service: call.service,
                method: call.method,
                request_contract: call.request_contract,
                response_contract: call.response_contract,
                request: call.request,
                timeout_ms: call
                    .timeout
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            },
            |b| Ok(b.to_vec()),
        )
    }

    fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        self.ask(Service::KvGet(key), decoded)
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError> {
        self.ask(Service::KvPut { key, value }, decoded)
    }

    fn kv_delete(&self, key: &str) -> Result<bool, PluginError> {
        self.ask(Service::KvDelete(key), decoded)
    }

    fn kv_list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        self.ask(
            Service::KvList {
                prefix,
                after,
                limit,
            },
            decoded,
        )
    }

    fn kv_cas(&self, request: &CasRequest) -> Result<CasOutcome, PluginError> {
        let bytes = postcard::to_allocvec(request)
            .map_err(|e| lost(&format!("cannot encode the request: {e}")))?;
        self.ask(Service::KvCas(&bytes), decoded)
    }

    fn kv_commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, PluginError> {
        let bytes = postcard::to_allocvec(batch)
            .map_err(|e| lost(&format!("cannot encode the batch: {e}")))?;
        self.ask(Service::KvCommit(&bytes), decoded)
    }

    fn secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        self.ask(Service::SecretGet(name), |b| {
            decoded::<Option<Vec<u8>>>(b).map(|v| v.map(Secret::new))
        })
    }

    fn secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError> {
        self.ask(Service::SecretPut { name, value }, empty)
    }

    fn secret_delete(&self, name: &str) -> Result<bool, PluginError> {
        self.ask(Service::SecretDelete(name), decoded)
    }

    fn config_json(&self) -> Result<String, PluginError> {
        self.ask(Service::ConfigJson, |b| {
            String::from_utf8(b.to_vec())
                .map_err(|e| lost(&format!("configuration is not UTF-8: {e}")))
        })
    }
}

/// The host's side of a service request: the instance's own services answer it, checking its
/// token exactly as in-process. Returns the reply's payload.
pub(crate) fn serve(
    services: &dyn HostServices,
    service: Service<'_>,
) -> Result<Vec<u8>, WireError> {
    let wire = |e: PluginError| WireError::from(&e);
    let encode = |v: &dyn erased::Encode| v.encode().map_err(|e| wire(lost(&e)));
    match service {
        Service::Check { kind, target } => {
            let access = Access::from_parts(kind, target)
                .map_err(|e| wire(PluginError::with_code(e.code(), e.to_string())))?;
            services.check(&access).map(|()| Vec::new()).map_err(wire)
        }
        Service::ReadFile(path) => services.read_file(path).map_err(wire),
        Service::WriteFile { path, data } => services
            .write_file(path, data)
            .map(|()| Vec::new())
            .map_err(wire),
        Service::EnvVar(name) => encode(&services.env_var(name).map_err(wire)?),
        Service::Publish {
            topic,
            headers,
            payload,
        } => encode(&services.publish(topic, &headers, payload).map_err(wire)?),
        Service::PublishBatch {
            topics,
            events,
            ends,
            payloads,
        } => {
            let batch = EventBatch::new(topics, &events, &ends, payloads).map_err(wire)?;
            encode(&services.publish_batch(&batch).map_err(wire)?)
        }
        Service::Invoke {
            service,
            method,
            request_contract,
            response_contract,
            request,
            timeout_ms,
        } => services
            .call_service(&ServiceCall {
                service,
                method,
                request_contract,
                response_contract,
                request,
                timeout: timeout_ms.map(std::time::Duration::from_millis),
            })
            .map_err(wire),
        Service::KvGet(key) => encode(&services.kv_get(key).map_err(wire)?),
        Service::KvPut { key, value } => encode(&services.kv_put(key, value).map_err(wire)?),
        Service::KvDelete(key) => encode(&services.kv_delete(key).map_err(wire)?),
        Service::KvList {
            prefix,
            after,
            limit,
        } => encode(&services.kv_list(prefix, after, limit).map_err(wire)?),
        Service::KvCas(bytes) => {
            let request: CasRequest = decoded(bytes).map_err(wire)?;
            encode(&services.kv_cas(&request).map_err(wire)?)
        }
        Service::KvCommit(bytes) => {
            let batch: CommitBatch = decoded(bytes).map_err(wire)?;
            encode(&services.kv_commit(&batch).map_err(wire)?)
        }
        Service::SecretGet(name) => {
            let secret = services.secret_get(name).map_err(wire)?;
            encode(&secret.map(Secret::into_bytes))
        }
        Service::SecretPut { name, value } => services
            .secret_put(name, value)
            .map(|()| Vec::new())
            .map_err(wire),
        Service::SecretDelete(name) => encode(&services.secret_delete(name).map_err(wire)?),
        Service::ConfigJson => services.config_json().map(String::into_bytes).map_err(wire),
        Service::Usage { unit, amount } => {
            switchboard_sdk::stream::check_usage_unit(unit).map_err(wire)?;
            services
                .usage(unit, amount)
                .map(|()| Vec::new())
                .map_err(wire)
        }
        // A stream's requests are answered by the call waiting for it (`Isolated::exchange`);
        // anywhere else there is no stream to take them.
        Service::StreamChunk(_) | Service::StreamCancelled => Err(wire(PluginError::with_code(
            codes::CALL_STYLE_PLAIN,
            "a stream chunk outside a streaming call",
        ))),
    }
}

/// The runner's side of a streaming call: each chunk goes to the host on the channel this
/// thread serves, and its answer is the plugin's `send` result.
pub(crate) struct ChannelSink;

impl ChannelSink {
    fn ask(service: Service<'_>) -> Result<Vec<u8>, PluginError> {
        let frame = Frame::Service(service);
        let mut buf = Vec::new();
        CURRENT
            .with(|c| {
                c.borrow_mut()
                    .as_mut()
                    .map(|channel| exchange(channel, &frame, &mut buf))
            })
            .unwrap_or_else(|| Err(lost("a stream outside a call channel")))?;
        match postcard::from_bytes::<Frame<'_>>(&buf) {
            Ok(Frame::Reply(Ok(bytes))) => Ok(bytes.to_vec()),
            Ok(Frame::Reply(Err(e))) => Err(e.into()),
            _ => Err(lost("the host answered a stream chunk with something else")),
        }
    }
}

impl switchboard_sdk::abi::ChunkReceiver for ChannelSink {
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        Self::ask(Service::StreamChunk(bytes)).map(|_| ())
    }

    fn is_cancelled(&self) -> bool {
        Self::ask(Service::StreamCancelled)
            .and_then(|b| decoded::<bool>(&b))
            .unwrap_or(true)
    }
}

mod erased {
    //! Encoding a reply of any serializable type behind one function pointer.
    pub(super) trait Encode {
        fn encode(&self) -> Result<Vec<u8>, String>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Result<Vec<u8>, String> {
            postcard::to_allocvec(self).map_err(|e| e.to_string())
        }
    }
}
