//! The statistics that relate columns, on small files computed by hand: correlations,
//! group summaries, the sample and missing values by position.

use super::{close, run};
use crate::analysis::{GroupStat, Options, analyze};

/// Four rows. x and y are perfectly correlated; z misses row 1; c is constant; u has one
/// value; g is text missing in row 3; flag is boolean; empty has no value at all.
const SMALL: &str = "\
x,y,z,c,u,g,flag,empty
1,2,5,7,,a,true,
2,4,NA,7,5,b,false,
3,6,1,7,,a,true,
4,8,3,7,,,true,
";

/// The coefficient for the pair named, from a matrix indexed like `columns`.
fn cell(columns: &[String], matrix: &[Vec<Option<f64>>], a: &str, b: &str) -> Option<f64> {
    let at = |name: &str| columns.iter().position(|c| c == name).expect("column");
    matrix[at(a)][at(b)]
}

#[test]
fn pearson_uses_pairwise_complete_rows_and_is_null_where_undefined() {
    let analysis = run(SMALL);
    let correlations = analysis.correlations.expect("correlations");
    let names = &correlations.columns;
    // Only integer and number columns, in file order; the empty column is text.
    assert_eq!(names, &["x", "y", "z", "c", "u"]);
    let r = |a, b| cell(names, &correlations.pearson, a, b);
    close(r("x", "y").expect("x-y"), 1.0);
    close(r("x", "x").expect("x-x"), 1.0);
    // x-z over rows 0, 2, 3: x 1 3 4 (mean 8/3), z 5 1 3 (mean 3). Deviations -5/3 1/3 4/3
    // and 2 -2 0: sxz = -4, sxx = 14/3, szz = 8, r = -4 / sqrt(112/3) = -sqrt(3/7).
    close(r("x", "z").expect("x-z"), -(3.0f64 / 7.0).sqrt());
    assert_eq!(r("z", "x"), r("x", "z"), "symmetric");
    // A constant column has no correlation, not even with itself; nor has a column with
    // one value, which shares one row with x.
    assert_eq!((r("x", "c"), r("c", "c")), (None, None));
    assert_eq!((r("x", "u"), r("u", "u")), (None, None));
    let pairs = |a, b| {
        let at = |name: &str| names.iter().position(|c| c == name).expect("column");
        correlations.pairs[at(a)][at(b)]
    };
    assert_eq!(
        (
            pairs("x", "y"),
            pairs("x", "z"),
            pairs("z", "z"),
            pairs("x", "u")
        ),
        (4, 3, 3, 1)
    );
}

#[test]
fn spearman_ranks_within_each_pairs_complete_rows_with_average_ranks_for_ties() {
    let analysis = run("x,z,w\n1,5,1\n2,NA,1\n3,1,2\n4,3,2\n");
    let correlations = analysis.correlations.expect("correlations");
    let names = &correlations.columns;
    let rho = correlations
        .spearman
        .as_ref()
        .expect("spearman on a small file");
    // x-z over rows 0, 2, 3: ranks 1 2 3 against 3 1 2: r = -1 / sqrt(2 * 2) = -0.5.
    close(cell(names, rho, "x", "z").expect("x-z"), -0.5);
    // w ties: ranks 1.5 1.5 3.5 3.5 against 1 2 3 4: 4 / sqrt(5 * 4).
    close(cell(names, rho, "x", "w").expect("x-w"), 4.0 / 20f64.sqrt());
    // Pearson on w's values 1 1 2 2 gives the same: 2 / sqrt(5 * 1).
    close(
        cell(names, &correlations.pearson, "x", "w").expect("x-w"),
        2.0 / 5f64.sqrt(),
    );
}

#[test]
fn columns_that_never_share_a_row_have_no_correlation() {
    // p has rows 0 and 1, q rows 2 and 3: no row has both.
    let analysis = run("p,q\n1,\n2,\n,3\n,5\n");
    let correlations = analysis.correlations.expect("correlations");
    assert_eq!(correlations.pearson, [[Some(1.0), None], [None, Some(1.0)]]);
    assert_eq!(correlations.pairs, [[2, 0], [0, 2]]);
    assert_eq!(
        correlations.spearman,
        Some(vec![vec![Some(1.0), None], vec![None, Some(1.0)]])
    );
}

#[test]
fn fewer_than_two_numeric_columns_have_no_correlations() {
    assert_eq!(run("n,t\n1,a\n2,b\n").correlations, None);
    assert_eq!(run("a,b\n").correlations, None);
}

