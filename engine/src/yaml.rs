//! A nesting check run on YAML text before it reaches the YAML parser (libyaml through
//! `serde_yaml_ng`). libyaml reads every event of a document before serde's recursion limit
//! applies, and its work grows with the square of the nesting: `a: [[[[…]]]]` 16 000 deep took
//! 0.7 s, `- - - - …` on one line far longer. Real inventory and settings files nest a handful
//! of levels, so text nested deeper than [`MAX_YAML_NESTING`] is refused in one linear pass.
//!
//! The scan follows YAML's lexical structure far enough to count nesting: flow collections
//! (`[`, `{`) outside quoted scalars, comments and block scalars (`|`, `>`), and compact block
//! indicators (`- `, `? `) that open a nested node on the same line. It errs towards counting
//! too much (a refused file nested unusually deep), never too little.

/// The deepest nesting accepted: flow brackets open at once, or compact indicators on one line.
pub const MAX_YAML_NESTING: usize = 64;

/// YAML text nested deeper than [`MAX_YAML_NESTING`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "YAML nested deeper than {max} levels at line {line} (byte {offset}): refused before parsing"
)]
pub struct YamlTooDeep {
    /// The cap.
    pub max: usize,
    /// 1-based line of the byte where the cap was passed.
    pub line: usize,
    /// Byte offset where the scan stopped: the check's work is at most this many bytes.
    pub offset: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Where a node may start (after indentation, an indicator, `[`, `{`, `,`).
    Start,
    /// Inside a plain scalar (or after a node).
    Plain,
    Single,
    Double,
    DoubleEscape,
    Comment,
}

/// Checks that `text` nests at most [`MAX_YAML_NESTING`] levels; linear in its length.
pub fn check_yaml_nesting(text: &str) -> Result<(), YamlTooDeep> {
    let bytes = text.as_bytes();
    let mut state = State::Start;
    let mut flow = 0usize;
    let mut compact = 0usize;
    let mut line = 1usize;
    let mut indent = 0usize;
    let mut at_line_start = true;
    // Inside a block scalar whose header line was indented this much: its content lines
    // (indented more, or blank) are text.
    let mut block: Option<usize> = None;
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        let blank_after = matches!(next, None | Some(b' ' | b'\t' | b'\r' | b'\n'));
        if at_line_start {
            // Indentation of a new line decides whether a block scalar goes on.
            let spaces = bytes[i..].iter().take_while(|c| **c == b' ').count();
            let rest = bytes.get(i + spaces).copied();
            if let Some(parent) = block {
                if spaces > parent || matches!(rest, None | Some(b'\n' | b'\r')) {
                    i += spaces;
                    state = State::Comment; // skip the content line
                    at_line_start = false;
                    continue;
                }
                block = None;
            }
            indent = spaces;
            compact = 0;
            at_line_start = false;
            i += spaces;
            continue;
        }
        if b == b'\n' {
            line += 1;
            at_line_start = true;
            state = match state {
                State::Single | State::Double => state,
                State::DoubleEscape => State::Double,
                _ => State::Start,
            };
            i += 1;
            continue;
        }
        match state {
            State::Comment => {}
            State::Single => {
                if b == b'\'' {
                    if next == Some(b'\'') {
                        i += 1;
                    } else {
                        state = State::Plain;
                    }
                }
            }
            State::Double => match b {
                b'\\' => state = State::DoubleEscape,
                b'"' => state = State::Plain,
                _ => {}
            },
            State::DoubleEscape => state = State::Double,
            State::Start | State::Plain => {
                let start = state == State::Start;
                match b {
                    b' ' | b'\t' | b'\r' => {}
                    b'#' if start || matches!(bytes.get(i.wrapping_sub(1)), Some(b' ' | b'\t')) => {
                        state = State::Comment;
                    }
                    b'\'' if start => state = State::Single,
                    b'"' if start => state = State::Double,
                    b'[' | b'{' if start || flow > 0 => {
                        flow += 1;
                        state = State::Start;
                    }
                    b']' | b'}' if flow > 0 => {
                        flow -= 1;
                        state = State::Plain;
                    }
                    b',' if flow > 0 => state = State::Start,
                    b'-' | b'?' if start && flow == 0 && blank_after => compact += 1,
                    b'?' if start && blank_after => {}
                    b':' if blank_after || flow > 0 => state = State::Start,
                    b'|' | b'>' if start && flow == 0 => {
                        block = Some(indent);
                        state = State::Comment; // the rest of the header line
                    }
                    _ => state = State::Plain,
                }
            }
        }
        if flow > MAX_YAML_NESTING || compact > MAX_YAML_NESTING {
            return Err(YamlTooDeep {
                max: MAX_YAML_NESTING,
                line,
                offset: i,
            });
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str) -> bool {
        check_yaml_nesting(text).is_ok()
    }

    #[test]
    fn ordinary_files_pass() {
        for text in [
            "",
            "a: 1\nb: [1, 2, {c: [3]}]\n",
            "schedules:\n  compute_start_stop:\n    - action: stop\n      trigger: {type: cron, expression: \"0 18 * * 1-5\"}\n",
            "- - - x\n",
            "a: \"[[[[\" # [[[[\nb: '[[''[[['\n",
            "text: |\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  'unbalanced\nnext: [ok]\n",
            "plain: a[b]c{d}\n",
        ] {
            assert!(depth_ok(text), "{text}");
        }
        let n = MAX_YAML_NESTING;
        assert!(depth_ok(&format!("a: {}{}", "[".repeat(n), "]".repeat(n))));
        assert!(depth_ok(&format!("{}x", "- ".repeat(n))));
    }

    /// The attacks: flow nesting, compact block nesting, and nesting hidden after text that
    /// looks like a quote or a block scalar but is not one.
    #[test]
    fn deep_nesting_is_refused_after_a_bounded_scan() {
        let n = 100_000;
        for text in [
            format!("a: {}{}\n", "[".repeat(n), "]".repeat(n)),
            format!("a: {}{}\n", "{a: ".repeat(n), "}".repeat(n)),
            format!("a:\n  {}x\n", "- ".repeat(n)),
            format!("{}x\n", "? ".repeat(n)),
            format!("a: it's\nb: {}\n", "[".repeat(n)),
            format!("a: |\n  'x\nb: {}\n", "[".repeat(n)),
            format!("a: [\"]]]]\", '}}}}', {}\n", "[".repeat(n)),
            format!("a: [b # ]]]]\n  , {}\n", "[".repeat(n)),
        ] {
            let err = check_yaml_nesting(&text).unwrap_err();
            // The work bound: the scan stops within a line or two of the cap being passed.
            assert!(
                err.offset < 4 * MAX_YAML_NESTING + 40,
                "{err}: {}",
                &text[..40]
            );
        }
    }

    #[test]
    fn the_error_names_the_line() {
        let text = format!("a: 1\nb: 2\nc: {}", "[".repeat(100));
        let err = check_yaml_nesting(&text).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err
            .to_string()
            .contains("nested deeper than 64 levels at line 3"));
    }
}
