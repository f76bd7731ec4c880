//! Shared services: a provider (a plugin, or the host application) offers a named service with
//! typed methods; callers bind a client once — contracts checked, capability and throttle
//! looked up — and call it directly (in-process, no queue) or through the provider's service
//! worker with a timeout.
//!
//! A provider runs with its own context only: nothing of the caller's KV, secrets or grants
//! reaches it, and the caller sees only the reply.
//!
//! Re-entrant chains (A calls B calls A) run on the calling thread with no lock held, so they
//! complete; a chain that never ends stops at [`BusLimits::max_call_depth`](super::BusLimits)
//! with [`BusError::CallDepth`]. With timeouts, a call whose provider's worker is already
//! waiting further up the same chain runs inline instead of queueing behind itself.

use parking_lot::{Mutex, RwLock};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use switchboard_sdk::caps::Access;
use switchboard_sdk::{codes, Message, PluginError};

use crate::bus::envelope::{next_id, TraceContext};
use crate::bus::error::BusError;
use crate::bus::throttle::{Bucket, Throttle};
use crate::bus::BusInner;
use crate::services::Gate;

/// One method's implementation: request bytes in, response bytes out.
pub(crate) trait ServiceImpl: Send + Sync {
    fn call(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), PluginError>;
}

impl<F> ServiceImpl for F
where
    F: Fn(&[u8], &mut Vec<u8>) -> Result<(), PluginError> + Send + Sync,
{
    fn call(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), PluginError> {
        self(request, out)
    }
}

pub(crate) struct MethodDef {
    pub name: String,
    pub request: String,
    pub response: String,
    pub imp: Arc<dyn ServiceImpl>,
}

pub(crate) struct ServiceDef {
    pub name: String,
    pub owner: Arc<str>,
    pub methods: Vec<MethodDef>,
    alive: AtomicBool,
    worker: OnceLock<Option<ServiceWorker>>,
}

impl ServiceDef {
    pub(crate) fn new(name: String, owner: Arc<str>, methods: Vec<MethodDef>) -> ServiceDef {
        ServiceDef {
            name,
            owner,
            methods,
            alive: AtomicBool::new(true),
            worker: OnceLock::new(),
        }
    }
}

/// A service and its methods, for listings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceInfo {
    /// The service's name.
    pub name: String,
    /// Who provides it: a plugin name, or `host`.
    pub provider: String,
    /// Its methods: name, request contract id, response contract id.
    pub methods: Vec<(String, String, String)>,
}

/// Builds a host-provided service from closures.
///
/// # Example
///
/// ```
/// use switchboard_host::bus::{Bus, ServiceBuilder};
///
/// let bus = Bus::new();
/// bus.provide(
///     ServiceBuilder::new("text.upper")
///         .method("apply", |s: String| Ok(s.to_uppercase())),
/// )
/// .unwrap();
/// let upper = bus.client::<String, String>("text.upper", "apply").unwrap();
/// assert_eq!(upper.call(&"hi".to_string()).unwrap(), "HI");
/// ```
pub struct ServiceBuilder {
    name: String,
    methods: Vec<MethodDef>,
}

