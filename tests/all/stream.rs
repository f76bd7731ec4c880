//! Streaming commands and usage (SPEC S1.6), with the test plugin `streamer` built as a real
//! cdylib: chunks consumed as they come, backpressure (asserted by counts, never by time),
//! cancellation the plugin observes, panics contained, the wrong call style refused, usage
//! returned with results, counted in the metrics and stored across a restart — in-process and
//! isolated alike.

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use streamer::{Done, Run, Tick};
use switchboard_host::isolation::Mode;
use switchboard_host::{metrics, Host, PluginHandle, State};
use switchboard_tests::{edited_manifest, host_with, reopen, test_plugin};

use crate::isolated::{options, runner};

/// Runs a case once per backend: `NAME::in_process` and `NAME::isolated`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn in_process() {
                super::$name(switchboard_host::isolation::Mode::InProcess)
            }

            #[test]
            fn isolated() {
                super::$name(switchboard_host::isolation::Mode::Isolated)
            }
        })*
    };
}

both!(
    chunks_arrive_in_order_with_summary_and_usage,
    backpressure_holds_the_plugin_within_the_buffer,
    cancelling_mid_stream_stops_the_plugin,
    the_callback_form_stops_on_break,
    a_panic_mid_stream_is_contained,
    the_wrong_call_style_is_refused,
    usage_is_returned_and_counted_per_command,
    usage_units_are_bounded_and_repeated_reports_add_up,
    a_chunk_over_the_limit_is_refused,
    a_reload_ends_the_open_streams_and_new_ones_run_on_the_new_version,
    a_stop_ends_the_open_streams,
    a_plugin_ignoring_the_refusal_is_slowed_down,
);

fn host() -> (Host, tempfile::TempDir) {
    host_with(|b, _| {
        b.runner(runner());
    })
}

fn load(host: &Host, mode: Mode) -> PluginHandle {
    let plugin = host
        .load_unsigned_with(test_plugin("streamer"), &options(mode))
        .unwrap();
    assert_eq!(plugin.isolation().mode, mode);
    plugin.start().unwrap();
    plugin
}

fn run(chunks: u64) -> Run {
    Run {
        chunks,
        panic_after: None,
        ignore_refusals: 0,
        pad: 0,
    }
}

fn counter(plugin: &PluginHandle, name: &str) -> u64 {
    plugin.command::<(), u64>(name).unwrap().call(&()).unwrap()
}

