//! A RESP connection to another server, this node being the client: what MIGRATE, a
//! manual failover and a replica's handshake with its primary speak.
//!
//! Requests are encoded with [`cairn_protocol::resp::write_command`] (the workspace's one
//! request encoder) and replies parsed with [`Frame`] (its one reply parser), resumable
//! across partial reads. Connecting, every write and every wait for a reply is bounded by
//! the connection's timeout on its own, as Redis bounds each of MIGRATE's I/O calls.
//!
//! Failures are typed ([`Error`]); each caller words them as its users have always read
//! them (MIGRATE with Redis's `IOERR ...` lines, [`Error::ioerr`]; the replica link in
//! its log's words).
//! A caller that goes on reading something other than replies (a replica after PSYNC:
//! the snapshot and the stream) takes the socket and what is buffered
//! ([`Peer::into_parts`]).
//!
//! Imports nothing of this crate: protocol and tokio only.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use cairn_protocol::Frame;
use cairn_protocol::resp::frame::FrameError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A reply not complete within this many bytes is refused ([`Error::TooLong`]): the
/// replies read here are a status line or a few kilobytes (INFO replication), so more is
/// a peer speaking something else, which must not make this node buffer without end.
pub const MAX_REPLY: usize = 1 << 20;

/// How much room a read asks for.
const READ_CHUNK: usize = 16 * 1024;

/// Why a call to the other server failed.
#[derive(Debug)]
pub enum Error {
    /// Connecting took longer than the timeout.
    ConnectTimeout,
    /// Connecting failed (refused, unreachable, an unknown host).
    Connect(std::io::Error),
    /// The other side did not take the request within the timeout.
    WriteTimeout,
    /// Writing the request failed.
    Write(std::io::Error),
    /// No whole reply within the timeout.
    ReadTimeout,
    /// Reading failed.
    Read(std::io::Error),
    /// The other side closed the connection before a whole reply came.
    Closed,
    /// What came back is not RESP.
    BadReply(FrameError),
    /// More than [`MAX_REPLY`] bytes came without a whole reply.
    TooLong,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::ConnectTimeout => f.write_str("connecting timed out"),
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::WriteTimeout => f.write_str("writing timed out"),
            Error::Write(e) => write!(f, "write failed: {e}"),
            Error::ReadTimeout => f.write_str("timed out waiting for a reply"),
            Error::Read(e) => write!(f, "read failed: {e}"),
            Error::Closed => f.write_str("the connection was closed"),
            Error::BadReply(e) => write!(f, "bad reply: {e}"),
            Error::TooLong => f.write_str("reply too long"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The line Redis's MIGRATE answers for this failure (`IOERR error or timeout ...`,
    /// its words, odd as "connecting to the client" is): what MIGRATE and a manual
    /// failover's calls to another node reply.
    pub fn ioerr(&self) -> &'static str {
        match self {
            Error::ConnectTimeout | Error::Connect(_) => {
                "IOERR error or timeout connecting to the client"
            }
            Error::WriteTimeout | Error::Write(_) => {
                "IOERR error or timeout writing to target instance"
            }
            Error::ReadTimeout
            | Error::Read(_)
            | Error::Closed
            | Error::BadReply(_)
            | Error::TooLong => "IOERR error or timeout reading to target instance",
        }
    }
}

/// An open connection to another server.
pub struct Peer {
    /// The socket.
    stream: TcpStream,
    /// Bytes read and not yet parsed: the start of the next reply, or whatever follows
    /// the last one a caller read.
    buf: BytesMut,
    /// Bounds connecting, each write and each wait for a reply.
    timeout: Duration,
}

