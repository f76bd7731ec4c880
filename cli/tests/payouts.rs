//! `switchboard payouts` through the binary: the documented example ledger (a month whose
//! default rate changed on the 15th) checked line by line as CSV, the JSON and table forms,
//! and hostile ledgers (missing, a directory, truncated, garbage, huge, wrong types) refused
//! with codes.

use std::path::PathBuf;
use std::process::Command;

fn switchboard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

fn example_ledger() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/ledger.json")
}

fn payouts(ledger: &std::path::Path, extra: &[&str]) -> std::process::Output {
    switchboard()
        .arg("payouts")
        .arg("--ledger")
        .arg(ledger)
        .args(["--month", "2026-11"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn payouts_csv_of_a_month_whose_rate_changed_is_right_line_by_line() {
    let out = payouts(&example_ledger(), &["--csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows,
        [
            "month,publisher,plugin,currency,kind,basis_points,sales_count,sales,refunds,gross,fees,net,carried_in,payable,carried_out,note",
            // acme's own 10 %: October's sale refunded in November (its fee given back),
            // November's sale.
            "2026-11,acme,lint,EUR,sales,1000,1,49.00,49.00,0.00,0.00,0.00,,,,",
            // zeta: two sales at 15 % before the 15th, one at 20 % after.
            "2026-11,zeta,fmt,EUR,sales,1500,2,18.00,0.00,18.00,2.70,15.30,,,,",
            "2026-11,zeta,fmt,EUR,sales,2000,1,9.00,0.00,9.00,1.80,7.20,,,,",
            // acme was paid 44.10 for October (above the 25.00 threshold): nothing carried.
            "2026-11,acme,,EUR,total,,,,,0.00,0.00,0.00,0.00,0.00,0.00,",
            // zeta: 22.50 is under the threshold: carried to December.
            "2026-11,zeta,,EUR,total,,,,,27.00,4.50,22.50,0.00,0.00,22.50,",
        ]
    );
}

#[test]
fn payouts_json_and_table_say_the_same() {
    let out = payouts(&example_ledger(), &["--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["report"]["month"], "2026-11");
    assert_eq!(v["report"]["lines"][1]["fees"], 270);
    assert_eq!(v["report"]["open_disputes"][0], "d-7");
    let table = payouts(&example_ledger(), &[]);
    let text = String::from_utf8(table.stdout).unwrap();
    // Each JSON line's figures (minor units) are on the table's row for it (major units).
    for line in v["report"]["lines"].as_array().unwrap() {
        let major = |k: &str| {
            let n = line[k].as_i64().unwrap();
            format!("{}.{:02}", n / 100, (n % 100).abs())
        };
        let row = text
            .lines()
            .find(|r| {
                r.starts_with(line["publisher"].as_str().unwrap())
                    && r.contains(&format!(
                        "{}.{:02}%",
                        line["basis_points"].as_u64().unwrap() / 100,
                        line["basis_points"].as_u64().unwrap() % 100
                    ))
            })
            .unwrap_or_else(|| panic!("no row for {line}: {text}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells[5..],
            [
                major("sales"),
                major("refunds"),
                major("gross"),
                major("fees"),
                major("net")
            ],
            "{row}"
        );
    }
    assert!(text.contains("payouts for 2026-11"), "{text}");
    assert!(text.contains("open disputes: d-7"), "{text}");
    assert!(text.contains("15.00%"), "{text}");
}

#[test]
fn payouts_of_hostile_ledgers_are_coded_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let example = std::fs::read(example_ledger()).unwrap();
    let huge = {
        let p = dir.path().join("huge.json");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(65 << 20).unwrap();
        p
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (dir.path().join("missing.json"), "SB1341"),
        (dir.path().to_path_buf(), "SB1341"),
        (huge, "SB1341"),
        (write("truncated.json", &example[..example.len() / 2]), "SB1342"),
        (write("garbage.json", &[0xff, 0xfe, 0x00, 0x13, 0x37]), "SB1342"),
        (write("array.json", b"[1,2,3]"), "SB1342"),
        (write("deep.json", &[b'['; 100_000]), "SB1342"),
        (
            write(
                "float.json",
                br#"{"terms":{"default":[{"from":"2026-01-01","basis_points":1500}]},"sales":[{"id":"a","publisher":"p","plugin":"x","date":"2026-11-02","price":{"amount":9.99,"currency":"EUR"}}]}"#,
            ),
            "SB1342",
        ),
        (
            write(
                "greedy.json",
                br#"{"terms":{"default":[{"from":"2026-01-01","basis_points":9000}]}}"#,
            ),
            "SB1344",
        ),
    ];
    for (path, code) in cases {
        let out = payouts(&path, &["--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(v["error"]["code"], code, "{}: {v}", path.display());
    }
    let bad_month = switchboard()
        .arg("payouts")
        .arg("--ledger")
        .arg(example_ledger())
        .args(["--month", "November"])
        .output()
        .unwrap();
    assert_eq!(bad_month.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_month.stderr).contains("SB1346"));
}
