//! Lists in a payload. Redis 7.0 writes every list as a quicklist of listpacks
//! (`LIST_QUICKLIST_2`): the node count, then per node its container (`PACKED`, a listpack
//! of elements, or `PLAIN`, one element as it is, for an element of a gigabyte or more)
//! and its blob as an RDB string. Cairn writes the same, ending a node where Redis's
//! default `list-max-listpack-size -2` would (8 KB, estimated as `quicklist.c` estimates
//! it), whatever nodes Cairn holds the list in: Redis keeps the nodes it loads as they
//! come, so a list Cairn sends it is laid out as one Redis built itself.
//!
//! Every form Redis has written is read: `LIST` (a count and its elements as RDB strings,
//! before 3.2), `LIST_ZIPLIST` (one ziplist blob, before 3.2), `LIST_QUICKLIST` (a count
//! of ziplist blobs, 3.2 to 6.2) and `LIST_QUICKLIST_2`. A node blob may be LZF-compressed
//! as any RDB string may (redis-server compresses those LZF shrinks).
//!
//! Refused as Redis refuses them: an empty list (no elements, or no nodes; an empty node
//! in a quicklist is skipped as Redis skips it), an empty node blob, a container that is
//! neither `PLAIN` nor `PACKED`, and a node blob that is no valid listpack (ziplist for
//! `LIST_QUICKLIST`), checked as Redis's deep integrity check checks it.

use super::error::{DumpError, Result};
use super::input::{Input, capacity_for};
use super::{length, listpack, string, types, ziplist};

/// Redis's quicklist node containers (`QUICKLIST_NODE_CONTAINER_*`).
const PLAIN: u64 = 1;
const PACKED: u64 = 2;

/// The most bytes a node's listpack grows to under Redis's default
/// `list-max-listpack-size -2`.
const NODE_BYTES: usize = 8192;
/// What `quicklist.c` adds to an element's length to estimate the bytes it takes in a
/// listpack (`SIZE_ESTIMATE_OVERHEAD`), deciding whether it still fits the node.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Elements this long go in a `PLAIN` node of their own (Redis's default
/// `packed_threshold`, 1 GB): a listpack's header counts its bytes in 32 bits.
const PLAIN_THRESHOLD: usize = 1 << 30;

/// Reads the body of a list of object type `kind` (one of `LIST`, `LIST_ZIPLIST`,
/// `LIST_QUICKLIST`, `LIST_QUICKLIST_2`): its elements in order.
pub fn read(kind: u8, input: &mut Input<'_>) -> Result<Vec<Vec<u8>>> {
    let elements = match kind {
        types::LIST => {
            let n = length::read_len(input)?;
            let mut elements = Vec::with_capacity(capacity_for(n, input));
            for _ in 0..n {
                elements.push(string::read(input)?);
            }
            elements
        }
        types::LIST_ZIPLIST => ziplist::parse(&string::read(input)?)?,
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            // Each node takes at least a byte of input, so a lying count runs out of
            // input, not of memory: nothing is reserved for it.
            let nodes = length::read_len(input)?;
            let mut elements = Vec::new();
            for _ in 0..nodes {
                let container = if kind == types::LIST_QUICKLIST_2 {
                    length::read_len(input)?
                } else {
                    PACKED
                };
                if container != PLAIN && container != PACKED {
                    return Err(DumpError::BadFormat);
                }
                let blob = string::read(input)?;
                if blob.is_empty() {
                    return Err(DumpError::BadFormat);
                }
                if container == PLAIN {
                    elements.push(blob);
                } else if kind == types::LIST_QUICKLIST_2 {
                    elements.extend(listpack::parse(&blob)?);
                } else {
                    elements.extend(ziplist::parse(&blob)?);
                }
            }
            elements
        }
        _ => return Err(DumpError::BadFormat),
    };
    // Redis refuses an empty list ("empty keys skipped"); empty nodes alone make one.
    if elements.is_empty() {
        return Err(DumpError::BadFormat);
    }
    Ok(elements)
}

