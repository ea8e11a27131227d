use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else {
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel);
        }
    }
}

#[test]
fn every_file_under_assets_is_embedded_and_nothing_else() {
    let mut on_disk = BTreeSet::new();
    files_under(&assets_dir(), &assets_dir(), &mut on_disk);
    let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
    assert_eq!(on_disk, embedded);
    assert_eq!(index().path, "index.html");
}

/// Resolves `spec` (as written in an import) relative to the module at `from`.
fn resolve(from: &str, spec: &str) -> String {
    let mut parts: Vec<&str> = if let Some(abs) = spec.strip_prefix("/assets/") {
        return abs.to_string();
    } else {
        from.split('/').collect()
    };
    parts.pop();
    for seg in spec.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The quoted string after each occurrence of `marker` in `text`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let trimmed = rest.trim_start();
        let Some(q) = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            continue;
        };
        if let Some(end) = trimmed[1..].find(q) {
            out.push(&trimmed[1..1 + end]);
        }
    }
    out
}

#[test]
fn every_module_import_and_page_link_resolves_to_an_embedded_asset() {
    let mut checked = 0;
    for a in ASSETS {
        let text = std::str::from_utf8(a.bytes).unwrap_or("");
        let refs: Vec<&str> = if a.path.ends_with(".html") {
            let mut v = quoted_after(text, "src=");
            v.extend(quoted_after(text, "href="));
            v.into_iter()
                .filter(|s| s.starts_with("/assets/"))
                .collect()
        } else if a.path.starts_with("js/") {
            // Module statements only: `import ... from '...'`, `export ... from '...'`.
            text.lines()
                .map(str::trim_start)
                .filter(|l| l.starts_with("import ") || l.starts_with("export "))
                .flat_map(|l| quoted_after(l, " from"))
                .collect()
        } else {
            continue;
        };
        for r in refs {
            let target = resolve(a.path, r);
            assert!(
                get(&target).is_some(),
                "{} refers to {r} ({target}), which is not embedded",
                a.path
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} references found");
}

#[test]
fn content_types_follow_the_extension_and_etags_the_content() {
    assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
    assert_eq!(content_type("js/main.js"), "text/javascript; charset=utf-8");
    assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
    assert_eq!(
        content_type("vendor/uPlot.LICENSE"),
        "text/plain; charset=utf-8"
    );
    let a = Asset {
        path: "a.js",
        bytes: b"x",
        content_type: "",
    };
    let b = Asset {
        path: "a.js",
        bytes: b"y",
        content_type: "",
    };
    assert_ne!(a.etag(), b.etag());
    assert!(a.etag().starts_with('"') && a.etag().ends_with('"'));
    assert!(get("js/nope.js").is_none());
}
