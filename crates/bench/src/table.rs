//! Medians, ratios, geometric means and the Markdown table both modes
//! print. Pure functions, unit-tested; no timing happens here.

/// The median of `samples` (mean of the two middle ones for an even
/// count); `None` when empty.
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// The geometric mean of positive values; `None` when there are none.
pub fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: f64 = values.iter().map(|v| v.ln()).sum();
    Some((sum / values.len() as f64).exp())
}

/// One workload's medians, one cell per runner (`None`: failed or not run).
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub cells: Vec<Option<f64>>,
    /// Shown as milliseconds per process when set (the seconds divided
    /// by this count); ratios are the same either way.
    pub per_process: Option<usize>,
    /// Counted in the geomean row.
    pub in_geomean: bool,
}

/// A table of runners (column 0 is the reference, native) and workloads.
#[derive(Clone, Debug)]
pub struct Table {
    pub runners: Vec<String>,
    pub rows: Vec<Row>,
    /// Ratio columns: (numerator runner, denominator runner).
    pub ratios: Vec<(usize, usize)>,
}

impl Table {
    /// A table whose ratio columns are every runner against runner 0,
    /// then each runner in `versus_last` against the last runner (for
    /// example each xarch engine against qemu-user).
    pub fn new(runners: Vec<String>, versus_last: &[usize]) -> Self {
        let mut ratios: Vec<(usize, usize)> = (1..runners.len()).map(|k| (k, 0)).collect();
        let last = runners.len().saturating_sub(1);
        ratios.extend(
            versus_last
                .iter()
                .filter(|&&k| k != last && k != 0)
                .map(|&k| (k, last)),
        );
        Table {
            runners,
            rows: Vec::new(),
            ratios,
        }
    }

    /// `row[a] / row[b]` when both are present and positive.
    pub fn ratio(row: &Row, (a, b): (usize, usize)) -> Option<f64> {
        match (row.cells.get(a).copied()?, row.cells.get(b).copied()?) {
            (Some(x), Some(y)) if x > 0.0 && y > 0.0 => Some(x / y),
            _ => None,
        }
    }

    /// The geomean of one ratio column over the rows counted in it, and how
    /// many rows were counted out of how many could have been.
    pub fn geomean_of(&self, col: (usize, usize)) -> (Option<f64>, usize, usize) {
        let counted: Vec<&Row> = self.rows.iter().filter(|r| r.in_geomean).collect();
        let vals: Vec<f64> = counted.iter().filter_map(|r| Self::ratio(r, col)).collect();
        (geomean(&vals), vals.len(), counted.len())
    }

    /// The Markdown table: medians, ratio columns, a geomean row.
    pub fn markdown(&self) -> String {
        let name = |(a, b): (usize, usize)| format!("{}/{}", self.runners[a], self.runners[b]);
        let mut header = vec!["workload".to_string()];
        header.extend(self.runners.iter().cloned());
        header.extend(self.ratios.iter().map(|&c| name(c)));
        let mut lines = vec![
            format!("| {} |", header.join(" | ")),
            format!("|{}", "---|".repeat(header.len())),
        ];
        for row in &self.rows {
            let mut cells = vec![row.name.clone()];
            cells.extend(row.cells.iter().map(|c| match (c, row.per_process) {
                (None, _) => "failed".to_string(),
                (Some(s), None) => format!("{s:.2} s"),
                (Some(s), Some(n)) => format!("{:.2} ms", s * 1000.0 / n as f64),
            }));
            cells.extend(self.ratios.iter().map(|&c| match Self::ratio(row, c) {
                Some(r) => format!("{r:.1}x"),
                None => "-".to_string(),
            }));
            lines.push(format!("| {} |", cells.join(" | ")));
        }
        let mut geo = vec!["geomean".to_string()];
        geo.extend(self.runners.iter().map(|_| String::new()));
        geo.extend(self.ratios.iter().map(|&c| match self.geomean_of(c) {
            (Some(g), n, all) if n == all => format!("{g:.1}x"),
            (Some(g), n, all) => format!("{g:.1}x ({n} of {all})"),
            (None, _, _) => "-".to_string(),
        }));
        lines.push(format!("| {} |", geo.join(" | ")));
        lines.join("\n")
    }
}

