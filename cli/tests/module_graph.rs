#![allow(clippy::unwrap_used)] // A panic in a test is a failing test.

//! No import cycle among the CLI's modules, nor the core crate's: neither between the top-level
//! modules of `src/` (`crate::x` paths), nor between the files of a folder
//! module such as `src/dev/` (`super::x`, `self::x`, `crate::dev::x`).
//!
//! Run it alone with `cargo test -p clerk-sync-cli --test module_graph`; add
//! `-- --nocapture` to print the graph. Inline `#[cfg(test)] mod tests { … }`
//! blocks are left out (their `super::` is their own module).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The crate root's node: `crate::f` naming an item of `main.rs` (or `lib.rs`).
const ROOT: &str = "(main)";

/// The same for the core crate (`lib/src`): its top-level modules and the
/// files of each folder module.
#[test]
fn the_lib_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lib/src");
    let (top, folders) = graphs(&src);
    println!("{}", render("lib/src/", &top));
    assert!(top.values().any(|deps| !deps.is_empty()), "the parser found no import in lib/src");
    assert_eq!(cycle(&top), None, "an import cycle among the top-level modules of lib/src");
    for (folder, graph) in &folders {
        assert_eq!(cycle(graph), None, "an import cycle among the files of lib/src/{folder}/");
    }
}

#[test]
fn the_cli_modules_import_each_other_without_a_cycle() {
    // MODULE_GRAPH_SRC checks another crate's sources the same way (e.g. ../lib/src).
    let src = std::env::var_os("MODULE_GRAPH_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let (top, folders) = graphs(&src);
    println!("{}", render("src/", &top));
    for (folder, graph) in &folders {
        println!("{}", render(&format!("src/{folder}/"), graph));
    }
    assert_eq!(cycle(&top), None, "an import cycle among the top-level modules of {}", src.display());
    for (folder, graph) in &folders {
        assert_eq!(cycle(graph), None, "an import cycle among the files of {}/{folder}/", src.display());
    }
    if std::env::var_os("MODULE_GRAPH_SRC").is_some() {
        return;
    }
    // The parser sees the imports it must (else an empty graph would pass).
    for (from, to) in [("dev", "send"), ("send", "sign"), ("sign", "event"), (ROOT, "dev"), ("token", "dev")] {
        assert!(top.get(from).is_some_and(|t| t.contains(to)), "{from} → {to} not found:\n{}", render("src/", &top));
    }
    assert!(folders["dev"]["mod"].contains("server"), "{}", render("src/dev/", &folders["dev"]));
    // Every command's error is its own, and `error` imports no command.
    assert!(top.get("error").is_none_or(BTreeSet::is_empty), "error imports {:?}", top["error"]);
}

/// The top-level graph, and one graph per folder module.
fn graphs(src: &Path) -> (Graph, BTreeMap<String, Graph>) {
    let mut top_modules = BTreeSet::new();
    let mut files: Vec<(String, Option<String>, PathBuf)> = Vec::new(); // (top module, file in folder, path)
    for entry in fs::read_dir(src).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && path.join("mod.rs").is_file() {
            top_modules.insert(name.clone());
            for file in fs::read_dir(&path).unwrap().flatten() {
                let file = file.path();
                if file.extension().is_some_and(|e| e == "rs") {
                    let child = file.file_stem().unwrap().to_string_lossy().into_owned();
                    files.push((name.clone(), Some(child), file));
                }
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = if name == "main" || name == "lib" { ROOT.to_string() } else { name };
            top_modules.insert(module.clone());
            files.push((module, None, path));
        }
    }

    let mut top = Graph::new();
    let mut folders: BTreeMap<String, Graph> = BTreeMap::new();
    for (module, child, path) in &files {
        let text = code_of(&fs::read_to_string(path).unwrap());
        let targets = top.entry(module.clone()).or_default();
        for first in paths_after(&text, "crate") {
            let target = if top_modules.contains(&first) { first } else { ROOT.to_string() };
            if &target != module {
                targets.insert(target);
            }
        }
        // The crate root names its modules without `crate::`.
        if module == ROOT {
            targets.extend(top_modules.iter().filter(|m| !paths_after(&text, m).is_empty()).cloned());
        }
        let Some(child) = child else { continue };
        let children: BTreeSet<String> =
            files.iter().filter(|(m, c, _)| m == module && c.is_some()).filter_map(|(_, c, _)| c.clone()).collect();
        let graph = folders.entry(module.clone()).or_default();
        let mut edges = BTreeSet::new();
        let inside_prefix = format!("crate::{module}");
        let named: Vec<String> = if child == "mod" {
            paths_after(&text, "self")
        } else {
            paths_after(&text, "super").into_iter().chain(paths_after(&text, &inside_prefix)).collect()
        };
        for first in named {
            let target = if children.contains(&first) { first } else { "mod".to_string() };
            if &target != child {
                edges.insert(target);
            }
        }
        graph.entry(child.clone()).or_default().extend(edges);
    }
    (top, folders)
}

/// The code of a file without comments and without its inline test module.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut code = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
        if line.trim() == "#[cfg(test)]" && next.starts_with("mod ") && next.ends_with('{') {
            break;
        }
        let line = line.split("//").next().unwrap_or("");
        code.push(line);
    }
    code.join("\n")
}

/// The first segment of every path that starts with `prefix::`, a `{…}`
/// group counting each of its items: `crate::{a::b, c}` names `a` and `c`.
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let needle = format!("{prefix}::");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + needle.len()..];
        // `foo_crate::x` or `my_super::x` are other paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest_trimmed = rest.trim_start();
        if let Some(group) = rest_trimmed.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    push_first(&mut found, &item);
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            push_first(&mut found, rest_trimmed);
        }
    }
    found
}

fn push_first(found: &mut Vec<String>, item: &str) {
    let ident: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if !ident.is_empty() && ident != "self" {
        found.push(ident);
    }
}

/// A cycle of `graph`, as the path that closes it, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn render(title: &str, graph: &Graph) -> String {
    let mut out = format!("{title}\n");
    for (from, to) in graph {
        out.push_str(&format!("  {from} → {}\n", to.iter().cloned().collect::<Vec<_>>().join(", ")));
    }
    out
}

#[test]
fn the_parser_finds_grouped_paths_and_cycles() {
    let text = "use crate::{\n    a::{self, X},\n    b,\n};\nlet x = crate::c::f();\nmy_crate::d::g();";
    assert_eq!(paths_after(text, "crate"), ["a", "b", "c"]);
    let graph: Graph = [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let code = code_of("use super::x; // super::y\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n");
    assert_eq!(paths_after(&code, "super"), ["x"]);
}
