//! Statistics on small files computed by hand; the arithmetic is in the comments.

use super::{close, column, run};
use crate::analysis::{ColumnType, Histogram, Quantiles, TopValue, Value};

/// Seven rows, one column of each type, with missing cells of every kind.
const MIXED: &str = "\
price,weight,flag,when,city
1,1.5,yes,2012-01-01,Paris
2,-2,No,2012-01-02T00:00:00Z,Oslo
NA,3e1,TRUE,2012-01-03 12:00,Paris
3,+0.5,f,,Lima
,2,n/a,2012/01/05,Paris
4,NaN,t,2012-01-04T00:00:00+02:00,Oslo
10,null,YES,2012-01-06T00:00:00.5Z,paris
";

fn quantile_numbers(quantiles: &Quantiles) -> [f64; 5] {
    [
        quantiles.p5.clone(),
        quantiles.p25.clone(),
        quantiles.p50.clone(),
        quantiles.p75.clone(),
        quantiles.p95.clone(),
    ]
    .map(|value| match value {
        Value::Number(number) => number,
        other => panic!("not a number: {other:?}"),
    })
}

fn top(pairs: &[(&str, u64)]) -> Vec<TopValue> {
    pairs
        .iter()
        .map(|&(value, count)| TopValue {
            value: value.to_owned(),
            count,
        })
        .collect()
}

#[test]
fn integer_column_statistics() {
    let analysis = run(MIXED);
    assert_eq!(analysis.rows, 7);
    let price = column(&analysis, "price");
    // Values 1 2 3 4 10; "NA" and "" are missing.
    assert_eq!(price.kind, ColumnType::Integer);
    assert_eq!((price.count, price.missing, price.distinct), (5, 2, 5));
    assert!(!price.distinct_approximate);
    assert_eq!(price.min, Some(Value::Integer(1)));
    assert_eq!(price.max, Some(Value::Integer(10)));
    // mean = 20 / 5 = 4; squared deviations 9 + 4 + 1 + 0 + 36 = 50; var = 50 / 4 = 12.5.
    close(price.mean.expect("mean"), 4.0);
    close(price.std_dev.expect("std_dev"), 12.5f64.sqrt());
    // Type 7, h = 4p: p5 h=0.2 -> 1 + 0.2*1 = 1.2; p25 h=1 -> 2; p50 h=2 -> 3; p75 h=3 -> 4;
    // p95 h=3.8 -> 4 + 0.8*6 = 8.8.
    let q = quantile_numbers(price.quantiles.as_ref().expect("quantiles"));
    for (actual, expected) in q.into_iter().zip([1.2, 2.0, 3.0, 4.0, 8.8]) {
        close(actual, expected);
    }
    // Bins of width 9/20 = 0.45 from 1: (x - 1) / 0.45 -> 0, 2.2, 4.4, 6.7, 20 (last bin).
    let histogram = price.histogram.as_ref().expect("histogram");
    let mut counts = vec![0; 20];
    for bin in [0, 2, 4, 6, 19] {
        counts[bin] = 1;
    }
    assert_eq!(histogram.counts, counts);
    assert_eq!(histogram.edges.len(), 21);
    close(histogram.edges[1], 1.45);
    assert_eq!((histogram.edges[0], histogram.edges[20]), (1.0, 10.0));
    assert_eq!(price.top_values, None);
}

#[test]
fn number_column_statistics() {
    let analysis = run(MIXED);
    let weight = column(&analysis, "weight");
    // 1.5 -2 30 0.5 2 mix integers and non-integers: number. NaN and null are missing.
    assert_eq!(weight.kind, ColumnType::Number);
    assert_eq!((weight.count, weight.missing, weight.distinct), (5, 2, 5));
    assert_eq!(weight.min, Some(Value::Number(-2.0)));
    assert_eq!(weight.max, Some(Value::Number(30.0)));
    // mean = 32 / 5 = 6.4; deviations -8.4 -5.9 -4.9 -4.4 23.6, squares sum to 705.7;
    // var = 705.7 / 4 = 176.425.
    close(weight.mean.expect("mean"), 6.4);
    close(weight.std_dev.expect("std_dev"), 176.425f64.sqrt());
    // Sorted -2 0.5 1.5 2 30: p5 = -2 + 0.2*2.5 = -1.5; p95 = 2 + 0.8*28 = 24.4.
    let q = quantile_numbers(weight.quantiles.as_ref().expect("quantiles"));
    for (actual, expected) in q.into_iter().zip([-1.5, 0.5, 1.5, 2.0, 24.4]) {
        close(actual, expected);
    }
    // Width 32/20 = 1.6 from -2: (x + 2) / 1.6 -> 0, 1.56, 2.19, 2.5, 20 (last bin).
    let counts = &weight.histogram.as_ref().expect("histogram").counts;
    assert_eq!((counts[0], counts[1], counts[2], counts[19]), (1, 1, 2, 1));
    assert_eq!(counts.iter().sum::<u64>(), 5);
}