impl Peer {
    /// Connects to `host:port` within `timeout` (which then bounds every call).
    pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Peer, Error> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
            Err(_) => return Err(Error::ConnectTimeout),
            Ok(r) => r.map_err(Error::Connect)?,
        };
        let _ = stream.set_nodelay(true);
        Ok(Peer {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK),
            timeout,
        })
    }

    /// This end's address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// The other server's address.
    pub fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// Sends one command.
    pub async fn send(&mut self, args: &[&[u8]]) -> Result<(), Error> {
        let mut out = Vec::new();
        cairn_protocol::resp::write_command(&mut out, args);
        self.write(&out).await
    }

    /// Sends several commands in one write (a pipeline); their replies come back in
    /// order, one [`Peer::reply`] each.
    pub async fn send_all<C, A>(&mut self, commands: &[C]) -> Result<(), Error>
    where
        C: AsRef<[A]>,
        A: AsRef<[u8]>,
    {
        let mut out = Vec::new();
        for args in commands {
            cairn_protocol::resp::write_command(&mut out, args.as_ref());
        }
        self.write(&out).await
    }

    /// Sends one command and reads its reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Frame, Error> {
        self.send(args).await?;
        self.reply().await
    }

    /// The next reply. An error reply is a reply (`Ok(Frame::Error)`), not an `Err`.
    /// Bare line ends before it are skipped: a primary sends them to keep the link alive
    /// while it prepares a snapshot.
    pub async fn reply(&mut self) -> Result<Frame, Error> {
        loop {
            let blank = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.buf.advance(blank);
            if let Some((frame, used)) = Frame::parse(&self.buf).map_err(Error::BadReply)? {
                self.buf.advance(used);
                return Ok(frame);
            }
            if self.buf.len() > MAX_REPLY {
                return Err(Error::TooLong);
            }
            self.fill().await?;
        }
    }

    /// The socket and the bytes read past the last reply, for a caller that goes on
    /// reading something else from it.
    pub fn into_parts(self) -> (TcpStream, BytesMut) {
        (self.stream, self.buf)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match tokio::time::timeout(self.timeout, self.stream.write_all(bytes)).await {
            Err(_) => Err(Error::WriteTimeout),
            Ok(r) => r.map_err(Error::Write),
        }
    }

    async fn fill(&mut self) -> Result<(), Error> {
        self.buf.reserve(READ_CHUNK);
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(Error::ReadTimeout),
            Ok(Ok(0)) => Err(Error::Closed),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Read(e)),
        }
    }
}

