//! The kernel's modules import each other one way: arch and board at the bottom, then the
//! platform and memory, the services (storage, network, USB, SMP), the model and intent,
//! and the tools and shell on top. A loop means no module in it can change alone, so the
//! lint fails on any cycle in the graph of `crate::<module>` references between the
//! top-level modules of `kernel/src` (main.rs, the glue, is left out: it may name all).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Module name → the top-level modules it refers to.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The import graph of the kernel source tree at `src`.
pub fn graph(src: &Path) -> std::io::Result<Graph> {
    let mut graph = Graph::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path);
            let top = relative.components().next().map(|c| c.as_os_str().to_string_lossy().to_string());
            let Some(top) = top.map(|t| t.trim_end_matches(".rs").to_string()) else { continue };
            if top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let deps = graph.entry(top.clone()).or_default();
            for name in references(&text) {
                if name != top {
                    deps.insert(name);
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    Ok(graph)
}

/// The top-level module names a source file refers to as `crate::name` or inside
/// `use crate::{a, b::c, ...}`, and the `print!`/`println!` macros (which are the console's).
pub fn references(text: &str) -> BTreeSet<String> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut names = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            // `use crate::{a, b::{c, d}, e}`: the names at depth zero.
            let mut depth = 0;
            let mut start = 0;
            for (i, ch) in list.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.insert(ident(list[start..i].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(ident(list[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    if code.contains("print!(") || code.contains("println!(") {
        names.insert("console".into());
    }
    names.remove("");
    names
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_in_paths_use_lists_and_print_macros() {
        let text = "use crate::{arch::cpu, board::{IrqLine, CURRENT}, sync};\n\
                    // crate::ignored\n\
                    fn f() { crate::storage::read(); println!(\"x\"); }";
        let names: Vec<String> = references(text).into_iter().collect();
        assert_eq!(names, ["arch", "board", "console", "storage", "sync"]);
    }

    #[test]
    fn a_loop_is_found_and_a_layered_graph_has_none() {
        let mut graph = Graph::new();
        let edge = |g: &mut Graph, a: &str, b: &str| {
            g.entry(a.into()).or_default().insert(b.into());
            g.entry(b.into()).or_default();
        };
        edge(&mut graph, "tools", "storage");
        edge(&mut graph, "storage", "platform");
        edge(&mut graph, "platform", "arch");
        assert!(cycles(&graph).is_empty());
        edge(&mut graph, "platform", "storage");
        assert_eq!(cycles(&graph), [vec!["platform".to_string(), "storage".to_string()]]);
    }

    #[test]
    fn the_kernel_has_no_import_loop() {
        let src = crate::util::root().join("kernel/src");
        let graph = graph(&src).expect("kernel sources");
        assert!(graph.len() > 20, "{graph:?}");
        assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "kernel modules import each other in a loop");
    }
}
