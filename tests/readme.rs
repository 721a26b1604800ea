//! The README's documented commands against the real binary: every
//! `palisade` command line it shows names a command that exists and flags
//! that command takes, so a renamed flag cannot leave the README behind.

mod support;

use std::collections::BTreeSet;
use support::cli::{ok, palisade, repo};

/// Every `palisade …` command line in the README's code blocks and inline
/// code, cut at the first pipe, redirection or command separator.
fn command_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(repo("README.md")).expect("README.md is in the repository");
    let mut pieces = Vec::new();
    let mut in_block = false;
    // Prose is read a paragraph at a time: an inline code span may run
    // over a line break.
    let mut paragraph = String::new();
    let spans = |paragraph: &mut String, pieces: &mut Vec<String>| {
        // Inline code spans: the odd pieces between backticks.
        pieces.extend(paragraph.split('`').skip(1).step_by(2).map(String::from));
        paragraph.clear();
    };
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            spans(&mut paragraph, &mut pieces);
            in_block = !in_block;
            continue;
        }
        if in_block {
            // A comment in a block may quote a command in backticks.
            pieces.push(line.replace('`', " "));
        } else if line.trim().is_empty() {
            spans(&mut paragraph, &mut pieces);
        } else {
            paragraph.push_str(line);
            paragraph.push(' ');
        }
    }
    spans(&mut paragraph, &mut pieces);
    let mut lines = Vec::new();
    for piece in pieces {
        for segment in piece
            .split(['|', ';', '>', '<'])
            .flat_map(|s| s.split("&&"))
        {
            let words: Vec<&str> = segment.split_whitespace().collect();
            if let Some(at) = words
                .iter()
                .position(|w| w.ends_with("palisade") && !w.contains('.'))
            {
                let rest = &words[at + 1..];
                if rest
                    .first()
                    .is_some_and(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                {
                    lines.push(rest.join(" "));
                }
            }
        }
    }
    lines
}

/// `palisade <words> --help`.
fn help(words: &[&str]) -> Option<String> {
    let out = palisade(&repo(""))
        .args(words)
        .arg("--help")
        .output()
        .expect("the binary runs");
    out.status.success().then(|| ok(out).0)
}

#[test]
fn every_command_and_flag_the_readme_shows_exists() {
    let lines = command_lines();
    assert!(
        lines.len() >= 20,
        "expected the README to show at least 20 palisade command lines, found {}: {lines:?}",
        lines.len()
    );
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        // The command, and a subcommand when the command has one
        // (`pwned build`).
        let mut command = vec![words[0]];
        let Some(mut text) = help(&command) else {
            wrong.push(format!("`palisade {line}`: no command `{}`", words[0]));
            continue;
        };
        if let Some(sub) = words.get(1).filter(|w| !w.starts_with('-')) {
            let mut nested = command.clone();
            nested.push(sub);
            if text.contains("Commands:") {
                match help(&nested) {
                    Some(t) => {
                        command = nested;
                        text = t;
                    }
                    None => {
                        wrong.push(format!(
                            "`palisade {line}`: no command `{}`",
                            nested.join(" ")
                        ));
                        continue;
                    }
                }
            }
        }
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            if !seen.insert((command.join(" "), flag.to_string())) {
                continue;
            }
            let listed = text
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|w| w == flag);
            if !listed {
                wrong.push(format!(
                    "`palisade {line}`: `palisade {}` takes no {flag}",
                    command.join(" ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the README shows commands the binary does not take:\n{}",
        wrong.join("\n")
    );
    assert!(
        seen.len() >= 20,
        "expected at least 20 documented flags, checked {}",
        seen.len()
    );
}

#[test]
fn a_misspelt_flag_is_caught() {
    // The check itself can fail: a flag no command takes is not listed.
    let text = help(&["replay"]).expect("replay exists");
    assert!(text.split_whitespace().any(|w| w == "--input"));
    assert!(!text.split_whitespace().any(|w| w == "--inptu"));
    assert!(help(&["replya"]).is_none());
}
