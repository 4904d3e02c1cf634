//! Browser steps and per-task browser options, as the browser-pool executes them.

use std::{collections::BTreeSet, time::SystemTime};

use crate::template::Template;

/// How a task's page is isolated from other tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// A pooled page in a context shared with the tenant's other shared tasks.
    #[default]
    Shared,
    /// A fresh context that no other task ever uses.
    Isolated,
    /// A persistent context kept for the task's affinity key.
    Session,
}

/// Sub-resources a task may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// Images.
    Image,
    /// Audio and video.
    Media,
    /// Web fonts.
    Font,
    /// CSS.
    Stylesheet,
}

/// A viewport in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    /// Width, 1..=10000.
    pub width: u32,
    /// Height, 1..=10000.
    pub height: u32,
}

/// Per-task browser settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrowserOptions {
    /// Isolation level.
    pub isolation: Isolation,
    /// Sub-resources to block.
    pub block_resources: BTreeSet<ResourceKind>,
    /// Block hosts other than the first navigation's.
    pub block_third_party: bool,
    /// Viewport override.
    pub viewport: Option<Viewport>,
    /// User-Agent override.
    pub user_agent: Option<String>,
}

/// When a navigation counts as finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadState {
    /// The `load` event.
    #[default]
    Load,
    /// The `DOMContentLoaded` event.
    DomContentLoaded,
    /// No network activity for 500 ms.
    NetworkIdle,
}

/// Open a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Navigate {
    /// Checked up front when literal, again after references resolve.
    pub url: Template,
    /// When the navigation is done.
    pub wait_until: LoadState,
    /// Referer header.
    pub referer: Option<String>,
}

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MouseButton {
    /// The primary button.
    #[default]
    Left,
    /// The secondary button.
    Right,
    /// The middle button.
    Middle,
}

/// Click the first element matching a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    /// CSS selector.
    pub selector: Template,
    /// Button to click with.
    pub button: MouseButton,
    /// 1..=3.
    pub click_count: u8,
    /// Wait for the navigation the click starts.
    pub wait_for_navigation: bool,
}

/// Type text into an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeText {
    /// CSS selector.
    pub selector: Template,
    /// Text to type.
    pub text: Template,
    /// Clear the field first.
    pub clear_first: bool,
    /// Press Enter afterwards.
    pub press_enter: bool,
}

/// The state an element is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ElementState {
    /// In the DOM.
    #[default]
    Attached,
    /// Rendered and visible.
    Visible,
    /// Hidden or absent.
    Hidden,
    /// Absent.
    Detached,
}

/// What a wait-for step waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// An element reaching a state.
    Selector {
        /// CSS selector.
        selector: Template,
        /// The state to reach.
        state: ElementState,
    },
    /// The page reaching a load state.
    LoadState(LoadState),
}

/// What to read from matched elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractTarget {
    /// Text content.
    Text,
    /// Inner HTML.
    InnerHtml,
    /// Outer HTML.
    OuterHtml,
    /// One attribute's value.
    Attribute(String),
}

/// Read from the elements matching a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extract {
    /// CSS selector.
    pub selector: Template,
    /// What to read.
    pub target: ExtractTarget,
    /// Every match instead of the first.
    pub all: bool,
}

/// Evaluate JavaScript in the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluate {
    /// The expression or function body.
    pub expression: Template,
    /// Await a promise result.
    pub await_promise: bool,
}

/// A screenshot's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Lossless PNG.
    Png,
    /// JPEG at a quality of 1..=100.
    Jpeg {
        /// 1..=100.
        quality: u8,
    },
}

/// Capture the page or an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screenshot {
    /// Encoding.
    pub format: ImageFormat,
    /// The whole scrollable page.
    pub full_page: bool,
    /// Only this element.
    pub selector: Option<Template>,
}

/// Print the page to PDF.
#[derive(Debug, Clone, PartialEq)]
pub struct Pdf {
    /// Landscape orientation.
    pub landscape: bool,
    /// Print CSS backgrounds.
    pub print_background: bool,
    /// 0.1..=2.0.
    pub scale: f64,
    /// Paper width in inches.
    pub paper_width_inches: f64,
    /// Paper height in inches.
    pub paper_height_inches: f64,
}

/// A cookie's SameSite attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Strict.
    Strict,
    /// Lax.
    Lax,
    /// None.
    None,
}

/// A browser cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Domain; this or `url` is set.
    pub domain: Option<String>,
    /// Path.
    pub path: Option<String>,
    /// Expiry; none for a session cookie.
    pub expires: Option<SystemTime>,
    /// Hidden from scripts.
    pub http_only: bool,
    /// HTTPS only.
    pub secure: bool,
    /// SameSite attribute.
    pub same_site: Option<SameSite>,
    /// URL to associate the cookie with.
    pub url: Option<String>,
}
