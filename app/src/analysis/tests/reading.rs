//! Reading: delimiters, BOM, quoting, missing markers, headers, errors and line numbers.

use std::error::Error as _;
use std::io::{self, Read};

use super::super::infer::{Cell, classify, parse_datetime};
use super::{column, fail, run};
use crate::analysis::{AnalysisError, ColumnType, Options, analyze};

#[test]
fn comma_is_the_default_delimiter_and_rows_exclude_the_header() {
    let analysis = run("a,b\n1,2\n3,4\n");
    assert_eq!(analysis.delimiter, ",");
    assert_eq!(analysis.rows, 2);
    assert_eq!(analysis.preview, vec![vec!["1", "2"], vec!["3", "4"]]);
}

#[test]
fn bom_is_stripped_and_semicolons_are_sniffed() {
    let analysis = run("\u{FEFF}name;price\nx;1,5\ny;2\n");
    assert_eq!(analysis.delimiter, ";");
    assert_eq!(analysis.columns[0].name, "name");
    // With `;` as the delimiter, "1,5" is one text cell, so price is text.
    assert_eq!(column(&analysis, "price").kind, ColumnType::Text);
}

#[test]
fn tabs_are_sniffed() {
    // Two tabs beat one comma.
    let analysis = run("a\tb\tc,d\n1\t2\tx,y\n");
    assert_eq!(analysis.delimiter, "\t");
    assert_eq!(analysis.preview, vec![vec!["1", "2", "x,y"]]);
}

#[test]
fn delimiters_inside_quoted_header_names_do_not_count() {
    let analysis = run("\"a;b;c\",d\n1,2\n");
    assert_eq!(analysis.delimiter, ",");
    assert_eq!(analysis.columns[0].name, "a;b;c");
}

#[test]
fn quoted_fields_keep_delimiters_quotes_and_newlines() {
    let analysis = run("name,note\n\"Smith, J\",\"said \"\"hi\"\"\nthen left\"\nDoe,plain\n");
    assert_eq!(analysis.rows, 2);
    assert_eq!(
        analysis.preview[0],
        vec!["Smith, J", "said \"hi\"\nthen left"]
    );
    assert_eq!(analysis.preview[1], vec!["Doe", "plain"]);
}

#[test]
fn input_read_one_byte_at_a_time_gives_the_same_result() {
    /// Hands out one byte per read, to exercise the sniffer's chunk handling.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&byte, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = byte;
            self.0 = rest;
            Ok(1)
        }
    }
    let csv = "\u{FEFF}a;\"b\nc\";d\n1;2;x\n";
    let trickled = analyze(Trickle(csv.as_bytes()), &Options::default()).expect("analyses");
    assert_eq!(trickled, run(csv));
    assert_eq!(trickled.columns[0].name, "a");
    assert_eq!(trickled.columns[1].name, "b\nc");
}

#[test]
fn na_markers_and_blanks_are_missing_whatever_their_case_and_padding() {
    let analysis = run("v\n1\nNA\n n/a \nNULL\nnan\n\"  \"\nN/A\n2\n");
    let v = column(&analysis, "v");
    assert_eq!((v.count, v.missing), (2, 6));
    assert_eq!(v.kind, ColumnType::Integer);
}

#[test]
fn blank_header_names_become_column_n() {
    let analysis = run("a, ,\n1,2,3\n");
    let names: Vec<_> = analysis.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "column_2", "column_3"]);
}

#[test]
fn header_only_input_has_zero_rows_and_empty_text_columns() {
    let analysis = run("a,b\n");
    assert_eq!(analysis.rows, 0);
    assert!(analysis.preview.is_empty());
    for column in &analysis.columns {
        assert_eq!(column.kind, ColumnType::Text);
        assert_eq!((column.count, column.missing, column.distinct), (0, 0, 0));
        assert_eq!(column.min, None);
        assert_eq!(column.top_values, Some(vec![]));
    }
}

#[test]
fn empty_or_blank_input_has_no_header() {
    for input in ["", "\n\n", "   \n \n", "\u{FEFF}"] {
        let err = fail(input.as_bytes());
        assert!(
            matches!(err, AnalysisError::MissingHeader),
            "{input:?}: {err:?}"
        );
        assert_eq!(err.to_string(), "missing header row");
        assert_eq!(err.line(), None);
    }
}

#[test]
fn ragged_row_names_its_line() {
    let err = fail(b"a,b,c\n1,2,3\n1,2,3\n1,2,3\n1,2,3\n1,2,3\n1,2,3,4\n");
    assert!(matches!(
        err,
        AnalysisError::RaggedRow {
            line: 7,
            expected: 3,
            found: 4
        }
    ));
    assert_eq!(err.to_string(), "line 7: expected 3 fields, found 4");
    assert_eq!(err.line(), Some(7));
}

#[test]
fn ragged_row_line_counts_embedded_newlines_of_earlier_records() {
    // Line 1 header; the record on lines 2-4 holds two newlines; the short one starts on 5.
    let err = fail(b"a,b\n1,\"x\ny\nz\"\n2\n");
    assert_eq!(err.to_string(), "line 5: expected 2 fields, found 1");
}

#[test]
fn ragged_row_that_starts_a_multiline_record_names_its_first_line() {
    let err = fail(b"a,b\n1,2\n3,\"x\ny\",4\n");
    assert_eq!(err.line(), Some(3));
}

