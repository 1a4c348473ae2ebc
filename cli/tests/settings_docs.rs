//! `docs/operations.md` lists every setting exactly as the one table names it
//! (`curfew_governor::config::SETTINGS`): the list is generated from the table, and this test
//! fails, printing the block to paste, when the two drift apart.

use curfew_governor::config::{SetBy, SETTINGS};
use std::path::Path;

const BEGIN: &str = "<!-- settings: generated from curfew_governor::config::SETTINGS; cli/tests/settings_docs.rs checks it -->";
const END: &str = "<!-- end of settings -->";

/// The table as Markdown.
fn rendered() -> String {
    let code = |s: Option<&str>| s.map_or_else(|| "—".to_owned(), |s| format!("`{s}`"));
    let mut out =
        String::from("| variable | settings file | set by | what it is for |\n|---|---|---|---|\n");
    for s in SETTINGS {
        let mut by = match s.origin {
            SetBy::Host => "platform",
            SetBy::App => "app setting (infra)",
            SetBy::Optional => "you, when needed",
            SetBy::File => "the file",
        }
        .to_owned();
        if s.secret {
            by.push_str(", secret");
        }
        if s.serve_only {
            by.push_str(", `serve` only");
        }
        out.push_str(&format!(
            "| {} | {} | {by} | {} |\n",
            code(s.env),
            code(s.yaml),
            s.doc()
        ));
    }
    out
}

#[test]
fn operations_md_lists_every_setting_from_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let expected = rendered();
    let block = doc
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(block, _)| block.trim())
        .unwrap_or_else(|| panic!("docs/operations.md: no block between\n{BEGIN}\n{END}"));
    assert_eq!(
        block,
        expected.trim(),
        "docs/operations.md is out of step with the settings table; paste this between the markers:\n{expected}"
    );
    for s in SETTINGS {
        for name in [s.env, s.yaml].into_iter().flatten() {
            assert!(doc.contains(&format!("`{name}`")), "{name}");
        }
    }
}
