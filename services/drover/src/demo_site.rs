//! The demo's example site: a few pages on 127.0.0.1 for the workflows in `examples/` —
//! a product table (`/products`), a contact form (`/contact`, posting to `/contact`), and a
//! sign-in (`/login` sets a session cookie, `/account` shows who is signed in). Plain tokio
//! HTTP/1.1, one request per connection, bounded requests; nothing leaves loopback.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

/// Largest request read (head and body).
const MAX_REQUEST: usize = 64 * 1024;

const PRODUCTS: &[(&str, &str, u32)] = &[
    ("Espresso grinder", "249.00", 12),
    ("Milk frother", "39.90", 0),
    ("Pour-over kettle", "64.50", 7),
    ("Bean scale", "29.00", 31),
    ("Cold-brew jar", "22.00", 4),
];

/// Serves the site on `listener` until `stop` fires.
pub async fn serve(listener: TcpListener, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        tokio::spawn(handle(stream));
    }
}

/// `drover demo-site [--listen ADDR]`: serves the site until SIGTERM or SIGINT.
pub async fn run(args: &[String]) -> std::process::ExitCode {
    let addr = match args {
        [] => crate::demo::SITE.to_owned(),
        [flag, addr] if flag == "--listen" => addr.clone(),
        _ => {
            eprintln!("drover demo-site: usage: drover demo-site [--listen ADDR]");
            return std::process::ExitCode::from(2);
        }
    };
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("drover demo-site: {addr:?} is not an address");
        return std::process::ExitCode::from(2);
    };
    let stop = CancellationToken::new();
    match start(addr, stop.clone()).await {
        Ok(bound) => println!("drover demo-site listening on {bound}"),
        Err(e) => {
            eprintln!("drover demo-site: cannot listen on {addr}: {e}");
            return std::process::ExitCode::from(2);
        }
    }
    drover_runtime::wait_for_signal().await;
    stop.cancel();
    std::process::ExitCode::SUCCESS
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn start(addr: SocketAddr, stop: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, stop));
    Ok(bound)
}

struct Request {
    method: String,
    path: String,
    cookie: String,
    body: String,
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > MAX_REQUEST {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let mut length = 0usize;
    let mut cookie = String::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "cookie" => cookie = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    let length = length.min(MAX_REQUEST);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body_end = buffer.len().min(head_end + length);
    let body = String::from_utf8_lossy(&buffer[head_end..body_end]).to_string();
    Some(Request {
        method,
        path,
        cookie,
        body,
    })
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_field(body: &str, name: &str) -> String {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
        .unwrap_or_default()
}

fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:4px 8px}}</style></head><body>{body}</body></html>"
    )
}

async fn handle(mut stream: TcpStream) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let path = request.path.split('?').next().unwrap_or("/").to_owned();
    let signed_in = request
        .cookie
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "demo_session")
        .map(|(_, v)| v.to_owned());
    let (status, headers, body) = match (request.method.as_str(), path.as_str()) {
        ("GET", "/") => (
            "200 OK",
            String::new(),
            page(
                "Drover demo shop",
                "<h1>Drover demo shop</h1><ul><li><a href=/products>Products</a></li>\
                 <li><a href=/contact>Contact</a></li><li><a href=/login>Sign in</a></li></ul>",
            ),
        ),
        ("GET", "/products") => {
            let rows: String = PRODUCTS
                .iter()
                .map(|(name, price, stock)| {
                    // Spaces between cells keep the row's text readable when extracted.
                    format!("<tr><td>{name}</td> <td>{price}</td> <td>{stock}</td></tr>")
                })
                .collect();
            (
                "200 OK",
                String::new(),
                page(
                    "Products",
                    &format!(
                        "<h1>Products</h1><table id=products><thead><tr><th>Name</th>\
                         <th>Price (EUR)</th><th>In stock</th></tr></thead><tbody>{rows}\
                         </tbody></table>"
                    ),
                ),
            )
        }
        ("GET", "/contact") => (
            "200 OK",
            String::new(),
            page(
                "Contact",
                "<h1>Contact us</h1><form method=post action=/contact>\
                 <p><label>Name <input id=name name=name></label></p>\
                 <p><label>Email <input id=email name=email type=email></label></p>\
                 <p><label>Message <textarea id=message name=message></textarea></label></p>\
                 <p><button id=send type=submit>Send</button></p></form>",
            ),
        ),
        ("POST", "/contact") => {
            let name = escape(&form_field(&request.body, "name"));
            let email = escape(&form_field(&request.body, "email"));
            (
                "200 OK",
                String::new(),
                page(
                    "Thanks",
                    &format!(
                        "<h1>Message received</h1><p id=thanks>Thanks, {name}. We will \
                         answer at {email}.</p>"
                    ),
                ),
            )
        }
        ("GET", "/login") => (
            "200 OK",
            String::new(),
            page(
                "Sign in",
                "<h1>Sign in</h1><form method=post action=/login>\
                 <p><label>User <input id=user name=user></label></p>\
                 <p><label>Password <input id=password name=password type=password></label></p>\
                 <p><button id=signin type=submit>Sign in</button></p></form>",
            ),
        ),
        ("POST", "/login") => {
            let user: String = form_field(&request.body, "user")
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(32)
                .collect();
            if user.is_empty() || form_field(&request.body, "password").is_empty() {
                (
                    "401 Unauthorized",
                    String::new(),
                    page("Sign in", "<p id=error>User and password are required.</p>"),
                )
            } else {
                (
                    "303 See Other",
                    format!(
                        "location: /account\r\nset-cookie: demo_session={user}; Path=/; HttpOnly; \
                         SameSite=Lax\r\n"
                    ),
                    String::new(),
                )
            }
        }
        ("GET", "/account") => match signed_in {
            Some(user) => (
                "200 OK",
                String::new(),
                page(
                    "Account",
                    &format!(
                        "<h1>Your account</h1><p>Signed in as <b id=who>{}</b></p>",
                        escape(&user)
                    ),
                ),
            ),
            None => (
                "200 OK",
                String::new(),
                page(
                    "Account",
                    "<h1>Your account</h1><p id=who>not signed in</p>",
                ),
            ),
        },
        _ => (
            "404 Not Found",
            String::new(),
            page("Not found", "<p>Not found</p>"),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        let body = "name=Ada+Lovelace&email=ada%40example.test&message=hi%21";
        assert_eq!(form_field(body, "name"), "Ada Lovelace");
        assert_eq!(form_field(body, "email"), "ada@example.test");
        assert_eq!(form_field(body, "message"), "hi!");
        assert_eq!(form_field(body, "absent"), "");
        assert_eq!(decode("100%"), "100%");
    }
}