/// Replaces the text between `start` and `end` markers in `doc` with
/// `section` (markers included in `section`), or appends `section` when the
/// markers are absent.
pub fn replace_section(doc: &str, start: &str, end: &str, section: &str) -> String {
    match (doc.find(start), doc.find(end)) {
        (Some(a), Some(b)) if a < b => format!(
            "{}{section}{}",
            &doc[..a],
            doc[b + end.len()..].trim_start_matches('\n')
        ),
        _ => format!("{}\n\n{section}", doc.trim_end()),
    }
}

/// xorshift64: the deterministic generator behind the benchmark inputs
/// (both modes; their inputs must not change between runs or versions).
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let x = &mut self.0;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.5]), Some(7.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn geomean_of_ratios() {
        let g = geomean(&[2.0, 8.0]).unwrap();
        assert!((g - 4.0).abs() < 1e-12, "{g}");
        assert_eq!(geomean(&[]), None);
    }

    fn table() -> Table {
        let mut t = Table::new(vec!["native".into(), "xarch".into(), "qemu".into()], &[1]);
        t.rows.push(Row {
            name: "a".into(),
            cells: vec![Some(1.0), Some(2.0), Some(8.0)],
            per_process: None,
            in_geomean: true,
        });
        t.rows.push(Row {
            name: "b".into(),
            cells: vec![Some(0.5), Some(4.0), None],
            per_process: Some(100),
            in_geomean: true,
        });
        t.rows.push(Row {
            name: "c".into(),
            cells: vec![Some(1.0), Some(100.0), Some(100.0)],
            per_process: None,
            in_geomean: false,
        });
        t
    }

    #[test]
    fn ratio_columns_and_geomean() {
        let t = table();
        assert_eq!(t.ratios, vec![(1, 0), (2, 0), (1, 2)]);
        // xarch/native: a 2x, b 8x, c not counted.
        let (g, n, all) = t.geomean_of((1, 0));
        assert!((g.unwrap() - 4.0).abs() < 1e-12);
        assert_eq!((n, all), (2, 2));
        // qemu failed on b: only a counts.
        let (g, n, all) = t.geomean_of((2, 0));
        assert!((g.unwrap() - 8.0).abs() < 1e-12);
        assert_eq!((n, all), (1, 2));
    }

    #[test]
    fn markdown_cells() {
        let md = table().markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| workload | native | xarch | qemu | xarch/native | qemu/native | xarch/qemu |"
        );
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| a | 1.00 s | 2.00 s | 8.00 s | 2.0x | 8.0x | 0.2x |"
        );
        // Per-process row in ms; the failed cell and its ratios.
        assert_eq!(
            lines[3],
            "| b | 5.00 ms | 40.00 ms | failed | 8.0x | - | - |"
        );
        assert_eq!(
            lines[5],
            "| geomean |  |  |  | 4.0x | 8.0x (1 of 2) | 0.2x (1 of 2) |"
        );
    }

    #[test]
    fn section_replaced_or_appended() {
        let doc = "# T\n\nintro\n<!-- s -->\nold\n<!-- e -->\n\ntail\n";
        let new = replace_section(
            doc,
            "<!-- s -->",
            "<!-- e -->",
            "<!-- s -->\nnew\n<!-- e -->\n",
        );
        assert_eq!(new, "# T\n\nintro\n<!-- s -->\nnew\n<!-- e -->\ntail\n");
        let added = replace_section(
            "# T\n",
            "<!-- s -->",
            "<!-- e -->",
            "<!-- s -->\nx\n<!-- e -->\n",
        );
        assert_eq!(added, "# T\n\n<!-- s -->\nx\n<!-- e -->\n");
    }
}
