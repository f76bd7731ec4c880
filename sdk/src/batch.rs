//! Publishing many events at once: [`PublishBatch`], what a plugin builds, and
//! [`EventBatch`], what a host receives.
//!
//! A batch crosses the plugin boundary once. The host checks the plugin's right to each
//! *distinct* topic once, and every event's size, before it delivers anything: a batch is
//! published whole or not at all. Events keep their order, on each topic and across topics.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{codes, PluginError};
use crate::message::{encode_into, Message};

/// A topic and the headers every event of a batch published on it carries (a typed
/// message's `contract`, or a raw event's own headers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTopic<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The headers of its events: name, value.
    #[serde(borrow)]
    pub headers: Vec<(&'a str, &'a str)>,
}

impl BatchTopic<'_> {
    /// The bytes its headers add to each of its events (names and values), as the event size
    /// limit counts them.
    pub fn header_bytes(&self) -> usize {
        self.headers.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// A batch of events as a host receives it: the distinct topics (with their headers), then
/// each event's topic and payload, in publishing order. Checked when built, so every index
/// and offset is in range.
///
/// # Example
///
/// ```
/// use switchboard_sdk::batch::{BatchTopic, EventBatch};
///
/// let topics = vec![BatchTopic { topic: "plugin.notes.saved", headers: vec![] }];
/// let batch = EventBatch::new(topics, &[0, 0], &[1, 3], b"abc").unwrap();
/// let events: Vec<(usize, &[u8])> = batch.iter().collect();
/// assert_eq!(events, [(0, &b"a"[..]), (0, &b"bc"[..])]);
/// assert!(EventBatch::new(vec![], &[0], &[1], b"a").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct EventBatch<'a> {
    topics: Vec<BatchTopic<'a>>,
    /// `events[i]` is the index into `topics` of event `i`.
    events: &'a [u32],
    /// `ends[i]` is where event `i`'s payload ends in `payloads`.
    ends: &'a [u32],
    payloads: &'a [u8],
}

/// What a host without batch publishing answers (one older than SDK ABI 1.2, or one whose
/// `HostServices` does not offer it).
pub(crate) fn unsupported() -> PluginError {
    PluginError::with_code(
        codes::BATCH_UNSUPPORTED,
        "this host predates SDK ABI 1.2 and cannot publish a batch of events; nothing was \
         published",
    )
    .next_step("publish the events one at a time with `Context::publish`, or upgrade the host")
}

/// A batch that does not hold together (from a broken or hostile caller; the SDK never
/// builds one).
fn malformed(why: &str) -> PluginError {
    PluginError::with_code(
        codes::BATCH_MALFORMED,
        format!("the event batch is malformed: {why}"),
    )
    .next_step("build batches with `Context::batch` or `Context::publish_batch`")
}

