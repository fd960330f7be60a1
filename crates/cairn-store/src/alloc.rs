//! What the allocator hands out: memory accounting rounds every allocation it counts to
//! jemalloc's size classes, so `used_memory` tracks what the allocator holds.

/// The size jemalloc actually hands out for a request of `n` bytes: 8, 16, then steps of
/// 16 up to 128, then four classes per doubling. Memory accounting rounds every
/// allocation it counts this way, so used_memory tracks what the allocator holds.
pub fn alloc_class(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    // Classes between 2^k and 2^(k+1) are spaced 2^(k-2) apart.
    let k = usize::BITS - 1 - (n - 1).leading_zeros();
    let step = 1usize << (k - 2);
    n.div_ceil(step) * step
}
