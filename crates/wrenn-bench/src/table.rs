//! One row per measured figure, rendered as an aligned text table.

/// A measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub value: String,
    pub unit: String,
    pub note: String,
}

impl Row {
    pub fn new(name: &str, value: f64, unit: &str, note: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: format!("{value:.3}"),
            unit: unit.into(),
            note: note.into(),
        }
    }

    /// A figure that is not a measured float: a count, or "skipped".
    pub fn text(name: &str, value: impl Into<String>, unit: &str, note: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            unit: unit.into(),
            note: note.into(),
        }
    }

    /// Parses `name<TAB>value<TAB>unit<TAB>note` (note optional).
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split('\t');
        let (name, value, unit) = (fields.next()?, fields.next()?, fields.next()?);
        if name.is_empty() || value.is_empty() {
            return None;
        }
        Some(Self {
            name: name.into(),
            value: value.into(),
            unit: unit.into(),
            note: fields.next().unwrap_or("").into(),
        })
    }
}

pub fn render(rows: &[Row]) -> String {
    let headers = ["benchmark", "value", "unit", "note"];
    let width = |f: fn(&Row) -> &str, h: &str| {
        rows.iter()
            .map(|r| f(r).len())
            .chain([h.len()])
            .max()
            .unwrap_or(0)
    };
    let (wn, wv, wu) = (
        width(|r| &r.name, headers[0]),
        width(|r| &r.value, headers[1]),
        width(|r| &r.unit, headers[2]),
    );
    let mut out = format!(
        "{:<wn$}  {:>wv$}  {:<wu$}  {}\n",
        headers[0], headers[1], headers[2], headers[3]
    );
    out.push_str(&format!("{}\n", "-".repeat(wn + wv + wu + 10)));
    for r in rows {
        out.push_str(&format!(
            "{:<wn$}  {:>wv$}  {:<wu$}  {}\n",
            r.name, r.value, r.unit, r.note
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_when_three_fields_then_note_empty() {
        let row = Row::parse("envd.run_true.median\t12.5\tms").expect("valid row");
        assert_eq!((row.value.as_str(), row.note.as_str()), ("12.5", ""));
    }

    #[test]
    fn parse_when_free_text_then_none() {
        assert_eq!(Row::parse("starting envd..."), None);
    }

    #[test]
    fn render_when_rows_then_aligned_columns() {
        let table = render(&[
            Row::new("a", 1.0, "s", "x"),
            Row::new("longer.name", 22.5, "ms", ""),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2].find("1.000").map(|i| i + 5),
            lines[3].find("22.500").map(|i| i + 6)
        );
    }
}