impl<'a> EventBatch<'a> {
    /// A batch of `events.len()` events: event `i` is on `topics[events[i]]`, and its payload
    /// is `payloads[ends[i - 1]..ends[i]]` (from 0 for the first). Refused with
    /// [`BATCH_MALFORMED`](codes::BATCH_MALFORMED) if the lengths differ, an index is out
    /// of range or the offsets go backwards or past the end.
    pub fn new(
        topics: Vec<BatchTopic<'a>>,
        events: &'a [u32],
        ends: &'a [u32],
        payloads: &'a [u8],
    ) -> Result<EventBatch<'a>, PluginError> {
        if events.len() != ends.len() {
            return Err(malformed(&format!(
                "{} topic indices for {} payloads",
                events.len(),
                ends.len()
            )));
        }
        if let Some(bad) = events.iter().find(|&&t| t as usize >= topics.len()) {
            return Err(malformed(&format!(
                "topic index {bad} with {} topics",
                topics.len()
            )));
        }
        let mut start = 0u32;
        for &end in ends {
            if end < start || end as usize > payloads.len() {
                return Err(malformed(&format!(
                    "payload offset {end} after {start}, in {} bytes",
                    payloads.len()
                )));
            }
            start = end;
        }
        Ok(EventBatch {
            topics,
            events,
            ends,
            payloads,
        })
    }

    /// The distinct topics, in the order first used.
    pub fn topics(&self) -> &[BatchTopic<'a>] {
        &self.topics
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Each event in order: the index of its topic in [`topics`](Self::topics), and its
    /// payload.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
        let payloads = self.payloads;
        self.events
            .iter()
            .zip(self.ends)
            .scan(0usize, move |start, (&topic, &end)| {
                let from = std::mem::replace(start, end as usize);
                Some((
                    topic as usize,
                    payloads.get(from..end as usize).unwrap_or_default(),
                ))
            })
    }

    /// The payload bytes of all events together.
    pub fn payload_bytes(&self) -> usize {
        self.payloads.len()
    }

    /// The parts, as they cross a boundary (the ABI, or isolated mode's channel): the
    /// topics, each event's topic index, each payload's end, the payload bytes — what
    /// [`EventBatch::new`] takes.
    pub fn parts(&self) -> (&[BatchTopic<'a>], &'a [u32], &'a [u32], &'a [u8]) {
        (&self.topics, self.events, self.ends, self.payloads)
    }
}

/// Events to publish at once, built with [`Context::batch`]: add typed messages (or raw
/// events) on one topic or several, then [`send`](Self::send) them in one crossing of the
/// plugin boundary.
///
/// The host checks the plugin's right to each distinct topic once, and every event's size,
/// before delivering anything: if one topic is denied, or one event is too large, nothing is
/// published and the error says which. The whole batch must also fit the host's limit on one
/// call (16 MiB by default, [`BATCH_TOO_LARGE`](codes::BATCH_TOO_LARGE) otherwise).
///
/// # Example
///
/// ```
/// # #[cfg(feature = "testing")]
/// # {
/// let host = switchboard_sdk::testing::MockHost::new("notes");
/// let ctx = host.context();
/// let mut batch = ctx.batch();
/// batch
///     .publish("plugin.notes.saved", &"a.md".to_string())
///     .publish("plugin.notes.saved", &"b.md".to_string())
///     .publish("plugin.notes.indexed", &2u32);
/// assert_eq!(batch.len(), 3);
/// batch.send().unwrap();
/// let topics: Vec<String> = host.published().into_iter().map(|(t, _)| t).collect();
/// assert_eq!(topics, ["plugin.notes.saved", "plugin.notes.saved", "plugin.notes.indexed"]);
/// # }
/// ```
#[derive(Debug)]
pub struct PublishBatch<'c> {
    ctx: &'c Context,
    groups: Vec<Group>,
    /// The group of the last event added: consecutive events usually share it.
    last: Option<usize>,
    events: Vec<u32>,
    ends: Vec<u32>,
    payloads: Vec<u8>,
}

/// A topic and headers events of the batch share.
#[derive(Debug)]
struct Group {
    topic: String,
    headers: Vec<(String, String)>,
}

impl Group {
    fn is(&self, topic: &str, headers: &[(&str, &str)]) -> bool {
        self.topic == topic
            && self.headers.len() == headers.len()
            && self
                .headers
                .iter()
                .zip(headers)
                .all(|((k, v), (k2, v2))| k == k2 && v == v2)
    }
}

