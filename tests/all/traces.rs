//! Plugin work in the application's traces: a command call is a `plugin_call` span with the
//! plugin and command as fields, an event delivery a `plugin_event` span with the topic and
//! the bus's trace id, and a plugin's log lines are `tracing` events inside them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use switchboard_tests::{dev_host, library};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// What the recorder saw: spans by id (name and fields), and events with their fields and
/// the span they happened in.
#[derive(Default)]
struct Seen {
    spans: BTreeMap<u64, (String, BTreeMap<String, String>)>,
    events: Vec<(String, BTreeMap<String, String>, Option<u64>)>,
    stack: Vec<u64>,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        let name = span.metadata().name().to_owned();
        self.seen.lock().unwrap().spans.insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let mut seen = self.seen.lock().unwrap();
        let current = seen.stack.last().copied();
        let target = event.metadata().target().to_owned();
        seen.events.push((target, fields, current));
    }
    fn enter(&self, span: &Id) {
        self.seen.lock().unwrap().stack.push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.seen.lock().unwrap().stack.pop();
    }
}

#[test]
fn a_plugins_log_line_is_an_event_inside_its_call_span() {
    let (host, _dir) = dev_host();
    host.load_unsigned(library("hello"))
        .unwrap()
        .start()
        .unwrap();
    let greet = host.command::<String, String>("hello", "greet").unwrap();
    let recorder = Recorder::default();
    // The subscriber is this thread's only: the call, and hello's log line, run here.
    tracing::subscriber::with_default(recorder.clone(), || {
        greet.call(&"Ada".to_owned()).unwrap();
    });
    let seen = recorder.seen.lock().unwrap();
    let (_, fields, span) = seen
        .events
        .iter()
        .find(|(target, ..)| target == "switchboard::plugin")
        .expect("hello's `greeting Ada` line as an event");
    assert_eq!(fields["plugin"], "hello");
    assert_eq!(fields["message"], "greeting Ada");
    let (name, span_fields) = &seen.spans[&span.expect("inside a span")];
    assert_eq!(name, "plugin_call");
    assert_eq!(span_fields["plugin"], "hello");
    assert_eq!(span_fields["command"], "greet");
}
