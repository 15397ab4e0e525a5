//! Values handed out as raw handles, the one mechanism of the C ABI and the JNI shims: a value
//! moved to the heap ([`into_raw`]), reached through its address while live, freed once
//! ([`free`]). A value that is not safe to share (a session, a video session) sits in an
//! [`Exclusive`]: one call at a time, a second thread is refused rather than racing, and a
//! panic inside poisons the value for good, since its state may be half-written.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// Moves `value` to the heap and hands out its address, to be freed with [`free`].
pub(crate) fn into_raw<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// The value behind a live handle; `None` for null.
///
/// # Safety
/// `handle` must be null or an address from [`into_raw::<T>`] not yet freed, and the value must
/// stay live for `'a`.
pub(crate) unsafe fn get<'a, T>(handle: *const T) -> Option<&'a T> {
    handle.as_ref()
}

/// Drops the value behind `handle`; null is a no-op. A panic in the value's destructor is
/// caught: it must not cross into C or the JVM.
///
/// # Safety
/// `handle` must be null or an address from [`into_raw::<T>`], freed only once and in use by
/// no other thread.
pub(crate) unsafe fn free<T>(handle: *mut T) {
    if !handle.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(handle))));
    }
}

/// Why [`Exclusive::with`] refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Another thread is using the value right now.
    Busy,
    /// An earlier call panicked inside; the value's state cannot be trusted.
    Poisoned,
}

impl Refused {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refused::Busy => "the session is in use by another thread; use one session per thread",
            Refused::Poisoned => "this handle failed internally earlier; create a new one",
        }
    }
}

/// A value one thread at a time may use through a handle.
pub(crate) struct Exclusive<T> {
    busy: AtomicBool,
    poisoned: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through `with`, which the busy flag makes exclusive, and
// `T: Send` lets it be used from whichever thread holds the flag.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    pub(crate) fn new(value: T) -> Self {
        Exclusive {
            busy: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `body` with exclusive use of the value, or refuses (busy or poisoned). A panic in
    /// `body` poisons the value and continues unwinding to the caller's guard.
    pub(crate) fn with<R, E: From<Refused>>(
        &self,
        body: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<R, E> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Refused::Poisoned.into());
        }
        if self.busy.swap(true, Ordering::Acquire) {
            return Err(Refused::Busy.into());
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the busy flag gives this call exclusive access to the value.
            body(unsafe { &mut *self.value.get() })
        }));
        self.busy.store(false, Ordering::Release);
        match result {
            Ok(r) => r,
            Err(panic) => {
                self.poisoned.store(true, Ordering::Release);
                resume_unwind(panic)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_call_is_refused_and_a_panic_poisons() {
        let cell = Exclusive::new(1);
        let inner = cell.with(|v| {
            *v += 1;
            Ok::<_, Refused>(cell.with(|_| Ok::<_, Refused>(())))
        });
        assert_eq!(inner, Ok(Err(Refused::Busy)));
        assert_eq!(cell.with(|v| Ok::<_, Refused>(*v)), Ok(2));
        let panicked =
            catch_unwind(AssertUnwindSafe(|| cell.with(|_| -> Result<(), Refused> { panic!("inside") })));
        assert!(panicked.is_err());
        assert_eq!(cell.with(|v| Ok::<_, Refused>(*v)), Err(Refused::Poisoned));
    }

    #[test]
    fn handles_round_trip_and_null_is_harmless() {
        let handle = into_raw(String::from("model"));
        // SAFETY: a live handle from into_raw, freed once below.
        unsafe {
            assert_eq!(get(handle).map(String::as_str), Some("model"));
            free(handle);
            assert!(get::<String>(std::ptr::null()).is_none());
            free::<String>(std::ptr::null_mut());
        }
    }
}