impl fmt::Debug for ServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("name", &self.name)
            .field(
                "methods",
                &self.methods.iter().map(|m| &m.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ServiceBuilder {
    /// A service called `name` (dot-separated, like `weather.lookup`).
    pub fn new(name: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder {
            name: name.into(),
            methods: Vec::new(),
        }
    }

    /// A typed method: the request and response contracts are those of `Req` and `Resp`.
    pub fn method<Req, Resp, F>(mut self, name: impl Into<String>, f: F) -> ServiceBuilder
    where
        Req: Message,
        Resp: Message,
        F: Fn(Req) -> Result<Resp, PluginError> + Send + Sync + 'static,
    {
        let imp = move |request: &[u8], out: &mut Vec<u8>| {
            let req = switchboard_sdk::decode::<Req>(request)?;
            let resp = f(req)?;
            out.clear();
            resp.__encode_into(out);
            Ok(())
        };
        self.methods.push(MethodDef {
            name: name.into(),
            request: Req::CONTRACT.id.to_owned(),
            response: Resp::CONTRACT.id.to_owned(),
            imp: Arc::new(imp),
        });
        self
    }

    /// A raw-bytes method (contract `bytes` both ways): `f` writes its reply into the vector.
    pub fn raw_method<F>(mut self, name: impl Into<String>, f: F) -> ServiceBuilder
    where
        F: Fn(&[u8], &mut Vec<u8>) -> Result<(), PluginError> + Send + Sync + 'static,
    {
        self.methods.push(MethodDef {
            name: name.into(),
            request: switchboard_sdk::RAW_BYTES_CONTRACT.to_owned(),
            response: switchboard_sdk::RAW_BYTES_CONTRACT.to_owned(),
            imp: Arc::new(f),
        });
        self
    }

    pub(crate) fn finish(self, owner: Arc<str>) -> ServiceDef {
        ServiceDef::new(self.name, owner, self.methods)
    }
}

/// The services on a bus, and the callers' buckets.
pub(crate) struct Registry {
    services: RwLock<HashMap<String, Arc<ServiceDef>>>,
    throttle: Option<Throttle>,
    buckets: Mutex<HashMap<(String, String), Arc<Bucket>>>,
}

impl Registry {
    pub fn new(throttle: Option<Throttle>) -> Registry {
        Registry {
            services: RwLock::new(HashMap::new()),
            throttle,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn register(&self, def: ServiceDef) -> Result<(), BusError> {
        crate::bus::topic::validate_topic(&def.name).map_err(|_| BusError::InvalidTopic {
            topic: def.name.clone(),
            reason: "service names are dot-separated segments of letters, digits, `-` and `_`"
                .into(),
        })?;
        let mut services = self.services.write();
        if let Some(existing) = services.get(&def.name) {
            return Err(BusError::ServiceExists {
                name: def.name.clone(),
                owner: existing.owner.to_string(),
            });
        }
        services.insert(def.name.clone(), Arc::new(def));
        Ok(())
    }

    pub fn withdraw(&self, name: &str) -> bool {
        let removed = self.services.write().remove(name);
        if let Some(def) = &removed {
            def.alive.store(false, Ordering::Release);
        }
        removed.is_some()
    }

    pub fn withdraw_owner(&self, owner: &str) {
        let mut gone = Vec::new();
        let mut services = self.services.write();
        services.retain(|_, def| {
            let keep = &*def.owner != owner;
            if !keep {
                def.alive.store(false, Ordering::Release);
                gone.push(def.clone());
            }
            keep
        });
        drop(services);
        // Closures are dropped with no lock held: their `Drop` may use the bus.
        drop(gone);
    }

    /// Withdraws every service (the bus is closing).
    pub fn withdraw_all(&self) {
        let gone: Vec<Arc<ServiceDef>> =
            self.services.write().drain().map(|(_, def)| def).collect();
        for def in &gone {
            def.alive.store(false, Ordering::Release);
        }
        drop(gone);
        self.buckets.lock().clear();
    }

    pub fn list(&self) -> Vec<ServiceInfo> {
        let mut out: Vec<ServiceInfo> = self
            .services
            .read()
            .values()
            .map(|d| ServiceInfo {
                name: d.name.clone(),
                provider: d.owner.to_string(),
                methods: d
                    .methods
                    .iter()
                    .map(|m| (m.name.clone(), m.request.clone(), m.response.clone()))
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Binds `caller` to `service.method`: the capability (for plugins), the method, and the
    /// caller's bucket. Contracts are the typed binder's business.
    pub fn bind_raw(
        &self,
        bus: &Arc<BusInner>,
        caller: &str,
        gate: Option<Gate>,
        service: &str,
        method: &str,
    ) -> Result<RawServiceClient, BusError> {
        if let Some(gate) = &gate {
            gate.authorize(&Access::CallService(service))?;
        }
        // The read guard ends with this statement: `suggest` takes the lock again, and a
        // second read on one thread can deadlock behind a waiting writer.
        let found = self.services.read().get(service).cloned();
        let def = found.ok_or_else(|| BusError::UnknownService {
            name: service.to_owned(),
            suggestion: self.suggest(service),
        })?;
        let index = def
            .methods
            .iter()
            .position(|m| m.name == method)
            .ok_or_else(|| BusError::UnknownMethod {
                service: service.to_owned(),
                method: method.to_owned(),
                available: def
                    .methods
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let bucket = self.throttle.map(|limit| {
            self.buckets
                .lock()
                .entry((caller.to_owned(), service.to_owned()))
                .or_insert_with(|| Arc::new(Bucket::new(limit)))
                .clone()
        });
        Ok(RawServiceClient {
            bus: bus.clone(),
            def,
            index,
            caller: caller.into(),
            gate,
            bucket,
        })
    }

    pub fn bind_typed<Req: Message, Resp: Message>(
        &self,
        bus: &Arc<BusInner>,
        caller: &str,
        gate: Option<Gate>,
        service: &str,
        method: &str,
    ) -> Result<ServiceClient<Req, Resp>, BusError> {
        let raw = self.bind_raw(bus, caller, gate, service, method)?;
        raw.check_contracts(Req::CONTRACT.id, Resp::CONTRACT.id)?;
        Ok(ServiceClient {
            raw,
            _types: PhantomData,
        })
    }

    fn suggest(&self, name: &str) -> Option<String> {
        let services = self.services.read();
        let names: Vec<&str> = services.keys().map(String::as_str).collect();
        switchboard_sdk::suggest::closest(name, &names).map(str::to_owned)
    }
}

thread_local! {
    /// How many service calls are nested on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The service workers waiting further up this thread's call chain (and this thread's
    /// own, if it is one).
    static CHAIN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// Reused request buffers for typed calls.
    static REQUEST: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A service's own thread, for calls with a timeout.
struct ServiceWorker {
    id: u64,
    jobs: Sender<Box<dyn FnOnce() + Send>>,
}

static NEXT_SERVICE_WORKER: AtomicU64 = AtomicU64::new(1);

/// How many calls with a timeout may wait for one service's thread; beyond that a call fails
/// at once with [`BusError::Timeout`] rather than queueing behind a provider that hangs.
const SERVICE_QUEUE: usize = 256;

impl ServiceWorker {
    fn spawn(name: &str) -> Option<ServiceWorker> {
        let id = NEXT_SERVICE_WORKER.fetch_add(1, Ordering::Relaxed);
        let (jobs, rx) = crossbeam_channel::bounded::<Box<dyn FnOnce() + Send>>(SERVICE_QUEUE);
        thread::Builder::new()
            .name(format!("sb-svc-{name}"))
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .ok()?;
        Some(ServiceWorker { id, jobs })
    }
}

/// A raw-bytes client for one service method, bound once. Cheap to clone.
#[derive(Clone)]
pub struct RawServiceClient {
    bus: Arc<BusInner>,
    def: Arc<ServiceDef>,
    index: usize,
    caller: Arc<str>,
    gate: Option<Gate>,
    bucket: Option<Arc<Bucket>>,
}

impl fmt::Debug for RawServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawServiceClient")
            .field("service", &self.def.name)
            .field("method", &self.method().name)
            .field("caller", &self.caller)
            .finish()
    }
}

impl RawServiceClient {
    fn method(&self) -> &MethodDef {
        &self.def.methods[self.index]
    }

    /// Compares the caller's contract ids with the provider's; a mismatch names both.
    pub(crate) fn check_contracts(&self, request: &str, response: &str) -> Result<(), BusError> {
        let m = self.method();
        for (side, declared, used) in [
            ("request", &m.request, request),
            ("response", &m.response, response),
        ] {
            if declared != used {
                return Err(BusError::ContractMismatch {
                    service: self.def.name.clone(),
                    method: m.name.clone(),
                    side,
                    declared: declared.clone(),
                    used: used.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The checks every call makes: still provided, still granted, within its rate.
    #[inline]
    fn admit(&self) -> Result<(), BusError> {
        if !self.def.alive.load(Ordering::Acquire) {
            return Err(BusError::UnknownService {
                name: self.def.name.clone(),
                suggestion: None,
            });
        }
        if let Some(gate) = &self.gate {
            gate.authorize(&Access::CallService(&self.def.name))?;
        }
        if let Some(bucket) = &self.bucket {
            bucket.take().map_err(|retry_after| BusError::Throttled {
                caller: self.caller.to_string(),
                service: self.def.name.clone(),
                retry_after,
            })?;
        }
        Ok(())
    }

    /// Refuses a request over [`BusLimits::max_call_bytes`](super::BusLimits) before anything
    /// copies it.
    #[inline]
    fn check_request(&self, request: &[u8]) -> Result<(), BusError> {
        let limit = self.bus.limits.max_call_bytes;
        if request.len() > limit {
            return Err(BusError::RequestTooLarge {
                service: self.def.name.clone(),
                method: self.method().name.clone(),
                size: request.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Runs the method on this thread, one level deeper, in a child trace context. A reply
    /// over the limit is dropped and refused.
    fn run(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), BusError> {
        self.check_request(request)?;
        let depth = DEPTH.with(Cell::get);
        let limit = self.bus.limits.max_call_depth;
        if depth >= limit {
            return Err(BusError::CallDepth {
                service: self.def.name.clone(),
                method: self.method().name.clone(),
                depth: depth + 1,
                limit,
            });
        }
        struct Leave(u32);
        impl Drop for Leave {
            fn drop(&mut self) {
                DEPTH.with(|d| d.set(self.0));
            }
        }
        DEPTH.with(|d| d.set(depth + 1));
        let _leave = Leave(depth);
        let (ctx, _) = TraceContext::child(next_id());
        let method = self.method();
        ctx.enter(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                method.imp.call(request, out)
            }))
            .unwrap_or_else(|_| {
                Err(PluginError::with_code(
                    codes::PLUGIN_PANICKED,
                    "the service method panicked",
                ))
            })
        })
        .map_err(|error| BusError::ServiceFailed {
            service: self.def.name.clone(),
            method: method.name.clone(),
            error,
        })?;
        let limit = self.bus.limits.max_call_bytes;
        if out.len() > limit {
            let size = out.len();
            *out = Vec::new();
            return Err(BusError::ReplyTooLarge {
                service: self.def.name.clone(),
                method: method.name.clone(),
                size,
                limit,
            });
        }
        Ok(())
    }

    /// Calls the method; the reply replaces the contents of `out`.
    #[inline]
    pub fn call_into(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), BusError> {
        self.admit()?;
        self.run(request, out)
    }

    /// Calls the method and returns the reply.
    pub fn call(&self, request: &[u8]) -> Result<Vec<u8>, BusError> {
        let mut out = Vec::new();
        self.call_into(request, &mut out)?;
        Ok(out)
    }

    /// Calls the method on the provider's service thread and waits at most `timeout` for the
    /// reply ([`BusError::Timeout`] after that; a late reply is discarded).
    pub fn call_timeout(&self, request: &[u8], timeout: Duration) -> Result<Vec<u8>, BusError> {
        self.admit()?;
        self.check_request(request)?;
        let Some(worker) = self
            .def
            .worker
            .get_or_init(|| ServiceWorker::spawn(&self.def.name))
        else {
            // No thread could be started: call inline rather than fail.
            let mut out = Vec::new();
            self.run(request, &mut out)?;
            return Ok(out);
        };
        let chain = CHAIN.with(|c| c.borrow().clone());
        if chain.contains(&worker.id) {
            // The provider's thread is waiting further up this very chain: run here.
            let mut out = Vec::new();
            self.run(request, &mut out)?;
            return Ok(out);
        }
        let (reply, wait) = crossbeam_channel::bounded(1);
        // Set when the caller stops waiting: a job still queued then is skipped, not run late.
        let cancelled = Arc::new(AtomicBool::new(false));
        let gave_up = cancelled.clone();
        let me = self.clone();
        let request = request.to_vec();
        let depth = DEPTH.with(Cell::get);
        let trace = TraceContext::current();
        let worker_id = worker.id;
        let job = move || {
            if cancelled.load(Ordering::Acquire) {
                return;
            }
            let mut chain = chain;
            chain.push(worker_id);
            CHAIN.with(|c| *c.borrow_mut() = chain);
            DEPTH.with(|d| d.set(depth));
            let mut out = Vec::new();
            let result = match trace {
                Some(t) => t.enter(|| me.run(&request, &mut out)),
                None => me.run(&request, &mut out),
            };
            let _ = reply.send(result.map(|()| out));
            CHAIN.with(|c| c.borrow_mut().clear());
            DEPTH.with(|d| d.set(0));
        };
        let timed_out = || BusError::Timeout {
            service: self.def.name.clone(),
            method: self.method().name.clone(),
            timeout,
        };
        match worker.jobs.try_send(Box::new(job)) {
            Ok(()) => {}
            Err(crossbeam_channel::TrySendError::Full(_)) => return Err(timed_out()),
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(BusError::Closed),
        }
        match wait.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                gave_up.store(true, Ordering::Release);
                Err(timed_out())
            }
            Err(RecvTimeoutError::Disconnected) => Err(BusError::Closed),
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.def.name
    }
}

/// A typed client for one service method, bound once: contracts checked, capability and
/// throttle looked up. Cheap to clone.
pub struct ServiceClient<Req, Resp> {
    raw: RawServiceClient,
    _types: PhantomData<fn(&Req) -> Resp>,
}

impl<Req, Resp> Clone for ServiceClient<Req, Resp> {
    fn clone(&self) -> Self {
        ServiceClient {
            raw: self.raw.clone(),
            _types: PhantomData,
        }
    }
}

impl<Req, Resp> fmt::Debug for ServiceClient<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl<Req: Message, Resp: Message> ServiceClient<Req, Resp> {
    fn decode(&self, bytes: &[u8]) -> Result<Resp, BusError> {
        switchboard_sdk::decode::<Resp>(bytes).map_err(|e| BusError::Decode {
            contract: Resp::CONTRACT.id.to_owned(),
            reason: e.message().to_owned(),
        })
    }

    /// Calls the method on this thread.
    #[inline]
    pub fn call(&self, request: &Req) -> Result<Resp, BusError> {
        self.raw.admit()?;
        let mut out = Vec::new();
        REQUEST.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                request.__encode_into(&mut buf);
                self.raw.run(&buf, &mut out)
            }
            Err(_) => self.raw.run(&switchboard_sdk::encode(request), &mut out),
        })?;
        self.decode(&out)
    }

    /// Calls the method on the provider's service thread, waiting at most `timeout`.
    pub fn call_timeout(&self, request: &Req, timeout: Duration) -> Result<Resp, BusError> {
        let out = self
            .raw
            .call_timeout(&switchboard_sdk::encode(request), timeout)?;
        self.decode(&out)
    }

    /// The untyped client underneath.
    pub fn raw(&self) -> &RawServiceClient {
        &self.raw
    }
}
