//! Reading an import: CSV lines or JSON objects into rows of text, each
//! with the line it came from. Nothing here knows the catalog; a row's
//! values are checked in `check`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ImportError, RowError};

/// The columns an import names, in the order a template lists them.
pub const COLUMNS: [&str; 11] = [
    "key",
    "customer_email",
    "organization",
    "product",
    "license_type",
    "seats",
    "entitlements",
    "issued_at",
    "expires_at",
    "machines",
    "metadata",
];
const REQUIRED: [&str; 3] = ["key", "product", "license_type"];

/// One license to bring over, as text; an empty value is an absent one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRow {
    /// The CSV line (the header is line 1), or the position in the JSON
    /// array counted from 1.
    pub line: u64,
    pub key: String,
    pub customer_email: String,
    pub organization: String,
    pub product: String,
    pub license_type: String,
    pub seats: String,
    pub entitlements: Vec<String>,
    pub issued_at: String,
    pub expires_at: String,
    /// Fingerprints, each with the machine's name when one was given.
    pub machines: Vec<(String, Option<String>)>,
    pub metadata: Vec<(String, String)>,
}

impl ImportRow {
    /// Sets a column from its text (lists split on `;`).
    fn set(&mut self, column: &str, text: &str) -> Result<(), String> {
        let text = text.trim();
        match column {
            "key" => self.key = text.to_owned(),
            "customer_email" => self.customer_email = text.to_owned(),
            "organization" => self.organization = text.to_owned(),
            "product" => self.product = text.to_owned(),
            "license_type" => self.license_type = text.to_owned(),
            "seats" => self.seats = text.to_owned(),
            "issued_at" => self.issued_at = text.to_owned(),
            "expires_at" => self.expires_at = text.to_owned(),
            "entitlements" => self.entitlements = list(text).map(str::to_owned).collect(),
            "machines" => self.machines = list(text).map(machine_cell).collect(),
            "metadata" => {
                self.metadata = list(text)
                    .map(|pair| {
                        pair.split_once('=')
                            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                            .ok_or_else(|| format!("{pair:?} is not key=value"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(unknown_column(other)),
        }
        Ok(())
    }
}

/// The items of a `;`-separated list, blank ones left out.
fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// `fingerprint` or `fingerprint|name`.
fn machine_cell(text: &str) -> (String, Option<String>) {
    match text.split_once('|') {
        Some((fp, name)) if !name.trim().is_empty() => {
            (fp.trim().to_owned(), Some(name.trim().to_owned()))
        }
        Some((fp, _)) => (fp.trim().to_owned(), None),
        None => (text.to_owned(), None),
    }
}

fn unknown_column(name: &str) -> String {
    format!(
        "{name:?} is not a column; the columns are {}",
        COLUMNS.join(", ")
    )
}

/// An import's rows as read, and the errors of the rows that could not
/// be read; the rows are checked too, so one answer names every error.
#[derive(Debug, Clone, Default)]
pub struct ReadRows {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<RowError>,
}

impl ReadRows {
    /// Rows read without an error.
    pub fn into_rows(self) -> Result<Vec<ImportRow>, ImportError> {
        if self.errors.is_empty() {
            Ok(self.rows)
        } else {
            Err(ImportError::Rows(self.errors))
        }
    }
}

/// The rows of a CSV file with a header line, at most `max_rows`. A bad
/// header is an error at once; a bad line is reported with the others.
pub fn csv_rows(bytes: &[u8], max_rows: usize) -> Result<ReadRows, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(&e, 1))?.clone();
    let columns: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    check_header(&columns)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut lines = LineCounter::default();
    let mut read = 0usize;
    for record in reader.records() {
        read += 1;
        if read > max_rows {
            return Err(ImportError::TooManyRows { max: max_rows });
        }
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(bytes, p.byte()));
                errors.push(csv_error(&e, line).into_row());
                continue;
            }
        };
        let line = record
            .position()
            .map_or(0, |p| lines.line_at(bytes, p.byte()));
        let mut row = ImportRow {
            line,
            ..ImportRow::default()
        };
        for (column, text) in columns.iter().zip(record.iter()) {
            if let Err(detail) = row.set(column, text) {
                errors.push(RowError::new(line, column_name(column), detail));
            }
        }
        rows.push(row);
    }
    Ok(ReadRows { rows, errors })
}

/// The line of a byte offset, counting newlines forward from the last
/// offset asked (records come in order): the reader's own line count
/// leaves blank lines out.
#[derive(Default)]
struct LineCounter {
    byte: usize,
    line: u64,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], byte: u64) -> u64 {
        let mut byte = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        // A record's position can be that of the blank lines before it.
        while bytes.get(byte).is_some_and(|b| *b == b'\n' || *b == b'\r') {
            byte += 1;
        }
        if byte >= self.byte {
            let newlines = bytes[self.byte..byte]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += u64::try_from(newlines).unwrap_or(0);
            self.byte = byte;
        }
        self.line + 1
    }
}