/// Writes the object type and body of the list holding `elements` in order (at least
/// one: Redis refuses an empty list), as `LIST_QUICKLIST_2` with the nodes Redis 7.0
/// would cut it in under its defaults.
pub fn write<I, B>(out: &mut Vec<u8>, elements: I)
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    out.push(types::LIST_QUICKLIST_2);
    // The node count is known at the end: one byte holds it while there are fewer than
    // 64 nodes (half a megabyte), and the rare wider count is spliced in at the end.
    let count_at = out.len();
    out.push(0);
    let mut nodes = 0u64;
    let mut node = listpack::Builder::new();
    for e in elements {
        let e = e.as_ref();
        let fits = node.count() > 0
            && e.len() < PLAIN_THRESHOLD
            && node.bytes() + e.len() + SIZE_ESTIMATE_OVERHEAD <= NODE_BYTES;
        if !fits && node.count() > 0 {
            write_packed(out, std::mem::take(&mut node));
            nodes += 1;
        }
        if e.len() >= PLAIN_THRESHOLD {
            length::write(out, PLAIN);
            string::write_blob(out, e);
            nodes += 1;
        } else {
            node.push(e);
        }
    }
    if node.count() > 0 {
        write_packed(out, node);
        nodes += 1;
    }
    let mut count = Vec::with_capacity(9);
    length::write(&mut count, nodes);
    out.splice(count_at..count_at + 1, count);
}

