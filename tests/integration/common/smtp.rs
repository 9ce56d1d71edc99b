//! A small SMTP server for tests: it accepts every message on 127.0.0.1 and keeps what it received
//! (recipients and data), as a real relay would have been handed it.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A message as the server received it.
#[derive(Debug, Clone)]
pub struct Recu {
    pub destinataires: Vec<String>,
    pub donnees: String,
}

pub struct SmtpServer {
    pub url: String,
    pub recus: Arc<Mutex<Vec<Recu>>>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("smtp://{}", listener.local_addr().expect("address"));
        let recus = Arc::new(Mutex::new(Vec::new()));
        let kept = recus.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, kept.clone()));
            }
        });
        SmtpServer { url, recus }
    }

    pub fn recus(&self) -> Vec<Recu> {
        self.recus.lock().expect("lock").clone()
    }
}

async fn session(socket: tokio::net::TcpStream, recus: Arc<Mutex<Vec<Recu>>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test ESMTP\r\n").await?;
    let mut destinataires = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 test\r\n",
            "MAIL" => {
                destinataires.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let address = line.split_once(':').map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned());
                destinataires.extend(address);
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await?;
                let mut donnees = String::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    donnees.push_str(&line);
                    donnees.push('\n');
                }
                let destinataires = std::mem::take(&mut destinataires);
                recus.lock().expect("lock").push(Recu { destinataires, donnees });
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(answer).await?;
    }
    Ok(())
}
