//! Plain-text tables that fit the terminal: columns keep their natural width while the row
//! fits; otherwise the widest columns are cut (ending in `…`) until it does.

/// The terminal width: `$COLUMNS` when set, else 120 (output to a pipe has no width).
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|w: &usize| *w >= 20)
        .unwrap_or(120)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn cut(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

/// Renders `header` and `rows` with two spaces between columns, at most `max` wide.
pub fn render(header: &[&str], rows: &[Vec<String>], max: usize) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(n) {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let gaps = 2 * n.saturating_sub(1);
    // Shrink the widest column one character at a time; never below 4.
    while widths.iter().sum::<usize>() + gaps > max {
        let Some((i, w)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w) else {
            break;
        };
        if w <= 4 {
            break;
        }
        widths[i] -= 1;
    }
    let line = |cells: Vec<String>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c = cut(c, widths[i]);
                if i + 1 == n {
                    c
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    for row in rows {
        let mut cells = row.clone();
        cells.resize(n, String::new());
        out.push_str(&line(cells));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_the_widest_is_cut_to_fit_the_width() {
        let rows = vec![
            vec![
                "t1".to_string(),
                "a-very-long-task-name-indeed".to_string(),
                "RUNNING".to_string(),
            ],
            vec![
                "t22".to_string(),
                "short".to_string(),
                "FINISHED".to_string(),
            ],
        ];
        let wide = render(&["ID", "NAME", "STATE"], &rows, 200);
        assert_eq!(
            wide,
            "ID   NAME                          STATE\n\
             t1   a-very-long-task-name-indeed  RUNNING\n\
             t22  short                         FINISHED\n"
        );
        let narrow = render(&["ID", "NAME", "STATE"], &rows, 30);
        for line in narrow.lines() {
            assert!(line.chars().count() <= 30, "{line}");
        }
        assert!(narrow.contains('…'));
    }
}
