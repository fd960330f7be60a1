//! Proving membership before a bus connection carries anything: both ends show that they
//! hold the cluster secret (`cluster-secret`) without sending it, by an HMAC-SHA256 over
//! fresh nonces from both sides.
//!
//! ```text
//! client → server  hello    "CAIRNBUS" 1 | nonce_c[32] | name_c[40]
//! server → client  hello    "CAIRNBUS" 1 | has_secret[1] | nonce_s[32] | name_s[40] | mac_s[32]
//! client → server  proof    mac_c[32]
//! server → client  verdict  0 accepted | 1 refused
//!
//! mac_s = HMAC(secret, "cairn-bus server" | nonce_c | nonce_s | name_c | name_s)
//! mac_c = HMAC(secret, "cairn-bus client" | nonce_c | nonce_s | name_c | name_s)
//! ```
//!
//! Every message has a fixed size, so a stranger makes the server allocate nothing it
//! chose; the callers put a deadline on the whole exchange. Nonces from both sides make a
//! recorded exchange useless later, and the two labels keep the server's answer (which it
//! gives before the client has proven anything) from serving as the client's proof.
//! The names (node ids) are covered by both MACs: a peer is known by the name it proved.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const MAGIC: &[u8; 9] = b"CAIRNBUS\x01";
const NONCE: usize = 32;
/// A node name: 40 hex digits.
const NAME: usize = 40;
const MAC: usize = 32;

/// This node's side of every handshake: its name and the cluster secret (changed at run
/// time by `CONFIG SET cluster-secret`).
pub struct Credentials {
    name: String,
    secret: ArcSwapOption<Vec<u8>>,
}

impl Credentials {
    pub fn new(name: String, secret: Option<Vec<u8>>) -> Credentials {
        Credentials {
            name,
            secret: ArcSwapOption::new(secret.map(Arc::new)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn set_secret(&self, secret: Option<Vec<u8>>) {
        self.secret.store(secret.map(Arc::new));
    }

    pub fn has_secret(&self) -> bool {
        self.secret.load().is_some()
    }
}

/// Why a handshake did not end with a proven peer.
#[derive(Debug)]
pub enum Refusal {
    /// This node has no cluster secret: it talks to no one.
    NoSecretHere,
    /// The other node has none.
    NoSecretThere,
    /// The other side's proof does not match this node's secret.
    WrongSecret,
    /// Not a Cairn bus hello (another protocol, another version, a bad name).
    NotABusHello,
    Io(std::io::Error),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoSecretHere => write!(
                f,
                "this node has no cluster-secret (set the same one on every node: CONFIG SET cluster-secret, or `cairn cluster create` installs one)"
            ),
            Refusal::NoSecretThere => write!(
                f,
                "the other node has no cluster-secret (set the same one on every node)"
            ),
            Refusal::WrongSecret => write!(
                f,
                "the cluster secrets differ (every node of a cluster needs the same cluster-secret)"
            ),
            Refusal::NotABusHello => write!(f, "not a Cairn cluster bus handshake"),
            Refusal::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Refusal {
        Refusal::Io(e)
    }
}

impl From<Refusal> for std::io::Error {
    fn from(r: Refusal) -> std::io::Error {
        match r {
            Refusal::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::PermissionDenied, other.to_string()),
        }
    }
}

fn nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    getrandom::fill(&mut n).expect("the operating system's random source");
    n
}

fn mac(secret: &[u8], label: &[u8], parts: [&[u8]; 4]) -> [u8; MAC] {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(label);
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn verify(secret: &[u8], label: &[u8], parts: [&[u8]; 4], claimed: &[u8]) -> bool {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(label);
    for p in parts {
        m.update(p);
    }
    // Constant time.
    m.verify_slice(claimed).is_ok()
}

fn valid_name(name: &[u8]) -> Option<String> {
    (name.len() == NAME && name.iter().all(u8::is_ascii_hexdigit))
        .then(|| String::from_utf8_lossy(name).into_owned())
}

const SERVER: &[u8] = b"cairn-bus server";
const CLIENT: &[u8] = b"cairn-bus client";

/// The connecting side: proves itself and checks the server. Returns the server's name.
pub async fn offer<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Credentials,
) -> Result<String, Refusal> {
    let Some(secret) = me.secret.load_full() else {
        return Err(Refusal::NoSecretHere);
    };
    let nonce_c = nonce();
    let mut hello = Vec::with_capacity(MAGIC.len() + NONCE + NAME);
    hello.extend_from_slice(MAGIC);
    hello.extend_from_slice(&nonce_c);
    hello.extend_from_slice(me.name.as_bytes());
    s.write_all(&hello).await?;
    let mut reply = [0u8; MAGIC.len() + 1 + NONCE + NAME + MAC];
    s.read_exact(&mut reply).await?;
    let (magic, rest) = reply.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(Refusal::NotABusHello);
    }
    let (has_secret, rest) = rest.split_at(1);
    let (nonce_s, rest) = rest.split_at(NONCE);
    let (name_s, mac_s) = rest.split_at(NAME);
    if has_secret[0] != 1 {
        return Err(Refusal::NoSecretThere);
    }
    let name = valid_name(name_s).ok_or(Refusal::NotABusHello)?;
    let parts = [&nonce_c[..], nonce_s, me.name.as_bytes(), name_s];
    if !verify(&secret, SERVER, parts, mac_s) {
        return Err(Refusal::WrongSecret);
    }
    s.write_all(&mac(&secret, CLIENT, parts)).await?;
    let mut verdict = [0u8; 1];
    s.read_exact(&mut verdict).await?;
    match verdict[0] {
        0 => Ok(name),
        _ => Err(Refusal::WrongSecret),
    }
}

