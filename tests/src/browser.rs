//! A tiny WebDriver client for the console's browser tests: it starts Debian's `chromedriver`
//! (killed on drop) and drives headless Chromium over WebDriver's JSON-over-HTTP/1.1 protocol,
//! with nothing but a `TcpStream` and `serde_json`. Also [`http`], a plain HTTP/1.1 request for
//! the tests that must bypass the browser (e.g. a POST without a CSRF token).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where Debian's `chromium-driver` puts the driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's `chromium` puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A plain HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole response.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await?;
    stream.write_all(body).await?;
    // Some servers (chromedriver) keep the connection open despite `Connection: close`: read
    // the headers, then as many bytes as they announce.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other(
                "the connection closed before the headers ended",
            ));
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    loop {
        let done = match length {
            Some(length) => rest.len() >= length,
            None if chunked => rest.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&chunk[..n]);
    }
    if let Some(length) = length {
        rest.truncate(length);
    } else if chunked {
        rest = dechunk(&rest);
    }
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&rest).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[(end + 4 + size).min(data.len())..];
    }
}

/// Fails the test, saying how to install the browser, unless Debian's chromium and chromedriver
/// are installed.
pub fn require_chromium() {
    for path in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the console's browser tests need real headless Chromium. \
             Install it with `apt-get update && apt-get install -y chromium chromium-driver` \
             (.ci/run does this on CI)"
        );
    }
}

fn delete_session_blocking(addr: SocketAddr, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        // The answer comes once Chromium has closed.
        let mut buffer = [0u8; 1024];
        let _ = stream.read(&mut buffer);
    }
}

/// A headless Chromium driven through its own chromedriver process.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failing test gets here without `quit`: end the session first, or Chromium outlives
        // its driver. Drop cannot await, so this is a blocking request with a short timeout.
        if !self.session.is_empty() {
            delete_session_blocking(self.addr, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        require_chromium();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http(addr, "GET", "/status", &[], b"").await
                && r.status == 200
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer on port {port} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile_arg = format!("--user-data-dir={}", browser._profile.path().display());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", profile_arg],
            }
        }}});
        let value = browser.call("POST", "/session", Some(capabilities)).await;
        browser.session = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {value}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; panics with the driver's error if it fails.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("Content-Type", "application/json; charset=utf-8")]
        };
        let response = http(self.addr, method, path, headers, body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let value: Value = serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}: {}", response.body));
        assert!(
            response.status == 200,
            "WebDriver {method} {path} failed ({}): {value}",
            response.status
        );
        value["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.call("POST", &self.at("/url"), Some(json!({ "url": url })))
            .await;
    }

    /// The current page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        let value = self.call("GET", &self.at("/source"), None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The current page's HTML once it contains `text` (a click may still be loading the next
    /// page); fails the test with the page after 10 s.
    pub async fn wait_for_text(&self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {text:?} on {} within 10 s:\n{source}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The current page's address once it contains `part`; fails the test after 10 s.
    pub async fn wait_for_url(&self, part: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the browser is still at {url}, not at {part:?}, after 10 s:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The current page's address.
    pub async fn url(&self) -> String {
        let value = self.call("GET", &self.at("/url"), None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching the CSS selector `css`; panics, with the page, if none does.
    pub async fn find(&self, css: &str) -> String {
        let body = json!({"using": "css selector", "value": css}).to_string();
        let response = http(
            self.addr,
            "POST",
            &self.at("/element"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
        .expect("WebDriver answers");
        if response.status != 200 {
            panic!(
                "no element {css:?} on {}:\n{}",
                self.url().await,
                self.source().await
            );
        }
        let value: Value = serde_json::from_str(&response.body).expect("WebDriver JSON");
        value["value"][ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element reference for {css:?} in {value}"))
            .to_owned()
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &self.at(&format!("/element/{element}/click")),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the first element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &self.at(&format!("/element/{element}/value")),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Empties the first form control matching `css`, then types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &self.at(&format!("/element/{element}/clear")),
            Some(json!({})),
        )
        .await;
        self.call(
            "POST",
            &self.at(&format!("/element/{element}/value")),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The current value of the first form control matching `css`.
    pub async fn value(&self, css: &str) -> String {
        let element = self.find(css).await;
        let value = self
            .call(
                "GET",
                &self.at(&format!("/element/{element}/property/value")),
                None,
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `return` gives its value) in the page, as WebDriver does:
    /// the page's Content-Security-Policy does not apply to it.
    pub async fn execute(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.at("/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Sets the browser window's outer size in CSS pixels, e.g. 390 wide for a phone.
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.at("/window/rect"),
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Forgets cookie `name`, as when a session ends.
    pub async fn delete_cookie(&self, name: &str) {
        self.call("DELETE", &self.at(&format!("/cookie/{name}")), None)
            .await;
    }

    /// Signs in to the console at `base` and waits for the page a sign-in leads to.
    pub async fn sign_in(&self, base: &str, name: &str, password: &str) {
        self.goto(&format!("{base}/console/login")).await;
        self.type_into("input[name=name]", name).await;
        self.type_into("input[name=password]", password).await;
        self.click("button[type=submit]").await;
        self.wait_for_text("/console/logout").await;
    }

    /// The value of cookie `name` (HttpOnly cookies included).
    pub async fn cookie(&self, name: &str) -> String {
        let value = self
            .call("GET", &self.at(&format!("/cookie/{name}")), None)
            .await;
        value["value"].as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (the body of a function called with `args`) in the page and returns what it
    /// returns.
    pub async fn execute_with(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.at("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Sends a Chrome DevTools Protocol command (e.g. `Emulation.setEmulatedMedia`) through
    /// chromedriver and returns its result.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.call(
            "POST",
            &self.at("/goog/cdp/execute"),
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// Makes the page `width` CSS pixels wide, as on a phone (mobile viewport, touch).
    pub async fn phone_width(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
    }

    /// Renders pages with the media type `media` ("print" or "screen").
    pub async fn emulate_media(&self, media: &str) {
        self.cdp("Emulation.setEmulatedMedia", json!({ "media": media }))
            .await;
    }

    /// Presses and releases `key` (a WebDriver key code, e.g. `"\u{E004}"` for Tab) in the page.
    pub async fn press(&self, key: &str) {
        let keys = json!([{ "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }]);
        self.call(
            "POST",
            &self.at("/actions"),
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": keys }] })),
        )
        .await;
    }

    /// Saves a PNG screenshot of the visible page to `path`, making its folder if needed.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let value = self.call("GET", &self.at("/screenshot"), None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot folder can be made");
        }
        std::fs::write(path, png).expect("the screenshot can be written");
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = http(self.addr, "DELETE", &self.at(""), &[], b"").await;
        self.session.clear();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
