//! The house rules of `src/`, read off the code itself: every import between files resolves to
//! the file it names, and
//!
//! - no two files import each other, directly or through others (no ring of files);
//! - a top-level module imports only modules of lower layers, as `docs/architecture.md`
//!   declares them (its `layers` block is read here, so the document and this check agree);
//! - the C ABI and the JNI shims reach the library through its public facade (`crate::Model`,
//!   not `crate::runtime::model::Model`), so they stay thin shells over the public API.
//!
//! Test modules (`#[cfg(test)]` to the end of a file) are left out: they are not the structure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The library's files (not the command-line tool, a crate of its own), as paths under `src/`.
fn library_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(repo().join("src")).unwrap().to_path_buf());
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("src"), &mut files);
    files.sort();
    files
}

/// The module path of a file: `image/frame.rs` is `[image, frame]`, `ops/mod.rs` is `[ops]`.
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The file that defines module path `path` or the longest prefix of it that is a module.
fn file_of(path: &[String], files: &BTreeSet<PathBuf>) -> Option<PathBuf> {
    for len in (1..=path.len()).rev() {
        let base: PathBuf = path[..len].iter().collect();
        for candidate in [base.with_extension("rs"), base.join("mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

/// The code of a file without comments, string literals and its test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '"' && !escaped {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' or '{' (a lifetime has no closing quote nearby).
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    let close = rest.char_indices().skip(1).find(|&(_, c)| c == '\'');
                    if let Some((at, _)) = close {
                        for _ in 0..=at {
                            chars.next();
                        }
                        continue;
                    }
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.next();
                    chars.next();
                    continue;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path the code names from `crate::`, `super::` or `self::`, as absolute module paths,
/// with `use` trees (`crate::a::{b, c::D}`) expanded.
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    // `super` of `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a), the crate root.
    let this_module: Vec<String> = module.to_vec();
    let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word =
            i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let root = if !starts_word {
            None
        } else if rest.starts_with("crate::") {
            Some((Vec::new(), 7))
        } else if rest.starts_with("super::") {
            Some((parent.clone(), 7))
        } else if rest.starts_with("self::") {
            Some((this_module.clone(), 6))
        } else {
            None
        };
        let Some((base, skip)) = root else {
            i += 1;
            continue;
        };
        let (tree, used) = read_tree(&bytes[i + skip..]);
        for path in expand(&tree) {
            let mut full = base.clone();
            let mut segments = path.into_iter().peekable();
            // `super::super::x` and friends.
            while segments.peek().is_some_and(|s| s == "super") {
                segments.next();
                full.pop();
            }
            full.extend(segments);
            out.push(full);
        }
        i += skip + used;
    }
    out
}

/// A use tree: `a::b::{c, d::E}` as text up to where it ends.
fn read_tree(chars: &[char]) -> (String, usize) {
    let mut depth = 0;
    let mut end = 0;
    for (at, &c) in chars.iter().enumerate() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':' || c == '*') => {
                end = at;
                break;
            }
            _ => {}
        }
        end = at + 1;
    }
    (chars[..end].iter().filter(|c| !c.is_whitespace()).collect(), end)
}

/// The paths of a use tree, each cut at its last module-like segment (lower case).
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        let segments: Vec<String> =
            tree.split("::").filter(|s| !s.is_empty() && *s != "*").map(String::from).collect();
        return vec![segments];
    };
    let prefix: Vec<String> = tree[..open].split("::").filter(|s| !s.is_empty()).map(String::from).collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    let mut out = Vec::new();
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        for rest in expand(part) {
            let mut path = prefix.clone();
            path.extend(rest.into_iter().filter(|s| s != "self"));
            out.push(path);
        }
    }
    out
}

/// Imports between library files: importer -> imported (a file's imports of itself left out).
fn file_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let files = library_files();
    let set: BTreeSet<PathBuf> = files.iter().cloned().collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(repo().join("src").join(file)).unwrap();
        let module = module_of(file);
        let mut targets = BTreeSet::new();
        for path in named_paths(&code_of(&text), &module) {
            if let Some(target) = file_of(&path, &set) {
                if &target != file && target != Path::new("lib.rs") {
                    targets.insert(target);
                }
            }
        }
        graph.insert(file.clone(), targets);
    }
    graph
}

