//! `fencepost backup`: asks any node for `RAFT BACKUP` (over TLS when a CA is given),
//! checks the file it answers, writes it durably and says what it holds.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Saves a backup of a running cluster: the state at a linearizable point, with a
/// SHA-256 trailer.
#[derive(Debug, Parser)]
#[command(name = "fencepost backup")]
pub struct BackupArgs {
    /// Any member's client address (followers serve it too).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: String,
    /// ACL user to log in as (RAFT is @raft: the user needs it).
    #[arg(long)]
    pub user: Option<String>,
    /// Password (of --user, or of the default user).
    #[arg(long, env = "FENCEPOST_BACKUP_PASS")]
    pub pass: Option<String>,
    /// Speak TLS, trusting this CA (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificate (PEM), for clusters that require one.
    #[arg(long, value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,
    /// Where to write the backup.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// How long the whole exchange may take (a large state takes a while to encode).
const DEADLINE: Duration = Duration::from_secs(300);

pub fn run(args: BackupArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = std::time::Instant::now();
    let file = rt
        .block_on(async { tokio::time::timeout(DEADLINE, fetch(&args)).await })
        .map_err(|_| anyhow::anyhow!("no backup from {} within {DEADLINE:?}", args.addr))??;
    let (header, _) = super::decode(&file).context("the node answered a backup that does not check out")?;
    write_durably(&args.out, &file)?;
    println!(
        "backup: index {} term {}, {} objects, last token {}, {} bytes, written to {} in {:.2} s",
        header.log_id.index,
        term_of(&header.log_id),
        header.objects,
        header.last_token,
        file.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The term of a log id, for people.
pub fn term_of(l: &crate::raft::types::LogId) -> u64 {
    use openraft::vote::RaftLeaderId;
    l.committed_leader_id().term()
}

async fn fetch(args: &BackupArgs) -> Result<Vec<u8>> {
    let tcp = TcpStream::connect(&args.addr)
        .await
        .with_context(|| format!("connect {}", args.addr))?;
    let _ = tcp.set_nodelay(true);
    match &args.tls_ca_cert_file {
        Some(ca) => {
            let identity = args.tls_cert_file.as_deref().zip(args.tls_key_file.as_deref());
            let connector = crate::tls::client_connector(ca, identity).map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
            let name = crate::tls::server_name(&args.addr)?;
            let tls = connector.connect(name, tcp).await.context("TLS handshake")?;
            exchange(tls, args).await
        }
        None => exchange(tcp, args).await,
    }
}

fn command(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    out
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S, args: &BackupArgs) -> Result<Vec<u8>> {
    let mut s = BufReader::new(stream);
    let mut out = Vec::new();
    let auth = match (&args.user, &args.pass) {
        (Some(u), Some(p)) => Some(command(&["AUTH", u, p])),
        (None, Some(p)) => Some(command(&["AUTH", p])),
        (Some(_), None) => bail!("--user needs --pass"),
        (None, None) => None,
    };
    if let Some(a) = &auth {
        out.extend_from_slice(a);
    }
    out.extend_from_slice(&command(&["RAFT", "BACKUP"]));
    s.get_mut().write_all(&out).await?;
    s.get_mut().flush().await?;
    let mut line = String::new();
    if auth.is_some() {
        s.read_line(&mut line).await?;
        if !line.starts_with('+') {
            bail!("AUTH refused: {}", line.trim_end());
        }
        line.clear();
    }
    s.read_line(&mut line).await?;
    let line = line.trim_end();
    let Some(len) = line.strip_prefix('$') else {
        bail!("RAFT BACKUP refused: {}", line.trim_start_matches('-'));
    };
    let len: usize = len.parse().with_context(|| format!("bad reply length {len:?}"))?;
    let mut file = vec![0u8; len + 2];
    s.read_exact(&mut file)
        .await
        .context("the connection closed mid-backup")?;
    file.truncate(len);
    Ok(file)
}

/// Writes next to the target, fsyncs, renames over it and fsyncs the directory, so the
/// file is whole or absent after a crash.
fn write_durably(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
