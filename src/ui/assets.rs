//! The web interface's files, compiled into the binary (no build step, nothing fetched at run
//! time). Sources live in `src/ui/assets/`; the page loads them from `<prefix>ui/<name>`.

/// The path segment the files are served under, below the prefix.
pub const DIR: &str = "ui/";

/// One embedded file.
pub struct Asset {
    /// Its `Content-Type`.
    pub mime: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// The file called `name`, if there is one.
pub fn find(name: &str) -> Option<Asset> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, mime, body)| Asset { mime, body })
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! file {
    ($name:literal, $mime:expr) => {
        (
            $name,
            $mime,
            include_bytes!(concat!("assets/", $name)) as &'static [u8],
        )
    };
}

/// Every file: name, type, contents. The scripts are loaded in this order by `index.html`.
const FILES: &[(&str, &str, &[u8])] = &[
    file!("index.html", HTML),
    file!("app.css", CSS),
    file!("util.js", JS),
    file!("widgets.js", JS),
    file!("login.js", JS),
    file!("panels_acl.js", JS),
    file!("panels_users.js", JS),
    file!("panels_tokens.js", JS),
    file!("panels_tfa.js", JS),
    file!("panels_misc.js", JS),
    file!("panels_why.js", JS),
    file!("app.js", JS),
];
