//! The cookie steps: `get_cookies`, `set_cookies` and `export_cookies`, and the conversions
//! between Drover's cookies and CDP's.
//!
//! Scope: every call goes through the page's own CDP session, so it reads and writes the
//! cookie jar of the page's browser context; `export_cookies` uses `Network.getAllCookies`
//! for that reason (see [`GetAllCookies`]). The page_steps tests check that cookies of one
//! context stay out of another's export.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::network::{
        self, CookieParam, CookieSameSite, GetCookiesParams, SetCookiesParams, TimeSinceEpoch,
    },
};
use drover_api::model::{
    browser::{Cookie, SameSite},
    output::OutputValue,
};

use super::clock::Clock;
use crate::error::StepError;

/// Reads the cookies sent to `urls`, or to the page's current URL when `urls` is empty.
pub(crate) async fn get(
    page: &Page,
    clock: &Clock,
    urls: &[String],
) -> Result<OutputValue, StepError> {
    let params = GetCookiesParams {
        urls: (!urls.is_empty()).then(|| urls.to_vec()),
    };
    let cookies = clock.cdp(page.execute(params)).await?.result.cookies;
    Ok(OutputValue::Cookies(cookies.iter().map(from_cdp).collect()))
}

/// Sets cookies in the page's browser context. A cookie with neither `url` nor `domain`
/// belongs to the page's current URL, which must then be http(s).
pub(crate) async fn set(
    page: &Page,
    clock: &Clock,
    cookies: &[Cookie],
) -> Result<OutputValue, StepError> {
    let mut page_url: Option<String> = None;
    let mut params = Vec::with_capacity(cookies.len());
    for cookie in cookies {
        let mut param = to_cdp(cookie);
        if param.url.is_none() && param.domain.is_none() {
            if page_url.is_none() {
                page_url = clock.cdp(page.url()).await?;
            }
            match page_url.as_deref() {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    param.url = Some(url.to_owned());
                }
                other => {
                    return Err(StepError::Failed(format!(
                        "cookie {:?} has neither url nor domain, and the page ({}) has no http(s) URL to take",
                        cookie.name,
                        other.unwrap_or("no URL yet")
                    )));
                }
            }
        }
        params.push(param);
    }
    clock
        .cdp(page.execute(SetCookiesParams::new(params)))
        .await?;
    Ok(OutputValue::None)
}

/// Reads every cookie of the page's browser context.
pub(crate) async fn export(page: &Page, clock: &Clock) -> Result<OutputValue, StepError> {
    let cookies = clock
        .cdp(page.execute(GetAllCookies {}))
        .await?
        .result
        .cookies;
    Ok(OutputValue::Cookies(cookies.iter().map(from_cdp).collect()))
}

/// `Network.getAllCookies`: deprecated in the protocol (chromiumoxide_cdp 0.9.1 dropped it),
/// still served by Chromium, and, on a page session, scoped to the page's browser context.
/// `Storage.getCookies`, its replacement, accepts a context id only on the browser session,
/// and on a page session answers for the *default* context.
#[derive(Debug, serde::Serialize)]
struct GetAllCookies {}

/// Its reply.
#[derive(Debug, serde::Deserialize)]
struct AllCookies {
    cookies: Vec<network::Cookie>,
}

impl chromiumoxide::types::Method for GetAllCookies {
    fn identifier(&self) -> chromiumoxide::types::MethodId {
        "Network.getAllCookies".into()
    }
}

impl chromiumoxide::types::Command for GetAllCookies {
    type Response = AllCookies;
}

fn to_cdp(cookie: &Cookie) -> CookieParam {
    let mut param = CookieParam::new(cookie.name.clone(), cookie.value.clone());
    param.url = cookie.url.clone();
    param.domain = cookie.domain.clone();
    param.path = cookie.path.clone();
    param.secure = Some(cookie.secure);
    param.http_only = Some(cookie.http_only);
    param.same_site = cookie.same_site.map(|s| match s {
        SameSite::Strict => CookieSameSite::Strict,
        SameSite::Lax => CookieSameSite::Lax,
        SameSite::None => CookieSameSite::None,
    });
    param.expires = cookie.expires.map(|at| {
        let seconds = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        TimeSinceEpoch::new(seconds)
    });
    param
}

fn from_cdp(cookie: &network::Cookie) -> Cookie {
    Cookie {
        name: cookie.name.clone(),
        value: cookie.value.clone(),
        domain: Some(cookie.domain.clone()),
        path: Some(cookie.path.clone()),
        expires: (!cookie.session)
            .then(|| Duration::try_from_secs_f64(cookie.expires).ok())
            .flatten()
            .and_then(|since_epoch| SystemTime::UNIX_EPOCH.checked_add(since_epoch)),
        http_only: cookie.http_only,
        secure: cookie.secure,
        same_site: cookie.same_site.as_ref().map(|s| match s {
            CookieSameSite::Strict => SameSite::Strict,
            CookieSameSite::Lax => SameSite::Lax,
            CookieSameSite::None => SameSite::None,
        }),
        url: None,
    }
}
