//! A unified text diff of two files, line by line, for a reviewer reading what a profile's card
//! text became.
//!
//! The lines both files share are found as a longest common subsequence (a table of
//! `old × new` lengths: a profile file has hundreds of lines, so a few million cells at most);
//! what is left is removed (`-`) or added (`+`), shown in hunks with [`CONTEXT`] unchanged lines
//! around each, headed `@@ -start,count +start,count @@` as `diff -u` writes them.

/// Unchanged lines shown around each change.
pub const CONTEXT: usize = 2;

/// One line of the edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Same(usize, usize),
    Removed(usize),
    Added(usize),
}

/// The edit script from `old` to `new`: a longest common subsequence walked from the start.
fn edits(old: &[&str], new: &[&str]) -> Vec<Edit> {
    let (n, m) = (old.len(), new.len());
    // lcs[i][j]: the longest common subsequence of old[i..] and new[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut script = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            script.push(Edit::Same(i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // On a tie the old line goes first, so that a changed line reads `-` then `+`.
            script.push(Edit::Removed(i));
            i += 1;
        } else {
            script.push(Edit::Added(j));
            j += 1;
        }
    }
    script
}

/// `old` and `new` as a unified diff (no file header), or `None` when their lines are the same.
pub fn unified(old: &str, new: &str) -> Option<String> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let script = edits(&old, &new);
    let changed: Vec<usize> = (0..script.len())
        .filter(|&k| !matches!(script[k], Edit::Same(..)))
        .collect();
    if changed.is_empty() {
        return None;
    }
    // Hunks: runs of the script around changes, merged when their context touches.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &k in &changed {
        let start = k.saturating_sub(CONTEXT);
        let end = (k + CONTEXT + 1).min(script.len());
        match hunks.last_mut() {
            Some((_, last_end)) if start <= *last_end => *last_end = end,
            _ => hunks.push((start, end)),
        }
    }
    let mut out = String::new();
    for (start, end) in hunks {
        let part = &script[start..end];
        // Where the hunk starts in each file (1-based), and how many lines of each it holds.
        let first_old = part.iter().find_map(|e| match e {
            Edit::Same(i, _) | Edit::Removed(i) => Some(*i),
            Edit::Added(_) => None,
        });
        let first_new = part.iter().find_map(|e| match e {
            Edit::Same(_, j) | Edit::Added(j) => Some(*j),
            Edit::Removed(_) => None,
        });
        let old_count = part.iter().filter(|e| !matches!(e, Edit::Added(_))).count();
        let new_count = part
            .iter()
            .filter(|e| !matches!(e, Edit::Removed(_)))
            .count();
        let at = |first: Option<usize>, count: usize| {
            // An empty side is numbered by the line before it, as `diff -u` does.
            first.map_or(0, |line| line + 1).max(usize::from(count > 0))
        };
        out.push_str(&format!(
            "@@ -{},{old_count} +{},{new_count} @@\n",
            at(first_old, old_count),
            at(first_new, new_count)
        ));
        for edit in part {
            match *edit {
                Edit::Same(i, _) => out.push_str(&format!(" {}\n", old[i])),
                Edit::Removed(i) => out.push_str(&format!("-{}\n", old[i])),
                Edit::Added(j) => out.push_str(&format!("+{}\n", new[j])),
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::unified;

    #[test]
    fn the_same_lines_give_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb"), None);
    }

    #[test]
    fn a_changed_line_is_removed_and_added_with_two_lines_of_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n";
        let new = "1\n2\n3\nfour\n5\n6\n7\n";
        assert_eq!(
            unified(old, new).unwrap(),
            "@@ -2,5 +2,5 @@\n 2\n 3\n-4\n+four\n 5\n 6\n"
        );
    }

    #[test]
    fn changes_far_apart_are_separate_hunks_and_near_ones_one() {
        let lines = |edit: &dyn Fn(usize) -> Option<String>| -> String {
            (1..=20).filter_map(edit).map(|l| l + "\n").collect()
        };
        let old = lines(&|n| Some(n.to_string()));
        let far = lines(&|n| match n {
            3 => Some("three".into()),
            17 => None,
            _ => Some(n.to_string()),
        });
        let diff = unified(&old, &far).unwrap();
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("-3\n+three\n"), "{diff}");
        assert!(diff.contains("-17\n"), "{diff}");
        let near = lines(&|n| match n {
            3 => Some("x".into()),
            6 => Some("y".into()),
            _ => Some(n.to_string()),
        });
        assert_eq!(unified(&old, &near).unwrap().matches("@@ -").count(), 1);
    }

    #[test]
    fn lines_added_at_the_end_are_shown_after_their_context() {
        assert_eq!(
            unified("a\nb\n", "a\nb\nc\n").unwrap(),
            "@@ -1,2 +1,3 @@\n a\n b\n+c\n"
        );
    }
}
