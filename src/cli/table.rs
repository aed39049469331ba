//! CLIFormatter's `print_text_table`: rows sorted by the first column, multi-line cells, UTF-8
//! box borders (ASCII `+-|` when the locale is not UTF-8) with the header underlined `╞═╪═╡`
//! (`+=+=+`), integer columns right-aligned, optional header and border.

/// How to draw a table.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub border: bool,
    pub header: bool,
    pub utf8: bool,
}

/// Render `rows` (one string per column, `\n` for multi-line cells) under `titles`; columns
/// whose `right` flag is set (integers) are right-aligned, title included.
pub fn render(titles: &[&str], right: &[bool], mut rows: Vec<Vec<String>>, style: Style) -> String {
    // Perl's sort is stable; so is ours.
    rows.sort_by(|a, b| a.first().cmp(&b.first()));
    let cells: Vec<Vec<Vec<&str>>> = rows
        .iter()
        .map(|row| row.iter().map(|c| c.split('\n').collect()).collect())
        .collect();
    let widths: Vec<usize> = (0..titles.len())
        .map(|i| {
            let body = cells
                .iter()
                .flat_map(|row| row[i].iter().map(|l| l.chars().count()))
                .max()
                .unwrap_or(0);
            body.max(titles[i].chars().count())
        })
        .collect();

    let line = |texts: &[&str]| format_row(texts, &widths, right, style);
    let (top, head, mid, bottom) = borders(&widths, style.utf8);
    let mut out = String::new();
    if style.border {
        out.push_str(&top);
    }
    if style.header {
        out.push_str(&line(titles));
    }
    for (i, row) in cells.iter().enumerate() {
        if style.border && i == 0 && style.header {
            out.push_str(&head);
        } else if style.border && i != 0 {
            out.push_str(&mid);
        }
        let height = row.iter().map(Vec::len).max().unwrap_or(1);
        for l in 0..height {
            let texts: Vec<&str> = row
                .iter()
                .map(|c| c.get(l).copied().unwrap_or(""))
                .collect();
            out.push_str(&line(&texts));
        }
    }
    if style.border {
        out.push_str(&bottom);
    }
    out
}

fn format_row(texts: &[&str], widths: &[usize], right: &[bool], style: Style) -> String {
    let last = widths.len() - 1;
    let bar = if style.utf8 { "│" } else { "|" };
    let mut out = String::new();
    for (i, (text, &w)) in texts.iter().zip(widths).enumerate() {
        let padded = if right.get(i).copied().unwrap_or(false) {
            format!("{text:>w$}")
        } else {
            format!("{text:<w$}")
        };
        if style.border {
            out.push_str(bar);
            out.push(' ');
            out.push_str(&padded);
            out.push(' ');
            if i == last {
                out.push_str(bar);
            }
        } else if i == last {
            // The last column is neither aligned nor padded without a border.
            out.push_str(text);
        } else {
            out.push_str(&padded);
            out.push(' ');
        }
    }
    out.push('\n');
    out
}

/// The top, header, middle and bottom rules.
fn borders(widths: &[usize], utf8: bool) -> (String, String, String, String) {
    let rule = |left: &str, join: &str, right: &str, dash: &str| {
        let mut s = String::new();
        for (i, &w) in widths.iter().enumerate() {
            s.push_str(if i == 0 { left } else { join });
            s.push_str(&dash.repeat(w + 1));
            s.push_str(dash);
        }
        s.push_str(right);
        s.push('\n');
        s
    };
    if utf8 {
        (
            rule("┌", "┬", "┐", "─"),
            rule("╞", "╪", "╡", "═"),
            rule("├", "┼", "┤", "─"),
            rule("└", "┴", "┘", "─"),
        )
    } else {
        let m = rule("+", "+", "+", "-");
        (m.clone(), rule("+", "+", "+", "="), m.clone(), m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|row| row.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn utf8_table_sorted_with_multiline_cells() {
        let style = Style {
            border: true,
            header: true,
            utf8: true,
        };
        let got = render(
            &["ACL path", "Permissions"],
            &[],
            rows(&[&["/vms", "VM.A (*)\nVM.B"], &["/", "X"]]),
            style,
        );
        let want = "\
┌──────────┬─────────────┐
│ ACL path │ Permissions │
╞══════════╪═════════════╡
│ /        │ X           │
├──────────┼─────────────┤
│ /vms     │ VM.A (*)    │
│          │ VM.B        │
└──────────┴─────────────┘
";
        assert_eq!(got, want);
    }

    #[test]
    fn ascii_and_borderless_tables() {
        let data = rows(&[&["b", "2"], &["a", "1"]]);
        let ascii = render(
            &["key", "value"],
            &[false, true],
            data.clone(),
            Style {
                border: true,
                header: true,
                utf8: false,
            },
        );
        assert_eq!(
            ascii,
            "+-----+-------+\n| key | value |\n+=====+=======+\n| a   |     1 |\n+-----+-------+\n| b   |     2 |\n+-----+-------+\n"
        );
        let plain = render(
            &["key", "value"],
            &[],
            data,
            Style {
                border: false,
                header: false,
                utf8: true,
            },
        );
        assert_eq!(plain, "a   1\nb   2\n");
    }
}
