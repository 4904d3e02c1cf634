//! The bench's local page: one small HTML document holding a table of [`ROWS`] rows, served
//! over HTTP/1.1 on `127.0.0.1:0` by plain tokio. One request per connection
//! (`Connection: close`) and `Cache-Control: no-store`, so every task really fetches the page
//! from the server; any other path (the favicon) gets an empty 404. Dropping the [`Site`]
//! stops it.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

/// Data rows in the page's table (it has one header row more).
pub const ROWS: usize = 20;

/// Where the table lives.
const PATH: &str = "/table";

/// Largest request head the site reads.
const MAX_HEAD: usize = 16 * 1024;

/// The running site.
pub struct Site {
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Site {
    /// Starts serving on an ephemeral loopback port.
    pub async fn start() -> std::io::Result<Site> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(serve(listener, Arc::from(table_page())));
        Ok(Site { addr, server })
    }

    /// The table page's URL.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, page: Arc<str>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(answer(stream, Arc::clone(&page)));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(mut stream: TcpStream, page: Arc<str>) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let target = head
        .split(|b| *b == b' ')
        .nth(1)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default();
    let (status, body) = if target == PATH {
        ("200 OK", &*page)
    } else {
        ("404 Not Found", "")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A plain page: a heading and a table with a header row and [`ROWS`] data rows.
fn table_page() -> String {
    let rows: String = (1..=ROWS)
        .map(|i| {
            format!(
                "<tr><td>item {i}</td><td>{}.{:02}</td><td>{}</td></tr>",
                i * 3,
                (i * 17) % 100,
                (i * 7) % 13
            )
        })
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Inventory</title></head><body>\
         <h1>Inventory</h1><table id=\"items\"><tr><th>name</th><th>price</th><th>stock</th></tr>\
         {rows}</table></body></html>"
    )
}