/// Writes one `PACKED` node.
fn write_packed(out: &mut Vec<u8>, node: listpack::Builder) {
    length::write(out, PACKED);
    string::write_blob(out, &node.finish());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// Reads a whole body (type byte first), refusing bytes left over.
    fn read_body(body: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut input = Input::new(body);
        let kind = input.u8()?;
        let elements = read(kind, &mut input)?;
        input.finish()?;
        Ok(elements)
    }

    fn written<B: AsRef<[u8]>>(elements: &[B]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, elements);
        out
    }

    /// The nodes of a `LIST_QUICKLIST_2` body: container and blob (decompressed).
    fn nodes(body: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut input = Input::new(body);
        assert_eq!(input.u8().unwrap(), types::LIST_QUICKLIST_2);
        let n = length::read_len(&mut input).unwrap();
        let nodes = (0..n)
            .map(|_| {
                let container = length::read_len(&mut input).unwrap();
                (container, string::read(&mut input).unwrap())
            })
            .collect();
        input.finish().unwrap();
        nodes
    }

    /// The body of a payload (footer dropped, not checked: `payload.rs` tests footers).
    fn body(payload: &[u8]) -> &[u8] {
        &payload[..payload.len() - super::super::FOOTER_LEN]
    }

    /// `RPUSH l a b c 1 -300 100000`, DUMP l (redis-server 7.0.15).
    const REDIS_SMALL: &str =
        "1201021a1a00000006008161028162028163020101ded402f2a0860104ff0a00374d3fc15f4da8f9";

    /// The elements of `testdata/redis-7.0-list-1000.hex`: integers of every listpack
    /// width, short and long strings, "" and "007"-like non-integers, and a 10 KB
    /// element at index 500 (redis-server 7.0.15 pushed them with RPUSH, 100 at a time,
    /// and answered DUMP with that payload: seven nodes, LZF-compressed).
    fn redis_fixture_elements() -> Vec<Vec<u8>> {
        (0..1000i64)
            .map(|i| {
                if i == 500 {
                    (0..10240).map(|k| (k % 251) as u8).collect()
                } else if i % 4 == 0 {
                    let v = [i, i * 1000, -(i * 100_000), i * 1_000_000_000_000, -i];
                    v[(i % 5) as usize].to_string().into_bytes()
                } else if i % 4 == 1 {
                    format!("item:{i}").into_bytes()
                } else if i % 4 == 2 {
                    vec![b'x'; (i % 300) as usize]
                } else if i < 100 {
                    format!("{i:03}").into_bytes()
                } else {
                    format!("0{i}").into_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn a_small_list_redis_wrote_reads_and_writes_the_same_bytes() {
        let payload = hex(REDIS_SMALL);
        let want = strs(&["a", "b", "c", "1", "-300", "100000"]);
        assert_eq!(read_body(body(&payload)), Ok(want.clone()));
        assert_eq!(written(&want), body(&payload));
    }

    #[test]
    fn a_big_list_redis_wrote_reads_and_is_cut_in_redis_s_nodes() {
        let payload = hex(include_str!("testdata/redis-7.0-list-1000.hex"));
        let want = redis_fixture_elements();
        assert_eq!(read_body(body(&payload)).unwrap(), want);
        // Redis compressed its nodes; decompressed, they are the listpacks Cairn writes,
        // byte for byte, cut at the same elements.
        let redis_nodes = nodes(body(&payload));
        let counts: Vec<usize> = redis_nodes
            .iter()
            .map(|(_, lp)| listpack::parse(lp).unwrap().len())
            .collect();
        assert_eq!(counts, [234, 204, 62, 1, 181, 168, 150]);
        assert_eq!(nodes(&written(&want)), redis_nodes);
    }

    #[test]
    fn plain_nodes_redis_wrote() {
        // DEBUG QUICKLIST-PACKED-THRESHOLD 100, then RPUSH p a <"P" × 150> b: the long
        // element in a PLAIN node of its own, LZF-compressed.
        let payload = hex(
            "1203020a0a0000000100816102ff01c3094096015050e08900015050020a0a0000000100816202ff\
             0a006836771b7aa52d8a",
        );
        let want = vec![b"a".to_vec(), vec![b'P'; 150], b"b".to_vec()];
        assert_eq!(read_body(body(&payload)), Ok(want));
        // RPUSH p2 <bytes 0..120>: one PLAIN node, stored as it is
        let mut body2 = vec![types::LIST_QUICKLIST_2, 1, 1, 0x40, 0x78];
        body2.extend(0..120u8);
        assert_eq!(read_body(&body2), Ok(vec![(0..120u8).collect()]));
    }

    #[test]
    fn older_forms() {
        let want = strs(&["a", "hello", "300", "", "-5", "007"]);
        // LIST: a count and RDB strings, integers among them
        let mut body = vec![types::LIST, 6];
        for e in &want {
            string::write(&mut body, e);
        }
        assert_eq!(read_body(&body), Ok(want.clone()));
        // LIST_ZIPLIST: one ziplist
        let mut body = vec![types::LIST_ZIPLIST];
        string::write_blob(&mut body, &ziplist::build(&want));
        assert_eq!(read_body(&body), Ok(want.clone()));
        // LIST_QUICKLIST: ziplist nodes, one of them empty (skipped, as Redis skips it)
        let mut body = vec![types::LIST_QUICKLIST, 3];
        string::write_blob(&mut body, &ziplist::build(&want[..2]));
        string::write_blob(&mut body, &ziplist::build::<&[u8]>(&[]));
        string::write_blob(&mut body, &ziplist::build(&want[2..]));
        assert_eq!(read_body(&body), Ok(want.clone()));
        // The same with a node LZF-compressed (literal runs only: still valid LZF)
        let zl = ziplist::build(&want[2..]);
        let mut body = vec![types::LIST_QUICKLIST, 2];
        string::write_blob(&mut body, &ziplist::build(&want[..2]));
        let mut lzf = Vec::new();
        for run in zl.chunks(32) {
            lzf.push(run.len() as u8 - 1);
            lzf.extend_from_slice(run);
        }
        body.push(0xc3);
        length::write(&mut body, lzf.len() as u64);
        length::write(&mut body, zl.len() as u64);
        body.extend_from_slice(&lzf);
        assert_eq!(read_body(&body), Ok(want.clone()));
        // The quicklist of Redis's test "corrupt payload: quicklist big ziplist prev len"
        // with its second prevlen made right: "a\0", "b\0" (see `payload.rs` for the
        // corrupt ones)
        let body = hex("0e0113130000000e00000002000002610004026200ff");
        assert_eq!(read_body(&body), Ok(strs(&["a\0", "b\0"])));
    }

    #[test]
    fn refusals() {
        let lp = listpack::build([&b"a"[..]]);
        let mut packed = vec![2];
        string::write_blob(&mut packed, &lp);
        let empty_lp = listpack::build(Vec::<&[u8]>::new());
        let mut empty_node = vec![2];
        string::write_blob(&mut empty_node, &empty_lp);
        let cat = |parts: &[&[u8]]| parts.concat();
        // a 64-bit length of 2^64 - 1
        let huge: &[u8] = &[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let bad: Vec<Vec<u8>> = vec![
            // empty; a count that lies, small or huge
            vec![types::LIST, 0],
            vec![types::LIST, 2, 1, b'a'],
            cat(&[&[types::LIST], huge, &[1, b'a']]),
            // no nodes; only an empty node; a node missing; a node count that lies
            vec![types::LIST_QUICKLIST_2, 0],
            cat(&[&[types::LIST_QUICKLIST_2, 1], &empty_node]),
            cat(&[&[types::LIST_QUICKLIST_2, 2], &packed]),
            cat(&[&[types::LIST_QUICKLIST_2], huge, &[2, 1, b'a']]),
            // no such container
            cat(&[&[types::LIST_QUICKLIST_2, 1, 3], &packed[1..]]),
            cat(&[&[types::LIST_QUICKLIST_2, 1, 0], &packed[1..]]),
            // an empty PLAIN blob, an empty PACKED blob, a blob that is no listpack
            vec![types::LIST_QUICKLIST_2, 1, 1, 0],
            vec![types::LIST_QUICKLIST_2, 1, 2, 0],
            vec![types::LIST_QUICKLIST_2, 1, 2, 3, 1, 2, 3],
            // ziplist forms: an empty blob, a listpack where a ziplist must be
            vec![types::LIST_QUICKLIST, 1, 0],
            cat(&[&[types::LIST_QUICKLIST, 1], &packed[1..]]),
            vec![types::LIST_ZIPLIST, 0],
        ];
        for body in &bad {
            assert_eq!(read_body(body), Err(DumpError::BadFormat), "{body:02x?}");
        }
        let mut empty_zl = vec![types::LIST_ZIPLIST];
        string::write_blob(&mut empty_zl, &ziplist::build::<&[u8]>(&[]));
        assert_eq!(read_body(&empty_zl), Err(DumpError::BadFormat));
        // packed data after a PLAIN node is fine, trailing bytes are not
        let good = cat(&[&[types::LIST_QUICKLIST_2, 2, 1, 1, b'z'], &packed]);
        assert_eq!(read_body(&good), Ok(strs(&["z", "a"])));
        assert_eq!(read_body(&cat(&[&good, &[0]])), Err(DumpError::BadFormat));
    }

    #[test]
    fn node_cuts() {
        // A node ends where the next element would take it past 8 KB (estimated as
        // listpack bytes + length + 8): 100-byte strings take 103 bytes each, and
        // 7 + 78 × 103 + 100 + 8 = 8149 fits where one more (8252) would not. Redis
        // 7.0.15 cuts 80 of them as [79, 1] too.
        let e = vec![b'q'; 100];
        let nodes_of = |n: usize| nodes(&written(&vec![e.clone(); n]));
        assert_eq!(nodes_of(79).len(), 1);
        assert_eq!(nodes_of(80).len(), 2);
        assert_eq!(listpack::parse(&nodes_of(80)[0].1).unwrap().len(), 79);
        // a long element ends the node before it and fills one of its own
        let big = [b"a".to_vec(), vec![b'b'; 9000], b"c".to_vec()];
        let n = nodes(&written(&big));
        assert_eq!(n.len(), 3);
        assert!(n.iter().all(|(c, _)| *c == PACKED));
        // more than 63 nodes: the count takes two bytes (Redis's payload starts the same)
        let many = vec![vec![b'm'; 5000]; 70];
        let body = written(&many);
        assert_eq!(&body[..3], &[types::LIST_QUICKLIST_2, 0x40, 70]);
        assert_eq!(read_body(&body), Ok(many));
    }
}