/// What a reply says, for a caller that needs only its text: `Err` with the line of an
/// error reply (`-` or RESP3's `!`), `Ok` with a status, a bulk or verbatim string, or an
/// integer in decimal; `Ok` and empty for any other kind.
pub fn text(reply: Frame) -> Result<String, String> {
    match reply {
        Frame::Error(e) | Frame::BulkError(e) => Err(String::from_utf8_lossy(&e).into_owned()),
        Frame::Simple(s) | Frame::Bulk(s) | Frame::Verbatim { text: s, .. } => {
            Ok(String::from_utf8_lossy(&s).into_owned())
        }
        Frame::Integer(i) => Ok(i.to_string()),
        _ => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A listener on 127.0.0.1 and a peer connected to it, with the accepted socket.
    async fn pair(timeout: Duration) -> (Peer, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (peer, accepted) = tokio::join!(Peer::connect("127.0.0.1", port, timeout), async {
            listener.accept().await.unwrap().0
        });
        (peer.unwrap(), accepted)
    }

    /// Writes `pieces` one at a time, each after a pause, so the peer sees partial reads.
    async fn dribble(mut server: TcpStream, pieces: Vec<&'static [u8]>) -> TcpStream {
        for p in pieces {
            server.write_all(p).await.unwrap();
            server.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    #[tokio::test]
    async fn replies_come_whole_across_partial_reads() {
        let (mut peer, server) = pair(Duration::from_secs(5)).await;
        // the cuts fall inside a type byte's line, a length, a payload and its CRLF
        let writer = tokio::spawn(dribble(
            server,
            vec![
                b"+O",
                b"K\r\n:4",
                b"2\r\n$1",
                b"1\r\nhello",
                b" world\r",
                b"\n*2\r\n$1\r\na\r\n-ERR",
                b" no\r\n",
            ],
        ));
        assert_eq!(peer.reply().await.unwrap(), Frame::Simple(b"OK".to_vec()));
        assert_eq!(peer.reply().await.unwrap(), Frame::Integer(42));
        assert_eq!(
            peer.reply().await.unwrap(),
            Frame::Bulk(b"hello world".to_vec())
        );
        assert_eq!(
            peer.reply().await.unwrap(),
            Frame::Array(vec![
                Frame::Bulk(b"a".to_vec()),
                Frame::Error(b"ERR no".to_vec())
            ])
        );
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_pipeline_goes_in_one_write_and_its_replies_come_in_order() {
        let (mut peer, mut server) = pair(Duration::from_secs(5)).await;
        let commands = vec![
            vec![b"SELECT".to_vec(), b"3".to_vec()],
            vec![b"RESTORE-ASKING".to_vec(), b"k".to_vec(), b"0".to_vec()],
        ];
        peer.send_all(&commands).await.unwrap();
        let want: &[u8] =
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$14\r\nRESTORE-ASKING\r\n$1\r\nk\r\n$1\r\n0\r\n";
        let mut got = vec![0u8; want.len()];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
        server
            .write_all(b"+OK\r\n-BUSYKEY Target key name already exists.\r\n")
            .await
            .unwrap();
        assert_eq!(text(peer.reply().await.unwrap()), Ok("OK".into()));
        assert_eq!(
            text(peer.reply().await.unwrap()),
            Err("BUSYKEY Target key name already exists.".into())
        );
    }

    #[tokio::test]
    async fn keep_alive_line_ends_are_skipped_and_what_follows_is_handed_over() {
        let (mut peer, mut server) = pair(Duration::from_secs(5)).await;
        let writer = tokio::spawn(async move {
            server.write_all(b"\n\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            server
                .write_all(b"\n+FULLRESYNC 0123 7\r\n\n$EOF:mark")
                .await
                .unwrap();
            server
        });
        assert_eq!(
            peer.call(&[b"PSYNC", b"?", b"-1"]).await.unwrap(),
            Frame::Simple(b"FULLRESYNC 0123 7".to_vec())
        );
        let _server = writer.await.unwrap();
        let (_stream, rest) = peer.into_parts();
        assert_eq!(&rest[..], b"\n$EOF:mark");
    }

    #[tokio::test]
    async fn a_silent_peer_times_out_and_a_closed_one_is_closed() {
        let (mut peer, server) = pair(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        assert!(matches!(peer.reply().await, Err(Error::ReadTimeout)));
        assert!(started.elapsed() < Duration::from_secs(2));
        // half a reply, then the other side goes away
        let mut server = dribble(server, vec![b"+O"]).await;
        server.shutdown().await.unwrap();
        drop(server);
        assert!(matches!(peer.reply().await, Err(Error::Closed)));
    }

    #[tokio::test]
    async fn what_is_not_resp_or_never_ends_is_refused() {
        let (mut peer, mut server) = pair(Duration::from_secs(5)).await;
        server.write_all(b"HTTP/1.1 400\r\n").await.unwrap();
        assert!(matches!(peer.reply().await, Err(Error::BadReply(_))));

        let (mut peer, mut server) = pair(Duration::from_secs(5)).await;
        let writer = tokio::spawn(async move {
            let _ = server.write_all(b"$2000000\r\n").await;
            let _ = server.write_all(&vec![b'x'; MAX_REPLY + 1]).await;
            server
        });
        assert!(matches!(peer.reply().await, Err(Error::TooLong)));
        drop(peer);
        let _ = writer.await;
    }

    #[tokio::test]
    async fn nobody_listening_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let r = Peer::connect("127.0.0.1", port, Duration::from_secs(5)).await;
        assert!(matches!(r, Err(Error::Connect(_))));
    }

    #[test]
    fn text_is_what_migrate_and_failover_read() {
        assert_eq!(text(Frame::Integer(-3)), Ok("-3".into()));
        assert_eq!(
            text(Frame::Verbatim {
                format: *b"txt",
                text: b"role:master".to_vec()
            }),
            Ok("role:master".into())
        );
        assert_eq!(
            text(Frame::BulkError(b"ERR x".to_vec())),
            Err("ERR x".into())
        );
        assert_eq!(text(Frame::NullBulk), Ok(String::new()));
    }
}