#[test]
fn invalid_utf8_names_its_line() {
    let err = fail(b"a,b\n1,2\n3,caf\xe9\n");
    assert!(matches!(err, AnalysisError::InvalidUtf8 { line: 3 }));
    assert_eq!(err.to_string(), "line 3: invalid UTF-8");
    assert_eq!(fail(b"a,\xff\n").line(), Some(1));
}

#[test]
fn a_failing_reader_surfaces_its_io_error() {
    #[derive(Debug, thiserror::Error)]
    #[error("upload too large")]
    struct TooLarge;

    /// Serves `data`, then fails the way a size-limited upload stream would.
    struct FailsAfter(io::Cursor<Vec<u8>>);
    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::other(TooLarge)),
                read => Ok(read),
            }
        }
    }
    let data: String = std::iter::once("a,b\n".to_owned())
        .chain((0..20_000).map(|i| format!("{i},x\n")))
        .collect();
    let err = analyze(
        FailsAfter(io::Cursor::new(data.into_bytes())),
        &Options::default(),
    )
    .expect_err("the read fails");
    let AnalysisError::Io(io) = &err else {
        panic!("expected an I/O error, got {err:?}");
    };
    assert!(io.get_ref().is_some_and(|inner| inner.is::<TooLarge>()));
    let source = err.source().expect("has a source");
    assert!(source.downcast_ref::<io::Error>().is_some());
    assert_eq!(err.line(), None);
}

#[test]
fn cells_classify_as_the_narrowest_type() {
    assert_eq!(classify("0"), Cell::Integer(0));
    assert_eq!(classify("+17"), Cell::Integer(17));
    assert_eq!(classify("-1.5e3"), Cell::Number(-1500.0));
    assert_eq!(classify(".5"), Cell::Number(0.5));
    assert_eq!(classify("99999999999999999999"), Cell::Number(1e20));
    assert_eq!(classify("Yes"), Cell::Boolean(true));
    assert_eq!(classify("F"), Cell::Boolean(false));
    for text in ["inf", "-Infinity", "1e999", "1,5", "0x10", "y", "1 2", "€"] {
        assert_eq!(classify(text), Cell::Text, "{text}");
    }
}

#[test]
fn accepted_datetime_forms_parse_to_utc() {
    let cases = [
        ("2012-01-01", "2012-01-01T00:00:00+00:00"),
        ("2012/01/31", "2012-01-31T00:00:00+00:00"),
        ("2012/01/01 13:45", "2012-01-01T13:45:00+00:00"),
        ("2012-01-01T13:45:30", "2012-01-01T13:45:30+00:00"),
        ("2012-01-01 13:45:30.25Z", "2012-01-01T13:45:30.250+00:00"),
        ("2012-01-01T13:45:30+02:00", "2012-01-01T11:45:30+00:00"),
        ("2012-01-01T13:45:30-0130", "2012-01-01T15:15:30+00:00"),
        ("2012-01-01T00:00:00+01", "2011-12-31T23:00:00+00:00"),
    ];
    for (text, expected) in cases {
        let parsed = parse_datetime(text).unwrap_or_else(|| panic!("{text} parses"));
        assert_eq!(parsed.to_rfc3339(), expected, "{text}");
    }
}

#[test]
fn ambiguous_and_invalid_dates_are_rejected() {
    for text in [
        "01/31/2012",
        "31/01/2012",
        "2012-13-01",
        "2012-02-30",
        "2012-01-01T24:00",
        "2012-01-01T12",
        "2012-01/01",
        "2012-01-01X",
        "2012-01-01T12:00:00.",
        "2012-01-01T12:00+2",
    ] {
        assert_eq!(parse_datetime(text), None, "{text}");
    }
}

#[test]
fn preview_stops_at_preview_rows_and_keeps_raw_text() {
    let options = Options {
        preview_rows: 2,
        ..Options::default()
    };
    let analysis = analyze(&b"a\n x \n2\n3\n"[..], &options).expect("analyses");
    assert_eq!(analysis.rows, 3);
    assert_eq!(analysis.preview, vec![vec![" x "], vec!["2"]]);
}

#[test]
fn a_header_over_max_columns_fails_before_any_row() {
    let options = Options {
        max_columns: 3,
        ..Options::default()
    };
    assert!(analyze(&b"a,b,c\n1,2,3\n"[..], &options).is_ok());
    let error = analyze(&b"a,b,c,d\n1,2,3\n"[..], &options).expect_err("four columns");
    assert!(
        matches!(error, AnalysisError::TooManyColumns { found: 4, max: 3 }),
        "{error}"
    );
    assert_eq!(error.line(), Some(1));
}

#[test]
fn long_text_is_cut_to_max_cell_chars_and_marked() {
    let options = Options {
        max_cell_chars: 4,
        ..Options::default()
    };
    let analysis = analyze("long name,n\nééééé,1\nab,2\n".as_bytes(), &options).expect("analyses");
    assert_eq!(analysis.max_cell_chars, 4);
    let text = &analysis.columns[0];
    assert_eq!(text.name, "long");
    assert!(text.truncated);
    assert_eq!(
        text.max,
        Some(crate::analysis::Value::Text("éééé".to_owned()))
    );
    assert_eq!(analysis.preview[0][0], "éééé");
    assert!(!analysis.columns[1].truncated, "short text is kept whole");
}
