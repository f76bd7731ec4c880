use super::*;

fn at(secs: i64) -> SystemTime {
    from_unix_secs(secs)
}

/// `calls` calls of `plugin.command`, `errors` of them failed with SB1001, each taking
/// `latency_ms`.
fn delta(plugin: &str, command: &str, calls: u64, errors: u64, latency_ms: u64) -> MetricsSnapshot {
    let mut h = histogram::empty();
    h.record_n(latency_ms * 1_000_000, calls).unwrap();
    let mut c = CommandMetrics {
        calls,
        latency: Latency::from_histogram(h),
        ..CommandMetrics::default()
    };
    if errors > 0 {
        c.errors.insert("SB1001".into(), errors);
    }
    let mut p = PluginMetrics {
        events_delivered: calls,
        ..PluginMetrics::default()
    };
    p.commands.insert(command.into(), c);
    MetricsSnapshot {
        taken_at: SystemTime::now(),
        plugins: [(plugin.to_owned(), p)].into(),
    }
}

fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(dir.path()).unwrap(), dir)
}

fn count(store: &Store, table: &str, resolution: i64) -> i64 {
    store
        .lock()
        .query_row(
            &format!("SELECT COUNT(*) FROM {table} WHERE resolution = ?1"),
            [resolution],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn latency_encoding_round_trips() {
    let mut h = histogram::empty();
    for v in [1u64, 900, 1_000_000, 250_000_000, histogram::MAX_VALUE] {
        h.record_n(v, v % 7 + 1).unwrap();
    }
    let l = Latency::from_histogram(h.clone());
    let back = decode_latency(&encode_latency(&l)).unwrap();
    assert_eq!(back.histogram(), &h);
    assert_eq!(back.count(), l.count());
    assert_eq!(back.p99(), l.p99());
    // An empty histogram is a version byte and an empty list.
    let empty = encode_latency(&Latency::default());
    assert_eq!(empty, vec![ENCODING_V1, 0]);
    assert_eq!(decode_latency(&empty).unwrap().count(), 0);
}

#[test]
fn damaged_latency_bytes_are_an_error_not_a_panic() {
    for bytes in [
        &[][..],
        &[9, 0],
        &[1, 200],
        &[1, 1, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 1],
    ] {
        assert!(decode_latency(bytes).is_err(), "{bytes:?}");
    }
}

#[test]
fn deltas_in_one_minute_add_up_in_one_row() {
    let (s, _d) = store();
    persist(&s, &delta("hello", "greet", 10, 1, 5), at(120)).unwrap();
    persist(&s, &delta("hello", "greet", 5, 2, 50), at(179)).unwrap();
    persist(&s, &delta("hello", "greet", 1, 0, 5), at(180)).unwrap();
    assert_eq!(count(&s, "metrics_commands", MINUTE), 2);
    let m = stored(&s, at(0)).unwrap();
    let greet = &m.plugins["hello"].commands["greet"];
    assert_eq!(greet.calls, 16);
    assert_eq!(greet.errors["SB1001"], 3);
    assert_eq!(greet.latency.count(), 16);
    assert_eq!(m.plugins["hello"].events_delivered, 16);
    // Only rows ending after `since` count.
    let later = stored(&s, at(180)).unwrap();
    assert_eq!(later.plugins["hello"].commands["greet"].calls, 1);
}

#[test]
fn an_empty_delta_writes_nothing() {
    let (s, _d) = store();
    persist(&s, &delta("hello", "greet", 0, 0, 5), at(60)).unwrap();
    assert_eq!(count(&s, "metrics_commands", MINUTE), 0);
    assert_eq!(count(&s, "metrics_plugins", MINUTE), 0);
}

#[test]
fn retention_merges_old_minutes_into_hours_and_deletes_old_hours() {
    let (s, _d) = store();
    let day = 86_400;
    let retention = Retention::new(
        Duration::from_secs(2 * 3600),
        Duration::from_secs(day as u64),
    );
    // Three minutes in hour 0, one in hour 1, and one now (hour 30).
    for (t, calls) in [(60, 1), (120, 2), (3000, 4), (3600 + 60, 8)] {
        persist(&s, &delta("hello", "greet", calls, 1, 5), at(t)).unwrap();
    }
    let now = 30 * 3600 + 10;
    persist(&s, &delta("hello", "greet", 16, 0, 5), at(now)).unwrap();
    let before = stored(&s, at(0)).unwrap().plugins["hello"].commands["greet"].calls;
    assert_eq!(before, 31);

    // At hour 4: hours 0 and 1 ended more than 2 hours ago, so their minutes merge.
    let done = compact(&s, at(4 * 3600), retention).unwrap();
    assert_eq!(done.merged, 8, "4 command rows and 4 plugin rows");
    assert_eq!(count(&s, "metrics_commands", HOUR), 2);
    assert_eq!(
        count(&s, "metrics_commands", MINUTE),
        1,
        "the current minute stays"
    );
    let m = stored(&s, at(0)).unwrap();
    let greet = &m.plugins["hello"].commands["greet"];
    assert_eq!(greet.calls, 31, "merging loses nothing");
    assert_eq!(greet.errors["SB1001"], 4);
    assert_eq!(greet.latency.count(), 31);
    assert_eq!(m.plugins["hello"].events_delivered, 31);

    // Compacting again changes nothing.
    assert_eq!(
        compact(&s, at(4 * 3600), retention).unwrap(),
        Compacted::default()
    );

    // At hour 30: the hour rows are more than a day old and go.
    let done = compact(&s, at(now), retention).unwrap();
    assert_eq!(done.deleted, 4, "2 command and 2 plugin hour rows");
    let m = stored(&s, at(0)).unwrap();
    assert_eq!(m.plugins["hello"].commands["greet"].calls, 16);
}

#[test]
fn a_damaged_row_is_reported_with_its_code() {
    let (s, _d) = store();
    persist(&s, &delta("hello", "greet", 1, 0, 5), at(60)).unwrap();
    s.lock()
        .execute("UPDATE metrics_commands SET latency = x'0700'", [])
        .unwrap();
    let e = stored(&s, at(0)).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1800");
    assert!(e.to_string().contains("hello"), "{e}");
    s.lock()
        .execute(
            "UPDATE metrics_commands SET latency = x'0100', errors = 'nope'",
            [],
        )
        .unwrap();
    assert_eq!(stored(&s, at(0)).unwrap_err().code().to_string(), "SB1800");
}

#[test]
fn durations_parse_and_hostile_ones_are_refused() {
    let d = |s: &str| parse_duration(s).map(|d| d.as_secs());
    assert_eq!(d("90s").unwrap(), 90);
    assert_eq!(d("15m").unwrap(), 900);
    assert_eq!(d("1d12h").unwrap(), 129_600);
    assert_eq!(d("2w").unwrap(), 14 * 86_400);
    assert_eq!(d("3650d").unwrap(), 3650 * 86_400);
    for bad in [
        "",
        "7",
        "d",
        "-1d",
        "+1d",
        "0d",
        "0s",
        "1.5h",
        " 7d",
        "7d ",
        "7 d",
        "7D",
        "7y",
        "١d",
        "3651d",
        "99999999999999999999999s",
        "18446744073709551615w",
        "1d1d1d1d1d1d1d1d1d1d9999d",
        "7d\n",
        "7d;DROP TABLE metrics_commands",
    ] {
        let e = parse_duration(bad).unwrap_err();
        assert_eq!(e.code().to_string(), "SB1801", "{bad:?}");
    }
    // A long hostile string is cut in the message.
    let long = "x".repeat(10_000);
    let e = parse_duration(&long).unwrap_err();
    assert!(e.to_string().len() < 300);
}

/// A delta in which `plugin.command` reported `amount` of `unit` (and `outside` outside any
/// call), with no calls counted.
fn usage_delta(
    plugin: &str,
    command: &str,
    unit: &str,
    amount: u64,
    outside: u64,
) -> MetricsSnapshot {
    let mut c = CommandMetrics::default();
    c.usage.insert(unit.into(), amount);
    let mut p = PluginMetrics::default();
    p.commands.insert(command.into(), c);
    if outside > 0 {
        p.usage_outside_calls.insert(unit.into(), outside);
    }
    MetricsSnapshot {
        taken_at: SystemTime::now(),
        plugins: [(plugin.to_owned(), p)].into(),
    }
}

#[test]
fn usage_adds_up_saturates_rolls_up_and_is_reported() {
    let (s, _d) = store();
    persist(
        &s,
        &usage_delta("llm", "generate", "tokens", 1000, 0),
        at(120),
    )
    .unwrap();
    persist(
        &s,
        &usage_delta("llm", "generate", "tokens", 234, 5),
        at(150),
    )
    .unwrap();
    persist(
        &s,
        &usage_delta("llm", "generate", "tokens", 1, 0),
        at(3_700),
    )
    .unwrap();
    // Only usage, no calls: the usage rows alone.
    assert_eq!(count(&s, "metrics_commands", MINUTE), 0);
    assert_eq!(count(&s, "metrics_usage", MINUTE), 3);
    let report = super::super::usage(&s, at(0), at(4_000)).unwrap();
    assert_eq!(report.total("llm", "tokens"), 1240);
    let outside = report.rows.iter().find(|r| r.command == "-").unwrap();
    assert_eq!(outside.amount, 5);
    // A window covers the buckets it overlaps.
    assert_eq!(
        super::super::usage(&s, at(3_600), at(4_000))
            .unwrap()
            .total("llm", "tokens"),
        1
    );
    // A period ending within the first second of a minute includes that minute's usage
    // reported before the end (the end is rounded up to its second, not down).
    let minute_start = at(3_660); // the minute of the token reported at 3,700
    assert_eq!(
        super::super::usage(
            &s,
            at(0),
            minute_start + std::time::Duration::from_millis(500)
        )
        .unwrap()
        .total("llm", "tokens"),
        1240,
        "the minute starting at 3,660 counts (1,239 if the end were rounded down)"
    );
    // The stored snapshot carries it too.
    let m = stored(&s, at(0)).unwrap();
    assert_eq!(m.plugins["llm"].commands["generate"].usage["tokens"], 1235);
    assert_eq!(m.plugins["llm"].usage_outside_calls["tokens"], 5);
    // Amounts saturate instead of wrapping.
    persist(
        &s,
        &usage_delta("llm", "generate", "tokens", u64::MAX, 0),
        at(130),
    )
    .unwrap();
    let generate = |r: &super::super::UsageReport| {
        r.rows
            .iter()
            .find(|r| r.command == "generate")
            .map(|r| r.amount)
    };
    let report = super::super::usage(&s, at(0), at(180)).unwrap();
    assert_eq!(generate(&report), Some(i64::MAX as u64));
    // Retention merges the old minutes into hours, keeping the totals.
    let retention = Retention::new(Duration::from_secs(3600), Duration::from_secs(30 * 86_400));
    compact(&s, at(3 * 3600), retention).unwrap();
    assert_eq!(count(&s, "metrics_usage", MINUTE), 0);
    assert_eq!(count(&s, "metrics_usage", HOUR), 3);
    let report = super::super::usage(&s, at(0), at(4 * 3600)).unwrap();
    // Hour 0 saturated in storage; hour 1's token is added to it when read.
    assert_eq!(generate(&report), Some(i64::MAX as u64 + 1));
    assert_eq!(report.total("llm", "tokens"), i64::MAX as u64 + 6);
    // A period that ends before it starts is refused.
    assert_eq!(
        super::super::usage(&s, at(100), at(50))
            .unwrap_err()
            .code()
            .to_string(),
        "SB1801"
    );
}
