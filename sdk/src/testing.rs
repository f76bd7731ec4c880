//! A mock host, so plugin authors can unit-test a plugin without loading a library.
//!
//! Enable with the `testing` feature, usually as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! switchboard-sdk = { version = "0.1", features = ["testing"] }
//! ```
//!
//! # Example
//!
//! ```
//! use switchboard_sdk::prelude::*;
//! use switchboard_sdk::testing::MockHost;
//!
//! pub struct Echo;
//!
//! impl Plugin for Echo {
//!     fn create(_ctx: &Context) -> Result<Self, PluginError> {
//!         Ok(Echo)
//!     }
//! }
//!
//! #[plugin]
//! impl Echo {
//!     #[command]
//!     fn shout(&self, ctx: &Context, text: String) -> String {
//!         ctx.info("shouting");
//!         text.to_uppercase()
//!     }
//! }
//!
//! let host = MockHost::new("echo");
//! let echo = host.instantiate::<Echo>().unwrap();
//! let out: String = echo.call("shout", &"hi".to_string()).unwrap();
//! assert_eq!(out, "HI");
//! assert_eq!(host.logs(), vec![(Level::Info, "shouting".to_string())]);
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use crate::context::{Context, ContextBackend, Level};
use crate::embedded::EmbeddedManifest;
use crate::error::{codes, PluginError};
use crate::message::{decode, encode, Message};
use crate::plugin::PluginEntry;
use crate::Output;

/// A host stand-in that records what a plugin asks of it.
#[derive(Debug, Clone)]
pub struct MockHost {
    inner: Arc<MockInner>,
}

#[derive(Debug)]
struct MockInner {
    name: String,
    logs: Mutex<Vec<(Level, String)>>,
}

impl ContextBackend for MockInner {
    fn plugin_name(&self) -> String {
        self.name.clone()
    }

    fn log(&self, level: Level, message: &str) {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((level, message.to_owned()));
    }
}

impl MockHost {
    /// A mock host for a plugin named `name`.
    pub fn new(name: &str) -> Self {
        MockHost {
            inner: Arc::new(MockInner {
                name: name.to_owned(),
                logs: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A context backed by this mock.
    pub fn context(&self) -> Context {
        Context::from_backend(self.inner.clone())
    }

    /// The log lines plugins sent so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.inner
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Creates and starts plugin `P` against this mock.
    pub fn instantiate<P: PluginEntry>(&self) -> Result<MockPlugin<P>, PluginError> {
        let ctx = self.context();
        let plugin = P::create(&ctx)?;
        plugin.start(&ctx)?;
        let manifest: EmbeddedManifest = serde_json::from_slice(P::MANIFEST)
            .map_err(|e| PluginError::new(format!("the generated manifest does not parse: {e}")))?;
        Ok(MockPlugin {
            plugin,
            ctx,
            manifest,
        })
    }
}

/// A plugin instance driven by a [`MockHost`].
#[derive(Debug)]
pub struct MockPlugin<P> {
    plugin: P,
    ctx: Context,
    manifest: EmbeddedManifest,
}

impl<P: PluginEntry> MockPlugin<P> {
    /// The plugin value itself.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// The manifest `#[plugin]` generated.
    pub fn manifest(&self) -> &EmbeddedManifest {
        &self.manifest
    }

    /// Calls command `name` with a typed request, through the generated dispatch table.
    pub fn call<Req: Message, Resp: Message>(
        &self,
        name: &str,
        request: &Req,
    ) -> Result<Resp, PluginError> {
        let bytes = self.call_raw(name, &encode(request))?;
        decode(&bytes)
    }

    /// Calls command `name` with request bytes.
    pub fn call_raw(&self, name: &str, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        let index = self.manifest.command_index(name).ok_or_else(|| {
            PluginError::with_code(codes::UNKNOWN_METHOD, format!("no command `{name}`"))
        })?;
        let mut buf = Vec::new();
        let mut out = Output::from_vec(&mut buf);
        self.plugin.dispatch(&self.ctx, index, request, &mut out)?;
        Ok(buf)
    }
}
