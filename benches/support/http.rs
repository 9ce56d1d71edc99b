//! Driving the release `tba serve` over HTTP: starting it in its own process, checking prepared
//! GraphQL requests, and loading it with `wrk`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Every query answers data for `field`, without error (each `(key, query)`; no key when empty).
pub async fn check(address: &str, requests: &[(String, String)], field: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for (key, query) in requests {
        let mut request = client.post(format!("http://{address}/graphql")).json(&json!({ "query": query }));
        if !key.is_empty() {
            request = request.bearer_auth(key);
        }
        let answer: Value = request.send().await?.json().await?;
        anyhow::ensure!(
            answer.get("errors").is_none() && !answer["data"][field].is_null(),
            "{query}: {answer}"
        );
    }
    Ok(())
}

/// One request wrk may send: its method, path, headers and body.
pub struct Requete {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Requete {
    /// A GraphQL query, with a bearer key (none when `key` is empty).
    pub fn graphql(key: &str, query: &str) -> Requete {
        let mut headers = vec![("Content-Type", "application/json".to_owned())];
        if !key.is_empty() {
            headers.push(("Authorization", format!("Bearer {key}")));
        }
        Requete {
            method: "POST",
            path: "/graphql".into(),
            headers,
            body: Some(json!({ "query": query }).to_string()),
        }
    }

    /// This request, with one more header.
    pub fn with(mut self, name: &'static str, value: &str) -> Requete {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// What wrk measured: requests per second and latency percentiles (ms).
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    pub per_second: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl std::fmt::Display for Charge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} requests/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
            self.per_second, self.p50, self.p90, self.p99
        )
    }
}

/// A duration as wrk prints it (`812.00us`, `12.34ms`, `1.02s`, `2.00m`), in milliseconds.
fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

/// Lua's long-bracket quoting of a string.
fn lua(text: &str) -> String {
    format!("[==[{text}]==]")
}

/// Run wrk with the `(key, query)` GraphQL requests picked at random (an empty key sends none); its
/// requests/s and latency percentiles.
pub fn wrk(
    address: &str,
    requests: &[(String, String)],
    connections: usize,
    seconds: usize,
) -> anyhow::Result<String> {
    let requests: Vec<Requete> = requests.iter().map(|(key, q)| Requete::graphql(key, q)).collect();
    Ok(charge(address, &requests, connections, seconds)?.to_string())
}

/// Run wrk with `requests` picked at random, on 2 threads, each failing answer an error.
pub fn charge(
    address: &str,
    requests: &[Requete],
    connections: usize,
    seconds: usize,
) -> anyhow::Result<Charge> {
    let entries: Vec<String> = requests
        .iter()
        .map(|r| {
            let headers: Vec<String> =
                r.headers.iter().map(|(name, value)| format!("[\"{name}\"] = {}", lua(value))).collect();
            format!(
                "{{ \"{}\", {}, {{ {} }}, {} }}",
                r.method,
                lua(&r.path),
                headers.join(", "),
                r.body.as_deref().map_or("nil".to_owned(), lua)
            )
        })
        .collect();
    let script = format!(
        "local requests = {{ {} }}\n\
         local threads = 0\n\
         function setup(thread) threads = threads + 1; thread:set(\"seed\", threads) end\n\
         function init(args) math.randomseed(seed * 7919) end\n\
         function request()\n\
           local r = requests[math.random(#requests)]\n\
           return wrk.format(r[1], r[2], r[3], r[4])\n\
         end\n",
        entries.join(",\n")
    );
    let path = std::env::temp_dir().join(format!("tba-bench-{}.lua", std::process::id()));
    std::fs::write(&path, script)?;
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&path)
        .arg(format!("http://{address}/"))
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    let line = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    };
    if let Some(failed) = line("Non-2xx or 3xx responses:") {
        anyhow::bail!("{failed} requests failed under load:\n{text}");
    }
    let figure = |prefix: &str| {
        line(prefix).and_then(|l| millis(&l)).ok_or_else(|| anyhow::anyhow!("no {prefix} in:\n{text}"))
    };
    Ok(Charge {
        per_second: line("Requests/sec:").and_then(|l| l.parse().ok()).unwrap_or_default(),
        p50: figure("50%")?,
        p90: figure("90%")?,
        p99: figure("99%")?,
    })
}

/// The release `tba serve`, in its own process.
pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    pub fn start(database_url: &str) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_tba"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("TBA_MASTER_KEY", super::MASTER_KEY)
            .env("TBA_LISTEN", &address)
            .env("TBA_RATE_LIMIT", "1000000")
            .env("TBA_ANONYMOUS_RATE_LIMIT", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Server { child, address })
    }

    pub async fn ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(response) = reqwest::get(format!("http://{}/readyz", self.address)).await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!("tba serve did not become ready")
    }

    /// Stop it (SIGTERM, then wait); dropping it does the same, so an error never leaves it running.
    pub fn stop(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// `tba serve` (the release build) on the database at `server_url`, on a free port: the child
/// process, its pid and its base URL, once it answers `/readyz`.
pub async fn serve(server_url: &str) -> anyhow::Result<(tokio::process::Child, u32, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let server = tokio::process::Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", server_url)
        .env("TBA_RATE_LIMIT", "1000000")
        .env("TBA_ANONYMOUS_RATE_LIMIT", "1000000")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().ok_or_else(|| anyhow::anyhow!("the server exited"))?;
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok((server, pid, base));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("tba serve did not become ready")
}

/// A field of `/proc/<pid>/status`, in kB.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
