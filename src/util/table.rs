//! Plain-text tables for people: every column padded to its widest cell, two spaces between.

/// The lines of a table: the header, then the rows; columns in `right` align right.
pub fn lines<const N: usize>(
    header: [&str; N],
    rows: &[[String; N]],
    right: &[usize],
) -> Vec<String> {
    let rows: Vec<Vec<&str>> = std::iter::once(header.to_vec())
        .chain(rows.iter().map(|r| r.iter().map(String::as_str).collect()))
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if right.contains(&i) {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_pad_to_the_widest_cell() {
        let rows = [
            ["long".to_string(), "7".to_string()],
            ["b".to_string(), "100".to_string()],
        ];
        assert_eq!(
            super::lines(["A", "N"], &rows, &[1]),
            ["A       N", "long    7", "b     100"]
        );
    }
}