#[test]
fn group_summaries_per_text_and_boolean_value() {
    let analysis = run(SMALL);
    let by: Vec<&str> = analysis
        .group_summaries
        .iter()
        .map(|group| group.by.as_str())
        .collect();
    // The empty column has no values to group by.
    assert_eq!(by, ["g", "flag"]);
    let stat = |count, mean: Option<f64>, min: Option<f64>, max: Option<f64>| GroupStat {
        count,
        mean,
        min,
        max,
    };

    let g = &analysis.group_summaries[0];
    // Row 3 has no g, so it is in no group.
    assert_eq!(
        (g.groups.as_slice(), g.sizes.as_slice()),
        (&["a".to_owned(), "b".to_owned()][..], &[2, 1][..])
    );
    let grouped: Vec<&str> = g.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(grouped, ["x", "y", "z", "c", "u"]);
    // x: a has rows 0 and 2 (1, 3), b row 1 (2).
    assert_eq!(
        g.columns[0].stats,
        [
            stat(2, Some(2.0), Some(1.0), Some(3.0)),
            stat(1, Some(2.0), Some(2.0), Some(2.0))
        ]
    );
    // z: a has 5 and 1; b's only row misses z.
    assert_eq!(
        g.columns[2].stats,
        [
            stat(2, Some(3.0), Some(1.0), Some(5.0)),
            stat(0, None, None, None)
        ]
    );

    let flag = &analysis.group_summaries[1];
    assert_eq!(flag.groups, ["false", "true"]);
    assert_eq!(flag.sizes, [1, 3]);
    // x: false row 1 (2); true rows 0 2 3 (1 3 4, mean 8/3).
    let x = &flag.columns[0].stats;
    assert_eq!(x[0], stat(1, Some(2.0), Some(2.0), Some(2.0)));
    assert_eq!((x[1].count, x[1].min, x[1].max), (3, Some(1.0), Some(4.0)));
    close(x[1].mean.expect("mean"), 8.0 / 3.0);
}

#[test]
fn a_column_with_more_than_fifty_values_is_not_grouped_by_but_fifty_is() {
    let mut csv = String::from("fifty,many,n\n");
    for i in 0..200 {
        csv.push_str(&format!("v{},w{i},{i}\n", i % 50));
    }
    let analysis = run(&csv);
    let by: Vec<&str> = analysis
        .group_summaries
        .iter()
        .map(|group| group.by.as_str())
        .collect();
    assert_eq!(by, ["fifty"]);
    let fifty = &analysis.group_summaries[0];
    assert_eq!(fifty.groups.len(), 50);
    assert!(fifty.sizes.iter().all(|&size| size == 4));
    // Byte order: v0 v1 v10 …; v0 holds rows 0 50 100 150.
    assert_eq!(&fifty.groups[..3], ["v0", "v1", "v10"]);
    assert_eq!(fifty.columns[0].stats[0].mean, Some(75.0));
}

#[test]
fn a_column_that_turns_to_text_late_is_grouped_by_its_text() {
    // `late` is numeric for two rows, then text: its groups come from the second look.
    let analysis = run("late,n\n1,10\n2,20\nx,30\n1,40\n");
    let late = &analysis.group_summaries[0];
    assert_eq!(late.by, "late");
    assert_eq!(late.groups, ["1", "2", "x"]);
    assert_eq!(late.sizes, [2, 1, 1]);
    assert_eq!(late.columns[0].stats[0].mean, Some(25.0));
}

#[test]
fn a_small_file_is_sampled_whole_with_its_values() {
    let analysis = run(SMALL);
    let sample = analysis.sample.expect("sample");
    assert_eq!(sample.rows, [0, 1, 2, 3]);
    let numbers: Vec<&str> = sample.numbers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(numbers, ["x", "y", "z", "c", "u"]);
    assert_eq!(
        sample.numbers[2].values,
        [Some(5.0), None, Some(1.0), Some(3.0)]
    );
    let labels: Vec<&str> = sample.labels.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(labels, ["g", "flag"]);
    let text = |v: &[Option<&str>]| v.iter().map(|s| s.map(str::to_owned)).collect::<Vec<_>>();
    assert_eq!(
        sample.labels[0].values,
        text(&[Some("a"), Some("b"), Some("a"), None])
    );
    assert_eq!(
        sample.labels[1].values,
        text(&[Some("true"), Some("false"), Some("true"), Some("true")])
    );
    assert_eq!(run("a,b\n").sample, None);
}

