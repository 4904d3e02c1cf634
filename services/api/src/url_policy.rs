//! Which URLs a task may open. The default refuses everything but `http`, `https`,
//! `about:blank` and `data:` (inline content, bounded by the URL size limit), URLs carrying
//! credentials, and link-local or cloud-metadata addresses
//! (169.254.0.0/16, fe80::/10, 169.254.169.254, fd00:ec2::254, 100.100.100.200,
//! `metadata.google.internal`, ...), written in any form the URL parser normalises.
//!
//! This is the up-front check on the literal URL. It cannot see where a *name* resolves or
//! where a redirect goes: the browser-pool vets resolved addresses at execution time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::limits::MAX_URL;

/// Host names of cloud metadata services, refused whatever they resolve to.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
    "metadata.tencentyun.com",
];

/// Addresses of cloud metadata services outside the link-local range.
const METADATA_V4: &[Ipv4Addr] = &[
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud (legacy)
];
const METADATA_V6: &[Ipv6Addr] = &[Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// The operator's rules for URLs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// Allow link-local and cloud-metadata addresses. Off by default; turning it on lets tasks
    /// read cloud credentials from the metadata service.
    pub allow_link_local: bool,
}

impl UrlPolicy {
    /// Parses and vets a URL, returning why it is refused.
    pub fn check(&self, raw: &str) -> Result<Url, String> {
        if raw.len() > MAX_URL {
            return Err(format!(
                "is {} bytes; at most {MAX_URL} are allowed",
                raw.len()
            ));
        }
        let url = Url::parse(raw).map_err(|e| format!("is not a valid absolute URL: {e}"))?;
        match url.scheme() {
            "http" | "https" => {}
            // Neither leaves the browser: nothing to vet beyond the size bound above.
            "about" if url.path() == "blank" => return Ok(url),
            "data" => return Ok(url),
            other => {
                return Err(format!(
                    "scheme {other:?} is not allowed; use http, https, data or about:blank"
                ));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials in URLs are not allowed (they would reach logs)".into());
        }
        if !self.allow_link_local {
            self.check_host(url.host())?;
        }
        Ok(url)
    }

    /// Checks the scheme of a templated URL's literal prefix, when the prefix shows one. The
    /// whole URL is checked again after its references are resolved.
    pub fn check_prefix(&self, prefix: &str) -> Result<(), String> {
        let Some((scheme, _)) = prefix.split_once(':') else {
            return Ok(());
        };
        let scheme = scheme.to_ascii_lowercase();
        if matches!(scheme.as_str(), "http" | "https" | "data") {
            Ok(())
        } else {
            Err(format!(
                "scheme {scheme:?} is not allowed; use http, https, data or about:blank"
            ))
        }
    }

    fn check_host(&self, host: Option<Host<&str>>) -> Result<(), String> {
        match host {
            None => Err("has no host".into()),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if METADATA_HOSTS.contains(&name.as_str()) {
                    Err(format!("host {name:?} is a cloud metadata service"))
                } else {
                    Ok(())
                }
            }
            Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)),
        }
    }
}

/// Refuses link-local, unspecified and metadata addresses (also as IPv4-mapped IPv6).
pub fn check_ip(ip: IpAddr) -> Result<(), String> {
    let refused = match ip {
        IpAddr::V4(v4) => v4_refused(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_refused(v4),
            None => {
                v6.is_unspecified()
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
                    || METADATA_V6.contains(&v6)
            }
        },
    };
    if refused {
        Err(format!(
            "address {ip} is link-local, unspecified or a cloud metadata service"
        ))
    } else {
        Ok(())
    }
}

fn v4_refused(ip: Ipv4Addr) -> bool {
    ip.is_link_local() || ip.is_unspecified() || METADATA_V4.contains(&ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        UrlPolicy::default()
            .check(url)
            .expect_err(&format!("{url} should be refused"))
    }

    #[test]
    fn ordinary_urls_pass() {
        for ok in [
            "https://example.com/a?b=c",
            "http://127.0.0.1:8080/",
            "http://[::1]:3000/x",
            "http://10.1.2.3/",
            "about:blank",
            "data:text/html,<h1>hi</h1>",
        ] {
            assert!(UrlPolicy::default().check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn schemes_other_than_http_are_refused() {
        assert_eq!(
            refused("file:///etc/passwd"),
            r#"scheme "file" is not allowed; use http, https, data or about:blank"#
        );
        for bad in [
            "javascript:alert(1)",
            "blob:https://a.test/b",
            "chrome://settings",
            "ftp://x/",
            "about:config",
        ] {
            assert!(refused(bad).contains("scheme"), "{bad}");
        }
    }

    #[test]
    fn metadata_and_link_local_are_refused_in_every_spelling() {
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/", // 169.254.169.254 as one decimal number
            "http://0xa9.0xfe.0xa9.0xfe/", // ... in hex
            "http://[::ffff:169.254.169.254]/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://metadata.google.internal./computeMetadata/v1/",
            "http://0.0.0.0:8080/",
        ] {
            let why = refused(bad);
            assert!(
                why.contains("metadata") || why.contains("link-local"),
                "{bad}: {why}"
            );
        }
        let permissive = UrlPolicy {
            allow_link_local: true,
        };
        assert!(permissive.check("http://169.254.169.254/").is_ok());
    }

    #[test]
    fn credentials_and_garbage_are_refused() {
        assert!(refused("https://user:secret@example.com/").contains("credentials"));
        assert!(refused("not a url").contains("valid absolute URL"));
        assert!(refused(&format!("https://e.com/{}", "a".repeat(MAX_URL))).contains("bytes"));
    }

    #[test]
    fn templated_prefixes_check_the_scheme_they_show() {
        let policy = UrlPolicy::default();
        assert!(policy.check_prefix("https://shop.test/item/").is_ok());
        assert!(policy.check_prefix("").is_ok());
        assert!(policy.check_prefix("FILE:///").is_err());
    }
}
