//! An element as a compact encoding hands it out: an intset's members are numbers, written
//! out only when a reply or a comparison needs their bytes.

/// One element as a collection hands it out: bytes in place, or an integer an intset
/// holds (written out only when asked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Elem<'_> {
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Int(i) => f(itoa::Buffer::new().format(i).as_bytes()),
            Elem::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}