#[test]
fn boolean_column_statistics() {
    let analysis = run(MIXED);
    let flag = column(&analysis, "flag");
    // yes TRUE t YES are true (4), No f false (2); n/a is missing.
    assert_eq!(flag.kind, ColumnType::Boolean);
    assert_eq!((flag.count, flag.missing, flag.distinct), (6, 1, 2));
    close(flag.mean.expect("share of true"), 4.0 / 6.0);
    assert_eq!((&flag.min, &flag.max, flag.std_dev), (&None, &None, None));
    assert_eq!((&flag.quantiles, &flag.histogram), (&None, &None));
    assert_eq!(flag.top_values, Some(top(&[("true", 4), ("false", 2)])));
}

#[test]
fn datetime_column_statistics() {
    let analysis = run(MIXED);
    let when = column(&analysis, "when");
    // Unix seconds, sorted: 01-01 1325376000, 01-02 1325462400, 01-03 12:00 1325592000,
    // 01-04 +02:00 = 01-03 22:00 1325628000, 01-05 1325721600, 01-06 00:00:00.5 1325808000.5.
    assert_eq!(when.kind, ColumnType::Datetime);
    assert_eq!((when.count, when.missing, when.distinct), (6, 1, 6));
    assert_eq!(when.min, Some(Value::Text("2012-01-01T00:00:00Z".into())));
    assert_eq!(
        when.max,
        Some(Value::Text("2012-01-06T00:00:00.500Z".into()))
    );
    assert_eq!((when.mean, when.std_dev), (None, None));
    // h = 5p. p5 h=.25: +0.25*86400 = 06:00 on 01-01. p25 h=1.25: 01-02 + 0.25*129600 s
    // = 09:00. p50 h=2.5: 01-03 12:00 + 0.5*36000 s = 17:00. p75 h=3.75: 01-03 22:00 +
    // 0.75*93600 s = 01-04 17:30. p95 h=4.75: 01-05 + 0.75*86400.5 s = 18:00:00.375.
    let quantiles = when.quantiles.as_ref().expect("quantiles");
    let text = |s: &str| Value::Text(s.to_owned());
    assert_eq!(
        quantiles,
        &Quantiles {
            p5: text("2012-01-01T06:00:00Z"),
            p25: text("2012-01-02T09:00:00Z"),
            p50: text("2012-01-03T17:00:00Z"),
            p75: text("2012-01-04T17:30:00Z"),
            p95: text("2012-01-05T18:00:00.375Z"),
        }
    );
    // Span 432000.5 s; (x - min) / span * 20 -> 0, 3.99, 9.99, 11.7, 15.99, 20 (last bin).
    let histogram = when.histogram.as_ref().expect("histogram");
    let mut counts = vec![0; 20];
    for bin in [0, 3, 9, 11, 15, 19] {
        counts[bin] = 1;
    }
    assert_eq!(histogram.counts, counts);
    assert_eq!(
        (histogram.edges[0], histogram.edges[20]),
        (1325376000.0, 1325808000.5)
    );
}

#[test]
fn text_column_statistics() {
    let analysis = run(MIXED);
    let city = column(&analysis, "city");
    // Paris x3, Oslo x2, Lima, paris: case matters; byte order puts "Lima" first, "paris" last.
    assert_eq!(city.kind, ColumnType::Text);
    assert_eq!((city.count, city.missing, city.distinct), (7, 0, 4));
    assert_eq!(city.min, Some(Value::Text("Lima".into())));
    assert_eq!(city.max, Some(Value::Text("paris".into())));
    assert_eq!((city.mean, city.std_dev), (None, None));
    assert_eq!((&city.quantiles, &city.histogram), (&None, &None));
    assert_eq!(
        city.top_values,
        Some(top(&[("Paris", 3), ("Oslo", 2), ("Lima", 1), ("paris", 1)]))
    );
}