/// The top-level module a file belongs to (`lib.rs`, the facade, belongs to none).
fn top_module(file: &Path) -> Option<String> {
    let first = file.iter().next()?.to_string_lossy().into_owned();
    match first.as_str() {
        "lib.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_string()),
    }
}

/// The layers of `docs/architecture.md`'s `layers` block: `N: module module ...` per line.
fn declared_layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    let block = doc.split("```layers\n").nth(1).expect("docs/architecture.md has a ```layers block");
    let block = &block[..block.find("```").unwrap()];
    let mut layers = BTreeMap::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (number, modules) = line.split_once(':').expect("`N: modules`");
        let number: usize = number.trim().parse().expect("a layer number");
        for module in modules.split_whitespace() {
            layers.insert(module.to_string(), number);
        }
    }
    layers
}

/// Strongly connected groups of more than one file.
fn rings(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    let nodes: Vec<&PathBuf> = graph.keys().collect();
    let index_of: BTreeMap<&PathBuf, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let reach = |from: usize| -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            for next in &graph[nodes[n]] {
                if let Some(&j) = index_of.get(next) {
                    if seen.insert(j) {
                        stack.push(j);
                    }
                }
            }
        }
        seen
    };
    let reachable: Vec<BTreeSet<usize>> = (0..nodes.len()).map(reach).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for i in 0..nodes.len() {
        if done.contains(&i) {
            continue;
        }
        let group: Vec<usize> = (0..nodes.len())
            .filter(|&j| j == i || (reachable[i].contains(&j) && reachable[j].contains(&i)))
            .collect();
        if group.len() > 1 {
            out.push(group.iter().map(|&j| nodes[j].clone()).collect());
        }
        done.extend(group);
    }
    out
}

#[test]
fn no_ring_of_files_imports_itself() {
    let rings = rings(&file_graph());
    assert!(rings.is_empty(), "files that import each other: {rings:#?}");
}

#[test]
fn modules_import_only_lower_layers() {
    let layers = declared_layers();
    let mut wrong = Vec::new();
    for (file, targets) in file_graph() {
        let Some(from) = top_module(&file) else { continue };
        let from_layer = *layers.get(&from).unwrap_or_else(|| {
            panic!("`{from}` ({}) is in no layer of docs/architecture.md", file.display())
        });
        for target in targets {
            let Some(to) = top_module(&target) else { continue };
            if to == from {
                continue;
            }
            let to_layer = layers[&to];
            if to_layer >= from_layer {
                wrong.push(format!(
                    "{} (`{from}`, layer {from_layer}) imports {} (`{to}`, layer {to_layer})",
                    file.display(),
                    target.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that run the wrong way:\n{}", wrong.join("\n"));
}

#[test]
fn the_bindings_use_the_public_facade() {
    let private: BTreeSet<String> = std::fs::read_to_string(repo().join("src/lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    assert!(private.contains("runtime"), "lib.rs declares its private modules with `mod name;`");
    let mut reaching_in = Vec::new();
    for file in library_files() {
        let Some(shell) = top_module(&file).filter(|m| m == "ffi" || m == "jni") else { continue };
        let text = std::fs::read_to_string(repo().join("src").join(&file)).unwrap();
        let module = module_of(&file);
        for path in named_paths(&code_of(&text), &module) {
            if path.first().is_some_and(|m| private.contains(m) && *m != shell && m != "handle") {
                reaching_in.push(format!("{}: crate::{}", file.display(), path.join("::")));
            }
        }
    }
    assert!(reaching_in.is_empty(), "bindings reaching past the facade:\n{}", reaching_in.join("\n"));
}

#[test]
fn the_path_reader_resolves_use_trees() {
    let paths = named_paths(
        "use crate::image::{face::Face, frame::{Frame, Orientation}};\nlet x = super::wiring::flag(n);",
        &["ops".into(), "layer_norm".into()],
    );
    let text: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        text,
        ["image::face::Face", "image::frame::Frame", "image::frame::Orientation", "ops::wiring::flag"]
    );
    // Comments and strings name nothing.
    assert!(named_paths(&code_of("// crate::ops\nlet s = \"crate::ops\";"), &["a".into()]).is_empty());
}