/// A CSV reading error as a row error, at `line`.
fn csv_error(e: &csv::Error, line: u64) -> ImportError {
    let at = line;
    let detail = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("this line has {len} fields; the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "this line is not UTF-8 text".to_owned(),
        _ => format!("this line cannot be read as CSV: {e}"),
    };
    ImportError::Rows(vec![RowError::new(at, None, detail)])
}

impl ImportError {
    /// The one row error of a reading error.
    fn into_row(self) -> RowError {
        match self {
            ImportError::Rows(mut errors) if !errors.is_empty() => errors.swap_remove(0),
            other => RowError::new(0, None, other.to_string()),
        }
    }
}

fn check_header(columns: &[String]) -> Result<(), ImportError> {
    let mut errors = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        if !COLUMNS.contains(&column.as_str()) {
            errors.push(RowError::new(1, None, unknown_column(column)));
        } else if columns[..i].contains(column) {
            errors.push(RowError::new(
                1,
                None,
                format!("the column {column:?} is named twice"),
            ));
        }
    }
    for required in REQUIRED {
        if !columns.iter().any(|c| c == required) {
            errors.push(RowError::new(
                1,
                None,
                format!("the header has no {required:?} column; it is required"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Rows(errors))
    }
}

/// The column's name as the `'static` a row error carries.
fn column_name(column: &str) -> Option<&'static str> {
    COLUMNS.iter().copied().find(|c| *c == column)
}

/// The rows of `{"licenses": [{...}, ...]}`, at most `max_rows`.
pub fn json_rows(body: &Value, max_rows: usize) -> Result<ReadRows, ImportError> {
    let Some(object) = body.as_object() else {
        return Err(ImportError::Body(
            "the body is a JSON object: {\"licenses\": [...]}".to_owned(),
        ));
    };
    if let Some(other) = object.keys().find(|k| *k != "licenses") {
        return Err(ImportError::Body(format!(
            "{other:?} is not a field of an import; send {{\"licenses\": [...]}}"
        )));
    }
    let Some(items) = object.get("licenses").and_then(Value::as_array) else {
        return Err(ImportError::Body(
            "\"licenses\" is required: an array of licenses".to_owned(),
        ));
    };
    if items.len() > max_rows {
        return Err(ImportError::TooManyRows { max: max_rows });
    }
    let mut rows = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let line = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
        match json_row(line, item) {
            Ok(row) => rows.push(row),
            Err(mut e) => errors.append(&mut e),
        }
    }
    Ok(ReadRows { rows, errors })
}

fn json_row(line: u64, item: &Value) -> Result<ImportRow, Vec<RowError>> {
    let Some(fields) = item.as_object() else {
        return Err(vec![RowError::new(
            line,
            None,
            "a license is a JSON object".to_owned(),
        )]);
    };
    let mut row = ImportRow {
        line,
        ..ImportRow::default()
    };
    let mut errors = Vec::new();
    for (name, value) in fields {
        let Some(column) = column_name(name) else {
            errors.push(RowError::new(line, None, unknown_column(name)));
            continue;
        };
        if let Err(detail) = set_json(&mut row, column, value) {
            errors.push(RowError::new(line, Some(column), detail));
        }
    }
    for required in REQUIRED {
        if !fields.contains_key(required) {
            errors.push(RowError::new(
                line,
                Some(required),
                "is required".to_owned(),
            ));
        }
    }
    if errors.is_empty() {
        Ok(row)
    } else {
        Err(errors)
    }
}

/// Sets a column from its JSON value: text, a number for seats, arrays for
/// entitlements and machines, an object for metadata (or their text form).
fn set_json(row: &mut ImportRow, column: &str, value: &Value) -> Result<(), String> {
    match (column, value) {
        (_, Value::Null) => Ok(()),
        (_, Value::String(text)) => row.set(column, text),
        ("seats", Value::Number(n)) => row.set(column, &n.to_string()),
        ("entitlements", Value::Array(items)) => {
            row.entitlements = strings(items, "an entitlement code")?;
            Ok(())
        }
        ("machines", Value::Array(items)) => {
            row.machines = items.iter().map(json_machine).collect::<Result<_, _>>()?;
            Ok(())
        }
        ("metadata", Value::Object(map)) => {
            let mut pairs = BTreeMap::new();
            for (key, value) in map {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("{key}: a metadata value is text"))?;
                pairs.insert(key.clone(), text.to_owned());
            }
            row.metadata = pairs.into_iter().collect();
            Ok(())
        }
        ("seats", _) => Err("is a whole number".to_owned()),
        ("entitlements", _) => Err("is an array of entitlement codes".to_owned()),
        ("machines", _) => Err("is an array of fingerprints or {fingerprint, name}".to_owned()),
        ("metadata", _) => Err("is an object of text values".to_owned()),
        _ => Err("is text".to_owned()),
    }
}

fn strings(items: &[Value], what: &str) -> Result<Vec<String>, String> {
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| format!("each item is {what} (text)"))
        })
        .collect()
}

