//! A cursor over bytes from a stranger. Every read checks the bytes are there first and
//! answers [`DumpError::BadFormat`] when they are not, so the decoders above it never
//! index past the end, and a length is compared with what is left before anything is
//! allocated for it.

use super::error::{DumpError, Result};

/// The unread rest of a payload body or of a blob inside it.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// What has not been read yet.
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8]) -> Input<'a> {
        Input { rest: bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next byte.
    pub fn u8(&mut self) -> Result<u8> {
        let (&b, rest) = self.rest.split_first().ok_or(DumpError::BadFormat)?;
        self.rest = rest;
        Ok(b)
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Result<u8> {
        self.rest.first().copied().ok_or(DumpError::BadFormat)
    }

    /// The next `n` bytes; `n` is whatever a length field claimed, checked here against
    /// what is present.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(DumpError::BadFormat);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// The next `N` bytes as an array (fixed-width integers).
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let head = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(head);
        Ok(a)
    }

    /// Refuses what is left over: a body or blob must be read exactly to its end.
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DumpError::BadFormat)
        }
    }
}

/// Room for at most `claimed` items, each taking at least one byte of `input`: a count
/// read from the payload never reserves more than the payload could hold.
pub fn capacity_for(claimed: u64, input: &Input<'_>) -> usize {
    usize::try_from(claimed)
        .unwrap_or(usize::MAX)
        .min(input.remaining())
}
