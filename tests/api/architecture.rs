//! The shape of `src/`, read from its `crate::` paths the way
//! docs/architecture.md draws it: arrows run one way (web -> services ->
//! store/domain), handlers reach the store only through its plumbing, no
//! two modules import each other round a cycle, and no file grows past
//! the size where it should become a folder of rooms.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What `web/` may use of `store::` directly: the handle it passes to
/// services, the session table behind actix-session, the idempotency
/// records of the API, and the checks that turn a database outage or a
/// full disk into 503.
const WEB_STORE_PLUMBING: [&str; 5] = [
    "Db",
    "sessions",
    "idempotency",
    "is_unavailable",
    "is_disk_full",
];

/// Rooms and the rooms they must never import.
const FORBIDDEN: [(&str, &[&str]); 5] = [
    (
        "domain",
        &[
            "store", "services", "web", "jobs", "startup", "mail", "signing",
        ],
    ),
    ("store", &["services", "web", "jobs", "startup"]),
    ("services", &["web", "jobs", "startup"]),
    ("signing", &["store", "services", "web"]),
    ("mail", &["store", "services", "web"]),
];

/// The longest a file under `src/` may be.
const MAX_LINES: usize = 700;

struct Source {
    /// `web::admin::support` for `src/web/admin/support.rs`.
    module: Vec<String>,
    path: PathBuf,
    /// The text before the file's first `#[cfg(test)]`.
    code: String,
    lines: usize,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            out.push(Source {
                module,
                lines: text.lines().count(),
                path,
                code,
            });
        }
    }
    out
}

/// Every `crate::a::b` path in the code, as its segments (`{a, b::c}`
/// groups expanded one level).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (start, _) in code.match_indices("crate::") {
        let rest = &code[start + "crate::".len()..];
        let mut head = Vec::new();
        let mut chars = rest.char_indices().peekable();
        let mut segment = String::new();
        let mut group = None;
        while let Some((i, c)) = chars.next() {
            if c.is_alphanumeric() || c == '_' {
                segment.push(c);
            } else if c == ':' && chars.peek().is_some_and(|(_, n)| *n == ':') {
                chars.next();
                head.push(std::mem::take(&mut segment));
            } else if c == '{' && segment.is_empty() {
                let end = rest[i..].find('}').map_or(rest.len(), |e| i + e);
                group = Some(&rest[i + 1..end]);
                break;
            } else {
                break;
            }
        }
        if !segment.is_empty() {
            head.push(segment);
        }
        match group {
            None => paths.push(head),
            Some(items) => {
                for item in items.split(',') {
                    let mut path = head.clone();
                    path.extend(
                        item.split("::")
                            .map(|s| s.split_whitespace().next().unwrap_or("").to_owned())
                            .filter(|s| !s.is_empty() && s != "self"),
                    );
                    paths.push(path);
                }
            }
        }
    }
    paths
}

/// The module a path names at depth two (`services::licensing`), or at
/// depth one when its second segment is not a module.
fn room_of(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    let first = path.first()?;
    if let Some(second) = path.get(1) {
        let two = format!("{first}::{second}");
        if modules.contains(&two) {
            return Some(two);
        }
    }
    modules.contains(first).then(|| first.clone())
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources
        .iter()
        .flat_map(|s| (1..=s.module.len().min(2)).map(|n| s.module[..n].join("::")))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        if source
            .module
            .first()
            .is_some_and(|m| m == "lib" || m == "main")
        {
            continue;
        }
        let from = source.module[..source.module.len().min(2)].join("::");
        for path in crate_paths(&source.code) {
            let Some(to) = room_of(&path, &modules) else {
                continue;
            };
            // A module and its parent: the parent declares and re-exports.
            if to == from || from.starts_with(&format!("{to}::")) {
                continue;
            }
            edges.entry(from.clone()).or_default().insert(to);
        }
    }
    edges
}

#[test]
fn handlers_reach_the_store_only_through_its_plumbing() {
    let mut offenders = Vec::new();
    for source in sources().iter().filter(|s| s.module[0] == "web") {
        for path in crate_paths(&source.code) {
            if path.first().is_some_and(|p| p == "store")
                && !path
                    .get(1)
                    .is_some_and(|p| WEB_STORE_PLUMBING.contains(&p.as_str()))
            {
                offenders.push(format!(
                    "{}: crate::{}",
                    source.path.display(),
                    path.join("::")
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "handlers call services, not the store:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn arrows_run_one_way_and_round_no_cycle() {
    let edges = graph();
    let mut upward = Vec::new();
    for (from, targets) in &edges {
        let room = from.split("::").next().unwrap_or("");
        for (lower, forbidden) in FORBIDDEN {
            if room != lower {
                continue;
            }
            for to in targets {
                let to_room = to.split("::").next().unwrap_or("");
                if forbidden.contains(&to_room) {
                    upward.push(format!("{from} -> {to}"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the arrows:\n{}",
        upward.join("\n")
    );

    // Depth-first search for a back edge.
    fn visit<'a>(
        node: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, bool>,
        trail: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => {
                let start = trail.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle: Vec<String> = trail[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            Some(false) => return None,
            None => {}
        }
        state.insert(node, true);
        trail.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, trail) {
                return Some(cycle);
            }
        }
        trail.pop();
        state.insert(node, false);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut state, &mut Vec::new()) {
            panic!("a cycle of imports: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn actix_stays_in_web_and_start_up() {
    let mut offenders = Vec::new();
    for source in sources() {
        let room = source.module[0].as_str();
        if matches!(room, "web" | "startup" | "main") {
            continue;
        }
        // Paths, not text: a log target named in a string is not actix code.
        let uses_actix = source
            .code
            .lines()
            .map(|line| line.split('"').step_by(2).collect::<String>())
            .any(|code| code.contains("actix_"));
        if uses_actix {
            offenders.push(source.path.display().to_string());
        }
    }
    assert!(offenders.is_empty(), "actix outside web/: {offenders:?}");
}

#[test]
fn no_file_in_src_outgrows_a_room() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|s| s.lines > MAX_LINES)
        .map(|s| format!("{} ({} lines)", s.path.display(), s.lines))
        .collect();
    assert!(long.is_empty(), "split these into rooms: {long:?}");
}

#[test]
fn the_path_reader_sees_groups_and_nested_paths() {
    let paths = crate_paths(
        "use crate::store::{Db, users::UserRow};\nlet x = crate::services::outbox::page(db);",
    );
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        [
            "store::Db",
            "store::users::UserRow",
            "services::outbox::page"
        ]
    );
}