impl<'c> PublishBatch<'c> {
    pub(crate) fn new(ctx: &'c Context) -> PublishBatch<'c> {
        PublishBatch {
            ctx,
            groups: Vec::new(),
            last: None,
            events: Vec::new(),
            ends: Vec::new(),
            payloads: Vec::new(),
        }
    }

    /// Adds `message` on `topic`, with a `contract` header naming its type (as
    /// [`Context::publish`] does).
    pub fn publish<M: Message>(&mut self, topic: &str, message: &M) -> &mut Self {
        let group = self.group(topic, &[("contract", M::CONTRACT.id)]);
        encode_into(message, &mut self.payloads);
        self.push(group)
    }

    /// Adds raw bytes on `topic`, with these headers and no contract (as
    /// [`Context::publish_raw`] does).
    pub fn publish_raw(
        &mut self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> &mut Self {
        let group = self.group(topic, headers);
        self.payloads.extend_from_slice(payload);
        self.push(group)
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Publishes every event added, in order, and empties the batch (so it can be filled
    /// again). Returns how many deliveries the host queued in all. An empty batch publishes
    /// nothing and returns 0 without reaching the host.
    ///
    /// Nothing is published if any topic is refused ([`Context::publish`] lists the rules),
    /// any event is over the host's event size limit, or the batch is over its call size
    /// limit ([`BATCH_TOO_LARGE`](codes::BATCH_TOO_LARGE)). A host older than SDK ABI 1.2
    /// answers [`BATCH_UNSUPPORTED`](codes::BATCH_UNSUPPORTED).
    pub fn send(&mut self) -> Result<u32, PluginError> {
        if self.events.is_empty() {
            return Ok(0);
        }
        let result = self
            .view()
            .and_then(|batch| self.ctx.backend().publish_batch(&batch));
        self.groups.clear();
        self.last = None;
        self.events.clear();
        self.ends.clear();
        self.payloads.clear();
        result
    }

    fn view(&self) -> Result<EventBatch<'_>, PluginError> {
        let topics = self
            .groups
            .iter()
            .map(|g| BatchTopic {
                topic: &g.topic,
                headers: g
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
            })
            .collect();
        EventBatch::new(topics, &self.events, &self.ends, &self.payloads)
    }

    fn group(&mut self, topic: &str, headers: &[(&str, &str)]) -> usize {
        if let Some(i) = self.last.filter(|&i| self.groups[i].is(topic, headers)) {
            return i;
        }
        let i = match self.groups.iter().position(|g| g.is(topic, headers)) {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    topic: topic.to_owned(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                });
                self.groups.len() - 1
            }
        };
        self.last = Some(i);
        i
    }

    fn push(&mut self, group: usize) -> &mut Self {
        // Offsets past 4 GiB saturate; the host refuses such a batch as too large long before.
        self.events.push(u32::try_from(group).unwrap_or(u32::MAX));
        self.ends
            .push(u32::try_from(self.payloads.len()).unwrap_or(u32::MAX));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(t: &str) -> BatchTopic<'_> {
        BatchTopic {
            topic: t,
            headers: vec![("contract", "u32@1")],
        }
    }

    #[test]
    fn a_batch_that_does_not_hold_together_is_refused_with_a_code() {
        let cases: [(&[u32], &[u32], &[u8]); 4] = [
            (&[0, 0], &[1], b"ab"),    // lengths differ
            (&[1], &[1], b"a"),        // no topic 1
            (&[0, 0], &[2, 1], b"ab"), // an offset going back
            (&[0], &[3], b"ab"),       // past the end
        ];
        for (events, ends, payloads) in cases {
            let e = EventBatch::new(vec![topic("plugin.a.b")], events, ends, payloads).unwrap_err();
            assert_eq!(e.code(), codes::BATCH_MALFORMED, "{events:?} {ends:?}");
            assert_eq!(e.code().to_string(), "SB1622");
        }
    }

    #[test]
    fn events_come_back_in_order_with_their_topics() {
        let batch = EventBatch::new(
            vec![topic("plugin.a.x"), topic("plugin.a.y")],
            &[0, 1, 0],
            &[1, 1, 4],
            b"abcd",
        )
        .unwrap();
        let got: Vec<(usize, &[u8])> = batch.iter().collect();
        assert_eq!(got, [(0, &b"a"[..]), (1, &b""[..]), (0, &b"bcd"[..])]);
        assert_eq!(
            batch.topics()[0].header_bytes(),
            "contract".len() + "u32@1".len()
        );
        assert_eq!((batch.len(), batch.payload_bytes()), (3, 4));
    }
}