#[test]
fn types_widen_only_as_far_as_the_values_force() {
    let analysis = run(
        "bits,mixed,dates,late,blank\n0,1,2012-01-01,1,\n1,true,01/31/2012,2,NA\n1,2,2012-01-02,x,\n",
    );
    // 0/1 are integers, not booleans; one non-boolean makes booleans text; a day/month
    // date makes the column text; a late text value turns a numeric column to text.
    assert_eq!(column(&analysis, "bits").kind, ColumnType::Integer);
    assert_eq!(column(&analysis, "mixed").kind, ColumnType::Text);
    assert_eq!(column(&analysis, "dates").kind, ColumnType::Text);
    let late = column(&analysis, "late");
    assert_eq!((late.kind, late.distinct), (ColumnType::Text, 3));
    assert_eq!(late.top_values, Some(top(&[("1", 1), ("2", 1), ("x", 1)])));
    let blank = column(&analysis, "blank");
    assert_eq!(
        (blank.kind, blank.count, blank.missing),
        (ColumnType::Text, 0, 3)
    );
    assert_eq!((blank.distinct, &blank.min), (0, &None));
}

#[test]
fn distinct_counts_parsed_values_for_typed_columns() {
    // 1, 1.0 and 1e0 are one number; Yes and yes are one boolean.
    let analysis = run("n,b\n1,Yes\n1.0,yes\n1e0,no\n2,no\n");
    assert_eq!(column(&analysis, "n").distinct, 2);
    assert_eq!(column(&analysis, "b").distinct, 2);
}

#[test]
fn a_single_value_has_no_std_dev_and_a_constant_column_one_bin() {
    let analysis = run("one,constant\n5,7\n,7\n,7\n");
    let one = column(&analysis, "one");
    assert_eq!((one.mean, one.std_dev), (Some(5.0), None));
    let constant = column(&analysis, "constant");
    assert_eq!(constant.std_dev, Some(0.0));
    let histogram = constant.histogram.as_ref().expect("histogram");
    assert_eq!(histogram.edges, vec![7.0; 21]);
    let mut counts = vec![0; 20];
    counts[0] = 3;
    assert_eq!(
        histogram,
        &Histogram {
            edges: vec![7.0; 21],
            counts
        }
    );
}

#[test]
fn json_uses_the_documented_field_names_and_round_trips() {
    let analysis = run(MIXED);
    let json = serde_json::to_value(&analysis).expect("serialises");
    let price = &json["columns"][0];
    let keys: Vec<&str> = price
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "name",
        "type",
        "count",
        "missing",
        "distinct",
        "distinct_approximate",
        "min",
        "max",
        "mean",
        "std_dev",
        "quantiles",
        "histogram",
        "top_values",
        "truncated",
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    assert_eq!(price["type"], "integer");
    assert_eq!(price["min"], 1);
    assert_eq!(price["quantiles"]["p50"], 3.0);
    assert_eq!(price["top_values"], serde_json::Value::Null);
    assert_eq!(json["columns"][2]["type"], "boolean");
    assert_eq!(json["columns"][3]["type"], "datetime");
    assert_eq!(json["columns"][3]["min"], "2012-01-01T00:00:00Z");
    assert_eq!(
        json["columns"][4]["top_values"][0],
        serde_json::json!({"value": "Paris", "count": 3})
    );
    assert_eq!(json["delimiter"], ",");
    let back: crate::analysis::Analysis = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, analysis);
}

#[test]
fn histogram_over_the_whole_f64_range_stays_finite() {
    // max - min overflows here; the bins must still be finite and hold both values.
    let analysis = run("x\n-1e308\n1e308\n");
    let histogram = column(&analysis, "x").histogram.clone().expect("histogram");
    assert!(histogram.edges.iter().all(|edge| edge.is_finite()));
    close(histogram.edges[10], 0.0);
    assert_eq!((histogram.counts[0], histogram.counts[19]), (1, 1));
    assert_eq!(histogram.counts.iter().sum::<u64>(), 2);
}