fn chunks_arrive_in_order_with_summary_and_usage(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count.start(&run(100)).unwrap();
    let mut seen = Vec::new();
    for tick in &mut stream {
        seen.push(tick.unwrap().seq);
    }
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    let done = stream.finish().unwrap();
    assert_eq!(done.summary.unwrap().sent, 100);
    assert_eq!(done.chunks, 100);
    assert!(!done.cancelled);
    assert_eq!(done.usage.get("ticks"), 100);
    assert_eq!(done.usage.get("runs"), 1);
    // An empty stream is a stream too.
    let empty = count
        .call_streaming(&run(0), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!((empty.summary.unwrap().sent, empty.chunks), (0, 0));
}

/// With room for 4 unread chunks, the plugin's sends that returned never exceed what the
/// consumer took plus 4: its `send` waits for the consumer. Asserted after each chunk taken,
/// so it holds whatever the threads' timing.
fn backpressure_holds_the_plugin_within_the_buffer(mode: Mode) {
    const CAPACITY: u64 = 4;
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count
        .start_with_capacity(&run(300), CAPACITY as usize)
        .unwrap();
    let mut taken = 0u64;
    assert!(counter(&plugin, "progress") <= CAPACITY);
    for tick in stream.by_ref() {
        assert_eq!(tick.unwrap().seq, taken);
        taken += 1;
        let sent = counter(&plugin, "progress");
        assert!(
            sent <= taken + CAPACITY,
            "the plugin ran ahead: {sent} sent, {taken} taken, room for {CAPACITY}"
        );
    }
    assert_eq!(taken, 300);
    assert_eq!(stream.finish().unwrap().chunks, 300);
}

/// A consumer that takes three chunks of a practically endless stream and cancels: the
/// plugin's next `send` is refused, it sees the code and returns, `finish` joins its thread
/// and reports the stream cancelled with the usage the plugin billed for what it delivered.
fn cancelling_mid_stream_stops_the_plugin(mode: Mode) {
    const CAPACITY: u64 = 2;
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count
        .start_with_capacity(&run(u64::MAX), CAPACITY as usize)
        .unwrap();
    for expected in 0..3 {
        assert_eq!(stream.next().unwrap().unwrap().seq, expected);
    }
    stream.cancel();
    assert!(stream.next().is_none(), "nothing after a cancel");
    let done = stream.finish().unwrap();
    assert!(done.cancelled);
    assert!(done.summary.is_none());
    assert!(
        done.chunks >= 3 && done.chunks <= 3 + CAPACITY,
        "{} chunks accepted",
        done.chunks
    );
    assert_eq!(done.usage.get("ticks"), done.chunks);
    assert_eq!(
        counter(&plugin, "observed"),
        1,
        "the plugin saw the cancellation"
    );
    // The plugin is fine, and a cancellation is not an error of the command.
    assert_eq!(plugin.state(), State::Active);
    let m = host.metrics();
    let c = &m.plugins["streamer"].commands["count"];
    assert_eq!((c.calls, c.errors_total()), (1, 0));
    assert_eq!(c.usage["ticks"], done.chunks);
    // Dropping a stream cancels it as well; the next stream runs normally.
    let mut dropped = count.start_with_capacity(&run(u64::MAX), 1).unwrap();
    assert_eq!(dropped.next().unwrap().unwrap().seq, 0);
    drop(dropped);
    let again = count
        .call_streaming(&run(5), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(again.chunks, 5);
}

fn the_callback_form_stops_on_break(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut seqs = Vec::new();
    let done = count
        .call_streaming(&run(1_000_000), |tick| {
            seqs.push(tick.seq);
            if seqs.len() == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    assert!(done.cancelled);
    assert_eq!(done.chunks, 5);
    assert_eq!(done.usage.get("ticks"), 5);
    assert_eq!(counter(&plugin, "observed"), 1);
    // To the end: the summary comes back.
    let all = count
        .call_streaming(&run(50), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!((all.summary.unwrap().sent, all.cancelled), (50, false));
}

/// A plugin that panics after three chunks: the consumer gets the three, then the stream
/// ends; `finish` reports the panic (`SB0101`), the plugin is failed, the host goes on.
fn a_panic_mid_stream_is_contained(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count
        .start(&Run {
            chunks: 10,
            panic_after: Some(3),
            ignore_refusals: 0,
            pad: 0,
        })
        .unwrap();
    let seqs: Vec<u64> = (&mut stream).map(|t| t.unwrap().seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    let err = stream.finish().unwrap_err();
    assert_eq!(err.code().to_string(), "SB0101", "{err}");
    assert!(err.to_string().contains("panics after 3 chunks"), "{err}");
    assert_eq!(plugin.state(), State::Failed);
    assert_eq!(host.metrics().plugins["streamer"].panics, 1);
}

fn the_wrong_call_style_is_refused(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let code = |e: switchboard_host::CallError| e.code().to_string();
    // A streaming command called as a plain one, typed or raw: refused, nothing runs.
    assert_eq!(
        code(plugin.command::<Run, Done>("count").unwrap_err()),
        "SB1730"
    );
    assert_eq!(code(plugin.raw_command("count").unwrap_err()), "SB1730");
    // A plain command called as a stream.
    assert_eq!(
        code(
            plugin
                .stream_command::<u64, u64, String>("words")
                .unwrap_err()
        ),
        "SB1731"
    );
    // The chunk type is part of the contract.
    let wrong = plugin
        .stream_command::<Run, u64, Done>("count")
        .unwrap_err();
    assert_eq!(code(wrong), "SB0303");
    assert_eq!(counter(&plugin, "progress"), 0, "no plugin code ran");
    // The manifest says which commands stream, and with what chunks.
    let manifest = plugin.manifest();
    let decl = manifest
        .commands
        .iter()
        .find(|c| c.name == "count")
        .unwrap();
    assert_eq!(
        decl.stream.as_deref(),
        Some(<Tick as switchboard_sdk::Message>::CONTRACT.id)
    );
    let words = manifest
        .commands
        .iter()
        .find(|c| c.name == "words")
        .unwrap();
    assert!(words.stream.is_none());
}

/// With a 4 KiB payload limit, a stream of 1 KiB chunks flows and one of 8 KiB chunks is
/// refused at its first chunk: nothing of it reaches the consumer, and `finish` says why.
fn a_chunk_over_the_limit_is_refused(mode: Mode) {
    let (host, _dir) = host_with(|b, _| {
        b.runner(runner())
            .bus_limits(switchboard_host::bus::BusLimits {
                max_call_bytes: 4096,
                ..switchboard_host::bus::BusLimits::default()
            });
    });
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let small = count
        .call_streaming(
            &Run {
                chunks: 3,
                panic_after: None,
                ignore_refusals: 0,
                pad: 1024,
            },
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(small.chunks, 3);
    let mut big = count
        .start(&Run {
            chunks: 3,
            panic_after: None,
            ignore_refusals: 0,
            pad: 8192,
        })
        .unwrap();
    assert!(big.next().is_none());
    let err = big.finish().unwrap_err();
    assert_eq!(err.code().to_string(), "SB0310", "{err}");
    assert_eq!(plugin.state(), State::Active);
}

fn usage_is_returned_and_counted_per_command(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let words = plugin.command::<u64, String>("words").unwrap();
    let outcome = words.call_metered(&12).unwrap();
    // The plugin's second report had a bad unit: refused with a code, nothing recorded.
    assert_eq!(outcome.response, "SB1734");
    assert_eq!(outcome.usage.get("words"), 12);
    assert_eq!(outcome.usage.iter().count(), 1);
    // A plain call is metered as well; amounts add up (saturating).
    words.call(&u64::MAX).unwrap();
    let m = host.metrics();
    let p = &m.plugins["streamer"];
    assert_eq!(p.commands["words"].usage["words"], u64::MAX);
    assert_eq!(p.commands["words"].calls, 2);
    assert_eq!(p.usage_total()["words"], u64::MAX);
    // Usage from a thread in no call is the plugin's, outside any command.
    let bg = plugin
        .command::<u64, ()>("background")
        .unwrap()
        .call_metered(&9)
        .unwrap();
    assert_eq!(bg.usage.get("foreground"), 9);
    assert_eq!(bg.usage.get("background"), 0);
    let after = host.metrics();
    let p2 = &after.plugins["streamer"];
    assert_eq!(p2.usage_outside_calls["background"], 9);
    assert_eq!(p2.commands["background"].usage["foreground"], 9);
    assert!(!p2.commands["background"].usage.contains_key("background"));
    let text = after.to_prometheus();
    assert!(
        text.contains(
            "switchboard_plugin_usage_total{plugin=\"streamer\",command=\"-\",unit=\"background\"} 9"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "switchboard_plugin_usage_total{{plugin=\"streamer\",command=\"words\",unit=\"words\"}} {}",
            u64::MAX
        )),
        "{text}"
    );
}

fn usage_units_are_bounded_and_repeated_reports_add_up(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let units = plugin.command::<u32, String>("units").unwrap();
    let outcome = units.call_metered(&10_000).unwrap();
    // `many` is one unit; `u1`..`u31` fill the plugin's 32; `u32` is refused.
    assert_eq!(outcome.response, "32 SB1738");
    assert_eq!(outcome.usage.get("many"), 10_000);
    assert_eq!(outcome.usage.iter().count(), 32);
    assert_eq!(outcome.usage.get("u32"), 0);
    // Known units go on being accepted; the host's counters hold 32 units, no more.
    let again = units.call_metered(&1).unwrap();
    assert_eq!(again.response, "32 SB1738");
    assert_eq!(again.usage.get("u31"), 1);
    let m = host.metrics();
    assert_eq!(m.plugins["streamer"].usage_total().len(), 32);
}

/// Usage is stored with the metrics (schema v8) and is there for billing after a restart,
/// from the host API, the library function over a store, and the CLI.
#[test]
fn stream_usage_survives_a_restart_and_the_cli_reports_it() {
    let (host, dir) = host();
    let plugin = load(&host, Mode::InProcess);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    count
        .call_streaming(&run(7), |_| ControlFlow::Continue(()))
        .unwrap();
    plugin
        .command::<u64, String>("words")
        .unwrap()
        .call(&40)
        .unwrap();
    drop(plugin);
    drop(count);
    drop(host);

    let host = reopen(dir.path(), |b| {
        b.runner(runner());
    });
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let report = host.usage(now - day, now + day).unwrap();
    assert_eq!(report.total("streamer", "ticks"), 7);
    assert_eq!(report.total("streamer", "runs"), 1);
    assert_eq!(report.total("streamer", "words"), 40);
    let row = report.rows.iter().find(|r| r.unit == "ticks").unwrap();
    assert_eq!(row.command, "count");
    // The same from the stored metrics.
    let stored = host.stored_metrics(day).unwrap();
    assert_eq!(
        stored.plugins["streamer"].commands["count"].usage["ticks"],
        7
    );
    // A period that ends before it starts is refused with a code.
    let bad = host.usage(now, now - day).unwrap_err();
    assert_eq!(bad.code().to_string(), "SB1801");
    drop(host);

    let data = dir.path().join("data");
    let store = switchboard_host::Store::open_existing(&data).unwrap();
    assert_eq!(store.schema_version().unwrap(), 8);
    let report = metrics::usage(&store, now - day, now + day).unwrap();
    assert_eq!(report.total("streamer", "words"), 40);
    drop(store);

    // What `switchboard usage --data-dir DIR --since 1d --json` prints.
    let json = switchboard_cli::metrics::usage_json(&data, day).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let ticks = rows
        .iter()
        .find(|r| r["unit"] == "ticks" && r["plugin"] == "streamer")
        .unwrap();
    assert_eq!(ticks["amount"], 7);
    assert_eq!(ticks["command"], "count");
    let text = switchboard_cli::metrics::usage_text(&data, day).unwrap();
    assert!(
        text.contains("streamer") && text.contains("words") && text.contains("40"),
        "{text}"
    );
}

/// Loads a copy of streamer (a reload replaces the file it was loaded from) and starts it.
fn load_copy(host: &Host, dir: &std::path::Path, mode: Mode) -> (PluginHandle, std::path::PathBuf) {
    let path = dir.join("libstreamer.so");
    std::fs::copy(test_plugin("streamer"), &path).unwrap();
    let plugin = host.load_unsigned_with(&path, &options(mode)).unwrap();
    plugin.start().unwrap();
    (plugin, path)
}

/// A stream open across a reload (its plugin waiting for room in the buffer) does not hold
/// the old version: the reload ends it — the consumer reads what was buffered, then the end —
/// and a stream started after it runs on the new version.
fn a_reload_ends_the_open_streams_and_new_ones_run_on_the_new_version(mode: Mode) {
    let (host, dir) = host();
    let (plugin, path) = load_copy(&host, dir.path(), mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count.start_with_capacity(&run(u64::MAX), 2).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().seq, 0);
    let bytes = std::fs::read(&path).unwrap();
    let bytes = edited_manifest(&bytes, "streamer", |m| m["version"] = "0.2.0".into());
    std::fs::write(&path, bytes).unwrap();
    plugin.reload(&path).unwrap();
    assert_eq!(plugin.version(), "0.2.0");
    let rest = stream.by_ref().count();
    assert!(
        rest <= 3,
        "{rest} chunks after the reload: the buffer holds 2"
    );
    assert!(stream.is_cancelled());
    let done = stream.finish().unwrap();
    assert!(done.cancelled);
    assert!(done.summary.is_none());
    let again = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut fresh = again.start(&run(3)).unwrap();
    assert_eq!(fresh.by_ref().count(), 3);
    assert_eq!(fresh.finish().unwrap().summary.unwrap().sent, 3);
    assert_eq!(plugin.state(), State::Active);
}

/// The bound on usage units is the plugin's, not one version's: after a reload a unit it
/// never reported is still refused once 32 are taken.
#[test]
fn stream_usage_units_stay_bounded_across_a_reload() {
    let (host, dir) = host();
    let (plugin, path) = load_copy(&host, dir.path(), Mode::InProcess);
    let units = plugin.command::<u32, String>("units").unwrap();
    assert_eq!(units.call(&1).unwrap(), "32 SB1738");
    let bytes = std::fs::read(&path).unwrap();
    let bytes = edited_manifest(&bytes, "streamer", |m| m["version"] = "0.2.0".into());
    std::fs::write(&path, bytes).unwrap();
    plugin.reload(&path).unwrap();
    let words = plugin.command::<u64, String>("words").unwrap();
    assert_eq!(words.call(&1).unwrap_err().code().to_string(), "SB1738");
}

/// Stopping a plugin ends its open streams; its stop hook does not wait for a consumer.
fn a_stop_ends_the_open_streams(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count.start_with_capacity(&run(u64::MAX), 2).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().seq, 0);
    plugin.stop().unwrap();
    assert!(stream.by_ref().count() <= 3);
    assert!(stream.finish().unwrap().cancelled);
    host.remove("streamer").unwrap();
}

/// A plugin that goes on sending after its stream was stopped gets the refusal every time and
/// is made to wait past the first 64: here it ignores 70, so it waited at least
/// 2 + 4 + … + 64 ms (sleeps never end early: a lower bound, not a race).
fn a_plugin_ignoring_the_refusal_is_slowed_down(mode: Mode) {
    let (host, _dir) = host();
    let plugin = load(&host, mode);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count
        .start_with_capacity(
            &Run {
                chunks: u64::MAX,
                panic_after: None,
                pad: 0,
                ignore_refusals: 70,
            },
            2,
        )
        .unwrap();
    assert_eq!(stream.next().unwrap().unwrap().seq, 0);
    let cancelled = std::time::Instant::now();
    stream.cancel();
    let done = stream.finish().unwrap();
    assert!(done.cancelled);
    assert!(
        cancelled.elapsed() >= Duration::from_millis(126),
        "{:?}",
        cancelled.elapsed()
    );
    assert_eq!(counter(&plugin, "observed"), 1);
}

/// A host whose isolated plugins' calls time out after `ms` of their own time.
fn host_timing_out_after(ms: u64) -> (Host, tempfile::TempDir) {
    use switchboard_host::isolation::IsolationProfile;
    host_with(|b, _| {
        let mut policy = switchboard_host::Policy::new();
        let mut limits = IsolationProfile::default();
        limits.call_timeout_ms = Some(ms);
        policy.isolation_defaults(limits);
        b.policy(policy).runner(runner());
    })
}

/// Isolated, the time a chunk waits for a slow consumer is the host's: a consumer that reads
/// nothing for longer than the plugin's call timeout, then cancels, gets a clean cancellation,
/// and the runner is not killed.
#[test]
fn stream_an_isolated_plugin_waiting_on_a_slow_consumer_is_not_timed_out_at_the_cancel() {
    let (host, _dir) = host_timing_out_after(500);
    let plugin = load(&host, Mode::Isolated);
    let pid = plugin.isolation().runner_pid;
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count.start_with_capacity(&run(u64::MAX), 2).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().seq, 0);
    std::thread::sleep(Duration::from_millis(800));
    stream.cancel();
    let done = stream.finish().unwrap();
    assert!(done.cancelled);
    assert_eq!(
        plugin.isolation().runner_pid,
        pid,
        "the runner was not restarted"
    );
}

/// Isolated, a plugin that never stops sending after a cancellation has its call timeout to
/// return, counted from the cancellation: then its runner is killed (`SB1502`).
#[test]
fn stream_an_isolated_plugin_ignoring_the_cancellation_is_stopped_by_its_timeout() {
    let (host, _dir) = host_timing_out_after(1_000);
    let plugin = load(&host, Mode::Isolated);
    let count = plugin.stream_command::<Run, Tick, Done>("count").unwrap();
    let mut stream = count
        .start_with_capacity(
            &Run {
                chunks: u64::MAX,
                panic_after: None,
                pad: 0,
                ignore_refusals: u64::MAX,
            },
            2,
        )
        .unwrap();
    assert_eq!(stream.next().unwrap().unwrap().seq, 0);
    stream.cancel();
    let err = stream.finish().unwrap_err();
    assert_eq!(err.code().to_string(), "SB1502", "{err}");
}