fn json_machine(item: &Value) -> Result<(String, Option<String>), String> {
    match item {
        Value::String(fp) => Ok((fp.trim().to_owned(), None)),
        Value::Object(fields) => {
            if let Some(other) = fields
                .keys()
                .find(|k| !["fingerprint", "name"].contains(&k.as_str()))
            {
                return Err(format!(
                    "{other:?} is not a field of a machine (fingerprint, name)"
                ));
            }
            let fp = fields
                .get("fingerprint")
                .and_then(Value::as_str)
                .ok_or("each machine has a \"fingerprint\" (text)")?;
            let name = match fields.get("name") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) => Some(name.trim().to_owned()),
                Some(_) => return Err("a machine's \"name\" is text".to_owned()),
            };
            Ok((fp.trim().to_owned(), name))
        }
        _ => Err("each machine is a fingerprint or {fingerprint, name}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(result: Result<ReadRows, ImportError>) -> Vec<RowError> {
        match result.and_then(ReadRows::into_rows) {
            Err(ImportError::Rows(errors)) => errors,
            other => panic!("expected row errors, got {other:?}"),
        }
    }

    #[test]
    fn csv_columns_come_in_any_order_and_lists_split_on_semicolons() {
        let text = "\u{feff}product,key,license_type,machines,entitlements,metadata\n\
                    app,ACME-1234-5678,Pro,\"fp-1|Office PC; fp-2\",sso;audit,crm=42;region=eu\n\
                    \n\
                    app,ACME-9999-0000,Pro,,,\n";
        let rows = csv_rows(text.as_bytes(), 10).unwrap().rows;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].key, "ACME-1234-5678");
        assert_eq!(
            rows[0].machines,
            vec![
                ("fp-1".to_owned(), Some("Office PC".to_owned())),
                ("fp-2".to_owned(), None)
            ]
        );
        assert_eq!(rows[0].entitlements, vec!["sso", "audit"]);
        assert_eq!(rows[0].metadata[1], ("region".to_owned(), "eu".to_owned()));
        assert_eq!(rows[1].line, 4, "a blank line still counts");
        assert!(rows[1].machines.is_empty());
    }

    #[test]
    fn a_bad_header_or_line_is_named_by_its_line() {
        let e = errors(csv_rows(b"key,product,colour\n", 10));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e.iter().all(|e| e.line == 1));
        assert!(e[0].detail.contains("\"colour\" is not a column"));
        assert!(e[1].detail.contains("no \"license_type\" column"));

        let text =
            "key,product,license_type\nK-000001,app,Pro\nK-000002,app\nK-000003,app,Pro,extra\n";
        let e = errors(csv_rows(text.as_bytes(), 10));
        assert_eq!(
            e.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4],
            "{e:?}"
        );
        assert!(e[0].detail.contains("has 2 fields; the header has 3"));

        let e = errors(csv_rows(
            b"key,product,license_type,metadata\nK-000001,app,Pro,crm\n",
            10,
        ));
        assert_eq!((e[0].line, e[0].field), (2, Some("metadata")));

        let e = errors(csv_rows(
            b"key,product,license_type\nK-1,app,\xff\xfe\n",
            10,
        ));
        assert_eq!(e[0].line, 2);
        assert!(e[0].detail.contains("UTF-8"));
    }

    #[test]
    fn more_rows_than_allowed_are_refused_whole() {
        let mut text = String::from("key,product,license_type\n");
        for i in 0..4 {
            text.push_str(&format!("K-00000{i},app,Pro\n"));
        }
        assert!(matches!(
            csv_rows(text.as_bytes(), 3),
            Err(ImportError::TooManyRows { max: 3 })
        ));
        assert_eq!(csv_rows(text.as_bytes(), 4).unwrap().rows.len(), 4);
        let many = json!({ "licenses": vec![json!({}); 4] });
        assert!(matches!(
            json_rows(&many, 3),
            Err(ImportError::TooManyRows { max: 3 })
        ));
    }

    #[test]
    fn json_rows_take_numbers_arrays_and_objects_and_name_wrong_fields() {
        let body = json!({ "licenses": [
            { "key": "ACME-1", "product": "app", "license_type": "Pro", "seats": 3,
              "entitlements": ["sso"], "machines": ["fp-1", {"fingerprint": "fp-2", "name": "Lab"}],
              "metadata": {"crm": "42"} },
        ]});
        let rows = json_rows(&body, 10).unwrap().rows;
        assert_eq!(rows[0].seats, "3");
        assert_eq!(
            rows[0].machines[1],
            ("fp-2".to_owned(), Some("Lab".to_owned()))
        );
        assert_eq!(rows[0].metadata, vec![("crm".to_owned(), "42".to_owned())]);

        let body = json!({ "licenses": [
            { "key": "ACME-1", "product": "app", "license_type": "Pro", "colour": "red" },
            { "key": "ACME-2", "product": "app", "seats": [1] },
            "not an object",
        ]});
        let e = errors(json_rows(&body, 10));
        assert_eq!(e[0].line, 1);
        assert!(e[0].detail.contains("\"colour\" is not a column"));
        assert_eq!((e[1].line, e[1].field), (2, Some("seats")));
        assert_eq!((e[2].line, e[2].field), (2, Some("license_type")));
        assert_eq!(e[3].line, 3);

        assert!(matches!(
            json_rows(&json!({"rows": []}), 10),
            Err(ImportError::Body(_))
        ));
    }
}
