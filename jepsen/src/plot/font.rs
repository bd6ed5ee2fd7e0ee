//! The plot's one font, read at run time from a file that jepsen/install-deps.sh
//! installs (fonts-dejavu-core), so the build needs no freetype or fontconfig and the
//! binary embeds no font. Without any of these files the plot is drawn without text
//! rather than failing a run that took minutes.

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

/// The family the plot registers and uses. A private name on purpose: plotters falls
/// back to "sans-serif" for any text whose style was not set, and that is never
/// registered, so a text drawn by accident shows up as an error in the no-text tests.
pub const FAMILY: &str = "fpj-sans";

/// Where to look, first match wins; `$FPJ_PLOT_FONT` goes before these.
const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// Whether `FAMILY` is registered (loading it on the first call).
pub fn available() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(load)
}

fn load() -> bool {
    let from_env = std::env::var("FPJ_PLOT_FONT").ok();
    for path in from_env.iter().map(String::as_str).chain(CANDIDATES.iter().copied()) {
        let Ok(bytes) = std::fs::read(path) else { continue };
        // plotters keeps fonts for the life of the process and wants them 'static:
        // leaked once per process (OnceLock), a few hundred kB.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        if register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
            return true;
        }
    }
    false
}
