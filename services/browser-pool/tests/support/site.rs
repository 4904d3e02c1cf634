//! A tiny static HTTP/1.1 site on `127.0.0.1:0` for browser tests, written on plain tokio:
//! one request per connection (`Connection: close`), `Cache-Control: no-store` everywhere so
//! every load reaches the server, and a hit count per path so tests can see server-side
//! which requests the browser made. Dropping the [`Site`] stops it.
//!
//! Pages: `/` (table and links), `/form` (GET and POST forms), `/submit` (echoes fields),
//! `/cookies/set` (`Set-Cookie`), `/cookies/show` (Cookie header and `document.cookie`),
//! `/slow?ms=N`, `/resources` (stylesheet, font, image, third-party image), `/res/*`,
//! `/redirect?to=URL`, `/delayed` (an element that appears later), `/tall`, `/clicks`.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

/// Largest request head or body the site reads.
const MAX_REQUEST: usize = 64 * 1024;

/// A running test site.
pub struct Site {
    addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Site {
    /// Starts the site on an ephemeral loopback port.
    pub async fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test site");
        let addr = listener.local_addr().expect("test site address");
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let server = tokio::spawn(serve(listener, addr, Arc::clone(&hits)));
        Site { addr, hits, server }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The same server under the name `localhost`: another host, for third-party tests.
    pub fn other_host_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.addr.port())
    }

    /// How many requests reached `path` (without its query).
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hit counts")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, addr: SocketAddr, hits: Arc<Mutex<HashMap<String, usize>>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(answer(stream, addr, Arc::clone(&hits)));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    query: String,
    cookie: String,
    body: String,
}

async fn answer(mut stream: TcpStream, addr: SocketAddr, hits: Arc<Mutex<HashMap<String, usize>>>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    *hits
        .lock()
        .expect("hit counts")
        .entry(request.path.clone())
        .or_default() += 1;
    let response = route(&request, addr).await;
    let _ = stream.write_all(&response.into_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let mut headers = HashMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length.min(MAX_REQUEST) {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        cookie: headers.get("cookie").cloned().unwrap_or_default(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

struct Response {
    status: &'static str,
    content_type: &'static str,
    headers: Vec<String>,
    body: String,
}

impl Response {
    fn html(body: String) -> Response {
        Response {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            headers: vec![],
            body,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for header in self.headers {
            head.push_str(&header);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head><body>{body}</body></html>"
    )
}

async fn route(request: &Request, addr: SocketAddr) -> Response {
    let params = form_fields(&request.query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match request.path.as_str() {
        "/" => Response::html(page(
            "Drover test site",
            &format!(
                r#"<h1>Inventory</h1>
<table id="items"><tr><th>name</th><th>price</th></tr>
<tr class="item"><td class="name">apple</td><td class="price">3</td></tr>
<tr class="item"><td class="name">pear</td><td class="price">5</td></tr>
<tr class="item"><td class="name">plum</td><td class="price">7</td></tr></table>
<p><a id="to-form" href="http://{addr}/form">http://{addr}/form</a>
<a class="nav" href="/cookies/show" data-kind="cookies">cookies</a>
<a class="nav" href="/slow?ms=100">slow</a></p>"#
            ),
        )),
        "/form" => Response::html(page(
            "Form",
            r#"<form id="get-form" action="/submit" method="get">
<input id="name" name="name" value="prefilled"><input id="city" name="city">
<button id="send" type="submit">Send</button></form>
<form id="post-form" action="/submit" method="post">
<textarea id="note" name="note"></textarea><input id="code" name="code"></form>"#,
        )),
        "/submit" => {
            let fields = if request.method == "POST" { form_fields(&request.body) } else { params.clone() };
            let rows: String = fields
                .iter()
                .map(|(k, v)| format!(r#"<dd id="v-{}">{}</dd>"#, escape(k), escape(v)))
                .collect();
            Response::html(page("Submitted", &format!(r#"<p id="method">{}</p><dl id="echo">{rows}</dl>"#, request.method)))
        }
        "/cookies/set" => Response {
            headers: vec!["Set-Cookie: flavour=oatmeal; Path=/".into()],
            ..Response::html(page("Cookie set", "<p>set</p>"))
        },
        "/cookies/show" => Response::html(page(
            "Cookies",
            &format!(
                r#"<pre id="header">{}</pre><pre id="js"></pre>
<script>document.getElementById('js').textContent = document.cookie;</script>"#,
                escape(&request.cookie)
            ),
        )),
        "/slow" => {
            let ms: u64 = param("ms").and_then(|m| m.parse().ok()).unwrap_or(500).min(10_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Response::html(page("Slow", &format!("<p id=waited>{ms}</p>")))
        }
        "/resources" => Response::html(page(
            "Resources",
            &format!(
                r#"<link rel="stylesheet" href="/res/style.css"><p class="styled">text in a web font</p>
<img id="local" src="/res/pixel.svg" width="10" height="10">
<img id="remote" src="http://localhost:{}/res/third.svg" width="10" height="10">"#,
                addr.port()
            ),
        )),
        "/res/style.css" => Response {
            content_type: "text/css",
            ..Response::html(
                "@font-face { font-family: DroverTest; src: url(/res/font.woff2); }\n.styled { font-family: DroverTest; }".into(),
            )
        },
        "/res/font.woff2" => Response { content_type: "font/woff2", ..Response::html("not really a font".into()) },
        "/res/pixel.svg" | "/res/third.svg" => Response {
            content_type: "image/svg+xml",
            ..Response::html(r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>"#.into())
        },
        "/redirect" => Response {
            status: "302 Found",
            headers: vec![format!("Location: {}", param("to").unwrap_or_else(|| "/".into()))],
            ..Response::html(String::new())
        },
        "/delayed" => Response::html(page(
            "Delayed",
            r#"<div id="soon-hidden">going</div>
<script>setTimeout(() => {
  const late = document.createElement('p'); late.id = 'late'; late.textContent = 'arrived';
  document.body.appendChild(late);
  document.getElementById('soon-hidden').style.display = 'none';
}, 300);</script>"#,
        )),
        "/tall" => Response::html(page("Tall", r#"<div id="box" style="width:120px;height:80px;background:#08c"></div><div style="height:3000px"></div>"#)),
        "/clicks" => Response::html(page(
            "Clicks",
            r#"<button id="target" style="width:200px;height:60px">click me</button><ol id="log"></ol>
<script>const log = (e) => { const li = document.createElement('li'); li.textContent = `${e.type}:${e.button}:${e.detail}`; document.getElementById('log').appendChild(li); };
const t = document.getElementById('target');
for (const type of ['click', 'dblclick', 'auxclick', 'contextmenu']) t.addEventListener(type, (e) => { log(e); if (type === 'contextmenu') e.preventDefault(); });</script>"#,
        )),
        _ => Response { status: "404 Not Found", ..Response::html(page("Not found", "<h1>404</h1>")) },
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_fields(encoded: &str) -> Vec<(String, String)> {
    encoded
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
