//! The web UI's static assets, embedded in the binary that links this crate (the master
//! serves them at `/` and `/assets/...`), so running a master needs no files, no Node and no
//! build step. The UI is plain JavaScript modules and CSS under `webui/assets/`; it reads the
//! master's operator API (`POST /api/v1` SUBSCRIBE) and endpoints from the browser.
#![forbid(unsafe_code)]

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path below `/assets/` (e.g. `js/main.js`); `index.html` is served at `/`.
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

impl Asset {
    /// A strong validator for `ETag`/`If-None-Match`: FNV-1a of the bytes, so a browser
    /// revalidates cheaply and never keeps a stale copy after an upgrade.
    pub fn etag(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("\"{h:016x}\"")
    }
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        /// Every embedded file.
        pub static ASSETS: &[Asset] = &[
            $(Asset {
                path: $path,
                bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
                content_type: content_type($path),
            }),*
        ];
    };
}

assets!(
    "index.html",
    "app.css",
    "favicon.svg",
    "js/main.js",
    "js/api.js",
    "js/store.js",
    "js/ui.js",
    "js/format.js",
    "js/views/dashboard.js",
    "js/views/frameworks.js",
    "js/views/agents.js",
    "js/views/roles.js",
    "js/views/sandbox.js",
    "js/views/allocation.js",
    "vendor/uPlot.iife.min.js",
    "vendor/uPlot.min.css",
    "vendor/uPlot.LICENSE",
);

/// The `Content-Type` of a file, by its extension.
pub const fn content_type(path: &str) -> &'static str {
    let b = path.as_bytes();
    if ends_with(b, b".html") {
        "text/html; charset=utf-8"
    } else if ends_with(b, b".js") {
        "text/javascript; charset=utf-8"
    } else if ends_with(b, b".css") {
        "text/css; charset=utf-8"
    } else if ends_with(b, b".svg") {
        "image/svg+xml"
    } else if ends_with(b, b".png") {
        "image/png"
    } else {
        "text/plain; charset=utf-8"
    }
}

const fn ends_with(s: &[u8], suffix: &[u8]) -> bool {
    if s.len() < suffix.len() {
        return false;
    }
    let mut i = 0;
    while i < suffix.len() {
        if s[s.len() - suffix.len() + i] != suffix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The asset at `path` (below `/assets/`), if there is one.
pub fn get(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The page served at `/`.
pub fn index() -> &'static Asset {
    // The table is a literal above; index.html is its first entry.
    &ASSETS[0]
}

#[cfg(test)]
mod tests;
