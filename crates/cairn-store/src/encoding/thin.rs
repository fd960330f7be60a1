//! One element of a dict behind a one-word pointer: a single allocation holding the
//! element's length (a varint) and then its bytes. A `Box<[u8]>` is two words (pointer
//! and length); in a hash table of a million elements at two-thirds load that second
//! word costs twelve bytes an element, a sixth of what a small hash field takes. The
//! varint costs one byte up to 127, which a size class usually absorbs.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::NonNull;

use cairn_protocol::varint;

pub struct Thin(NonNull<u8>);

// SAFETY: a `Thin` owns its allocation alone (like a `Box<[u8]>`), and nothing in it is
// tied to a thread.
unsafe impl Send for Thin {}
// SAFETY: shared access only reads the bytes.
unsafe impl Sync for Thin {}

impl Thin {
    /// A new element holding the concatenation of `parts`.
    pub fn new(parts: &[&[u8]]) -> Thin {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut head = [0u8; varint::MAX_LEN];
        let head_len = varint::encode(len as u64, &mut head);
        let layout = Self::layout(head_len + len);
        // SAFETY: the layout is never zero-sized (the varint takes at least a byte).
        let ptr = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            handle_alloc_error(layout)
        };
        // SAFETY: the allocation holds `head_len + len` bytes, written once each here.
        unsafe {
            std::ptr::copy_nonoverlapping(head.as_ptr(), ptr.as_ptr(), head_len);
            let mut at = head_len;
            for p in parts {
                std::ptr::copy_nonoverlapping(p.as_ptr(), ptr.as_ptr().add(at), p.len());
                at += p.len();
            }
        }
        Thin(ptr)
    }

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 1).expect("element sizes are far below isize::MAX")
    }

    /// The length and the bytes the length takes.
    fn head(&self) -> (usize, usize) {
        // SAFETY: the allocation starts with a complete varint, written by `new`; the
        // reader stops at its last byte.
        let (len, head_len) = varint::read(|i| Some(unsafe { *self.0.as_ptr().add(i) }))
            .expect("an element starts with its length");
        (len as usize, head_len)
    }

    pub fn bytes(&self) -> &[u8] {
        let (len, head_len) = self.head();
        // SAFETY: `len` bytes follow the varint, initialized by `new`, and live as long
        // as `self`.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(head_len), len) }
    }

    /// Where the element lives: stays the same for as long as the element does, wherever
    /// the `Thin` itself moves (a table growing moves the pointer, not the allocation).
    pub fn as_raw(&self) -> NonNull<u8> {
        self.0
    }

    /// The bytes of the element at `raw` (from [`Thin::as_raw`]).
    ///
    /// # Safety
    /// `raw` must come from a `Thin` that is still alive, and stays alive (unchanged) for
    /// as long as the returned slice is used.
    pub unsafe fn bytes_at<'a>(raw: NonNull<u8>) -> &'a [u8] {
        // SAFETY: the caller guarantees a live element: a varint length, then the bytes.
        unsafe {
            let (len, head_len) = varint::read(|i| Some(*raw.as_ptr().add(i)))
                .expect("an element starts with its length");
            std::slice::from_raw_parts(raw.as_ptr().add(head_len), len as usize)
        }
    }

    /// Bytes allocated (before the allocator rounds them to its size class).
    pub fn allocated(&self) -> usize {
        let (len, head_len) = self.head();
        head_len + len
    }
}

impl Drop for Thin {
    fn drop(&mut self) {
        let size = self.allocated();
        // SAFETY: allocated by `new` with this layout, and freed once.
        unsafe { dealloc(self.0.as_ptr(), Self::layout(size)) }
    }
}

impl Clone for Thin {
    fn clone(&self) -> Thin {
        Thin::new(&[self.bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_it_was_given() {
        for n in [0usize, 1, 126, 127, 128, 300, 70_000] {
            let a = vec![7u8; n];
            let t = Thin::new(&[&a[..n / 2], &a[n / 2..]]);
            assert_eq!(t.bytes(), &a[..]);
            assert_eq!(t.allocated(), varint::len(n as u64) + n);
            let c = t.clone();
            drop(t);
            assert_eq!(c.bytes(), &a[..]);
        }
        assert_eq!(std::mem::size_of::<Thin>(), 8);
        assert_eq!(std::mem::size_of::<Option<Thin>>(), 8);
    }
}
