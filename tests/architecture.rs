//! The layering holds: no import circle between the top-level modules of the application
//! (`src/`) or of the job engine (`crates/job-engine/src`). A module depends on another
//! when any of its files names `crate::<other>` outside comments and test modules; the
//! dependencies must form no cycle, so that each subsystem can be read, tested and changed
//! from the bottom up (README, "Architecture", draws them).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `from → {to}` between the top-level modules under `root`.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_application_s_modules_depend_on_each_other_without_a_circle() {
    assert_acyclic("src", &["api", "workflow"]);
}

#[test]
fn the_job_engine_s_modules_depend_on_each_other_without_a_circle() {
    assert_acyclic("crates/job-engine/src", &["store", "worker"]);
}

/// Fails naming every circle between the top-level modules of the crate rooted at `dir`
/// (under the workspace), after checking that the graph holds modules it must have.
fn assert_acyclic(dir: &str, must_have: &[&str]) {
    let graph = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir));
    assert!(
        must_have.iter().all(|module| graph.contains_key(*module)),
        "{dir}: {graph:?}"
    );
    let circles = circles(&graph);
    assert!(
        circles.is_empty(),
        "import circles between modules of {dir}: {circles:?}\n{}",
        show(&graph)
    );
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            found.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// The top-level module each item re-exported at the crate's root comes from
/// (`pub use module::{Item, …};` in `lib.rs`), so that `crate::Item` counts as a use of
/// its module.
fn root_items(root: &Path) -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap_or_default();
    let mut items = BTreeMap::new();
    for statement in code_of(&lib).split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = leading_ident(path);
        let names = path.rsplit("::").next().unwrap_or_default();
        for name in names.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !name.is_empty() && name != module {
                items.insert(name.to_owned(), module.clone());
            }
        }
    }
    items
}

/// The module graph of the crate rooted at `root` (its `lib.rs` and `main.rs` are the
/// crate itself, not a module).
fn graph(root: &Path) -> Graph {
    let items = root_items(root);
    let mut graph = Graph::new();
    for file in files(root) {
        let relative = file.strip_prefix(root).expect("under the root");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a path")
            .trim_end_matches(".rs")
            .to_owned();
        if first == "lib" || first == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let uses = graph.entry(first.clone()).or_default();
        for used in referenced_modules(&code_of(&text)) {
            let module = items.get(&used).cloned().unwrap_or(used);
            if module != first {
                uses.insert(module);
            }
        }
    }
    graph
}

/// The code of a file without its comments and its test module (everything from the
/// first `#[cfg(test)]` on: test modules close the files that have one).
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The first segments `code` names through `crate::` (a module, or an item of the
/// crate's root): `crate::a::…`, and each first segment of a group
/// `crate::{a::…, b, c::{…}}`.
fn referenced_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue; // `job_engine_crate::`, say: not this crate.
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Split the group at its own commas; each part starts with a module.
            let mut depth = 0usize;
            let mut part = String::new();
            for c in group.chars() {
                match c {
                    '}' if depth == 0 => break,
                    ',' if depth == 0 => {
                        found.insert(leading_ident(&part));
                        part.clear();
                    }
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    c => part.push(c),
                }
            }
            found.insert(leading_ident(&part));
        } else {
            found.insert(leading_ident(rest));
        }
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

/// The identifier `text` starts with (after white space), or an empty string.
fn leading_ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct Search<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.graph.contains_key(next) {
                    continue;
                }
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.found
}

fn show(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(from, to)| {
            format!(
                "{from} -> {}",
                to.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_reader_finds_modules_in_paths_and_groups_but_not_in_comments_or_tests() {
    let code = code_of(
        "use crate::api::AppState;\n\
         use crate::{config, pool::{refill, settings}, Thing};\n\
         // crate::commented\n\
         fn f() { crate::store::x(); other_crate::gc::y(); }\n\
         #[cfg(test)]\n\
         mod tests { use crate::bench; }\n",
    );
    let found: Vec<String> = referenced_modules(&code).into_iter().collect();
    assert_eq!(found, ["Thing", "api", "config", "pool", "store"]);
}

#[test]
fn a_circle_is_found_and_named() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph.entry(from.into()).or_default().insert(to.into());
        graph.entry(to.into()).or_default();
    }
    assert_eq!(circles(&graph), [["a", "b", "c"]]);
}
