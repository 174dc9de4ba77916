//! Behaviour at scale: approximate distinct counts, bounded top values, a 100 000-row file.

use super::{close, column};
use crate::analysis::{ColumnType, Options, TopValue, Value, analyze};

/// Asserts `estimate` is within `percent` of `truth`.
#[track_caller]
fn within(estimate: u64, truth: u64, percent: f64) {
    let error = (estimate as f64 - truth as f64).abs() / truth as f64 * 100.0;
    assert!(error <= percent, "{estimate} is {error:.2}% off {truth}");
}

#[test]
fn distinct_is_exact_up_to_the_cap() {
    let options = Options {
        distinct_exact_cap: 5,
        ..Options::default()
    };
    let analysis =
        analyze(&b"t,n\na,1\nb,2\nc,3\nd,4\ne,5\na,1\n"[..], &options).expect("analyses");
    for column in &analysis.columns {
        assert_eq!((column.distinct, column.distinct_approximate), (5, false));
    }
}

#[test]
fn distinct_turns_approximate_above_the_cap_and_stays_close() {
    // 100 000 distinct texts and 100 000 distinct integers, each twice.
    let mut csv = String::from("text,int\n");
    for i in 0..200_000u64 {
        let v = i % 100_000;
        csv.push_str(&format!("v{v},{}\n", v * 7));
    }
    let analysis = analyze(csv.as_bytes(), &Options::default()).expect("analyses");
    for column in &analysis.columns {
        assert!(column.distinct_approximate, "{}", column.name);
        within(column.distinct, 100_000, 3.0);
    }
    // Every text value is equally frequent, so no count can exceed its true 2.
    let text = column(&analysis, "text");
    let top = text.top_values.as_ref().expect("top values");
    assert!(top.len() <= 10 && top.iter().all(|t| t.count <= 2));
}

#[test]
fn top_values_keep_heavy_hitters_once_the_map_is_full() {
    // 1000 rows: "hot" 500 times, "warm" 200 times, 300 unique values; the map holds 10.
    // Misra-Gries lower bounds undercount by at most 1000 / 11 = 90.
    let mut csv = String::from("v\n");
    for i in 0..1000 {
        let value = match i % 10 {
            0 | 2 | 4 | 6 | 8 => "hot".to_owned(),
            1 | 5 => "warm".to_owned(),
            _ => format!("u{i}"),
        };
        csv.push_str(&value);
        csv.push('\n');
    }
    let options = Options {
        distinct_exact_cap: 10,
        ..Options::default()
    };
    let analysis = analyze(csv.as_bytes(), &options).expect("analyses");
    let v = column(&analysis, "v");
    assert!(v.distinct_approximate);
    within(v.distinct, 302, 5.0);
    let top = v.top_values.as_ref().expect("top values");
    assert_eq!(
        (top[0].value.as_str(), top[1].value.as_str()),
        ("hot", "warm")
    );
    assert!((410..=500).contains(&top[0].count), "{}", top[0].count);
    assert!((110..=200).contains(&top[1].count), "{}", top[1].count);
}

#[test]
fn one_hundred_thousand_generated_rows() {
    // Row i = 1..=100000: n = i, k = "k{i % 7}", flag = i % 4 == 0,
    // day = 2000-01-01 plus (i - 1) minutes.
    let start = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .expect("valid date")
        .and_hms_opt(0, 0, 0)
        .expect("valid time");
    let mut csv = String::from("n,k,flag,at\n");
    for i in 1..=100_000i64 {
        let at = start + chrono::Duration::minutes(i - 1);
        csv.push_str(&format!(
            "{i},k{},{},{}\n",
            i % 7,
            i % 4 == 0,
            at.format("%Y-%m-%dT%H:%M:%S")
        ));
    }
    let analysis = analyze(csv.as_bytes(), &Options::default()).expect("analyses");
    assert_eq!(analysis.rows, 100_000);
    assert_eq!(analysis.preview.len(), 20);

    let n = column(&analysis, "n");
    assert_eq!(n.kind, ColumnType::Integer);
    assert_eq!(
        (n.min.clone(), n.max.clone()),
        (Some(Value::Integer(1)), Some(Value::Integer(100_000)))
    );
    // 1..=N: mean (N + 1) / 2; sample variance N (N + 1) / 12.
    close(n.mean.expect("mean"), 50_000.5);
    close(
        n.std_dev.expect("std_dev"),
        (100_000.0f64 * 100_001.0 / 12.0).sqrt(),
    );
    // Type 7 on 1..=N: the p quantile is 1 + (N - 1) p.
    let q = n.quantiles.as_ref().expect("quantiles");
    for (value, p) in [
        (&q.p5, 0.05),
        (&q.p25, 0.25),
        (&q.p50, 0.5),
        (&q.p75, 0.75),
        (&q.p95, 0.95),
    ] {
        let Value::Number(value) = value else {
            panic!("{value:?}")
        };
        close(*value, 1.0 + 99_999.0 * p);
    }
    // Width 99999/20 = 4999.95: bin k holds i - 1 in [5000k, 5000k + 4999], 5000 each.
    assert_eq!(
        n.histogram.as_ref().expect("histogram").counts,
        vec![5000; 20]
    );
    assert!(n.distinct_approximate);
    within(n.distinct, 100_000, 3.0);

    // 100000 = 7 * 14285 + 5: residues 1..=5 occur 14286 times, 0 and 6 14285 times.
    let k = column(&analysis, "k");
    let expected: Vec<TopValue> = [1, 2, 3, 4, 5, 0, 6]
        .into_iter()
        .map(|r| TopValue {
            value: format!("k{r}"),
            count: if (1..=5).contains(&r) { 14_286 } else { 14_285 },
        })
        .collect();
    assert_eq!(k.top_values.as_ref(), Some(&expected));
    assert_eq!((k.distinct, k.distinct_approximate), (7, false));

    let flag = column(&analysis, "flag");
    assert_eq!(flag.kind, ColumnType::Boolean);
    close(flag.mean.expect("share"), 0.25);

    // The last minute is 99999 minutes after the start: 69 days, 10:39.
    let at = column(&analysis, "at");
    assert_eq!(at.kind, ColumnType::Datetime);
    assert_eq!(at.min, Some(Value::Text("2000-01-01T00:00:00Z".into())));
    assert_eq!(at.max, Some(Value::Text("2000-03-10T10:39:00Z".into())));
    assert_eq!(
        at.quantiles.as_ref().expect("quantiles").p50,
        Value::Text("2000-02-04T17:19:30Z".into())
    );
}

#[test]
fn default_options_are_the_documented_ones() {
    let options = Options::default();
    assert_eq!(
        (options.distinct_exact_cap, options.preview_rows),
        (10_000, 20)
    );
}
