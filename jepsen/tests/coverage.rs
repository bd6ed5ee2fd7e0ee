//! Every state-changing command must be sent by some workload under faults: the
//! "Coverage" table of jepsen/README.md must have a row for each (command, subcommand)
//! of the server's `STATE_CHANGES`, each Redis data command that writes, and the
//! internal waiter cancel on disconnect; and every name in it must be a workload the
//! harness knows (or `nemesis:<kind>` for what a nemesis sends, a kind of the README's
//! Nemeses table).

use std::collections::{BTreeMap, BTreeSet};

use fencepost_jepsen::workloads::Workload;
use fencepost_server::cmd::table::STATE_CHANGES;
use fencepost_server::sm::data::parse::DATA_COMMANDS;

/// The internal state change no client command names.
const WAITER_CANCEL: &str = "waiter cancel on disconnect";

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The text of the README section `## <title>`, up to the next `## `.
fn section(title: &str) -> String {
    let readme = readme();
    let tail = readme
        .split(&format!("\n## {title}"))
        .nth(1)
        .unwrap_or_else(|| panic!("README.md has no \"## {title}\" section"));
    tail.split("\n## ").next().unwrap_or(tail).to_string()
}

/// The nemesis kinds of the Nemeses table (`| `partition` | ... |`).
fn nemesis_kinds() -> BTreeSet<String> {
    section("Nemeses")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect()
}

/// The table's rows: command -> the names in its second column.
fn table() -> BTreeMap<String, Vec<String>> {
    let section = section("Coverage");
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let command = cells[1].trim_matches('`').to_string();
        // "lock, lock-fence-acl (setup, before the faults), nemesis:membership": notes in
        // parentheses dropped, each comma-separated entry is a name.
        let mut plain = String::new();
        let mut depth = 0;
        for ch in cells[2].chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                c if depth == 0 => plain.push(c),
                _ => {}
            }
        }
        let names = plain
            .split(',')
            .filter_map(|e| e.split_whitespace().next())
            .map(|n| n.trim_matches('`').to_string())
            .collect();
        rows.insert(command, names);
    }
    rows
}

/// Every state change the server has, as the table spells it.
fn state_changes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (name, subs) in STATE_CHANGES {
        for sub in *subs {
            let cmd = name.to_ascii_uppercase();
            out.insert(if sub.is_empty() { cmd } else { format!("{cmd} {sub}") });
        }
    }
    for d in DATA_COMMANDS.iter().filter(|d| d.write) {
        out.insert(d.name.to_ascii_uppercase());
    }
    out.insert(WAITER_CANCEL.to_string());
    out
}

#[test]
fn every_state_change_has_a_workload_under_faults() {
    let rows = table();
    let missing: Vec<String> = state_changes().into_iter().filter(|c| !rows.contains_key(c)).collect();
    assert!(
        missing.is_empty(),
        "no row in jepsen/README.md Coverage for {missing:?}"
    );
    let empty: Vec<&String> = rows.iter().filter(|(_, n)| n.is_empty()).map(|(c, _)| c).collect();
    assert!(empty.is_empty(), "rows naming no workload: {empty:?}");
}

#[test]
fn every_row_names_known_workloads_and_commands() {
    let known = state_changes();
    let kinds = nemesis_kinds();
    assert!(kinds.contains("membership"), "Nemeses table not found: {kinds:?}");
    for (cmd, names) in table() {
        assert!(
            known.contains(&cmd),
            "row {cmd:?} is not a state change the server knows"
        );
        for n in names {
            match n.strip_prefix("nemesis:") {
                Some(kind) => assert!(kinds.contains(kind), "row {cmd:?}: unknown nemesis {kind:?}"),
                None => assert!(Workload::parse(&n).is_ok(), "row {cmd:?}: unknown workload {n:?}"),
            }
        }
    }
}
