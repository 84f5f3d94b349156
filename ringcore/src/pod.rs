//! Plain-old-data: types that may be copied as bytes and read from memory
//! another process wrote.

/// A type for which every bit pattern of `size_of::<Self>()` bytes is a valid
/// value, that has no padding, no pointers and no `Drop`.
///
/// Slots of a [`Pod`] type can be handed out as `&mut [T]` before they are
/// written, and shared rings accept only [`Pod`] types, because a peer
/// process can write any bytes into them.
///
/// # Safety
/// Implement it only for `#[repr(C)]` or `#[repr(transparent)]` types whose
/// fields are all [`Pod`] and which have no padding bytes.
///
/// ```
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Tick { seq: u64, price: f64 }
/// // SAFETY: two 8-byte Pod fields, no padding.
/// unsafe impl ringcore::Pod for Tick {}
/// ```
pub unsafe trait Pod: Copy + Send + Sync + 'static {}

macro_rules! impl_pod {
    ($($t:ty),*) => { $(
        // SAFETY: primitive numbers accept every bit pattern and have no padding.
        unsafe impl Pod for $t {}
    )* };
}
impl_pod!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

// SAFETY: an array of Pod has no padding between elements and accepts any bits.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
