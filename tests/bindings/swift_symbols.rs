//! No Swift compiler exists on our build machines, so the Swift wrapper is checked against the C
//! header here: every `segface_*` function it calls is declared in include/segface.h with as
//! many parameters as the Swift call passes, and every `SEGFACE_*` constant it uses exists.

use std::collections::HashMap;
use std::path::PathBuf;

fn read(path: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The arguments of the call whose `(` is at `open`: top-level comma-separated pieces.
fn call_arguments(text: &str, open: usize) -> Vec<String> {
    let mut depth = 0;
    let mut args = vec![String::new()];
    for c in text[open..].chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                args.push(String::new());
                continue;
            }
            _ => {}
        }
        args.last_mut().unwrap().push(c);
    }
    args.into_iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty() && a != "void").collect()
}

/// `name -> arity` for every `segface_*` occurrence followed by `(` in `text`.
fn calls(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(pos) = text[rest..].find("segface_") {
        let start = rest + pos;
        let name_len = text[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap();
        let name = &text[start..start + name_len];
        let after = start + name_len;
        if text[after..].starts_with('(') {
            found.push((name.to_string(), call_arguments(text, after).len()));
        }
        rest = after;
    }
    found
}

fn constants(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("SEGFACE_"))
        .map(String::from)
        .collect()
}

#[test]
fn swift_wrapper_uses_only_what_the_header_declares() {
    let header = read("include/segface.h");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ios/Sources/SegFace");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "swift"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let swift: String =
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n");
    let declared: HashMap<String, usize> = calls(&header).into_iter().collect();
    let used = calls(&swift);
    assert!(used.len() >= 20, "the Swift wrapper calls the C API: {used:?}");
    for (name, arity) in &used {
        let expected = declared.get(name).unwrap_or_else(|| panic!("{name} is not declared in segface.h"));
        assert_eq!(arity, expected, "{name} takes {expected} arguments in segface.h, Swift passes {arity}");
    }
    let header_constants = constants(&header);
    for constant in constants(&swift) {
        assert!(header_constants.contains(&constant), "{constant} is not in segface.h");
    }
}

#[test]
fn the_checker_sees_arity_mismatches() {
    let declared: HashMap<String, usize> = calls(
        "int32_t segface_parse(struct S *s,\n const T *image, uint8_t *labels, size_t len, size_t stride);",
    )
    .into_iter()
    .collect();
    assert_eq!(declared["segface_parse"], 5);
    assert_eq!(calls("try f(segface_parse(session, &image, labels.baseAddress, labels.count))")[0].1, 4);
    assert_eq!(calls("segface_last_error().map { String(cString: $0) }")[0].1, 0);
    assert_eq!(calls("segface_model_class_name(model, UInt32($0))")[0].1, 2);
}