#[test]
fn a_large_file_gives_the_same_uniform_sample_every_time() {
    let mut csv = String::from("n,k\n");
    for i in 0..5000 {
        csv.push_str(&format!("{i},k{}\n", i % 3));
    }
    let first = analyze(csv.as_bytes(), &Options::default()).expect("analyses");
    let again = analyze(csv.as_bytes(), &Options::default()).expect("analyses");
    let sample = first.sample.expect("sample");
    assert_eq!(
        Some(&sample),
        again.sample.as_ref(),
        "seeded: the same rows"
    );
    assert_eq!(sample.rows.len(), 2000);
    assert!(
        sample.rows.windows(2).all(|w| w[0] < w[1]),
        "ascending, distinct"
    );
    // Each row's values are that row's: n is the row number, k its residue.
    for (i, &row) in sample.rows.iter().enumerate() {
        assert_eq!(sample.numbers[0].values[i], Some(row as f64));
        assert_eq!(sample.labels[0].values[i], Some(format!("k{}", row % 3)));
    }
    // Uniform: 2000 of 5000 rows, about 1000 in each half (sd ≈ 17) and mean row ≈ 2500
    // (sd ≈ 25); six standard deviations of slack.
    let low = sample.rows.iter().filter(|&&row| row < 2500).count();
    assert!((900..=1100).contains(&low), "{low} in the first half");
    let mean = sample.rows.iter().sum::<u64>() as f64 / 2000.0;
    assert!((2350.0..=2650.0).contains(&mean), "mean row {mean}");
}

#[test]
fn missing_shares_by_row_position() {
    // 40 rows, 2 per bucket: `early` misses rows 0-9 (buckets 0-4), `alternate` every
    // odd row (half of each bucket), `full` nothing.
    let mut csv = String::from("early,alternate,full\n");
    for i in 0..40 {
        let early = if i < 10 { "" } else { "1" };
        let alternate = if i % 2 == 1 { "NA" } else { "2" };
        csv.push_str(&format!("{early},{alternate},3\n"));
    }
    let missing = run(&csv).missing_by_position.expect("missing by position");
    assert_eq!(
        missing.bucket_starts,
        (0..20).map(|b| b * 2).collect::<Vec<u64>>()
    );
    let names: Vec<&str> = missing.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["early", "alternate"],
        "only columns with missing cells"
    );
    let mut early = vec![Some(0.0); 20];
    early[..5].fill(Some(1.0));
    assert_eq!(missing.columns[0].shares, early);
    assert_eq!(missing.columns[1].shares, vec![Some(0.5); 20]);
}

#[test]
fn missing_shares_with_fewer_rows_than_buckets_leave_empty_buckets_null() {
    let missing = run(SMALL).missing_by_position.expect("missing by position");
    // Bucket b starts at b * 4 / 20: buckets 4, 9, 14 and 19 hold rows 0, 1, 2 and 3.
    assert_eq!(
        missing.bucket_starts,
        [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]
    );
    let z = missing.columns.iter().find(|c| c.name == "z").expect("z");
    let mut shares = vec![None; 20];
    (shares[4], shares[9], shares[14], shares[19]) = (Some(0.0), Some(1.0), Some(0.0), Some(0.0));
    assert_eq!(z.shares, shares);
    let empty = missing
        .columns
        .iter()
        .find(|c| c.name == "empty")
        .expect("empty");
    assert_eq!(empty.shares.iter().flatten().collect::<Vec<_>>(), [&1.0; 4]);
    // A third of a bucket rounds to four decimals.
    let mut csv = String::from("v\n");
    for i in 0..60 {
        csv.push_str(if i % 3 == 0 { "NA\n" } else { "1\n" });
    }
    let shares = &run(&csv).missing_by_position.expect("missing").columns[0].shares;
    assert!(
        shares.iter().all(|&share| share == Some(0.3333)),
        "{shares:?}"
    );
}

#[test]
fn the_new_fields_have_their_documented_names_and_old_analyses_still_read() {
    let json = serde_json::to_value(run(SMALL)).expect("serialises");
    for key in [
        "correlations",
        "group_summaries",
        "sample",
        "missing_by_position",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(
        json["correlations"]["pearson"][0][3],
        serde_json::Value::Null
    );
    let mut old = json.clone();
    for key in [
        "correlations",
        "group_summaries",
        "sample",
        "missing_by_position",
    ] {
        old.as_object_mut().expect("object").remove(key);
    }
    let read: crate::analysis::Analysis = serde_json::from_value(old).expect("an old analysis");
    assert_eq!((read.correlations, read.sample), (None, None));
    assert!(read.group_summaries.is_empty());
}