/// The accepting side: checks the client's proof. Returns the client's name.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Credentials,
) -> Result<String, Refusal> {
    let mut hello = [0u8; MAGIC.len() + NONCE + NAME];
    s.read_exact(&mut hello).await?;
    let (magic, rest) = hello.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(Refusal::NotABusHello);
    }
    let (nonce_c, name_c) = rest.split_at(NONCE);
    let name = valid_name(name_c).ok_or(Refusal::NotABusHello)?;
    let secret = me.secret.load_full();
    let nonce_s = nonce();
    let parts = [nonce_c, &nonce_s[..], name_c, me.name.as_bytes()];
    let mut reply = Vec::with_capacity(MAGIC.len() + 1 + NONCE + NAME + MAC);
    reply.extend_from_slice(MAGIC);
    reply.push(u8::from(secret.is_some()));
    reply.extend_from_slice(&nonce_s);
    reply.extend_from_slice(me.name.as_bytes());
    match &secret {
        Some(k) => reply.extend_from_slice(&mac(k, SERVER, parts)),
        None => reply.extend_from_slice(&[0u8; MAC]),
    }
    s.write_all(&reply).await?;
    let Some(secret) = secret else {
        return Err(Refusal::NoSecretHere);
    };
    let mut proof = [0u8; MAC];
    s.read_exact(&mut proof).await?;
    if verify(&secret, CLIENT, parts, &proof) {
        s.write_all(&[0]).await?;
        Ok(name)
    } else {
        let _ = s.write_all(&[1]).await;
        Err(Refusal::WrongSecret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(name: char, secret: Option<&str>) -> Credentials {
        Credentials::new(
            std::iter::repeat_n(name, NAME).collect(),
            secret.map(|s| s.as_bytes().to_vec()),
        )
    }

    async fn pair(
        client: &Credentials,
        server: &Credentials,
    ) -> (Result<String, Refusal>, Result<String, Refusal>) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::join!(
            async {
                let r = offer(&mut a, client).await;
                drop(a);
                r
            },
            async {
                let r = accept(&mut b, server).await;
                drop(b);
                r
            }
        )
    }

    #[tokio::test]
    async fn the_same_secret_proves_both_sides_and_names_them() {
        let (c, s) = pair(
            &creds('a', Some("a secret of some length")),
            &creds('b', Some("a secret of some length")),
        )
        .await;
        assert_eq!(c.unwrap(), "b".repeat(40));
        assert_eq!(s.unwrap(), "a".repeat(40));
    }

    #[tokio::test]
    async fn a_different_secret_is_refused_on_both_sides() {
        let (c, s) = pair(
            &creds('a', Some("one secret......")),
            &creds('b', Some("another secret..")),
        )
        .await;
        assert!(matches!(c, Err(Refusal::WrongSecret)), "{c:?}");
        // The client stops before sending a proof: the server sees the connection end.
        assert!(s.is_err());
    }

    #[tokio::test]
    async fn a_node_without_a_secret_talks_to_no_one() {
        let (c, s) = pair(&creds('a', Some("a secret........")), &creds('b', None)).await;
        assert!(matches!(c, Err(Refusal::NoSecretThere)), "{c:?}");
        assert!(matches!(s, Err(Refusal::NoSecretHere)), "{s:?}");
        let (c, _) = pair(&creds('a', None), &creds('b', Some("a secret........"))).await;
        assert!(matches!(c, Err(Refusal::NoSecretHere)), "{c:?}");
    }

    #[tokio::test]
    async fn a_forged_proof_is_refused() {
        let server = creds('b', Some("the real secret."));
        let (mut a, mut b) = tokio::io::duplex(1024);
        let client = async {
            let mut hello = Vec::new();
            hello.extend_from_slice(MAGIC);
            hello.extend_from_slice(&[7u8; NONCE]);
            hello.extend_from_slice("c".repeat(NAME).as_bytes());
            a.write_all(&hello).await.unwrap();
            let mut reply = [0u8; MAGIC.len() + 1 + NONCE + NAME + MAC];
            a.read_exact(&mut reply).await.unwrap();
            // Replays the server's own MAC as its proof.
            a.write_all(&reply[reply.len() - MAC..]).await.unwrap();
            let mut verdict = [0u8; 1];
            a.read_exact(&mut verdict).await.unwrap();
            verdict[0]
        };
        let (verdict, s) = tokio::join!(client, accept(&mut b, &server));
        assert_eq!(verdict, 1);
        assert!(matches!(s, Err(Refusal::WrongSecret)), "{s:?}");
    }

    #[tokio::test]
    async fn anything_else_is_not_a_hello() {
        let server = creds('b', Some("the real secret."));
        let (mut a, mut b) = tokio::io::duplex(4096);
        // The old wire format: a length and a JSON request.
        let body = br#"{"Propose":{"UnassignSlots":{"node":1}}}"#;
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(body);
        frame.resize(200, b' ');
        a.write_all(&frame).await.unwrap();
        let r = accept(&mut b, &server).await;
        assert!(matches!(r, Err(Refusal::NotABusHello)), "{r:?}");
    }
}
