//! Where a navigation may go: the operator's [`UrlPolicy`] on the rendered URL, the
//! addresses its host name resolves to, redirect targets, and the URL a navigation ends at.
//!
//! This is the up-front check only. Chromium resolves names itself, so a name that resolves
//! to a public address here and to a metadata address a moment later (DNS rebinding), or a
//! redirect to a *name* that resolves into a refused range, gets past it. Closing that needs
//! the egress proxy planned for later (Chromium dials only the proxy; the proxy resolves,
//! vets and dials the address). Literal addresses in redirects and final URLs are caught.

use std::net::{IpAddr, SocketAddr};

use drover_api::{UrlPolicy, url_policy::check_ip};

use super::clock::Clock;
use crate::error::StepError;

/// Vets a rendered URL before navigating: the policy, then (unless the operator allows
/// link-local addresses) every address its host name resolves to. Returns the URL as the
/// policy normalised it.
pub(crate) async fn vet_target(
    policy: &UrlPolicy,
    raw: &str,
    clock: &Clock,
) -> Result<String, StepError> {
    let url = policy.check(raw).map_err(|why| refused(raw, why))?;
    if policy.allow_link_local {
        return Ok(url.to_string());
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        // about:blank and data: never leave the browser.
        return Ok(url.to_string());
    };
    // A bracketed IPv6 or a dotted IPv4 host is literal and the policy has vetted it.
    if host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
    {
        return Ok(url.to_string());
    }
    let addrs = clock
        .bound(async {
            tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| StepError::Failed(format!("cannot resolve the host of {raw:?}: {e}")))
        })
        .await?;
    vet_addresses(host, addrs)?;
    Ok(url.to_string())
}

/// Vets a URL as written (a redirect target, or where a navigation ended), without DNS.
pub(crate) fn vet_literal(policy: &UrlPolicy, raw: &str) -> Result<(), StepError> {
    policy.check(raw).map(drop).map_err(|why| refused(raw, why))
}

fn refused(raw: &str, why: String) -> StepError {
    StepError::UrlBlocked(format!("URL {raw:?} {why}"))
}

/// Refuses a host whose resolved addresses include a refused one.
fn vet_addresses(host: &str, addrs: impl IntoIterator<Item = SocketAddr>) -> Result<(), StepError> {
    for addr in addrs {
        check_ip(addr.ip())
            .map_err(|why| StepError::UrlBlocked(format!("host {host:?} resolves to {why}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolving_to_link_local_or_metadata_are_refused() {
        let addrs = |ips: &[&str]| -> Vec<SocketAddr> {
            ips.iter()
                .map(|ip| SocketAddr::new(ip.parse().expect("test address"), 80))
                .collect()
        };
        assert!(vet_addresses("shop.test", addrs(&["93.184.216.34", "::1"])).is_ok());
        for bad in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.1.1",
        ] {
            let err = vet_addresses("rebind.test", addrs(&["10.0.0.1", bad]))
                .expect_err("a refused address among the answers");
            assert!(
                matches!(&err, StepError::UrlBlocked(m) if m.contains("rebind.test") && m.contains(bad)),
                "{bad}: {err}"
            );
        }
    }
}
