//! Headless Chromium driven through WebDriver (`chromedriver`, Debian's `chromium-driver`), for the
//! console's browser tests: open pages, fill and submit forms as a person would, read what the page
//! shows, check it with axe-core (vendored under `tests/assets/`), and save a screenshot of each page
//! under `target/screenshots/`.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const AXE: &str = include_str!("../../assets/axe.min.js");

pub struct Browser {
    driver: Child,
    session: String,
    base: String,
    http: reqwest::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        use std::io::{Read, Write};
        // Ending the session closes its Chromium; then the driver's whole process group goes, so that
        // nothing it started outlives the test (a killed driver alone leaves Chromium running).
        if let Some(address) = self.base.strip_prefix("http://")
            && let Ok(mut stream) = std::net::TcpStream::connect(address)
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = stream.write_all(request.as_bytes());
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let group = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Start chromedriver and a headless Chromium session (both must be installed: `.ci/run` installs
    /// them when missing).
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            // Its own process group, which `drop` ends whole.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) runs");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,2200", "--lang=fr-FR"]
            }
        } } });
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("a session: {answer}")).to_owned();
        let browser = Browser { driver, session, base, http };
        // Finding an element waits for it a while: a form's answer may still be loading.
        browser.call(reqwest::Method::POST, "/timeouts", Some(json!({ "implicit": 5000 }))).await;
        browser
    }

    /// Wait until the page's address ends with `suffix` (after a click that loads a page).
    pub async fn wait_url(&self, suffix: &str) {
        self.wait_url_where(suffix, |url| url.ends_with(suffix)).await;
    }

    /// Wait until the page's address holds `part`.
    pub async fn wait_url_with(&self, part: &str) {
        self.wait_url_where(part, |url| url.contains(part)).await;
    }

    async fn wait_url_where(&self, what: &str, holds: impl Fn(&str) -> bool) {
        for _ in 0..100 {
            if holds(&self.url().await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page is {}, not with {what}", self.url().await);
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body).await.unwrap_or_else(|error| panic!("WebDriver {path}: {error}"))
    }

    /// A WebDriver command: its value, or the error it answered.
    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() {
            return Err(answer["value"].clone());
        }
        Ok(answer["value"].clone())
    }

    /// The text of the first element matching `css` once it holds `part` (after a click that loads a
    /// page, the element first found may be the old page's): waits up to 10 s.
    pub async fn wait_text(&self, css: &str, part: &str) -> String {
        let mut last = String::new();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let found = self
                .try_call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Ok(element) = found {
                let id = element
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Ok(text) =
                    self.try_call(reqwest::Method::GET, &format!("/element/{id}/text"), None).await
                {
                    last = text.as_str().unwrap_or_default().to_owned();
                    if last.contains(part) {
                        return last;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} does not hold {part:?}: {last:?}");
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    /// The page as the browser has it now.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_owned()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css })))
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("an element")
            .to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(json!({}))).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({ "text": text })))
            .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// Sign in to the console at `base` through its form.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.goto(&format!("{base}/console/connexion")).await;
        self.type_into("#email", email).await;
        self.type_into("#mot_de_passe", password).await;
        self.click("button[type=submit]").await;
        self.wait_url("/console").await;
    }

    /// Run a script in the page; what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Save the page as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    /// The violations axe-core finds on the page: (rule, impact, nodes).
    pub async fn axe(&self) -> Vec<(String, String, u64)> {
        let inject = format!("{AXE}\nreturn true;");
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": inject, "args": [] })))
            .await;
        let run = "const done = arguments[arguments.length - 1];
                   axe.run(document, { resultTypes: ['violations'] })
                      .then(r => done(r.violations.map(v => [v.id, v.impact || '', v.nodes.length])))
                      .catch(e => done([['axe-error', String(e), 0]]));";
        let found = self
            .call(reqwest::Method::POST, "/execute/async", Some(json!({ "script": run, "args": [] })))
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (v[0].as_str().unwrap().to_owned(), v[1].as_str().unwrap().to_owned(), v[2].as_u64().unwrap())
            })
            .collect()
    }

    /// Check the page with axe-core (no violation of serious or critical impact) and save its
    /// screenshot.
    pub async fn check(&self, name: &str) {
        self.screenshot(name).await;
        let serious: Vec<_> = self
            .axe()
            .await
            .into_iter()
            .filter(|(_, impact, _)| impact == "serious" || impact == "critical")
            .collect();
        assert!(serious.is_empty(), "{name}: accessibility violations {serious:?}");
    }
}
